package asio

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"unsafe"
)

// opKind says what an operation does. Each backend has one function per
// kind that performs it.
type opKind uint8

const (
	opRead       opKind = iota // receive on a stream into the caller's buffers
	opWrite                    // send on a stream
	opReadPooled               // receive on a stream into a BufferPool buffer
	opSendDgram                // send one datagram on a connected socket
	opRecvFrom                 // receive one datagram, with its sender
	opSendTo                   // send one datagram to o.x.addr
	opAccept                   // take a connection off a listener
	opConnect                  // connect a stream socket to o.x.addr
	opWait                     // readiness only (AsyncWait); o.flags holds the WaitType
	opTimer                    // a Timer wait (never reaches a backend)
	opSendBatch                // send the datagrams of o.x.batch
	opRecvBatch                // receive datagrams into o.x.batch
	opWriteAll                 // send every byte of the buffers on a stream: AsyncWrite on a TCPSocket (writeAll)
)

// rawResult is what one non-blocking attempt of an op gives (on a raw
// descriptor, or on the portable backend's RawConn), as Asio's reactor_op
// status.
type rawResult uint8

const (
	wouldBlock    rawResult = iota // EAGAIN, or not ready yet: the op waits
	done                           // o.n and o.err hold the result
	doneExhausted                  // done, with a short transfer: the readiness edge is consumed
	needBuffer                     // a pooled read found data but its pool has none free
)

// The directions (queues) of a descriptor, for the backends that queue ops
// per direction: ops of one direction are performed and completed in the
// order they were initiated.
const (
	dirRead   = 0
	dirWrite  = 1
	dirExcept = 2 // urgent data and AsyncWait(WaitError)
)

// direction returns the queue o waits on.
func (o *op) direction() int {
	switch o.kind {
	case opRead:
		if MessageFlags(o.flags)&MsgOutOfBand != 0 {
			return dirExcept
		}
	case opWait:
		switch WaitType(o.flags) {
		case WaitWrite:
			return dirWrite
		case WaitError:
			return dirExcept
		}
	case opWrite, opWriteAll, opSendDgram, opSendTo, opSendBatch, opConnect:
		return dirWrite
	}
	return dirRead
}

// op is one asynchronous operation, from initiation to its handler. It is a
// single struct type for every kind so that the queues, the pool and the
// completion path need no interface and no allocation; ops are recycled
// through opPool as soon as the handler is about to run. The core holds
// what a pending single-buffer read or write, pooled read or readiness wait
// needs; the parts only some ops need (gather buffers, addresses, timer and
// accept state, per-op options) are in an opExt attached from its own pool.
//
// An op is in exactly one place at a time, and moves only under the lock of
// the place it leaves: the initiating goroutine's hands; a backend (a
// descriptor's queue under fdState.mu, the kernel's ring, a goroutine of
// the portable backend) or the context's timer heap (under IOContext.mu);
// then the scheduler (the ready queue, the deferred list, or the queue of
// another executor), handed there by handOff; then run, which recycles it
// just before it calls the handler. So whoever takes an op out of a place
// owns it, and only one of perform, cancel, close and shutdown can.
type op struct {
	next *op // link in a descriptor queue or an opList

	// The single buffer (a longer sequence is in x.bufs), as its data
	// pointer and length, so that the op fits 80 bytes (a size class) with
	// the fields below; buffer and setBuffer convert. Its capacity is not
	// kept: a pooled read's result gets its pool's (pooled).
	bp *byte
	bn int32
	n  int32 // bytes (or messages) moved; at most 0x7ffff000 per syscall on Linux

	seq   atomic.Uint32
	kind  opKind
	flags uint8 // MessageFlags, or the WaitType of an opWait
	// immediate marks a deferred immediate completion, for a bound
	// immediate executor (deliver).
	immediate bool
	hsig      handlerSig // the signature of h

	err error
	// d is the descriptor the op concerns; its context counts the op's
	// work and its executor runs the handler, unless x overrides them
	// (ctx, exec).
	d *fdState

	h    handler     // the handler (handler.go)
	pool *BufferPool // a pooled read's pool
	x    *opExt      // the rarer parts, or nil
}

// maxSingleBuffer is the most of one buffer an op offers: what Linux moves
// in one read or write at most (MAX_RW_COUNT), so that the length fits the
// op's int32. A longer buffer is a short transfer, as the "some" operations
// allow; the composed ones go on with the rest.
const maxSingleBuffer = 0x7ffff000

// buffer returns the op's single buffer (nil if it has none); its capacity
// is its length.
func (o *op) buffer() []byte { return unsafe.Slice(o.bp, o.bn) }

// setBuffer makes b the op's single buffer, at most maxSingleBuffer of it;
// a nil b leaves it none, an empty non-nil one an empty one.
func (o *op) setBuffer(b []byte) {
	o.bp, o.bn = unsafe.SliceData(b), int32(min(len(b), maxSingleBuffer))
}

// setPooled records b, the bytes a pooled read got, as its result: its
// buffer and n.
func (o *op) setPooled(b []byte) {
	o.setBuffer(b)
	o.n = int32(len(b))
}

// pooled returns a pooled read's buffer (nil if it has none) with its
// pool's capacity, as the pool's Put and unget expect.
func (o *op) pooled() []byte {
	if o.bp == nil {
		return nil
	}
	return unsafe.Slice(o.bp, o.pool.size)[:o.bn]
}

// packFlags gives the message flags the op keeps: the library's own bits
// (others mean nothing to any backend).
func packFlags(f MessageFlags) uint8 {
	return uint8(f & (MsgPeek | MsgOutOfBand | MsgDoNotRoute | MsgEndOfRecord))
}

// opExt holds what only some ops need.
type opExt struct {
	bufs  [][]byte       // the caller's slice headers, copied (never the bytes)
	addr  netip.AddrPort // peer of a connect, send-to target, receive-from sender
	acc   accepted       // the connection an accept took
	aex   Executor       // the executor of an accepted socket
	imm   Executor       // bound immediate executor, or nil
	c     *IOContext     // the context of an op with no descriptor (a timer wait)
	ex    Executor       // the bound executor (BindExecutor), or the executor of an op with no descriptor
	batch []Message      // the caller's messages of a batched datagram op

	sig  *CancellationSignal // the cancellation slot's signal, or nil
	wctx context.Context     // WithContext's context, or nil
	stop func() bool         // unregisters the WithContext watch

	tr *opTrace // handler tracking's task, or nil

	when int64  // timer expiry, ns on the context's clock
	hidx int    // index in the timer heap, -1 when not in it
	tm   *Timer // the timer of a timer wait
}

// accepted is the connection an accept op took, as its backend holds it:
// a raw descriptor (epoll, io_uring) or a net.Conn (portable).
type accepted struct {
	fd     int
	conn   net.Conn
	family AddressFamily
}

var extPool = sync.Pool{New: func() any { return &opExt{hidx: -1} }}

// ext returns o's extension, attaching one if needed.
func (o *op) ext() *opExt {
	if o.x == nil {
		o.x = extPool.Get().(*opExt)
	}
	return o.x
}

// bufs returns the gather/scatter sequence of a multi-buffer op, else nil.
func (o *op) bufs() [][]byte {
	if o.x == nil || len(o.x.bufs) == 0 {
		return nil
	}
	return o.x.bufs
}

// advance moves o's buffers past n written bytes, for the next attempt of
// an opWriteAll (o.n keeps the count): fully written buffers leave the
// sequence, whose slice headers are the op's own copies.
func (o *op) advance(n int) {
	if n <= 0 {
		return
	}
	b := o.bufs()
	if b == nil {
		o.setBuffer(o.buffer()[n:]) // never a pointer past the end
		return
	}
	i := 0
	for i < len(b) && n >= len(b[i]) {
		n -= len(b[i])
		i++
	}
	if i < len(b) {
		b[i] = b[i][n:]
	}
	k := copy(b, b[i:])
	clear(b[k:])
	o.x.bufs = b[:k]
}

// size is the number of bytes in o's buffers.
func (o *op) size() int {
	if b := o.bufs(); b != nil {
		return Buffers(b).Len()
	}
	return int(o.bn)
}

// isNoop reports whether o is a zero-size op on a stream, which completes
// at once with no syscall (on a datagram socket an empty op is a real
// zero-length datagram).
func (o *op) isNoop(dgram bool) bool {
	if dgram || (o.kind != opRead && o.kind != opWrite && o.kind != opWriteAll) {
		return false
	}
	return o.size() == 0
}

// settledAtStart reports whether o, being started on a descriptor, has its
// result without any I/O, and sets o.err to it: ErrBadDescriptor when the
// descriptor is not open, nil for a zero-size stream op (isNoop),
// ErrOperationAborted when its context is done or its IOContext closed.
// Every backend's start asks this first.
func (o *op) settledAtStart(open, dgram, closed bool) bool {
	switch {
	case !open:
		o.err = ErrBadDescriptor
	case o.isNoop(dgram):
	case closed || o.ctxDone():
		o.err = ErrOperationAborted
	default:
		return false
	}
	return true
}

// limitPooled cuts a buffer a pooled read took from its pool to the op's
// limit: before the read, o.n > 0 is the most it may take (TCPStream's rate
// policy), 0 none.
func (o *op) limitPooled(b []byte) []byte {
	if o.n > 0 && int(o.n) < len(b) {
		return b[:o.n]
	}
	return b
}

// blockingOp makes an op for a blocking form, performed on the caller's
// goroutine: it needs no pool.
func blockingOp(kind opKind, flags MessageFlags, b Buffers) op {
	return op{kind: kind, flags: packFlags(flags), x: &opExt{bufs: b, hidx: -1}}
}

// imm returns the bound immediate executor, or nil.
func (o *op) imm() Executor {
	if o.x == nil {
		return nil
	}
	return o.x.imm
}

var opPool = sync.Pool{New: func() any { return new(op) }}

// newOp takes an op from the pool for an operation on descriptor d, with
// the per-op options applied to it (no allocation: they go into the op's
// own fields). The caller sets the handler and counts the op as work on d's
// context (workStarted) until its handler has run.
func newOp(kind opKind, d *fdState, opts []OpOption) *op {
	o := opPool.Get().(*op)
	o.kind, o.d = kind, d
	d.ctx().stats.started.Add(1)
	o.applyOptions(opts)
	return o
}

// newTimerOp is newOp for a wait of timer t, which has no descriptor.
func newTimerOp(t *Timer, opts []OpOption) *op {
	o := opPool.Get().(*op)
	o.kind = opTimer
	x := o.ext()
	x.c, x.ex, x.tm = t.c, t.ex, t
	t.c.stats.started.Add(1)
	o.applyOptions(opts)
	return o
}

func (o *op) applyOptions(opts []OpOption) {
	for _, opt := range opts {
		switch v := opt.(type) {
		case executorOption:
			if v.ex != nil {
				o.ext().ex = v.ex
			}
		case immediateOption:
			o.ext().imm = v.ex
		case slotOption:
			o.ext().sig = v.s
		case contextOption:
			o.ext().wctx = v.ctx
		}
	}
}

// ctx is the context that counts o's work.
func (o *op) ctx() *IOContext {
	if o.d != nil {
		return o.d.ctx()
	}
	return o.x.c
}

// exec is where o's handler runs.
func (o *op) exec() Executor {
	if x := o.x; x != nil && x.ex != nil {
		return x.ex
	}
	return o.d.exec()
}

// setBuffers copies the slice headers of b into the op (one buffer into the
// core, more into the extension), so that b itself need not outlive the call.
func (o *op) setBuffers(b Buffers) {
	switch len(b) {
	case 0:
	case 1:
		o.setBuffer(b[0])
	default:
		x := o.ext()
		x.bufs = append(x.bufs[:0], b...)
	}
}

// release clears the op's references and returns it to the pool.
func (o *op) release() {
	o.seq.Add(1)
	if x := o.x; x != nil {
		clear(x.bufs)
		*x = opExt{bufs: x.bufs[:0], hidx: -1}
		extPool.Put(x)
	}
	o.next, o.x = nil, nil
	o.flags, o.immediate = 0, false
	o.bp, o.bn = nil, 0
	o.n, o.err = 0, nil
	o.d = nil
	o.h, o.hsig, o.pool = nil, sigNone, nil
	opPool.Put(o)
}

// run is the op's completion: it leaves its cancellation slot, recycles
// itself and calls the handler. The scheduler counts the work done after.
func (o *op) run(rn *runner) {
	r := opResult{n: int(o.n), err: o.err}
	if o.hsig == sigP {
		r.buf = o.pooled()
	}
	h, sig := o.h, o.hsig
	var tr *opTrace
	if c := o.ctx(); rn != nil && rn.c == c {
		rn.finished++ // added to c's Stats with the batch (requeue)
	} else {
		c.stats.finished.Add(1)
	}
	if x := o.x; x != nil {
		tr = x.tr
		if x.sig != nil {
			x.sig.clear(o, o.key())
		}
		if x.stop != nil {
			x.stop()
		}
		r.addr = x.addr
		if sig == sigA {
			r.sock, r.err = o.acceptedSocket()
		}
	}
	if o.kind == opWriteAll {
		o.d.unlockWrite() // the composed write is over once its handler may run
	}
	o.release()
	if tr != nil {
		tr.trackRun(func() { call(h, sig, &r) })
		return
	}
	call(h, sig, &r)
}

// handOff hands o's completion to its executor. The caller holds the lock
// of the place o left (a descriptor queue, the timer heap), so that
// completions keep the order in which ops leave it; immediate says it is an
// immediate completion. The library's own executors only queue, so o goes
// to them at once; a bound immediate executor or a user's executor, which
// may run code, gets it through the context's deferred list, which the
// caller flushes once it has released its lock (complete, completeNow and
// deferredList.flush). Nothing of o may be read after handOff.
func (o *op) handOff(immediate bool) {
	c := o.ctx()
	if immediate && o.imm() != nil {
		o.immediate = true
		c.deferred.push(o)
		return
	}
	switch ex := o.exec().(type) {
	case ioExecutor:
		if ex.c == c {
			c.enqueue(o) // the op's work carries over
			return
		}
		ex.c.post(o)
	case *Strand:
		ex.postTask(o)
	default:
		c.deferred.push(o)
		return
	}
	c.workFinished()
}

// complete delivers a result found outside the backend's wait (a
// cancellation, an abort) to the handler's executor. No lock may be held.
func (o *op) complete() {
	c := o.ctx()
	o.handOff(false)
	c.deferred.flush()
}

// completeNow delivers an immediate completion: a result known inside the
// initiating function. It is posted, never run here, unless the handler has
// a bound immediate executor, which gets it by Dispatch. No lock may be
// held.
func (o *op) completeNow() {
	c := o.ctx()
	o.handOff(true)
	c.deferred.flush()
}

// watch connects a queued op to its cancellation slot and context: cn is
// the place that can take it back. Called with that place's lock held,
// just before the op is queued there.
func (o *op) watch(cn canceller) {
	x := o.x
	if x == nil {
		return
	}
	if x.sig != nil {
		x.sig.install(cn, o, o.key())
	}
	if x.wctx != nil && x.wctx.Done() != nil {
		seq := o.key()
		x.stop = context.AfterFunc(x.wctx, func() { cn.cancelOp(o, seq, CancelTerminal) })
	}
}

// ctxDone reports whether the op's WithContext context is already done.
func (o *op) ctxDone() bool { return o.x != nil && o.x.wctx != nil && o.x.wctx.Err() != nil }

// key is the op's cancellation key: its recycling count, so that a request
// for an op that already completed and was reused is told apart.
func (o *op) key() uint64 { return uint64(o.seq.Load()) }

// opList is an intrusive FIFO of ops linked through op.next.
type opList struct{ head, tail *op }

func (l *opList) push(o *op) {
	o.next = nil
	if l.tail == nil {
		l.head = o
	} else {
		l.tail.next = o
	}
	l.tail = o
}

func (l *opList) pop() *op {
	o := l.head
	if o != nil {
		l.head = o.next
		if l.head == nil {
			l.tail = nil
		}
		o.next = nil
	}
	return o
}

func (l *opList) empty() bool { return l.head == nil }

// handOffAll hands every op of l to its executor (op.handOff); the
// caller holds the lock of the place they left and flushes the context's
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

// opQueue is a descriptor's FIFO of waiting ops, linked through op.next. It
// keeps only the head: queues are almost always empty or one op long, and a
// socket is smaller without a tail pointer per direction.
type opQueue struct{ head *op }

func (q *opQueue) empty() bool { return q.head == nil }

func (q *opQueue) push(o *op) {
	o.next = nil
	p := &q.head
	for *p != nil {
		p = &(*p).next
	}
	*p = o
}

func (q *opQueue) pop() *op {
	o := q.head
	if o != nil {
		q.head = o.next
		o.next = nil
	}
	return o
}

// remove unlinks o, reporting whether it was queued here.
func (q *opQueue) remove(o *op) bool {
	for p := &q.head; *p != nil; p = &(*p).next {
		if *p == o {
			*p = o.next
			o.next = nil
			return true
		}
	}
	return false
}
