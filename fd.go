package asio

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/goasio/asio/internal/sys"
)

// fdState is one socket as the package's I/O objects hold it: embedded in
// the TCPSocket, TCPAcceptor or UDPSocket that owns it and reused when that
// object is opened again. The I/O objects never touch the descriptor
// themselves: every call goes to the context's backend (backend.go), which
// owns everything below mu.
//
// Lock order: fdState.mu, then IOContext.mu, then the deferred list's mu
// (deliver.go). A backend takes mu in its own methods and releases it
// before they return; completions found under it are handed to the
// scheduler (op.handOff) before it is released, and the deferred list is
// flushed after.
//
// It is 48 bytes, for what an idle connection costs: the executor and its
// context are held by a pointer to a record shared by every socket of a
// context or strand (exec, ctx), the backend's handle
// is the descriptor number and a generation (token), and the queue of
// urgent-data ops, which few sockets ever use, is kept by the context
// (queue).
type fdState struct {
	exp *execRef // the object's executor and its context (which holds the descriptor)

	// Owned by the backend, under mu.
	mu    sync.Mutex
	sysfd int32  // the OS descriptor (epoll, io_uring), the record's slot (portable); -1 when not open
	gen   uint32 // the generation of the descriptor's slot in its backend's table

	write atomic.Bool // a composed write (AsyncWrite) runs on this stream
	state uint8       // the backend's flags for this descriptor (under mu)
	dgram bool        // datagram socket: empty ops are real, 0 bytes is no EOF
	fam   uint8       // the AddressFamily while open (4 or 6; under mu)
	// zwork: a closed descriptor's record that counts as its context's
	// work until the kernel gives the descriptor back (io_uring's zombie,
	// closed while a Run waits in the ring; under mu).
	zwork bool

	q [2]opQueue // waiting ops: dirRead, dirWrite (under mu); dirExcept's: queue
}

func (d *fdState) init(ex Executor, dgram bool) {
	d.exp, d.dgram, d.sysfd = executorRef(ex), dgram, -1
}

// execRef is an executor and its context, as sockets point to them: one
// record per context and per strand, shared by their sockets, or one per
// socket made on a user's executor.
type execRef struct {
	ex Executor
	c  *IOContext
}

// executorRef returns the record of ex: the one its context or strand
// keeps, or a new one for a user's executor.
func executorRef(ex Executor) *execRef {
	switch e := ex.(type) {
	case ioExecutor:
		return &e.c.exRef
	case *Strand:
		return &e.self
	}
	return &execRef{ex, ex.Context()}
}

// exec is the object's executor.
func (d *fdState) exec() Executor { return d.exp.ex }

// ctx is the context whose backend holds the descriptor.
func (d *fdState) ctx() *IOContext { return d.exp.c }

// queue returns d's queue of direction dir, to push an op on (d.mu held).
// The urgent-data queue is kept by the context, made on first use.
func (d *fdState) queue(dir int) *opQueue {
	if dir != dirExcept {
		return &d.q[dir]
	}
	return d.ctx().exceptQueue(d, true)
}

// park makes o wait on d's queue dir, connected first to its cancellation
// slot and context, which can then take it back (d.mu held).
func (d *fdState) park(o *op, dir int) {
	o.watch(d)
	d.queue(dir).push(o)
}

// queued returns d's queue of direction dir if it exists, else nil (which
// is an empty queue; d.mu held).
func (d *fdState) queued(dir int) *opQueue {
	if dir != dirExcept {
		return &d.q[dir]
	}
	return d.ctx().exceptQueue(d, false)
}

// idle reports whether no op waits in direction dir.
func (d *fdState) idle(dir int) bool {
	q := d.queued(dir)
	return q == nil || q.empty()
}

// eachQueue calls f for each of d's queues that exists (d.mu held).
func (d *fdState) eachQueue(f func(q *opQueue)) {
	f(&d.q[dirRead])
	f(&d.q[dirWrite])
	if q := d.ctx().exceptQueue(d, false); q != nil {
		f(q)
	}
}

func (d *fdState) be() backend { return d.ctx().be }

// token is the descriptor's handle for the kernel (epoll_data, user_data):
// its slot (the descriptor number) and generation, never a Go pointer.
func (d *fdState) token() uint64 { return uint64(uint32(d.sysfd)) | uint64(d.gen)<<32 }

func (d *fdState) family() AddressFamily { return AddressFamily(d.fam) }

// tryLockWrite marks a composed write in progress; false if one already is.
func (d *fdState) tryLockWrite() bool { return d.write.CompareAndSwap(false, true) }

func (d *fdState) unlockWrite() { d.write.Store(false) }

// cancelOp is the canceller an op of d installs in its cancellation slot.
func (d *fdState) cancelOp(o *op, key uint64, t CancellationType) {
	if t&CancelAll == 0 {
		return
	}
	d.be().cancelOp(d, o, key)
}

// start counts o as work and hands it to the backend. An op whose
// initiating function has already set its result (an invalid argument)
// completes at once instead (posted, never inline), counted and tracked as
// every op.
func (d *fdState) start(o *op) {
	c := d.ctx()
	c.workStarted()
	if c.tracking {
		o.trackStart(fdName(d))
		c.warnIfStopped(o)
	}
	if o.err != nil {
		o.completeNow()
		return
	}
	d.be().start(d, o)
}

// sendNow tries to write b at once for a caller that completes the write
// itself (see backend.sendNow); never while the context tracks handlers,
// whose record of a write starts with its op.
func (d *fdState) sendNow(b Buffers) (n int, err error, tried bool) {
	if d.ctx().tracking {
		return 0, nil, false
	}
	return d.be().sendNow(d, b)
}

func (d *fdState) setOption(o sys.Option, v int) error {
	return d.be().setOption(d, o, v)
}

func (d *fdState) getOption(o sys.Option) (int, error) {
	var v int
	err := d.be().control(d, false, func(fd uintptr) (err error) {
		v, err = sys.GetOption(fd, o)
		return err
	})
	return v, err
}

func (d *fdState) localEndpoint() (netip.AddrPort, error)  { return d.be().endpoint(d, false) }
func (d *fdState) remoteEndpoint() (netip.AddrPort, error) { return d.be().endpoint(d, true) }

// unqueue removes o from whichever queue of d holds it (d.mu held).
func unqueue(d *fdState, o *op) bool {
	found := false
	d.eachQueue(func(q *opQueue) { found = found || q.remove(o) })
	return found
}

// familyOf returns the family a socket must be opened with for ep.
func familyOf(ep netip.AddrPort) AddressFamily {
	if ep.Addr().Is4() {
		return IPv4
	}
	return IPv6
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// exceptQueues are the urgent-data queues (dirExcept) of a context's
// sockets, kept apart so that a socket carries two queue heads, not three.
// Lock order: fdState.mu, then exceptQueues.mu.
type exceptQueues struct {
	mu sync.Mutex
	m  map[*fdState]*opQueue
}

// exceptQueue returns d's urgent-data queue, making it if create is set,
// else nil if there is none. An emptied queue is dropped by the next call
// that finds it empty and does not create it.
func (c *IOContext) exceptQueue(d *fdState, create bool) *opQueue {
	e := &c.exq
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.m[d]
	switch {
	case q == nil && create:
		if e.m == nil {
			e.m = map[*fdState]*opQueue{}
		}
		q = new(opQueue)
		e.m[d] = q
	case q != nil && q.empty() && !create:
		delete(e.m, d)
		return nil
	}
	return q
}
