package asio

import (
	"context"
	"sync"
	"sync/atomic"
)

// transferOp is the composed read or write of Asio's async_read/async_write:
// one *Some call at a time over the rest of the caller's buffers, each
// offered at most what the completion condition allows (the whole rest on
// the package's own sockets when it sets no bound, see stepBound), until the buffers
// are done, the condition says done, an error occurs, a step moves nothing,
// or a recorded cancellation stops it between steps.
//
// Cancellation follows Asio's enable_partial_cancellation filter: terminal
// and partial requests are recorded and forwarded to the step in flight; a
// total-only request does nothing. The op recycles itself through a pool and
// keeps its step handler as a method value made once, so a step allocates
// nothing.
type transferOp struct {
	write bool
	own   bool // the stream is one of the package's sockets (offersWhole)
	ws    AsyncWriteStream
	rs    AsyncReadStream
	bufs  [][]byte // the caller's slice headers (the bytes stay theirs)
	idx   int      // first buffer not fully moved
	off   int      // bytes of bufs[idx] already moved
	total int
	cond  CompletionCondition
	h     func(n int, err error)
	lock  writeLocker // released when a composed write ends

	step        [][]byte // the buffers offered to the current step
	stepOpts    [3]OpOption
	nopts       int
	stepH       func(n int, err error) // w.onStep, made once per pooled op
	cancellable bool                   // a slot or context was given: steps listen to inner

	inner     CancellationSignal // forwards requests to the step in flight
	cancelled atomic.Uint32      // recorded cancellation types
	mu        sync.Mutex         // orders a cancellation with the op's release
	seq       uint64             // key for the caller's slot, under mu
	userSig   *CancellationSignal
	stop      func() bool

	until untilState // AsyncReadUntil's state, when until.buf != nil
}

// writeLocker is implemented by streams that know when a composed write is
// running on them (every socket of this package), to refuse a second one.
type writeLocker interface {
	tryLockWrite() bool
	unlockWrite()
}

var transferPool sync.Pool

func init() {
	transferPool.New = func() any {
		t := new(transferOp)
		t.stepH = t.onStep
		return t
	}
}

// AsyncWrite writes all of b, or stops at the first error, and passes the
// total written to h. It is made of one or more AsyncWriteSome calls: on the
// package's own sockets (TCPSocket, TCPStream) each is offered the whole
// rest of b (at most IOV_MAX = 1024 buffers; the kernel takes what fits), on
// any other stream at most 64 KiB, as in Asio. On a TCPSocket without
// options (and with at most IOV_MAX buffers) those calls are made by the
// backend inside one operation, which keeps the count across them: the
// result, and what Cancel and Close do to it, are the same. Even an empty b
// makes one (empty) call, so h is never called from inside AsyncWrite. A
// second composed write on a socket of this package while one runs
// completes with ErrWriteInProgress and moves no byte.
func AsyncWrite(s AsyncWriteStream, b Buffers, h func(n int, err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	if sock, ok := s.(*TCPSocket); ok && len(opts) == 0 && sock.writeAll(b, h) {
		return
	}
	AsyncWriteCond(s, b, transferAll, h, opts...)
}

// AsyncWriteCond is AsyncWrite with a completion condition.
func AsyncWriteCond(s AsyncWriteStream, b Buffers, c CompletionCondition, h func(n int, err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	lock, _ := s.(writeLocker)
	if lock != nil && !lock.tryLockWrite() {
		completeLater(s.Executor(), opts, func() { h(0, ErrWriteInProgress) })
		return
	}
	t := transferPool.Get().(*transferOp)
	t.write, t.ws, t.lock, t.own = true, s, lock, offersWhole(s)
	t.begin(b, c, h, opts)
}

// AsyncRead fills b, or stops at the first error (io.EOF for an orderly
// close), and passes the total read to h. Its steps are offered as
// AsyncWrite's.
func AsyncRead(s AsyncReadStream, b Buffers, h func(n int, err error), opts ...OpOption) {
	AsyncReadCond(s, b, transferAll, h, opts...)
}

// AsyncReadCond is AsyncRead with a completion condition.
func AsyncReadCond(s AsyncReadStream, b Buffers, c CompletionCondition, h func(n int, err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	t := transferPool.Get().(*transferOp)
	t.rs, t.own = s, offersWhole(s)
	t.begin(b, c, h, opts)
}

func (t *transferOp) begin(b Buffers, c CompletionCondition, h func(int, error), opts []OpOption) {
	if c == nil {
		c = transferAll
	}
	t.bufs = append(t.bufs[:0], b...)
	t.cond, t.h = c, h
	if t.setOptions(opts) {
		t.abortAtStart(opts)
		return
	}
	// Always one step, even for nothing to move: the stream completes it
	// without ever calling back from inside this function.
	t.next(t.cond(nil, 0))
}

// abortAtStart completes an op whose WithContext context was already done
// when it started: ErrOperationAborted, no byte moved, never inline.
func (t *transferOp) abortAtStart(opts []OpOption) {
	h := t.h
	ex := t.executor()
	if t.lock != nil {
		t.lock.unlockWrite()
	}
	t.release()
	completeLater(ex, opts, func() { h(0, ErrOperationAborted) })
}

func (t *transferOp) executor() Executor {
	if t.write {
		return t.ws.Executor()
	}
	return t.rs.Executor()
}

// setOptions makes every step complete where the caller's handler runs
// (BindExecutor), dispatch its immediate completions where the caller's
// would go (BindImmediateExecutor), and listen to the op's own signal, which
// the caller's slot and context feed (watch). As Asio's composed ops forward
// their handler's associations to each intermediate step.
//
// It reports whether the op is cancelled before it starts (a WithContext
// context already done).
func (t *transferOp) setOptions(opts []OpOption) bool {
	t.nopts, t.cancellable = 0, false
	if len(opts) == 0 {
		return false // nothing can cancel the op: its steps need no slot
	}
	var cfg opConfig
	var exOpt, immOpt OpOption // the last of each kind wins, as in apply
	for _, o := range opts {
		if o == nil {
			continue
		}
		o.applyOp(&cfg)
		switch o.(type) {
		case executorOption:
			exOpt = o
		case immediateOption:
			immOpt = o
		}
	}
	for _, o := range [...]OpOption{exOpt, immOpt} {
		if o != nil {
			t.stepOpts[t.nopts] = o
			t.nopts++
		}
	}
	if cfg.slot != nil || cfg.ctx != nil {
		if cfg.ctx != nil && cfg.ctx.Err() != nil {
			return true
		}
		t.stepOpts[t.nopts] = BindCancellationSlot(t.inner.Slot())
		t.nopts++
		t.cancellable = true
	}
	t.watch(&cfg)
	return false
}

// watch connects the op to the caller's cancellation slot and context.
func (t *transferOp) watch(cfg *opConfig) {
	t.mu.Lock()
	key := t.seq
	t.mu.Unlock()
	if cfg.slot != nil {
		t.userSig = cfg.slot
		cfg.slot.install(t, nil, key)
	}
	if cfg.ctx != nil && cfg.ctx.Done() != nil {
		t.stop = context.AfterFunc(cfg.ctx, func() { t.cancelOp(nil, key, CancelTerminal) })
	}
}

// cancelOp records a terminal or partial request and forwards it to the
// step in flight; a total-only request is masked to nothing.
func (t *transferOp) cancelOp(_ *op, key uint64, ct CancellationType) {
	ct &= CancelTerminal | CancelPartial
	if ct == 0 {
		return
	}
	t.mu.Lock()
	if t.seq != key {
		t.mu.Unlock()
		return
	}
	t.cancelled.Store(uint32(ct))
	// Emit under mu: release bumps seq under mu, so the request reaches
	// this op's own step, never the step of a later op that reused t.
	t.inner.Emit(ct)
	t.mu.Unlock()
}

// next starts a step offering at most max bytes of what is left.
func (t *transferOp) next(max int) {
	t.prepare(max)
	t.issue(t.step)
}

// issue starts one step over b. A cancellation recorded after the last
// check but before this step joined the inner slot reached no step: it is
// forwarded again once the step is started (under mu, and only if the op is
// still this one, for the step may already have completed it).
func (t *transferOp) issue(b [][]byte) {
	if !t.cancellable {
		t.some(b)
		return
	}
	t.mu.Lock()
	key := t.seq
	t.mu.Unlock()
	t.some(b)
	t.mu.Lock()
	if ct := t.cancelled.Load(); ct != 0 && t.seq == key {
		t.inner.Emit(CancellationType(ct))
	}
	t.mu.Unlock()
}

func (t *transferOp) some(b [][]byte) {
	if t.write {
		t.ws.AsyncWriteSome(b, t.stepH, t.stepOpts[:t.nopts]...)
	} else {
		t.rs.AsyncReadSome(b, t.stepH, t.stepOpts[:t.nopts]...)
	}
}

// prepare sets t.step to what the next step is offered when the condition
// returned max (Asio's consuming_buffers::prepare, bounded by stepBound):
// the rest of the current buffer, then whole buffers, empty ones skipped.
func (t *transferOp) prepare(max int) {
	max, nbufs := stepBound(t.own, max)
	t.step = t.step[:0]
	for i := t.idx; i < len(t.bufs) && max > 0 && len(t.step) < nbufs; i++ {
		b := t.bufs[i]
		if i == t.idx {
			b = b[t.off:]
		}
		if len(b) == 0 {
			continue
		}
		if len(b) > max {
			b = b[:max]
		}
		t.step = append(t.step, b)
		max -= len(b)
	}
}

// consume advances past n moved bytes and reports whether all are moved.
func (t *transferOp) consume(n int) bool {
	t.total += n
	for t.idx < len(t.bufs) {
		left := len(t.bufs[t.idx]) - t.off
		if n < left {
			t.off += n
			return false
		}
		n -= left
		t.idx++
		t.off = 0
	}
	return true
}

// onStep is the handler of every step.
func (t *transferOp) onStep(n int, err error) {
	if t.until.buf != nil {
		t.untilStep(n, err)
		return
	}
	all := t.consume(n)
	if (err == nil && n == 0) || all {
		t.finish(err)
		return
	}
	max := t.cond(err, t.total)
	if max == 0 {
		t.finish(err)
		return
	}
	if t.cancelled.Load() != 0 {
		t.finish(ErrOperationAborted)
		return
	}
	t.next(max)
}

// finish recycles the op and calls the caller's handler; it runs inside a
// step's handler, so it is already on the handler's executor.
func (t *transferOp) finish(err error) {
	h, n := t.h, t.total
	if t.lock != nil {
		t.lock.unlockWrite()
	}
	t.release()
	h(n, err)
}

// release recycles the op. One that watched no slot and no context skips
// mu: no request holds its seq, which then stays as it is (a stale request
// from an earlier use has an older key).
func (t *transferOp) release() {
	if t.userSig != nil || t.stop != nil {
		t.mu.Lock()
		if t.userSig != nil {
			t.userSig.clear(nil, t.seq)
		}
		t.seq++
		t.mu.Unlock()
		if t.stop != nil {
			t.stop()
		}
	}
	clear(t.bufs)
	clear(t.step)
	t.bufs, t.step = t.bufs[:0], t.step[:0]
	t.write, t.own, t.ws, t.rs, t.lock = false, false, nil, nil, nil
	t.idx, t.off, t.total = 0, 0, 0
	t.cond, t.h = nil, nil
	t.stepOpts = [3]OpOption{}
	t.cancelled.Store(0)
	t.userSig, t.stop, t.until = nil, nil, untilState{}
	transferPool.Put(t)
}

// completeLater runs f as an immediate completion on the handler's executor
// (bound with BindExecutor, else ex), or dispatches it to a bound immediate
// executor. It counts as work until f has run.
func completeLater(ex Executor, opts []OpOption, f func()) {
	var cfg opConfig
	cfg.apply(opts)
	if cfg.ex != nil {
		ex = cfg.ex
	}
	if cfg.imm != nil {
		cfg.imm.Dispatch(f)
		return
	}
	ex.Post(f)
}
