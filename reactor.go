//go:build unix

package asio

import (
	"sync"
	"sync/atomic"
)

// fdState is one open descriptor as a readiness backend sees it: three FIFO
// queues of waiting operations (read, write, except) under a mutex, as in
// Asio's descriptor_state. It is embedded in the socket that owns it and
// reused when the socket is opened again.
//
// An operation starting on an empty queue tries its syscall at once, inside
// the initiating function (speculative I/O); only on EAGAIN is it queued.
// Edge-triggered readiness then performs queued operations head first, in
// the order they were initiated. Both happen under mu, so an edge is never
// lost between a failed attempt and the queueing of the op.
type fdState struct {
	mu     sync.Mutex
	fd     int32       // -1 when not open
	write  atomic.Bool // a composed write (AsyncWrite) runs on this stream
	c      *IOContext  // the context whose backend knows fd
	token  uint64      // the backend's handle for fd (slot and generation)
	q      [3]opQueue  // waiting ops: dirRead, dirWrite, dirExcept
	wFull  bool        // a short write consumed the write edge: queue without trying
	rEmpty bool        // a read saw EAGAIN or came up short: queue without trying
	hup    bool        // the peer closed or the socket has an error: always try
	fam    uint8       // AF_INET or AF_INET6 while open
	dgram  bool        // datagram socket: empty ops are real, 0 bytes is no EOF
}

// tryLockWrite marks a composed write in progress; false if one already is.
func (d *fdState) tryLockWrite() bool { return d.write.CompareAndSwap(false, true) }

func (d *fdState) unlockWrite() { d.write.Store(false) }

func (d *fdState) family() int { return int(d.fam) }

func (d *fdState) init(c *IOContext) {
	d.fd = -1
	d.c = c
}

// start performs o now if its queue is empty and the syscall does not
// block, else queues it; see the type's comment.
func (d *fdState) start(o *op, dir int) {
	d.mu.Lock()
	d.startLocked(o, dir)
}

// startLocked is start with d.mu already held; it releases it.
//
// Every completion is handed to the scheduler before mu is released (see
// op.handOff), so that ops of one direction complete in the order they
// were initiated even when one finishes at once and another was performed
// by the poller a moment before.
func (d *fdState) startLocked(o *op, dir int) {
	q := &d.q[dir]
	switch {
	case d.fd < 0:
		o.err = ErrBadDescriptor
	case o.isNoop(d):
		// A zero-size stream op completes at once, with no syscall, even
		// ahead of ops waiting in its direction (DESIGN.md; Asio does the
		// same, and Beast relies on it while an op is pending).
	case o.ctxDone():
		o.err = ErrOperationAborted
	case d.c.closed.Load():
		o.err = ErrOperationAborted
	default:
		if !q.empty() || d.exhausted(dir) || !o.perform(d, false) {
			d.queueLocked(o, q)
			return
		}
	}
	c := d.c
	o.handOff(true)
	d.mu.Unlock()
	c.deferred.flush()
}

// queueLocked makes o wait on q (d.mu held; it releases it).
func (d *fdState) queueLocked(o *op, q *opQueue) {
	o.watch(d)
	q.push(o)
	d.mu.Unlock()
}

// exhausted reports whether the last syscall of direction dir consumed the
// readiness edge, so that trying another now would only return EAGAIN. It
// is safe to skip the attempt: the syscall and this flag were set under mu,
// and any readiness after that syscall brings an event that clears the flag
// (under mu) and performs the queued op. This is Asio's try_speculative_
// flag with reset_edge_on_partial_read; in a ping-pong it saves the read(2)
// that would fail after every reply.
func (d *fdState) exhausted(dir int) bool {
	if d.hup {
		// A short read consumed the data, not the end of the stream or the
		// error whose edge may have come before it: every try from now on
		// returns at once.
		return false
	}
	switch dir {
	case dirRead:
		return d.rEmpty
	case dirWrite:
		return d.wFull
	}
	return false
}

// isNoop reports whether o is a zero-size op on a stream, which completes at
// once with no syscall.
func (o *op) isNoop(d *fdState) bool {
	if d.dgram || (o.kind != opRead && o.kind != opWrite) {
		return false
	}
	bufs := o.bufs()
	if bufs == nil {
		return len(o.buf) == 0
	}
	for _, b := range bufs {
		if len(b) > 0 {
			return false
		}
	}
	return true
}

// Readiness bits, translated from the backend's event mask.
const (
	readyRead = 1 << iota
	readyWrite
	readyExcept
	readyHangUp // peer closed (RDHUP/HUP) or error: sticky until reopened
)

// ready performs the queued operations that readiness unblocks, in order,
// and hands the completed ones to the scheduler before releasing mu (those
// bound to a user's executor join the context's deferred list, which the
// poller flushes after its wait). Called by the backend's wait.
func (d *fdState) ready(token uint64, ev int) {
	var done opList
	d.mu.Lock()
	if d.fd < 0 || d.token != token {
		d.mu.Unlock() // a stale event for a closed, perhaps reused, descriptor
		return
	}
	if ev&readyHangUp != 0 {
		d.hup = true
	}
	if ev&(readyExcept|readyHangUp) != 0 {
		// A hang-up ends a receive of urgent data too (with the
		// connection's error), not a readiness wait for urgent data.
		d.performQueue(dirExcept, ev&readyExcept != 0, &done)
	}
	if ev&readyWrite != 0 {
		d.wFull = false
		d.performQueue(dirWrite, true, &done)
	}
	if ev&readyRead != 0 {
		d.rEmpty = false
		d.performQueue(dirRead, true, &done)
	}
	if !done.empty() {
		d.c.enqueuePolled(&done)
	}
	d.mu.Unlock()
}

// performQueue performs the ops queued on dir, head first, while they
// complete; onEvent says the readiness of dir was reported.
func (d *fdState) performQueue(dir int, onEvent bool, out *opList) {
	q := &d.q[dir]
	for o := q.head; o != nil; o = q.head {
		if !o.perform(d, onEvent) {
			return
		}
		q.pop()
		out.push(o)
		if d.exhausted(dir) {
			return // a short transfer: the edge is consumed
		}
	}
}

// cancelOp aborts o if it is still queued here under the same key. It reads
// nothing of o but its atomic key: whether o is queued is told by the queues
// (owned by d.mu), so a request racing with o's completion and recycling is
// harmless.
func (d *fdState) cancelOp(o *op, key uint64, t CancellationType) {
	if t&CancelAll == 0 {
		return
	}
	d.mu.Lock()
	if o.key() != key || !d.unqueue(o) {
		d.mu.Unlock()
		return
	}
	o.err = ErrOperationAborted
	c := d.c
	o.handOff(false)
	d.mu.Unlock()
	c.deferred.flush()
}

// unqueue removes o from whichever queue holds it (d.mu held).
func (d *fdState) unqueue(o *op) bool {
	for i := range d.q {
		if d.q[i].remove(o) {
			return true
		}
	}
	return false
}

// abortLocked moves every queued op to out with ErrOperationAborted.
func (d *fdState) abortLocked(out *opList) {
	for i := range d.q {
		for o := d.q[i].pop(); o != nil; o = d.q[i].pop() {
			o.err = ErrOperationAborted
			out.push(o)
		}
	}
}

// cancelAll aborts every queued op (Cancel on the socket).
func (d *fdState) cancelAll() {
	var out opList
	d.mu.Lock()
	d.abortLocked(&out)
	handOffAll(&out)
	c := d.c
	d.mu.Unlock()
	c.deferred.flush()
}

// handOffAll hands every op of l to its executor (op.handOff); the
// caller holds the lock of the queue they left and flushes the context's
// deferred list once it has released it.
func handOffAll(l *opList) {
	for o := l.pop(); o != nil; o = l.pop() {
		o.handOff(false)
	}
}

// completeAll completes every op of l (op.complete): no lock may be held.
func completeAll(l *opList) {
	for o := l.pop(); o != nil; o = l.pop() {
		o.complete()
	}
}
