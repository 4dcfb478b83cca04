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
// through opPool as soon as the handler is about to run.
type op struct {
	next  *op // link in a descriptor queue or an opList
	kind  opKind
	state uint8 // opIdle, opQueued: guarded by the queue's lock
	flags int
	buf   []byte   // single-buffer fast path
	bufs  [][]byte // the caller's slice headers, copied (never the bytes)

	n    int
	err  error
	fd   int            // accepted descriptor
	addr netip.AddrPort // peer of a connect, send-to target, receive-from sender

	c   *IOContext // the context that counts the op's work
	d   *fdState   // the descriptor it is queued on
	ex  Executor   // where the handler runs (never nil once started)
	imm Executor   // bound immediate executor, or nil

	hN  func(n int, err error)
	hE  func(err error)
	hA  func(s *TCPSocket, err error)
	hF  func(n int, from netip.AddrPort, err error)
	aex Executor // the executor of an accepted socket

	sig  *CancellationSignal // its cancellation slot's signal, or nil
	wctx context.Context     // WithContext's context, or nil
	stop func() bool         // unregisters the WithContext watch
	seq  atomic.Uint64       // bumped at release: a cancellation key

	when int64  // timer expiry, ns on the context's clock
	hidx int    // index in the timer heap, -1 when not in it
	tm   *Timer // the timer of a timer wait

	batch []Message // the caller's messages of a batched datagram op
}

const (
	opIdle   = 0
	opQueued = 1
)

var opPool = sync.Pool{New: func() any { return &op{hidx: -1} }}

// newOp takes an op from the pool for an operation of object executor ex on
// context c, with the per-op options applied to it (no allocation: they go
// into the op's own fields). The op counts as work on c from the caller's
// workStarted until its handler has run. The *opConfig result is always nil
// and kept only for the callers' signature.
func newOp(kind opKind, c *IOContext, ex Executor, opts []OpOption) (*op, *opConfig) {
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
			o.imm = v.ex
		case slotOption:
			o.sig = v.s
		case contextOption:
			o.wctx = v.ctx
		}
	}
	return o, nil
}

// setBuffers copies the slice headers of b into the op (the single-buffer
// case without touching o.bufs), so that b itself need not outlive the call.
func (o *op) setBuffers(b Buffers) {
	if len(b) == 1 {
		o.buf = b[0]
		return
	}
	o.bufs = append(o.bufs[:0], b...)
}

// release clears the op's references and returns it to the pool.
func (o *op) release() {
	o.seq.Add(1)
	o.next = nil
	o.state = opIdle
	o.flags = 0
	o.buf = nil
	clear(o.bufs)
	o.bufs = o.bufs[:0]
	o.n, o.err, o.fd = 0, nil, 0
	o.addr = netip.AddrPort{}
	o.c, o.d, o.ex, o.imm, o.aex = nil, nil, nil, nil, nil
	o.hN, o.hE, o.hA, o.hF = nil, nil, nil, nil
	o.sig, o.wctx, o.stop, o.tm = nil, nil, nil, nil
	o.batch = nil
	o.when, o.hidx = 0, -1
	opPool.Put(o)
}

// run is the op's completion: it leaves its cancellation slot, recycles
// itself and calls the handler. The scheduler counts the work done after.
func (o *op) run(r *runner) {
	if o.sig != nil {
		o.sig.clear(o, o.seq.Load())
	}
	if o.stop != nil {
		o.stop()
	}
	n, err, addr := o.n, o.err, o.addr
	hN, hE, hA, hF := o.hN, o.hE, o.hA, o.hF
	var sock *TCPSocket
	if hA != nil {
		sock, err = o.acceptedSocket()
	}
	o.release()
	switch {
	case hN != nil:
		hN(n, err)
	case hE != nil:
		hE(err)
	case hA != nil:
		hA(sock, err)
	case hF != nil:
		hF(n, addr, err)
	}
}

// complete delivers a result found outside the backend's wait (a
// cancellation, an abort) to the handler's executor.
func (o *op) complete() {
	c := o.c
	if o.ex == Executor(c.ex) {
		c.enqueue(o)
		return
	}
	postTo(o.ex, o)
	c.workFinished()
}

// completeNow delivers an immediate completion: a result known inside the
// initiating function. It is posted, never run here, unless the handler has
// a bound immediate executor, which gets it by Dispatch.
func (o *op) completeNow() {
	if o.imm == nil {
		o.complete()
		return
	}
	c := o.c
	o.imm.Dispatch(func() {
		o.run(nil)
		c.workFinished()
	})
}

// watch connects a queued op to its cancellation slot and context. Called
// with the queue's lock held, just before the op is queued. The cfg argument
// is unused (the options are in the op).
func (o *op) watch(_ *opConfig, cn canceller) {
	if o.sig != nil {
		o.sig.install(cn, o, o.seq.Load())
	}
	if o.wctx != nil && o.wctx.Done() != nil {
		seq := o.seq.Load()
		o.stop = context.AfterFunc(o.wctx, func() { cn.cancelOp(o, seq, CancelTerminal) })
	}
}

// ctxDone reports whether the op's WithContext context is already done.
func (o *op) ctxDone() bool { return o.wctx != nil && o.wctx.Err() != nil }

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

// remove unlinks o, reporting whether it was in the list.
func (l *opList) remove(o *op) bool {
	var prev *op
	for x := l.head; x != nil; prev, x = x, x.next {
		if x != o {
			continue
		}
		if prev == nil {
			l.head = x.next
		} else {
			prev.next = x.next
		}
		if l.tail == x {
			l.tail = prev
		}
		x.next = nil
		return true
	}
	return false
}
