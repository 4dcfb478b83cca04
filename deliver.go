package asio

import (
	"sync"
	"sync/atomic"
)

// deferredList is a context's FIFO of completions that must be delivered
// outside every lock of the library: those bound to a user's executor,
// whose Post may run any code, and immediate completions dispatched to a
// bound immediate executor, whose Dispatch may run the handler inline.
//
// An op is pushed here under the lock of the place it left (a descriptor
// queue, the timer heap), so the list holds completions in the order they
// were found; one goroutine at a time delivers them, head first, with no
// lock held. So two ops of one direction reach a user's executor in the
// order they were initiated, even when the first was performed by the
// poller and the second completed at once in its initiating call on
// another goroutine.
//
// Lock order: a descriptor's mutex or IOContext.mu, then deferredList.mu;
// nothing is locked while a completion is delivered.
type deferredList struct {
	mu       sync.Mutex
	l        opList
	flushing bool         // a goroutine is delivering
	n        atomic.Int32 // ops in l, readable without mu
}

// push queues o, whose handOff found it must wait for every lock to be
// released. Once pushed, o belongs to whichever goroutine delivers it.
func (d *deferredList) push(o *op) {
	d.mu.Lock()
	d.l.push(o)
	d.n.Add(1)
	d.mu.Unlock()
}

// flush delivers every queued completion, in order, unless another
// goroutine is already doing so (it will deliver what was pushed before it
// finds the list empty). Call it with no lock of the library held.
func (d *deferredList) flush() {
	if d.n.Load() == 0 {
		return
	}
	d.mu.Lock()
	if d.flushing {
		d.mu.Unlock()
		return
	}
	d.flushing = true
	defer d.endFlush() // a user's Post that panics must not wedge the list
	for o := d.l.pop(); o != nil; o = d.l.pop() {
		d.n.Add(-1)
		d.mu.Unlock()
		o.deliver()
		d.mu.Lock()
	}
}

// endFlush ends a flush, with d.mu held by the flushing loop.
func (d *deferredList) endFlush() {
	d.flushing = false
	d.mu.Unlock()
}

// deliver hands a deferred completion to its executor: Dispatch to the
// bound immediate executor for an immediate completion, Post to the user's
// executor otherwise. The op's work, counted on o.ctx(), is done once it is
// handed on; nothing of o is read after that, for another goroutine may
// already have run its handler and recycled it.
func (o *op) deliver() {
	c := o.ctx()
	if o.immediate {
		imm := o.imm()
		imm.Dispatch(func() {
			o.run(nil)
			c.workFinished()
		})
		return
	}
	postTo(o.exec(), o)
	c.workFinished()
}
