package asio

import (
	"context"
	"log"
	"os"
	"runtime/trace"
	"strconv"
	"sync/atomic"
)

// Handler tracking, Asio's ASIO_ENABLE_HANDLER_TRACKING in Go's manner:
// with WithHandlerTracking (or ASIO_HANDLER_TRACKING=1 in the environment)
// every operation is a runtime/trace task from its initiation to the end
// of its handler, logged with the socket it concerns, and its handler runs
// in a region of that task. `go test -trace` or trace.Start record them;
// `go tool trace` then shows, per operation kind, how long each op waited
// (the task's span) and how long its handler ran (the region). An op
// started with WithContext(ctx) nests its task under ctx's task, if any.
// Off, it costs one predictable branch per operation.

// WithHandlerTracking records every operation of the context as a
// runtime/trace task (see the package documentation's "Handler tracking").
func WithHandlerTracking() ContextOption {
	return func(c *contextConfig) { c.tracking = true }
}

func trackingFromEnv() bool { return os.Getenv("ASIO_HANDLER_TRACKING") == "1" }

// opTrace is what a tracked op carries.
type opTrace struct {
	ctx  context.Context
	task *trace.Task
}

var opNames = [...]string{
	opRead:       "asio.AsyncReadSome",
	opWrite:      "asio.AsyncWriteSome",
	opReadPooled: "asio.AsyncReadPooled",
	opSendDgram:  "asio.AsyncSend",
	opRecvFrom:   "asio.AsyncReceiveFrom",
	opSendTo:     "asio.AsyncSendTo",
	opAccept:     "asio.AsyncAccept",
	opConnect:    "asio.AsyncConnect",
	opWait:       "asio.AsyncWait",
	opTimer:      "asio.Timer.AsyncWait",
	opSendBatch:  "asio.AsyncSendBatch",
	opRecvBatch:  "asio.AsyncReceiveBatch",
	opWriteAll:   "asio.AsyncWrite",
}

// trackStart begins o's task; what says what it concerns (a socket).
func (o *op) trackStart(what string) {
	x := o.ext()
	parent := x.wctx
	if parent == nil {
		parent = context.Background()
	}
	ctx, task := trace.NewTask(parent, opNames[o.kind])
	if what != "" {
		trace.Log(ctx, "on", what)
	}
	x.tr = &opTrace{ctx, task}
}

// trackRun runs o's handler (call) in a region of its task and ends the
// task.
func (t *opTrace) trackRun(call func()) {
	trace.WithRegion(t.ctx, "handler", call)
	t.task.End()
}

// warnIfStopped logs, once per context, an operation initiated on a
// context that is stopped with no Run in progress: Asio's trap, whose
// handler waits for a Restart and Run nobody may call.
func (c *IOContext) warnIfStopped(o *op) {
	c.mu.Lock()
	trap := c.stopped && len(c.runners) == 0 && !c.closed.Load()
	c.mu.Unlock()
	if !trap {
		return
	}
	trace.Log(o.x.tr.ctx, "warning", "initiated on a stopped context")
	if c.warned.CompareAndSwap(false, true) {
		log.Printf("asio: %s initiated on a stopped IOContext (its work had run out, or Stop was called): its handler runs only after Restart and Run; keep a WorkGuard while the context waits for work", opNames[o.kind][len("asio."):])
	}
}

func fdName(d *fdState) string {
	return "socket " + strconv.FormatUint(d.token(), 16)
}

// Stats are counters of an IOContext, readable from any goroutine while it
// runs.
type Stats struct {
	OpsStarted  int64 // operations initiated on the context's objects
	OpsPending  int64 // of those, the ones whose handler has not run yet
	HandlersRun int64 // handlers (and posted functions) run by Run, Poll and Close
	Polls       int64 // waits on the backend (a poll that does not block counts too)
}

type contextCounts struct {
	polls    atomic.Int64
	started  atomic.Int64
	finished atomic.Int64
	handlers atomic.Int64
}

// Stats returns the context's counters. Safe from any goroutine.
func (c *IOContext) Stats() Stats {
	started := c.stats.started.Load()
	return Stats{
		OpsStarted:  started,
		OpsPending:  started - c.stats.finished.Load(),
		HandlersRun: c.stats.handlers.Load(),
		Polls:       c.stats.polls.Load(),
	}
}
