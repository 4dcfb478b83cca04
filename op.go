package asio

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
)

// opKind says what an operation does when performed.
type opKind uint8

const (
	opRead      opKind = iota // read/recv/readv on a stream
	opWrite                   // send/sendmsg on a stream
	opRecvDgram               // recv/recvmsg on a datagram socket
	opSendDgram               // send/sendmsg on a datagram socket
	opRecvFrom                // recvmsg with the sender's address
	opSendTo                  // sendmsg to an address
	opAccept                  // accept4
	opConnect                 // completion of a non-blocking connect
	opWait                    // readiness only (AsyncWait)
	opTimer                   // a Timer wait
	opSendBatch               // sendmmsg of o.batch (UDPSocket.AsyncSendBatch)
	opRecvBatch               // recvmmsg into o.batch (UDPSocket.AsyncReceiveBatch)
)

// The directions (queues) of a descriptor.
const (
	dirRead   = 0
	dirWrite  = 1
	dirExcept = 2
)

// op is one asynchronous operation, from initiation to its handler. It is a
// single struct type for every kind so that the queues, the pool and the
// completion path need no interface and no allocation; ops are recycled
// through opPool as soon as the handler is about to run. The core is 128
// bytes, what a pending single-buffer read or write or a readiness wait
// holds; the parts only some ops need (gather buffers, addresses, timer and
// accept state, per-op options) are in an opExt attached from its own pool.
type op struct {
	next  *op // link in a descriptor queue or an opList
	kind  opKind
	flags int32
	buf   []byte        // the single buffer (a longer sequence is in x.bufs)
	n     int32         // bytes moved (at most 0x7ffff000 per syscall on Linux)
	seq   atomic.Uint32 // bumped at release: a cancellation key
	err   error
	c     *IOContext // the context that counts the op's work
	ex    Executor   // where the handler runs (never nil once started)
	h     any        // the handler: func(int, error), func(error), func(*TCPSocket, error) or func(int, netip.AddrPort, error)
	x     *opExt     // the rarer parts, or nil
}

// opExt holds what only some ops need.
type opExt struct {
	bufs [][]byte       // the caller's slice headers, copied (never the bytes)
	fd   int            // accepted descriptor
	addr netip.AddrPort // peer of a connect, send-to target, receive-from sender
	imm  Executor       // bound immediate executor, or nil
	aex  Executor       // the executor of an accepted socket

	sig  *CancellationSignal // the cancellation slot's signal, or nil
	wctx context.Context     // WithContext's context, or nil
	stop func() bool         // unregisters the WithContext watch

	when int64  // timer expiry, ns on the context's clock
	hidx int    // index in the timer heap, -1 when not in it
	tm   *Timer // the timer of a timer wait

	batch []Message // the caller's messages of a batched datagram op
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

// blockingOp makes an op for a blocking form, performed on the caller's
// goroutine: it needs no pool.
func blockingOp(kind opKind, flags MessageFlags, b Buffers) op {
	return op{kind: kind, flags: int32(flags), x: &opExt{bufs: b, hidx: -1}}
}

// imm returns the bound immediate executor, or nil.
func (o *op) imm() Executor {
	if o.x == nil {
		return nil
	}
	return o.x.imm
}

var opPool = sync.Pool{New: func() any { return new(op) }}

// newOp takes an op from the pool for an operation of object executor ex on
// context c, with the per-op options applied to it (no allocation: they go
// into the op's own fields). The op counts as work on c from the caller's
// workStarted until its handler has run.
func newOp(kind opKind, c *IOContext, ex Executor, opts []OpOption) *op {
	o := opPool.Get().(*op)
	o.kind = kind
	o.c = c
	o.ex = ex
	for _, opt := range opts {
		switch v := opt.(type) {
		case executorOption:
			if v.ex != nil {
				o.ex = v.ex
			}
		case immediateOption:
			o.ext().imm = v.ex
		case slotOption:
			o.ext().sig = v.s
		case contextOption:
			o.ext().wctx = v.ctx
		}
	}
	return o
}

// setBuffers copies the slice headers of b into the op (one buffer into the
// core, more into the extension), so that b itself need not outlive the call.
func (o *op) setBuffers(b Buffers) {
	switch len(b) {
	case 0:
	case 1:
		o.buf = b[0]
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
	o.flags = 0
	o.buf = nil
	o.n, o.err = 0, nil
	o.c, o.ex, o.h = nil, nil, nil
	opPool.Put(o)
}

// run is the op's completion: it leaves its cancellation slot, recycles
// itself and calls the handler. The scheduler counts the work done after.
func (o *op) run(r *runner) {
	n, err := int(o.n), o.err
	var addr netip.AddrPort
	var sock *TCPSocket
	if x := o.x; x != nil {
		if x.sig != nil {
			x.sig.clear(o, o.key())
		}
		if x.stop != nil {
			x.stop()
		}
		addr = x.addr
		if _, ok := o.h.(func(*TCPSocket, error)); ok {
			sock, err = o.acceptedSocket()
		}
	}
	h := o.h
	o.release()
	switch h := h.(type) {
	case func(int, error):
		h(n, err)
	case func(error):
		h(err)
	case func(*TCPSocket, error):
		h(sock, err)
	case func(int, netip.AddrPort, error):
		h(n, addr, err)
	}
}

// postLocked hands o's completion to its executor while the caller holds
// the lock of the queue o left, so that completions keep the order in which
// ops leave it (immediate says it is an immediate completion). It reports
// false for what must wait until that lock is released: a bound immediate
// executor or a user's executor, which may run code. The library's own
// executors only queue.
func (o *op) postLocked(immediate bool) bool {
	if immediate && o.imm() != nil {
		return false
	}
	c := o.c
	switch ex := o.ex.(type) {
	case ioExecutor:
		if ex.c == c {
			c.enqueue(o) // the op's work carries over
			return true
		}
		ex.c.post(o)
	case *Strand:
		ex.postTask(o)
	default:
		return false
	}
	c.workFinished()
	return true
}

// complete delivers a result found outside the backend's wait (a
// cancellation, an abort) to the handler's executor.
func (o *op) complete() {
	if !o.postLocked(false) {
		c := o.c        // once posted, o may run and be recycled at once
		postTo(o.ex, o) // a user's executor
		c.workFinished()
	}
}

// completeNow delivers an immediate completion: a result known inside the
// initiating function. It is posted, never run here, unless the handler has
// a bound immediate executor, which gets it by Dispatch.
func (o *op) completeNow() {
	imm := o.imm()
	if imm == nil {
		o.complete()
		return
	}
	c := o.c
	imm.Dispatch(func() {
		o.run(nil)
		c.workFinished()
	})
}

// watch connects a queued op to its cancellation slot and context. Called
// with the queue's lock held, just before the op is queued.
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

// key is the op's cancellation key: its recycling count, so that a request
// for an op that already completed and was reused is told apart.
func (o *op) key() uint64 { return uint64(o.seq.Load()) }
