package asio

import (
	"context"
)

// tlsOp is the state of the one pending operation of a direction of a
// TLSStream (read; write or shutdown), reused from one operation to the
// next so that a steady stream allocates nothing of its own. Its fields
// are under the stream's mu, except those fixed while the op is pending
// (handler, executors, step options), which its steps read freely.
type tlsOp struct {
	s       *TLSStream
	types   CancellationType // the cancellation types the direction supports
	pending bool
	more    bool   // read: the last Conn.Read filled its buffer, crypto/tls may hold more plaintext
	bulk    bool   // read: the last step filled its ciphertext buffer
	waiting bool   // write: the op's ciphertext is being written
	gen     uint64 // bumped when an op ends

	h    func(n int, err error) // the caller's handler
	hErr func(err error)        // AsyncShutdown's handler, instead of h
	bufs [][]byte               // the caller's slice headers (never the bytes)
	n    int                    // the result deliver passes on
	err  error
	ex   Executor  // where the handler runs
	x    *tlsOpExt // the options' part, made on the first op given any
	step [1][]byte // the buffer of the read step in flight

	stepH    func(n int, err error) // the read step handler, made once
	deliverH func()                 // o.deliver, made once
	wrote    int                    // write: plaintext bytes encrypted by the op
}

// tlsOpExt is the part of a tlsOp that only ops with options need: what
// every step is given (the handler's executors, the inner slot), and the
// connection to the caller's slot and context, whose requests go to the
// next-layer operation in flight through inner. Kept once made, so that a
// stream whose ops always take options makes it once.
type tlsOpExt struct {
	stepOpts [3]OpOption
	nopts    int
	imm      Executor // the bound immediate executor, or nil
	watched  bool     // the op listens to a slot or a context
	asked    CancellationType

	inner   CancellationSignal
	slotOpt OpOption // BindCancellationSlot(inner.Slot()), made once
	slot    CancellationSlot
	stop    func() bool
	onSlot  func(CancellationType)
	onCtx   func()
}

// opts returns the options every step of the pending op is given.
func (o *tlsOp) opts() []OpOption {
	if o.x == nil {
		return nil
	}
	return o.x.stepOpts[:o.x.nopts]
}

// watched reports whether the pending op listens to a slot or a context.
func (o *tlsOp) watched() bool { return o.x != nil && o.x.watched }

// asked returns the cancellation requests recorded for the pending op.
func (o *tlsOp) asked() CancellationType {
	if o.x == nil {
		return 0
	}
	return o.x.asked
}

func (o *tlsOp) init(s *TLSStream, types CancellationType) {
	o.s, o.types = s, types
	o.deliverH = o.deliver
}

// beginLocked makes o the pending op with the caller's options: the
// handler's executors, passed on to every step, and its slot and context.
// It reports whether the op is cancelled already (a done context).
func (o *tlsOp) beginLocked(opts []OpOption) (aborted bool) {
	o.pending = true
	o.ex = o.s.ex
	if len(opts) == 0 {
		return false
	}
	var exOpt, immOpt OpOption
	var imm Executor
	var slot CancellationSlot
	var ctx context.Context
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		st := ReadOpOptions(opt)
		switch {
		case st.Executor != nil:
			o.ex, exOpt = st.Executor, opt
		case st.ImmediateExecutor != nil:
			imm, immOpt = st.ImmediateExecutor, opt
		case st.Slot.IsConnected():
			slot = st.Slot
		case st.Context != nil:
			ctx = st.Context
		}
	}
	if exOpt == nil && immOpt == nil && !slot.IsConnected() && ctx == nil {
		return false
	}
	if ctx != nil && ctx.Err() != nil {
		return true
	}
	x := o.x
	if x == nil {
		x = &tlsOpExt{}
		x.slotOpt = BindCancellationSlot(x.inner.Slot())
		x.onSlot = o.onCancel
		x.onCtx = func() { o.onCancel(CancelTerminal) }
		o.x = x
	}
	x.imm = imm
	for _, opt := range [...]OpOption{exOpt, immOpt} {
		if opt != nil {
			x.stepOpts[x.nopts] = opt
			x.nopts++
		}
	}
	if !slot.IsConnected() && ctx == nil {
		return false
	}
	x.stepOpts[x.nopts] = x.slotOpt
	x.nopts++
	x.watched = true
	if slot.IsConnected() {
		x.slot = slot
		slot.Assign(x.onSlot)
	}
	if ctx != nil && ctx.Done() != nil {
		x.stop = context.AfterFunc(ctx, x.onCtx)
	}
	return false
}

// onCancel records a request the op supports and forwards it to the
// next-layer operation in flight. Under mu, so that it never reaches a step
// of a later op; the next layer only queues completions when it cancels.
func (o *tlsOp) onCancel(t CancellationType) {
	t &= o.types
	if t == 0 {
		return
	}
	s := o.s
	s.mu.Lock()
	if o.pending && o.watched() {
		o.x.asked |= t
		o.x.inner.Emit(t)
	}
	s.mu.Unlock()
}

// reEmit forwards a request recorded while no step of op generation gen
// was in flight to the step just started. Only for watched ops.
func (o *tlsOp) reEmit(gen uint64) {
	s := o.s
	s.mu.Lock()
	if o.pending && o.gen == gen && o.asked() != 0 {
		o.x.inner.Emit(o.x.asked)
	}
	s.mu.Unlock()
}

// endLocked ends the pending op and returns its completion; the caller
// calls it once mu is released.
func (o *tlsOp) endLocked() tlsCompletion {
	c := tlsCompletion{h: o.h, hErr: o.hErr, n: o.n, err: o.err}
	o.pending = false
	o.gen++
	if x := o.x; x != nil {
		if x.slot.IsConnected() {
			x.slot.Clear()
			x.slot = CancellationSlot{}
		}
		if x.stop != nil {
			x.stop()
			x.stop = nil
		}
		x.stepOpts = [3]OpOption{}
		x.nopts, x.imm, x.watched, x.asked = 0, nil, false, 0
	}
	o.h, o.hErr, o.n, o.err = nil, nil, 0, nil
	clear(o.bufs)
	o.bufs = o.bufs[:0]
	o.ex = nil
	return c
}

// tlsCompletion is an op's handler with its result.
type tlsCompletion struct {
	h    func(n int, err error)
	hErr func(err error)
	n    int
	err  error
}

func (c tlsCompletion) call() {
	if c.hErr != nil {
		c.hErr(c.err)
		return
	}
	c.h(c.n, c.err)
}

// resultLocked records the pending op's result (n, err) and returns its
// delivery (o.s.mu held), which the caller posts once it has released the
// lock: the completion of an immediate result, or of a step that did not
// run on the handler's executor. It is posted there (dispatched to a bound
// immediate executor when immediate), through the method value made once,
// so nothing is allocated.
func (o *tlsOp) resultLocked(n int, err error, immediate bool) tlsDelivery {
	o.n, o.err = n, err
	d := tlsDelivery{ex: o.ex, f: o.deliverH}
	if immediate && o.x != nil {
		d.imm = o.x.imm
	}
	return d
}

// tlsDelivery is where a completed op's handler runs: its executor, or a
// bound immediate executor that f is dispatched to.
type tlsDelivery struct {
	ex, imm Executor
	f       func()
}

func (d tlsDelivery) post() {
	if d.imm != nil {
		d.imm.Dispatch(d.f)
		return
	}
	d.ex.Post(d.f)
}

// deliver runs on the handler's executor and calls it.
func (o *tlsOp) deliver() {
	o.s.mu.Lock()
	c := o.endLocked()
	o.s.mu.Unlock()
	c.call()
}

// finish ends the op from a step that ran on the handler's executor and
// calls the handler there.
func (o *tlsOp) finish(n int, err error) {
	o.s.mu.Lock()
	o.n, o.err = n, err
	c := o.endLocked()
	o.s.mu.Unlock()
	c.call()
}
