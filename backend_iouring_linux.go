package asio

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goasio/asio/internal/sys"
	"github.com/goasio/asio/internal/uring"
)

// uringBackend is the proactor: operations go to the kernel as SQEs of one
// io_uring, and their CQEs finish them. Sockets are the raw non-blocking
// descriptors of rawSockets, as on epoll; what differs is who performs the
// I/O.
//
// # Threads
//
// The ring is set up with COOP_TASKRUN|TASKRUN_FLAG, without SINGLE_ISSUER,
// so that any goroutine may prepare and submit SQEs, under one submission
// lock (sq), and whichever goroutine is the context's poller (inside wait)
// submits and waits with one io_uring_enter per loop turn. SINGLE_ISSUER
// (and DEFER_TASKRUN, which needs it) would tie every enter to one OS
// thread for the ring's life: in Go that is a goroutine locked to its
// thread, which may not run handlers (they run inside Run, on the user's
// goroutines), so every loop turn would cost a handoff between it and the
// Run goroutine (measured: 13 µs and 3.5 system calls per turn at
// GOMAXPROCS=1, more than a whole echoed message costs).
//
// Every thread that submits runs the completion work of its own requests
// (COOP_TASKRUN: at its next entry into the kernel, or woken for it if it
// sleeps), so a request submitted by another goroutine's thread completes
// as promptly as the poller's own.
//
// # Speculation and deferred submission
//
// An op initiated by a handler, while the poller runs the handlers of its
// last wait (inTurn), goes straight to an SQE that waits for the poller's
// next enter: a turn's sends and receives, and the wait for the next
// completions, are one system call. An op initiated outside that turn (from
// another goroutine, or while no goroutine polls) tries its syscall at
// once, as on epoll (speculate), and only an op that would block goes to an
// SQE, submitted at once by its initiator. A cancellation is submitted at
// once, with every SQE prepared before it. A safety net (onTick) submits
// SQEs left waiting when the poller does not come back for a whole tick (a
// RunOne that returned, a handler that blocks).
//
// # Waits
//
// The poller waits for a batch: a quarter of the requests in the kernel (at
// most 32), or 50 µs after the first completion (IORING_FEAT_MIN_TIMEOUT),
// bounded by the timer heap's timeout (EXT_ARG); a Wake from another
// goroutine writes the ring's eventfd only while the poller waits. The
// first millisecond of a wait keeps the goroutine's P (a raw system call):
// the Go runtime's handoff of the P around each blocking wait would cost a
// futex wake and a nanosleep per wait, as many system calls again; past it
// the wait hands the P back, and the poller yields before every such wait
// so that the goroutines ready to run go first (yieldBeforeKeepingP).
//
// # One operation in the kernel per direction
//
// Each descriptor keeps the FIFO queues of the epoll backend, one per
// direction; only the head of a queue has an SQE in the kernel (its
// inflight bit in d.state). So ops of one direction complete in initiation
// order, a socket never has two sends in flight (io_uring does not order
// independent SQEs on a socket), and a cancelled op reports what the kernel
// really did: its own CQE says so (the bytes moved, or -ECANCELED).
//
// # user_data
//
// An SQE's user_data is the descriptor's table token (slot and generation,
// fdtable.go) with a tag (the direction, or a multishot receive or accept,
// or a cancellation) and the buffer group of a multishot receive, never a
// Go pointer: a CQE of a closed and reused descriptor is recognised.
//
// # Close with SQEs in flight
//
// Close cancels what the kernel holds and hands the descriptor to a zombie
// fdState that takes its table slot: the zombie completes the cancelled ops
// when their CQEs come, with the real results, and closes the OS descriptor
// after the last CQE that names it; the socket itself is closed at once and
// may be opened again. Context shutdown waits for every zombie.
//
// # Pooled reads
//
// A pooled read is a multishot receive into a provided buffer ring per
// BufferPool (iouring_pooled_linux.go), whose buffers are the pool's own.
type uringBackend struct {
	rawSockets
	ring *uring.Ring

	// sq is the submission lock: every GetSQE, Prep and Submit, and the
	// poller's PrepareWait. Lock order: fdState.mu, then sq.
	sq sync.Mutex
	// reaping is held by whoever consumes completions: the poller for its
	// whole wait, or a Close that finishes its zombie itself when no
	// goroutine is inside wait (reapZombieNow). Taken with no other lock.
	reaping sync.Mutex
	// inTurn: the poller has returned from its wait and will enter again
	// once it has run what it reaped; SQEs prepared meanwhile wait for it.
	inTurn atomic.Bool
	closed atomic.Bool

	// The safety net for SQEs left waiting for a poller that does not come
	// back (a Run call that returned, a handler that blocks): a timer that,
	// while SQEs are deferred, checks every tick that the poller entered
	// the ring since the last one, and submits them itself if not. Under
	// b.sq.
	tick        *time.Timer
	tickPending bool   // the timer is armed
	deferred    bool   // SQEs are prepared and wait for the poller
	waits       uint64 // the poller's PrepareWait calls
	waitsSeen   uint64 // waits at the last tick
	// armed counts the requests in the kernel (an op's SQE, a multishot);
	// the poller waits for a batch of a fraction of them.
	armed atomic.Int64
	// overflows counts the reaps that found completions in the kernel's
	// overflow list (for tests).
	overflows atomic.Int64

	table slotTable[fdState] // by descriptor number
	slots extTable
	cqes  [256]uring.CQE // the poller's

	pools poolRings
}

// The io_uring backend's flags in fdState.state.
const (
	uInflightRead   uint8 = 1 << iota // the head of the read queue has an SQE in the kernel
	uInflightWrite                    // … of the write queue
	uInflightExcept                   // … of the urgent-data queue
	uMulti                            // a multishot receive or accept is armed
	uMultiCancel                      // and its cancellation was submitted
	uPoolWait                         // a pooled read waits for its BufferPool (bufferFree)
	uClosing                          // a zombie: closed once nothing is in flight
	uReadEmpty                        // the last receive drained the socket: no speculative one, and the next SQE polls first

	uInflight = uInflightRead | uInflightWrite | uInflightExcept
)

func inflightBit(dir int) uint8 { return 1 << dir }

// Tags of user_data, beside the directions 0–2.
const (
	tagMulti  = 3 // a multishot receive (buffer group > 0) or accept (group 0)
	tagCancel = 4 // an ASYNC_CANCEL, whose CQE says nothing we need
)

// user_data layout: slot in bits 0–21 (fdTable has at most 4M slots), the
// tag in 22–24, a buffer group in 25–31, the generation in 32–63 (never
// all ones, so user_data stays below uring.ReservedUserData).
const (
	udSlotBits  = 22
	udSlotMask  = 1<<udSlotBits - 1
	udTagShift  = udSlotBits
	udGrpShift  = udTagShift + 3
	udTokenMask = 0xffffffff<<32 | udSlotMask
	maxGroups   = 1 << 7
)

func userData(token uint64, tag, group int) uint64 {
	return token&udTokenMask | uint64(tag)<<udTagShift | uint64(group)<<udGrpShift
}

func udToken(ud uint64) uint64 { return ud & udTokenMask }
func udTag(ud uint64) int      { return int(ud>>udTagShift) & 7 }
func udGroup(ud uint64) int    { return int(ud>>udGrpShift) & (maxGroups - 1) }

// The ring's sizes: SQEs prepared in one loop turn beyond ringEntries are
// submitted by the goroutine that finds the queue full; completions beyond
// the CQ wait in the kernel (IORING_FEAT_NODROP) until reaped.
var (
	ringEntries   uint32 = 1024
	ringCQEntries uint32 = 8192
)

// Tuning of the poller's wait (see uring.Ring.Wait), kept as variables for
// the measurements that chose them.
var (
	// uringKeepP is how long a blocking wait keeps the goroutine's P.
	uringKeepP = time.Millisecond
	// uringTick is the period of the deferred-SQE safety net.
	uringTick = time.Millisecond
	// A blocking wait returns once armed/uringBatchDiv completions (at
	// most uringBatchMax) are ready, or uringMinWait after the first one.
	uringBatchDiv = 4
	uringBatchMax = 32
	uringMinWait  = 50 * time.Microsecond
	// uringSpeculateInTurn makes ops initiated in the poller's turn try
	// their syscall at once too, as on epoll (measured: more system calls
	// and more CPU per message; off).
	uringSpeculateInTurn = false
)

func init() {
	// Measurement overrides (ASIO_IOURING_TUNE=keepp=0,minwait=50us,batch=4).
	tuneFromEnv("ASIO_IOURING_TUNE", func(k string, d time.Duration, n int) {
		switch k {
		case "keepp":
			uringKeepP = d
		case "minwait":
			uringMinWait = d
		case "batch":
			uringBatchDiv = n
		case "batchmax":
			uringBatchMax = n
		case "ringbytes":
			poolRingBytes = n
		case "ringmax":
			poolRingMaxBytes = n
		case "spec":
			uringSpeculateInTurn = n != 0
		}
	})
}

func newIOUringBackend(c *IOContext) (*uringBackend, error) {
	if err := uring.Available(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBackendUnavailable, err)
	}
	r, err := uring.New(uring.Config{
		Entries:   ringEntries,
		CQEntries: ringCQEntries,
		Flags:     uring.SetupCoopTaskrun | uring.SetupTaskrunFlag,
	})
	if err != nil {
		if isUnavailable(err) {
			return nil, fmt.Errorf("%w: %w", ErrBackendUnavailable, err)
		}
		return nil, err
	}
	b := &uringBackend{ring: r}
	b.table.fixed = true
	b.rawSockets = rawSockets{c: c, reg: b.register, unreg: b.unregister, keepState: true}
	b.pools.init(r)
	b.tick = time.AfterFunc(time.Hour, b.onTick)
	b.tick.Stop()
	return b, nil
}

func isUnavailable(err error) bool {
	_, ok := err.(*uring.UnavailableError)
	return ok
}

func (b *uringBackend) kind() Backend { return BackendIOUring }

// register gives d's open descriptor a token (d.mu held).
func (b *uringBackend) register(d *fdState) error {
	gen, ok := b.table.set(uint32(d.sysfd), d)
	if !ok {
		return ErrContextClosed
	}
	d.gen = gen
	return nil
}

// unregister forgets d's token and its slot's extras (d.mu held).
func (b *uringBackend) unregister(d *fdState) {
	b.dropSlot(d)
	b.table.remove(uint32(d.sysfd))
	d.gen = 0
}

// ---- Submission ----

// sqeLocked returns a free SQE, submitting what is queued when the queue is
// full (b.sq held).
func (b *uringBackend) sqeLocked() *uring.SQE {
	for i := 0; ; i++ {
		s, err := b.ring.NextSQE()
		if err == nil {
			return s
		}
		// The kernel takes no more until completions are reaped (EBUSY on
		// kernels before 6.x): the poller reaps without this lock.
		b.sq.Unlock()
		if i < 100 {
			runtime.Gosched()
		} else {
			time.Sleep(time.Millisecond)
		}
		b.sq.Lock()
	}
}

// inflightLocked records the SQE just prepared for d's direction dir: the
// direction has a request in the kernel (its bit in d.state, which holds
// back the ops behind it); see armLocked (d.mu and b.sq held).
func (b *uringBackend) inflightLocked(d *fdState, dir int) { b.armLocked(d, inflightBit(dir)) }

// armLocked records a request just prepared for d: bit in d.state says
// what it is (a direction's head op, or a multishot), armed counts one
// more, and it is submitted unless the poller will (d.mu and b.sq held).
func (b *uringBackend) armLocked(d *fdState, bit uint8) {
	d.state |= bit
	b.armed.Add(1)
	b.kickLocked()
}

// kickLocked submits what is prepared unless the poller will: it does at
// its next enter when it is between two waits (inTurn) and the context
// runs; it will not when it is blocked in the kernel, or when no goroutine
// polls (b.sq held).
func (b *uringBackend) kickLocked() {
	if !b.polling() {
		b.ring.Submit()
		return
	}
	if !b.deferred {
		b.deferred = true
		if !b.tickPending {
			b.tickPending = true
			b.waitsSeen = b.waits
			b.tick.Reset(uringTick)
		}
	}
}

// polling reports whether the poller is between two waits and will submit
// what is prepared now: it is not blocked in the kernel, and the context
// is not stopped.
func (b *uringBackend) polling() bool {
	return b.inTurn.Load() && !b.ring.Waiting() && !b.c.halt.Load()
}

// onTick submits deferred SQEs if the poller has not entered the ring for a
// whole tick, and keeps ticking while SQEs are deferred.
func (b *uringBackend) onTick() {
	b.sq.Lock()
	defer b.sq.Unlock()
	b.tickPending = false
	if !b.deferred || b.closed.Load() {
		return
	}
	if b.waits == b.waitsSeen {
		b.ring.Submit()
		b.deferred = false
		return
	}
	b.tickPending = true
	b.waitsSeen = b.waits
	b.tick.Reset(uringTick)
}

// cancelLocked submits the cancellation of d's request with tag and group
// (d.mu held). It is ordered behind every SQE already prepared, so it
// cannot reach a later request that reuses the same user_data: that one is
// prepared only after the target's CQE, which comes after this point.
func (b *uringBackend) cancelLocked(d *fdState, tag, group int) {
	b.sq.Lock()
	s := b.sqeLocked()
	s.PrepCancel(userData(d.token(), tag, group), 0, userData(d.token(), tagCancel, 0))
	// Submitted now, with every SQE prepared before it: an op cancelled or
	// closed is performed no later than this moment, so its result never
	// reflects what happened after Cancel or Close returned.
	b.ring.Submit()
	b.sq.Unlock()
}

// ---- The loop ----

func (b *uringBackend) wait(timeoutMs int) {
	if b.closed.Load() {
		return
	}
	timeout := time.Duration(timeoutMs) * time.Millisecond
	if timeoutMs < 0 {
		timeout = -1
	}
	if timeoutMs != 0 && uringKeepP > 0 {
		yieldBeforeKeepingP()
	}
	b.reaping.Lock()
	defer b.reaping.Unlock()
	b.inTurn.Store(false)
	b.sq.Lock()
	plan := b.ring.PrepareWait(timeout)
	b.waits++
	b.deferred = false
	b.sq.Unlock()
	want := uint32(1)
	if uringBatchDiv > 0 {
		want = uint32(clamp(int(b.armed.Load())/uringBatchDiv, 1, uringBatchMax))
	}
	b.ring.Wait(plan, want, uringMinWait, uringKeepP)
	b.inTurn.Store(true)
	b.reap()
}

// reap finishes what every ready CQE completes, until the completion queue
// and the kernel's overflow list are empty. Only the poller (or shutdown)
// reaps.
func (b *uringBackend) reap() {
	for {
		n := b.ring.Reap(b.cqes[:])
		for i := 0; i < n; i++ {
			b.dispatch(&b.cqes[i])
		}
		if n == len(b.cqes) {
			continue
		}
		if !b.ring.Overflowed() {
			return
		}
		b.overflows.Add(1)
		// Completions the queue had no room for: an enter moves them in.
		b.sq.Lock()
		b.ring.Submit()
		b.sq.Unlock()
	}
}

// dispatch finishes what one CQE completes, under the lock of the
// descriptor that owns its slot.
func (b *uringBackend) dispatch(c *uring.CQE) {
	tag := udTag(c.UserData)
	if tag == tagCancel {
		return
	}
	token := udToken(c.UserData)
	var d *fdState
	for {
		d = b.table.lookup(uint32(token))
		if d == nil {
			b.pools.stray(c)
			return
		}
		d.mu.Lock()
		if d.token() == token && d.sysfd >= 0 {
			break
		}
		d.mu.Unlock()
		// Closed meanwhile: a zombie may have taken the slot over.
		if b.table.lookup(uint32(token)) == d {
			b.pools.stray(c)
			return
		}
	}
	var done opList
	if tag == tagMulti {
		b.multiCQE(d, c, &done)
	} else {
		b.dirCQE(d, tag, c, &done)
	}
	if !done.empty() {
		b.c.handOffPolled(&done)
	}
	b.reapZombie(d)
	d.mu.Unlock()
}

// dirCQE finishes the head of d's queue dir, whose SQE this is, and starts
// the next (d.mu held).
func (b *uringBackend) dirCQE(d *fdState, dir int, c *uring.CQE, done *opList) {
	q := d.queued(dir)
	if d.state&inflightBit(dir) == 0 || q == nil || q.head == nil {
		b.pools.stray(c)
		return
	}
	d.state &^= inflightBit(dir)
	b.armed.Add(-1)
	o := q.head
	if dir == dirRead && c.Res > 0 {
		// Data came: the next receive may try at once, unless this one, a
		// stream's, took less than it offered, which is all there was.
		if o.kind == opRead && !d.dgram && int(c.Res) < o.size() {
			d.state |= uReadEmpty
		} else {
			d.state &^= uReadEmpty
		}
	}
	if b.finish(d, o, dir, c) {
		q.pop()
		done.push(o)
		if c.Res >= 0 && (o.kind == opWait || isPollRaw(o)) && (dir != dirExcept || uint32(c.Res)&urgentReady != 0) {
			// Readiness reported by a poll: the waits queued behind see
			// the same edge, as on epoll.
			for w := q.head; w != nil && w.kind == opWait && w.err == nil; w = q.head {
				q.pop()
				done.push(w)
			}
		}
	}
	b.advance(d, dir, done)
	b.trimExt(d)
}

// advance moves the queue dir of d on (d.mu held): it completes, into done,
// the ops aborted behind a head that was in the kernel and those that finish
// without the kernel (data already received, an error known), and gives the
// kernel the request of the first op that needs one.
func (b *uringBackend) advance(d *fdState, dir int, done *opList) {
	q := d.queued(dir)
	if q == nil {
		return
	}
	for o := q.head; o != nil && d.state&inflightBit(dir) == 0; o = q.head {
		if o.err == nil && !b.issue(d, o, dir) {
			return
		}
		q.pop()
		done.push(o)
	}
}

func (b *uringBackend) wake() {
	if !b.closed.Load() {
		b.ring.Wake()
	}
}

// ---- Starting and cancelling ----

func (b *uringBackend) start(d *fdState, o *op) {
	d.mu.Lock()
	b.startLocked(d, o)
	d.mu.Unlock()
	d.ctx().deferred.flush()
}

// startLocked gives o the kernel's request, or queues it behind the ops of
// its direction, or completes it at once (d.mu held). A zero-size stream op
// completes at once, even ahead of ops waiting in its direction, as on
// epoll.
func (b *uringBackend) startLocked(d *fdState, o *op) {
	if o.kind == opConnect {
		if err := b.connectCheckLocked(d, o); err != nil {
			o.err = err
			o.handOff(true)
			return
		}
	}
	if !o.settledAtStart(d.sysfd >= 0, d.dgram, b.c.closed.Load()) {
		dir := o.direction()
		if !d.idle(dir) || d.state&inflightBit(dir) != 0 || !(b.speculate(d, o, dir) || b.issue(d, o, dir)) {
			d.park(o, dir)
			return
		}
	}
	o.handOff(true)
}

// speculate tries o's syscall at once, as the epoll backend does, when it is
// initiated outside the poller's turn (from another goroutine, or while no
// goroutine polls): such an op then behaves as on epoll, completing in its
// initiating call when the socket is ready. Inside the turn, where the
// handlers of the last wait start their next ops, every op goes to the
// ring, and the next enter submits them all. It reports whether o has its
// result (d.mu held; o's queue is empty).
func (b *uringBackend) speculate(d *fdState, o *op, dir int) bool {
	if b.polling() && !uringSpeculateInTurn {
		return false
	}
	if dir == dirRead {
		if d.state&uMulti != 0 {
			return false // a multishot receive or accept takes what comes
		}
		if x := b.ext(d); x != nil && (len(x.stash) > 0 || x.err != nil) {
			return false // issue takes what a multishot brought
		}
	}
	switch o.kind {
	case opWrite, opWriteAll, opSendDgram, opSendTo, opWait:
	case opRead, opRecvFrom:
		if (d.state&uReadEmpty != 0 && !d.dgram) || MessageFlags(o.flags)&MsgOutOfBand != 0 {
			return false
		}
	case opAccept:
	default:
		return false
	}
	r := performRaw(d, o, false)
	if r != done && dir == dirRead && o.kind == opRead {
		d.state |= uReadEmpty // a short read drained the socket, or it would block
	}
	return r == done || r == doneExhausted
}

// connectCheckLocked opens d for o's peer if needed and refuses a connect
// on a connected socket (d.mu held).
func (b *uringBackend) connectCheckLocked(d *fdState, o *op) error {
	if o.ctxDone() || b.c.closed.Load() {
		return ErrOperationAborted
	}
	ep := o.x.addr
	if !ep.IsValid() {
		return syscall.EINVAL
	}
	if d.sysfd < 0 {
		return b.openLocked(d, familyOf(ep))
	}
	if _, err := sys.Getpeername(int(d.sysfd)); err == nil {
		return syscall.EISCONN
	}
	return nil
}

// sendNow never sends on the caller's goroutine: a send is an SQE, which
// the loop submits with every other in one io_uring_enter, and a syscall of
// its own would cost more than that share.
func (b *uringBackend) sendNow(*fdState, Buffers) (int, error, bool) { return 0, nil, false }

// cancelOp aborts o if it is still d's under the same key: at once if it
// waits in a queue, through the kernel if its SQE is there (its CQE then
// says what it did). Only pointers are compared until o is found in a
// queue, so a request racing with o's completion and recycling is
// harmless.
func (b *uringBackend) cancelOp(d *fdState, o *op, key uint64) {
	var done opList
	d.mu.Lock()
	if o.key() == key && d.sysfd >= 0 {
		for dir := 0; dir < 3; dir++ {
			q := d.queued(dir)
			if q == nil {
				continue
			}
			if q.head == o {
				if d.state&inflightBit(dir) != 0 {
					b.cancelLocked(d, dir, 0)
					break
				}
				q.pop()
				b.leavePoolWait(d, o)
				o.err = ErrOperationAborted
				done.push(o)
				b.advance(d, dir, &done)
				break
			}
			if q.remove(o) {
				o.err = ErrOperationAborted
				done.push(o)
				break
			}
		}
	}
	handOffAllLocked(&done)
	d.mu.Unlock()
	d.ctx().deferred.flush()
}

// handOffAllLocked hands the ops of l to the scheduler from outside the
// poller (the descriptor's lock held).
func handOffAllLocked(l *opList) {
	for o := l.pop(); o != nil; o = l.pop() {
		o.handOff(false)
	}
}

// abortLocked aborts the ops of d's queue dir (d.mu held): those waiting
// complete now; if the head is in the kernel it is cancelled there, and the
// ops behind it are marked to complete, in order, right after it.
func (b *uringBackend) abortLocked(d *fdState, dir int, done *opList) {
	q := d.queued(dir)
	if q == nil {
		return
	}
	if d.state&inflightBit(dir) != 0 {
		for o := q.head.next; o != nil; o = o.next {
			if o.err == nil {
				o.err = ErrOperationAborted
			}
		}
		b.cancelLocked(d, dir, 0)
		return
	}
	for o := q.pop(); o != nil; o = q.pop() {
		b.leavePoolWait(d, o)
		if o.err == nil {
			o.err = ErrOperationAborted
		}
		done.push(o)
	}
}

func (b *uringBackend) cancelAll(d *fdState) error {
	var done opList
	d.mu.Lock()
	open := d.sysfd >= 0
	if open {
		for dir := 0; dir < 3; dir++ {
			b.abortLocked(d, dir, &done)
		}
	}
	handOffAllLocked(&done)
	d.mu.Unlock()
	d.ctx().deferred.flush()
	if !open {
		return ErrBadDescriptor
	}
	return nil
}

// close aborts like cancelAll and closes the descriptor: at once if the
// kernel holds nothing of it, else through a zombie once it is done with it.
func (b *uringBackend) close(d *fdState) error {
	var done opList
	d.mu.Lock()
	if d.sysfd < 0 {
		d.mu.Unlock()
		return ErrBadDescriptor
	}
	fd := uint32(d.sysfd)
	z, err := b.closeOrZombieLocked(d, &done)
	handOffAllLocked(&done)
	d.mu.Unlock()
	d.ctx().deferred.flush()
	if z != nil {
		b.reapZombieNow(fd, z)
	}
	return err
}

// reapZombieNow finishes the zombie in slot fd on the calling goroutine
// when no goroutine is inside wait to do it, so that the descriptor closes
// about as soon as Close returns (its peer sees the end, a listener stops
// taking connections) even when the context does not run: there a zombie
// counts as no work, and no poller may come. The kernel completes what
// Close cancelled at once; the wait is bounded all the same. With a poller
// inside wait, the zombie is its work until it reaps it (below).
func (b *uringBackend) reapZombieNow(fd uint32, z *fdState) {
	if !b.reaping.TryLock() {
		// The poller is inside wait: it reaps. The zombie counts as work
		// until then, so that its Run does not return (its work run out)
		// before the kernel's last completion for the descriptor, which
		// may come after the aborted ops' handlers have run: nothing
		// would reap it, and the descriptor would stay open until the
		// next Run or Close. Counted under z.mu, which the reaper takes
		// to finish z, so never after z is done.
		z.mu.Lock()
		if z.state&uClosing != 0 && !z.zwork {
			z.zwork = true
			b.c.workStarted()
		}
		z.mu.Unlock()
		return
	}
	defer b.reaping.Unlock()
	for i := 0; i < 100 && b.table.lookup(fd) == z && !b.closed.Load(); i++ {
		b.sq.Lock()
		plan := b.ring.PrepareWait(time.Millisecond)
		b.sq.Unlock()
		b.ring.Wait(plan, 1, 0, 0)
		b.reap()
	}
	b.c.deferred.flush()
}

// closeOrZombieLocked closes d, or hands it to the zombie it returns.
func (b *uringBackend) closeOrZombieLocked(d *fdState, done *opList) (*fdState, error) {
	for dir := 0; dir < 3; dir++ {
		b.abortLocked(d, dir, done)
	}
	b.cancelMultiLocked(d)
	if d.state&(uInflight|uMulti) == 0 {
		return nil, b.closeLocked(d)
	}
	return b.zombify(d), nil
}

// zombify moves d's descriptor, its ops in the kernel and its table slot to
// a new fdState that finishes them, and leaves d closed (d.mu held).
func (b *uringBackend) zombify(d *fdState) *fdState {
	z := &fdState{exp: d.exp, dgram: d.dgram, fam: d.fam, sysfd: d.sysfd, gen: d.gen, state: d.state | uClosing, q: d.q}
	if eq := d.queued(dirExcept); eq != nil && !eq.empty() {
		*z.queue(dirExcept) = *eq // the context keeps urgent-data queues by descriptor
		*eq = opQueue{}
		d.queued(dirExcept) // dropped, now empty
	}
	b.table.replace(uint32(d.sysfd), z)
	d.sysfd, d.gen, d.state, d.q = -1, 0, 0, [2]opQueue{}
	return z
}

// reapZombie closes a zombie's descriptor once the kernel holds nothing of
// it (d.mu held).
func (b *uringBackend) reapZombie(d *fdState) {
	if d.state&uClosing == 0 || d.state&(uInflight|uMulti) != 0 {
		return
	}
	b.closeLocked(d)
	d.state = 0
	if d.zwork {
		d.zwork = false
		b.c.workFinished() // (lock order: d.mu, then the context's)
	}
}

// ---- Shutdown ----

func (b *uringBackend) shutdown() error {
	b.table.close()
	var done opList
	// Every op first, so that no descriptor closed by the second pass ends
	// another's op with a result of its own (a peer's EOF).
	b.table.each(func(d *fdState) {
		d.mu.Lock()
		if d.sysfd >= 0 && d.state&uClosing == 0 {
			for dir := 0; dir < 3; dir++ {
				b.abortLocked(d, dir, &done)
			}
			b.c.handOffPolled(&done)
		}
		d.mu.Unlock()
	})
	b.table.each(func(d *fdState) {
		d.mu.Lock()
		if d.sysfd >= 0 && d.state&uClosing == 0 {
			b.closeOrZombieLocked(d, &done)
			b.c.handOffPolled(&done)
		}
		d.mu.Unlock()
	})
	// Reap until the kernel holds nothing: every zombie closed.
	b.reaping.Lock()
	defer b.reaping.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for b.table.live() > 0 && time.Now().Before(deadline) {
		b.sq.Lock()
		plan := b.ring.PrepareWait(50 * time.Millisecond)
		b.sq.Unlock()
		b.ring.Wait(plan, 1, 0, 0)
		b.reap()
	}
	b.c.deferred.flush()
	leaked := b.table.live() > 0
	b.sq.Lock()
	b.closed.Store(true)
	b.tick.Stop()
	err := b.ring.Close() // under sq: it submits the wakeup read's cancellation
	b.sq.Unlock()
	if !leaked {
		b.pools.close()
	}
	return err
}

// live counts the records still in the table.
func (t *slotTable[T]) live() int {
	n := 0
	t.each(func(*T) { n++ })
	return n
}

// replace puts d in slot, which another record held, keeping the slot's
// generation (the tokens in flight name it).
func (t *slotTable[T]) replace(slot uint32, d *T) {
	t.mu.Lock()
	t.chunks[slot/chunkSize].Load()[slot%chunkSize].Store(d)
	t.mu.Unlock()
}
