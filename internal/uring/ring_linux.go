package uring

import (
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Flags are io_uring_setup flags (the Setup* constants).
type Flags uint32

// Config chooses a ring's sizes and setup flags. Zero fields take the
// defaults given beside them.
type Config struct {
	Entries   uint32 // submission queue entries, a power of two up to 32768 (default 256)
	CQEntries uint32 // completion queue entries, at least Entries (default 2 × Entries)
	Flags     Flags  // setup flags; SetupSubmitAll and SetupClamp are always added

	// WaitKeepsP makes a blocking wait keep the calling goroutine's P (the
	// scheduler's processor) instead of handing it back for the duration
	// of the system call. A Go program pays, for every blocking system
	// call that lasts more than about 20 µs while no other P is idle, a
	// wakeup of the runtime's monitor thread and a P handoff (a futex wake
	// and a nanosleep, about one each per wait): as many system calls
	// again as the waits themselves. Keeping the P avoids them; the price
	// is that the P runs nothing else while the ring waits, so with
	// GOMAXPROCS=1 other goroutines and timers wait until a completion
	// comes or the runtime preempts the waiter (after 10 ms; the wait
	// returns early, and the caller's next function call yields). It suits
	// a process whose work is this ring's loop.
	WaitKeepsP bool
}

// ReservedUserData is the first user_data value the package keeps for its
// own SQEs; callers use smaller values.
const ReservedUserData = ^uint64(0) - 15

const (
	wakeUserData    = ^uint64(0)     // the eventfd read that Wake completes
	timeoutUserData = ^uint64(0) - 1 // the fallback wait timeout
	cancelUserData  = ^uint64(0) - 2 // Close's cancellation of the wakeup read
)

// Wakeup state bits (Ring.wstate).
const (
	stateWaiting = 1 << 0 // the owner is in, or about to be in, a blocking enter
	stateWoken   = 1 << 1 // Wake was called since the owner last looked
)

// Ring is one io_uring instance: its submission and completion queues mapped
// into this process, and an eventfd read kept in flight so that other
// goroutines can interrupt a wait.
//
// Every method but Wake is for the ring's owner only (see the package
// documentation); Wake is safe from any goroutine.
type Ring struct {
	fd       int
	flags    Flags
	features uint32

	ringMem    []byte // SQ and CQ rings (one mapping, IORING_FEAT_SINGLE_MMAP)
	sqeMem     []byte // the SQE array
	scratchMem []byte // kernel-visible words of the package's own (see scratch)
	scratch    *scratch

	sqHead    *atomic.Uint32 // advanced by the kernel as it consumes SQEs
	sqTail    *atomic.Uint32 // published by Submit
	sqFlags   *atomic.Uint32
	sqMask    uint32
	sqEntries uint32
	sqes      []SQE
	tail      uint32 // next SQE to hand out; tail - *sqTail are prepared, unpublished

	cqHead     *atomic.Uint32 // advanced by Reap
	cqTail     *atomic.Uint32 // advanced by the kernel
	cqOverflow *atomic.Uint32
	cqMask     uint32
	cqEntries  uint32
	cqes       []CQE

	// enterToPoll: without IPIs (CoopTaskrun, DeferTaskrun) and without
	// SetupTaskrunFlag to say when, completions may wait for a kernel entry,
	// so a non-blocking SubmitAndWait always enters.
	enterToPoll bool
	keepP       bool // Config.WaitKeepsP

	evfd      int  // Wake writes it while the owner waits
	wakeArmed bool // the eventfd read is in flight
	wstate    atomic.Uint32

	enters     atomic.Uint64 // io_uring_enter calls made
	wakeWrites atomic.Uint64 // eventfd writes made by Wake
}

// scratch is what the kernel reads or writes for the package itself, kept in
// an anonymous mapping outside the Go heap.
type scratch struct {
	arg     geteventsArg // IORING_ENTER_EXT_ARG argument
	waitTS  Timespec     // its timeout
	fallTS  Timespec     // the fallback TIMEOUT SQE's timeout
	wakeBuf uint64       // the eventfd read's destination
}

// New sets up a ring. Where the kernel refuses io_uring, or lacks what the
// package needs, the error satisfies errors.Is(err, ErrUnavailable); see
// Available.
func New(cfg Config) (*Ring, error) {
	if err := forcedRefusal(); err != nil {
		return nil, err
	}
	entries := cfg.Entries
	if entries == 0 {
		entries = defaultEntries
	}
	var p ioURingParams
	p.flags = uint32(cfg.Flags | setupAlwaysDefault)
	if cfg.CQEntries != 0 {
		p.flags |= uint32(setupCQSize)
		p.cqEntries = cfg.CQEntries
	}
	fd, err := setup(entries, &p)
	if err != nil {
		return nil, setupError(err, cfg.Flags)
	}
	r := &Ring{fd: fd, flags: Flags(p.flags), features: p.features, evfd: -1, keepP: cfg.WaitKeepsP}
	if err := r.mapRings(&p); err != nil {
		r.Close()
		return nil, err
	}
	coop := r.flags&(SetupCoopTaskrun|SetupDeferTaskrun) != 0
	r.enterToPoll = coop && r.flags&SetupTaskrunFlag == 0
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC) // blocking: io_uring polls it, a non-blocking one would fail with EAGAIN
	if err != nil {
		r.Close()
		return nil, os.NewSyscallError("eventfd", err)
	}
	r.evfd = evfd
	return r, nil
}

// mapRings maps the rings the kernel set up and points the Ring's fields
// into them.
func (r *Ring) mapRings(p *ioURingParams) error {
	const need = FeatSingleMmap | FeatNodrop | FeatSubmitStable
	if p.features&need != need {
		return &UnavailableError{Reason: "the kernel lacks IORING_FEAT_SINGLE_MMAP, NODROP or SUBMIT_STABLE (Linux 5.5+ has them)"}
	}
	sqSize := uintptr(p.sqOff.array) + uintptr(p.sqEntries)*4
	cqSize := uintptr(p.cqOff.cqes) + uintptr(p.cqEntries)*unsafe.Sizeof(CQE{})
	size := max(sqSize, cqSize)
	mem, err := unix.Mmap(r.fd, mmapOffSQRing, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return os.NewSyscallError("mmap", err)
	}
	r.ringMem = mem
	sqeMem, err := unix.Mmap(r.fd, mmapOffSQEs, int(uintptr(p.sqEntries)*unsafe.Sizeof(SQE{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return os.NewSyscallError("mmap", err)
	}
	r.sqeMem = sqeMem
	sc, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return os.NewSyscallError("mmap", err)
	}
	r.scratchMem = sc
	r.scratch = (*scratch)(unsafe.Pointer(&sc[0]))

	r.sqHead = u32At(mem, p.sqOff.head)
	r.sqTail = u32At(mem, p.sqOff.tail)
	r.sqFlags = u32At(mem, p.sqOff.flags)
	r.sqMask = u32At(mem, p.sqOff.ringMask).Load()
	r.sqEntries = p.sqEntries
	r.sqes = unsafe.Slice((*SQE)(unsafe.Pointer(&sqeMem[0])), p.sqEntries)
	// The SQ index array maps ring slot i to SQE i, once and for all.
	array := unsafe.Slice((*uint32)(unsafe.Pointer(&mem[p.sqOff.array])), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.tail = r.sqTail.Load()

	r.cqHead = u32At(mem, p.cqOff.head)
	r.cqTail = u32At(mem, p.cqOff.tail)
	r.cqOverflow = u32At(mem, p.cqOff.overflow)
	r.cqMask = u32At(mem, p.cqOff.ringMask).Load()
	r.cqEntries = p.cqEntries
	r.cqes = unsafe.Slice((*CQE)(unsafe.Pointer(&mem[p.cqOff.cqes])), p.cqEntries)
	return nil
}

func u32At(mem []byte, off uint32) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&mem[off]))
}

// Fd returns the ring's descriptor (for MSG_RING from another ring).
func (r *Ring) Fd() int { return r.fd }

// Flags returns the setup flags the ring was created with.
func (r *Ring) Flags() Flags { return r.flags }

// Features returns the IORING_FEAT_* bits the kernel reported.
func (r *Ring) Features() uint32 { return r.features }

// SQEntries and CQEntries return the queue sizes the kernel chose.
func (r *Ring) SQEntries() uint32 { return r.sqEntries }

// CQEntries returns the completion queue's size.
func (r *Ring) CQEntries() uint32 { return r.cqEntries }

// Enters returns how many io_uring_enter calls the ring has made.
func (r *Ring) Enters() uint64 { return r.enters.Load() }

// Enable starts a ring set up with SetupRDisabled; with SetupSingleIssuer
// the calling thread becomes the ring's only submitter.
func (r *Ring) Enable() error {
	_, err := register(r.fd, registerEnableRings, nil, 0)
	return err
}

// GetSQE returns the next free SQE, zeroed, or nil when the submission queue
// is full (Submit makes room). The SQE goes to the kernel with the next
// Submit or SubmitAndWait, in the order GetSQE handed it out.
func (r *Ring) GetSQE() *SQE {
	if r.tail-r.sqHead.Load() >= r.sqEntries {
		return nil
	}
	s := &r.sqes[r.tail&r.sqMask]
	r.tail++
	*s = SQE{}
	return s
}

// NextSQE is GetSQE that submits what is queued when the queue is full. Its
// error is Submit's: with EBUSY (errors.Is(err, syscall.EBUSY)) the kernel
// holds completions it could not post, so the caller reaps before it tries
// again.
func (r *Ring) NextSQE() (*SQE, error) {
	if s := r.GetSQE(); s != nil {
		return s, nil
	}
	if _, err := r.Submit(); err != nil {
		return nil, err
	}
	if s := r.GetSQE(); s != nil {
		return s, nil
	}
	return nil, os.NewSyscallError("io_uring_enter", syscall.EBUSY)
}

// Pending returns how many SQEs are prepared and not yet consumed by the
// kernel.
func (r *Ring) Pending() uint32 { return r.tail - r.sqHead.Load() }

// flush publishes the prepared SQEs and returns how many the kernel has yet
// to consume.
func (r *Ring) flush() uint32 {
	r.sqTail.Store(r.tail)
	return r.tail - r.sqHead.Load()
}

// Submit hands every prepared SQE to the kernel without waiting, and returns
// how many it consumed. It also flushes completions the kernel holds back
// (CQ overflow, pending task work) when the ring flags say so.
func (r *Ring) Submit() (int, error) {
	n := r.flush()
	var flags uint32
	if r.sqFlags.Load()&(sqCQOverflow|sqTaskrun) != 0 {
		flags = enterGetEvents
	}
	if n == 0 && flags == 0 {
		return 0, nil
	}
	return r.enter(n, 0, flags, nil, 0)
}

// SubmitAndWait submits every prepared SQE and waits, in one io_uring_enter
// call, until at least one completion is ready, timeout passes, or Wake is
// called. timeout < 0 waits without limit; timeout == 0 does not wait, and
// then makes no system call at all when nothing is prepared and the kernel
// holds nothing back. It returns how many SQEs the kernel consumed; a
// timeout or a signal is not an error.
func (r *Ring) SubmitAndWait(timeout time.Duration) (int, error) {
	return r.SubmitAndWaitMin(1, 0, timeout)
}

// SubmitAndWaitMin is SubmitAndWait that batches: it waits until want
// completions are ready, or until minWait has passed and at least one is
// (IORING_FEAT_MIN_TIMEOUT, Linux 6.12; on older kernels it waits as
// SubmitAndWait does). Fewer, larger batches cost fewer system calls and
// wakeups per completion, at up to minWait of added latency when fewer than
// want completions come; a Wake counts as one completion.
func (r *Ring) SubmitAndWaitMin(want uint32, minWait, timeout time.Duration) (int, error) {
	if timeout != 0 && !r.prepareToBlock() {
		timeout = 0
	}
	if timeout == 0 {
		n := r.flush()
		if n == 0 && !r.enterToPoll && r.sqFlags.Load()&(sqCQOverflow|sqTaskrun) == 0 {
			return 0, nil
		}
		return r.enter(n, 0, enterGetEvents, nil, 0)
	}
	if want == 0 || minWait <= 0 || r.features&FeatMinTimeout == 0 {
		want, minWait = 1, 0
	}
	var arg unsafe.Pointer
	var argSize uintptr
	flags := uint32(enterGetEvents)
	if r.features&FeatExtArg != 0 && (timeout > 0 || minWait > 0) {
		s := r.scratch
		s.arg = geteventsArg{minWaitUsec: uint32(min(minWait/time.Microsecond, 1<<31))}
		if timeout > 0 {
			s.waitTS = durationTimespec(timeout)
			s.arg.ts = uint64(uintptr(unsafe.Pointer(&s.waitTS)))
		}
		arg, argSize, flags = unsafe.Pointer(&s.arg), sizeofGeteventsArg, flags|enterExtArg
	} else if timeout > 0 {
		r.armFallbackTimeout(timeout)
	}
	n, err := r.enter(r.flush(), want, flags, arg, argSize)
	r.wstate.Store(0)
	return n, err
}

// prepareToBlock arms the wakeup read and announces the wait to Wake. It
// returns false when the owner must not block: Wake was called since the
// last wait (the call is consumed), or no SQE is free for the read.
func (r *Ring) prepareToBlock() bool {
	if !r.wakeArmed {
		s, err := r.NextSQE()
		if err != nil {
			return false
		}
		s.prepRead(r.evfd, unsafe.Pointer(&r.scratch.wakeBuf), 8, wakeUserData)
		r.wakeArmed = true
	}
	if !r.wstate.CompareAndSwap(0, stateWaiting) {
		r.wstate.Store(0)
		return false
	}
	return true
}

// armFallbackTimeout bounds a wait on a kernel without IORING_FEAT_EXT_ARG
// with a TIMEOUT SQE that also completes as soon as any other completion is
// posted (count 1), so it never outlives the wait by much. The timespec is
// read when the SQE is consumed (IORING_FEAT_SUBMIT_STABLE).
func (r *Ring) armFallbackTimeout(timeout time.Duration) {
	s, err := r.NextSQE()
	if err != nil {
		return
	}
	r.scratch.fallTS = durationTimespec(timeout)
	s.prepTimeout(unsafe.Pointer(&r.scratch.fallTS), 1, 0, timeoutUserData)
}

// enter calls io_uring_enter. EINTR (a signal) and ETIME (the wait's
// timeout) are not errors: the caller's loop goes round again.
func (r *Ring) enter(toSubmit, minComplete, flags uint32, arg unsafe.Pointer, argSize uintptr) (int, error) {
	return r.enterKeep(toSubmit, minComplete, flags, arg, argSize, r.keepP)
}

// enterKeep is enter with the choice of keeping the P made by the caller.
func (r *Ring) enterKeep(toSubmit, minComplete, flags uint32, arg unsafe.Pointer, argSize uintptr, keepP bool) (int, error) {
	r.enters.Add(1)
	n, e := enter(r.fd, toSubmit, minComplete, flags, arg, argSize, keepP)
	switch e {
	case 0:
		return n, nil
	case syscall.EINTR, syscall.ETIME:
		return 0, nil
	}
	return 0, os.NewSyscallError("io_uring_enter", e)
}

// Ready returns how many completions wait in the completion queue,
// including the package's own, which Reap skips.
func (r *Ring) Ready() uint32 { return r.cqTail.Load() - r.cqHead.Load() }

// Overflowed reports whether the kernel holds completions that did not fit
// in the completion queue (IORING_SQ_CQ_OVERFLOW). None is lost
// (IORING_FEAT_NODROP): the next Submit or SubmitAndWait moves them into the
// queue as Reap makes room.
func (r *Ring) Overflowed() bool { return r.sqFlags.Load()&sqCQOverflow != 0 }

// Reap copies up to len(dst) ready completions into dst, oldest first, marks
// them consumed with one store of the queue head, and returns how many it
// copied. The package's own completions (user_data ≥ ReservedUserData) are
// consumed and not copied. It never blocks and makes no system call.
func (r *Ring) Reap(dst []CQE) int {
	head := r.cqHead.Load()
	tail := r.cqTail.Load()
	n := 0
	for head != tail && n < len(dst) {
		c := &r.cqes[head&r.cqMask]
		head++
		if c.UserData >= ReservedUserData {
			r.ownCompletion(c)
			continue
		}
		dst[n] = *c
		n++
	}
	r.cqHead.Store(head)
	return n
}

func (r *Ring) ownCompletion(c *CQE) {
	if c.UserData == wakeUserData {
		r.wakeArmed = false
	}
}

// Wake makes a SubmitAndWait in progress return, or the next one return at
// once. It is safe from any goroutine. It makes a system call (one eventfd
// write) only when the owner is blocked or about to block; otherwise it sets
// a flag the owner sees before it would block.
func (r *Ring) Wake() {
	for {
		old := r.wstate.Load()
		if old&stateWoken != 0 {
			return
		}
		if r.wstate.CompareAndSwap(old, old|stateWoken) {
			if old&stateWaiting != 0 {
				r.wakeWrites.Add(1)
				one := uint64(1)
				syscall.RawSyscall(unix.SYS_WRITE, uintptr(r.evfd), uintptr(unsafe.Pointer(&one)), 8)
			}
			return
		}
	}
}

// Close releases the ring. The caller has reaped the final completion of
// every SQE that names its memory: closing does not wait for them, and the
// kernel cancels what is still in flight on its own time. Close waits only
// for the package's own wakeup read, so that its buffer can be unmapped;
// if that cannot be done (a SetupSingleIssuer ring closed from another
// thread), the one page stays mapped.
func (r *Ring) Close() error {
	if r.fd < 0 {
		return errors.New("uring: ring already closed")
	}
	released := r.scratch == nil || r.cancelWake()
	err := unix.Close(r.fd)
	r.fd = -1
	if r.evfd >= 0 {
		unix.Close(r.evfd)
	}
	for _, m := range [][]byte{r.ringMem, r.sqeMem} {
		if m != nil {
			unix.Munmap(m)
		}
	}
	if released && r.scratchMem != nil {
		unix.Munmap(r.scratchMem)
	}
	r.ringMem, r.sqeMem, r.scratchMem, r.scratch, r.sqes, r.cqes = nil, nil, nil, nil, nil, nil
	if err != nil {
		return os.NewSyscallError("close", err)
	}
	return nil
}

// cancelWake cancels the wakeup read and waits for its completion; it
// returns true once the kernel no longer writes the wakeup buffer.
func (r *Ring) cancelWake() bool {
	if !r.wakeArmed {
		return true
	}
	s, err := r.NextSQE()
	if err != nil {
		return false
	}
	s.PrepCancel(wakeUserData, 0, cancelUserData)
	// The cancellation posts its own completion and the read's, so each
	// enter returns; the bound only guards against a kernel that never
	// answers.
	for range 100 {
		if _, err := r.enter(r.flush(), 1, enterGetEvents, nil, 0); err != nil {
			return false
		}
		head, tail := r.cqHead.Load(), r.cqTail.Load()
		for ; head != tail; head++ {
			if r.cqes[head&r.cqMask].UserData == wakeUserData {
				r.wakeArmed = false
			}
		}
		r.cqHead.Store(head)
		if !r.wakeArmed {
			return true
		}
	}
	return false
}

func durationTimespec(d time.Duration) Timespec {
	return Timespec{Sec: int64(d / time.Second), Nsec: int64(d % time.Second)}
}
