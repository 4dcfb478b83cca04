package asio

import "sync/atomic"

// WorkGuard counts as work on an executor's context, so that Run keeps
// waiting for handlers even when no operation is pending.
type WorkGuard struct {
	c    *IOContext
	held atomic.Bool
}

// NewWorkGuard starts counting work on ex's context.
func NewWorkGuard(ex Executor) *WorkGuard {
	g := &WorkGuard{c: ex.Context()}
	g.c.workStarted()
	g.held.Store(true)
	return g
}

// Reset stops counting; later calls do nothing. If no other work is left,
// the context stops.
func (g *WorkGuard) Reset() {
	if g.held.CompareAndSwap(true, false) {
		g.c.workFinished()
	}
}
