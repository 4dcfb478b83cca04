package asio

import (
	"syscall"
	"time"

	"github.com/goasio/asio/internal/reactor"
	"golang.org/x/sys/unix"
)

// epollBackend is the reactor: raw non-blocking descriptors registered once
// with an edge-triggered epoll instance (internal/reactor), three FIFO
// queues of waiting ops per descriptor, as in Asio's descriptor_state, and
// speculative I/O.
//
// An op starting on an empty queue tries its syscall at once, inside the
// initiating function, unless the last syscall of that direction consumed
// the readiness edge (a short transfer or EAGAIN: the descriptor's
// epReadEmpty or epWriteFull flag); only when it would block is it queued.
// An edge then performs the queued ops head first, in the order they were
// initiated. Both happen under fdState.mu, so an edge is never lost between
// a failed attempt and the queueing of the op, and every completion is
// handed to the scheduler before mu is released, so that ops of one
// direction complete in initiation order even when one finishes at once
// and another was performed by the poller a moment before.
//
// epoll_data holds a token of the descriptor table (slot and generation),
// never a Go pointer, so a stale event of a closed and reused descriptor
// is recognised and dropped.
type epollBackend struct {
	rawSockets
	p      *reactor.Poller
	events [128]reactor.Event // used only by the goroutine inside wait
	table  slotTable[fdState]
}

// epollKeepP is how long the poller's blocking wait keeps its goroutine's P
// (see reactor.Poller.KeepPMs); a variable for the measurements that chose
// it (ASIO_EPOLL_TUNE=keepp=0 turns it off).
var epollKeepP = time.Millisecond

func init() {
	tuneFromEnv("ASIO_EPOLL_TUNE", func(k string, d time.Duration, _ int) {
		switch k {
		case "keepp":
			epollKeepP = d
		}
	})
}

// The epoll backend's flags in fdState.state.
const (
	epWriteFull uint8 = 1 << iota // the write edge is consumed: queue without trying
	epReadEmpty                   // the read edge is consumed: queue without trying
	epHangUp                      // peer closed or error seen: every try returns at once (until reopened)
	epPoolWait                    // a pooled read waits for its BufferPool
)

func newEpollBackend(c *IOContext, runtimePoller bool) (*epollBackend, error) {
	p, err := reactor.Open()
	if err != nil {
		return nil, err
	}
	if runtimePoller {
		if err := p.UseRuntime(); err != nil {
			p.Close()
			return nil, err
		}
	} else {
		// A goroutine parked in the runtime's poller holds no P: only the
		// direct wait keeps one (and so yields first, wait).
		p.KeepPMs = int(epollKeepP / time.Millisecond)
	}
	b := &epollBackend{p: p}
	b.table.fixed = true
	b.rawSockets = rawSockets{c: c, reg: b.register, unreg: b.unregister}
	return b, nil
}

func (b *epollBackend) kind() Backend { return BackendEpoll }

// register gives d's open descriptor a token and adds it to epoll (d.mu
// held).
func (b *epollBackend) register(d *fdState) error {
	gen, ok := b.table.set(uint32(d.sysfd), d)
	if !ok {
		return ErrContextClosed
	}
	d.gen = gen
	if err := b.p.Add(int(d.sysfd), d.token()); err != nil {
		b.table.remove(uint32(d.sysfd))
		return err
	}
	return nil
}

func (b *epollBackend) unregister(d *fdState) {
	b.table.remove(uint32(d.sysfd))
	b.p.Del(int(d.sysfd))
}

func (b *epollBackend) start(d *fdState, o *op) {
	d.mu.Lock()
	b.startLocked(d, o)
	d.mu.Unlock()
	d.ctx().deferred.flush()
}

// startLocked performs o now if its queue is empty and the syscall does not
// block, else queues it (d.mu held). A zero-size stream op completes at
// once, with no syscall, even ahead of ops waiting in its direction
// (DESIGN.md; Asio does the same, and Beast relies on it).
func (b *epollBackend) startLocked(d *fdState, o *op) {
	if o.kind == opConnect {
		b.startConnectLocked(d, o)
		return
	}
	if !o.settledAtStart(d.sysfd >= 0, d.dgram, b.c.closed.Load()) {
		dir := o.direction()
		if !d.idle(dir) || b.exhausted(d, dir) || !b.perform(d, o, dir, false) {
			d.park(o, dir)
			return
		}
	}
	o.handOff(true)
}

// sendNow is startLocked's speculative attempt at a write, without an op.
func (b *epollBackend) sendNow(d *fdState, buf Buffers) (n int, err error, tried bool) {
	d.mu.Lock()
	tried = d.sysfd >= 0 && !b.c.closed.Load() && d.idle(dirWrite) && !b.exhausted(d, dirWrite)
	if tried {
		n, err = sendBuffers(int(d.sysfd), buf)
		if err == syscall.EAGAIN {
			n, err = 0, nil
		}
		if err == nil && n < buf.Len() {
			b.consumeEdge(d, dirWrite) // as a waiting write's short send does
		}
	}
	d.mu.Unlock()
	return n, err, tried
}

// startConnectLocked opens d if needed and issues connect(2); o waits on
// the write queue for the handshake to end.
func (b *epollBackend) startConnectLocked(d *fdState, o *op) {
	err := ErrOperationAborted
	if !o.ctxDone() {
		err = b.connectStartLocked(d, o.x.addr)
	}
	if err == syscall.EINPROGRESS {
		d.park(o, dirWrite)
		return
	}
	o.err = err
	o.handOff(true)
}

// exhausted reports whether the last syscall of direction dir consumed the
// readiness edge, so that trying another now would only return EAGAIN. It
// is safe to skip the attempt: the syscall and this flag were set under
// d.mu, and any readiness after that syscall brings an event that clears
// the flag (under d.mu) and performs the queued op. This is Asio's
// try_speculative_ flag with reset_edge_on_partial_read; in a ping-pong it
// saves the read(2) that would fail after every reply.
func (b *epollBackend) exhausted(d *fdState, dir int) bool {
	switch {
	case d.state&epHangUp != 0:
		// A short read consumed the data, not the end of the stream or the
		// error whose edge may have come before it: every try from now on
		// returns at once.
		return false
	case dir == dirRead:
		return d.state&epReadEmpty != 0
	case dir == dirWrite:
		return d.state&epWriteFull != 0
	}
	return false
}

// perform tries o's syscall (d.mu held) and keeps the edge flags of its
// direction; it reports whether o has its result.
func (b *epollBackend) perform(d *fdState, o *op, dir int, onEvent bool) bool {
	if o.kind == opReadPooled && d.state&epPoolWait != 0 {
		return false // still waiting for a buffer: bufferFree performs it
	}
	switch performRaw(d, o, onEvent) {
	case done:
		return true
	case doneExhausted:
		b.consumeEdge(d, dir)
		return true
	case needBuffer:
		d.state |= epPoolWait // o.pool tells bufferFree
		return false
	}
	if o.kind != opWait && o.kind != opConnect {
		b.consumeEdge(d, dir) // EAGAIN
	}
	return false
}

func (b *epollBackend) consumeEdge(d *fdState, dir int) {
	switch dir {
	case dirRead:
		d.state |= epReadEmpty
	case dirWrite:
		d.state |= epWriteFull
	}
}

// Readiness bits, from an epoll mask.
const (
	readyRead = 1 << iota
	readyWrite
	readyExcept
	readyHangUp // peer closed (RDHUP/HUP) or error: sticky until reopened
)

// ready performs the queued operations that readiness unblocks, in order,
// and hands the completed ones to the scheduler before releasing d.mu
// (those bound to a user's executor join the context's deferred list,
// which the poller flushes after its wait).
func (b *epollBackend) ready(d *fdState, token uint64, ev int) {
	var done opList
	d.mu.Lock()
	if d.sysfd < 0 || d.token() != token {
		d.mu.Unlock() // a stale event for a closed, perhaps reused, descriptor
		return
	}
	if ev&readyHangUp != 0 {
		d.state |= epHangUp
	}
	if ev&(readyExcept|readyHangUp) != 0 {
		// A hang-up ends a receive of urgent data too (with the
		// connection's error), not a readiness wait for urgent data.
		b.performQueue(d, dirExcept, ev&readyExcept != 0, &done)
	}
	if ev&readyWrite != 0 {
		d.state &^= epWriteFull
		b.performQueue(d, dirWrite, true, &done)
	}
	if ev&readyRead != 0 {
		d.state &^= epReadEmpty
		b.performQueue(d, dirRead, true, &done)
	}
	if !done.empty() {
		b.c.handOffPolled(&done)
	}
	d.mu.Unlock()
}

// performQueue performs the ops queued on dir, head first, while they
// complete, into out; onEvent says the readiness of dir was reported.
func (b *epollBackend) performQueue(d *fdState, dir int, onEvent bool, out *opList) {
	q := d.queued(dir)
	if q == nil {
		return
	}
	for o := q.head; o != nil; o = q.head {
		if !b.perform(d, o, dir, onEvent) {
			return
		}
		q.pop()
		out.push(o)
		if b.exhausted(d, dir) {
			return // a short transfer: the edge is consumed
		}
	}
}

// bufferFree performs d's read queue again: the BufferPool its pooled read
// waited for has a buffer.
func (b *epollBackend) bufferFree(d *fdState) bool {
	var done opList
	d.mu.Lock()
	waiting := d.state&epPoolWait != 0 && d.sysfd >= 0
	if waiting {
		d.state &^= epPoolWait
		b.performQueue(d, dirRead, false, &done)
		if !done.empty() {
			b.c.handOffPolled(&done)
		}
	}
	d.mu.Unlock()
	b.c.deferred.flush()
	return waiting
}

func (b *epollBackend) wait(timeoutMs int) {
	if timeoutMs != 0 && b.p.KeepPMs > 0 {
		yieldBeforeKeepingP()
	}
	n := b.p.Wait(b.events[:], timeoutMs)
	for i := 0; i < n; i++ {
		ev := &b.events[i]
		token := reactor.Token(ev)
		if token == reactor.WakeToken {
			b.p.Drain()
			continue
		}
		if d := b.table.lookup(uint32(token)); d != nil {
			b.ready(d, token, readiness(ev.Events))
		}
	}
}

// readiness maps an epoll mask to the queues it unblocks: errors and hang-ups
// wake every queue, so that waiting ops see the error in their syscall.
func readiness(e uint32) int {
	r := 0
	if e&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		r |= readyRead
	}
	if e&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		r |= readyWrite
	}
	if e&(unix.EPOLLPRI|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		r |= readyExcept
	}
	if e&(unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		r |= readyHangUp
	}
	return r
}

func (b *epollBackend) wake() { b.p.Wake() }

// cancelOp aborts o if it is still queued on d under the same key. It
// reads nothing of o but its atomic key: whether o is queued is told by the
// queues (owned by d.mu), so a request racing with o's completion and
// recycling is harmless.
func (b *epollBackend) cancelOp(d *fdState, o *op, key uint64) {
	d.mu.Lock()
	if o.key() == key && unqueue(d, o) {
		leavePool(d, o, epPoolWait)
		o.err = ErrOperationAborted
		o.handOff(false)
	}
	d.mu.Unlock()
	d.ctx().deferred.flush()
}

// leavePool takes d off the waiters of o's BufferPool if o is the pooled
// read that waits there (its flag poolWait set in d.state; d.mu held).
func leavePool(d *fdState, o *op, poolWait uint8) {
	if o.kind == opReadPooled && d.state&poolWait != 0 {
		d.state &^= poolWait
		o.pool.unwait(d)
	}
}

// abortLocked hands every queued op of d to the scheduler with
// ErrOperationAborted (d.mu held).
func abortLocked(d *fdState, poolWait uint8) {
	d.eachQueue(func(q *opQueue) {
		for o := q.pop(); o != nil; o = q.pop() {
			leavePool(d, o, poolWait)
			o.err = ErrOperationAborted
			o.handOff(false)
		}
	})
}

func (b *epollBackend) cancelAll(d *fdState) error {
	d.mu.Lock()
	open := d.sysfd >= 0
	abortLocked(d, epPoolWait)
	d.mu.Unlock()
	d.ctx().deferred.flush()
	if !open {
		return ErrBadDescriptor
	}
	return nil
}

// close deregisters and closes the descriptor; queued ops complete with
// ErrOperationAborted. An op whose syscall already ran keeps its result.
func (b *epollBackend) close(d *fdState) error {
	d.mu.Lock()
	if d.sysfd < 0 {
		d.mu.Unlock()
		return ErrBadDescriptor
	}
	abortLocked(d, epPoolWait)
	err := b.closeLocked(d)
	d.mu.Unlock()
	d.ctx().deferred.flush()
	return err
}

func (b *epollBackend) shutdown() error {
	b.table.close()
	b.table.each(func(d *fdState) {
		d.mu.Lock()
		if d.sysfd >= 0 && d.ctx() == b.c {
			abortLocked(d, epPoolWait)
			b.closeLocked(d)
		}
		d.mu.Unlock()
	})
	b.c.deferred.flush()
	return b.p.Close()
}
