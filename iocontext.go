package asio

import (
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// IOContext is the event loop: it owns a backend (epoll, io_uring or the
// portable one), a queue of ready handlers and the timers, and runs
// handlers inside Run, RunOne, RunFor, Poll and PollOne, which may be called
// from several goroutines at once (a pool, as in Asio). Every method is
// safe from any goroutine.
//
// Work is counted as in Asio: every pending operation, queued handler and
// WorkGuard counts one. When the count drops to zero the context stops: Run
// returns and Stopped reports true until Restart. See Run for what that
// means for a program that waits for work from outside.
type IOContext struct {
	mu       sync.Mutex
	cond     sync.Cond     // idle Run goroutines wait here
	q        taskQueue     // ready handlers, FIFO
	idleq    taskQueue     // tasks to run once no handler is ready (postIdle)
	idleRuns int           // handlers run while idleq waited (under mu)
	idleN    atomic.Int32  // idleq.len(), readable without mu
	work     atomic.Int64  // outstanding work
	stopped  bool          // Stop called, or work ran out
	halt     atomic.Bool   // stopped, readable without mu (between batched handlers)
	polling  bool          // a goroutine is inside be.wait
	woken    bool          // be.wake sent since the poll began
	pollEnd  int64         // when the poll in progress times out (ns since base)
	idle     int           // goroutines waiting on cond
	ahead    int           // handlers to run before the backend is polled again
	runners  []*runner     // the Run calls in progress
	closed   atomic.Bool   // Close called
	done     sync.Cond     // signalled when a Run call returns
	timers   timerHeap     // pending timer waits, under mu
	base     time.Time     // the zero of the timers' clock
	be       backend       // the machinery
	ex       ioExecutor    // Executor()
	exRef    execRef       // ex, for the sockets of the context to point to (fdState.exp)
	exq      exceptQueues  // the urgent-data queues of the context's sockets
	closing  sync.Mutex    // serialises Close
	shutting bool          // Close in progress: Run returns at once, Restart does nothing (under mu)
	kind     Backend       // be.kind()
	stats    contextCounts // Stats
	tracking bool          // every op is a runtime/trace task (tracking.go)
	warned   atomic.Bool   // tracking warned of an op on a stopped context
	// deferred holds completions for users' executors and bound immediate
	// executors, delivered in order outside every lock (deliver.go).
	deferred deferredList
}

// runner is one Run/Poll call in progress.
type runner struct {
	c        *IOContext // the context it runs
	finished int64      // ops of c whose handlers it ran, not yet added to c.stats
	chained  int        // handlers run inside another's task (untilFound), not yet counted
	one      bool       // RunOne or PollOne: a task runs one handler, none chained
	gid      uint64
	batch    opList
	tasks    [runBatch]runnable // handlers taken from the queue at once
	ntasks   int
	done     int      // how many of tasks have run
	stack    [64]byte // for goidInto
}

var runnerPool = sync.Pool{New: func() any { return new(runner) }}

// NewIOContext creates an event loop with the backend chosen by the options
// (default BackendAuto, which the ASIO_BACKEND environment variable
// overrides).
func NewIOContext(opts ...ContextOption) (*IOContext, error) {
	var cfg contextConfig
	for _, o := range opts {
		o(&cfg)
	}
	c := &IOContext{base: time.Now()}
	c.cond.L = &c.mu
	c.done.L = &c.mu
	c.ex = ioExecutor{c}
	c.exRef = execRef{c.ex, c}
	cfg.runtimePoller = cfg.runtimePoller || os.Getenv("ASIO_RUNTIME_POLL") == "1"
	kind, err := selectBackend(cfg.backend)
	if err != nil {
		return nil, err
	}
	be, err := newBackend(c, kind, &cfg)
	if err != nil {
		return nil, err
	}
	c.tracking = cfg.tracking || trackingFromEnv()
	c.be = be
	c.kind = be.kind()
	return c, nil
}

// Executor returns the context's executor: Post queues a handler, Dispatch
// runs it at once when called from one of this context's handlers.
func (c *IOContext) Executor() Executor { return c.ex }

// Backend returns the backend in use.
func (c *IOContext) Backend() Backend { return c.kind }

// Run runs handlers until the context is stopped or its work runs out, and
// returns how many ran.
//
// Work is every pending operation, queued handler and WorkGuard. A context
// that waits for work from outside (connections to accept, posts from other
// goroutines) needs a WorkGuard, or Run returns as soon as nothing is
// pending:
//
//	g := asio.NewWorkGuard(ctx.Executor())
//	go ctx.Run()
//	...
//	g.Reset() // Run returns once the work left is done
//
// A context whose work ran out is stopped (Asio's rule): an operation
// initiated on it afterwards is accepted, but its handler runs only after
// Restart and Run (or at Close). With WithHandlerTracking, such an
// initiation logs a warning. Server holds the guards and runs the contexts
// for a server.
func (c *IOContext) Run() int { return c.loop(true, -1, false) }

// RunOne runs at most one handler, waiting for it if needed.
func (c *IOContext) RunOne() int { return c.loop(true, -1, true) }

// RunFor runs handlers for at most d. A d of zero or less runs the
// handlers that are ready and returns, as Poll does.
func (c *IOContext) RunFor(d time.Duration) int {
	return c.loop(true, max(addSat(c.now(), int64(d)), c.now()), false)
}

// Poll runs the handlers that are ready, without waiting.
func (c *IOContext) Poll() int { return c.loop(false, -1, false) }

// PollOne runs at most one ready handler, without waiting.
func (c *IOContext) PollOne() int { return c.loop(false, -1, true) }

// Stop makes every Run call return as soon as its current handler is done;
// until Restart, Run and Poll return at once.
func (c *IOContext) Stop() {
	c.mu.Lock()
	c.setStoppedLocked(true)
	c.cond.Broadcast()
	wake := c.wakeLocked()
	c.mu.Unlock()
	if wake {
		c.be.wake()
	}
}

// Stopped reports whether the context is stopped.
func (c *IOContext) Stopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped
}

// Restart clears the stopped state so that Run can be called again. It
// does nothing while Close is in progress.
func (c *IOContext) Restart() {
	c.mu.Lock()
	if !c.shutting {
		c.setStoppedLocked(false)
	}
	c.mu.Unlock()
}

// loop is Run, RunOne, RunFor, Poll and PollOne: block says whether to wait
// for work, deadline (ns since base, -1 for none) bounds the wait, one stops
// after the first handler.
func (c *IOContext) loop(block bool, deadline int64, one bool) int {
	r := runnerPool.Get().(*runner)
	r.gid, r.c, r.one = goidInto(&r.stack), c, one
	c.mu.Lock()
	if c.shutting {
		c.mu.Unlock()
		runnerPool.Put(r)
		return 0
	}
	if c.work.Load() == 0 && !c.stopped && c.q.len() == 0 {
		c.setStoppedLocked(true)
	}
	c.runners = append(c.runners, r)
	c.mu.Unlock()
	defer c.leave(r) // also when a handler panics: Close must not wait for it

	n, max := 0, runBatch
	if one {
		max = 1
	}
	for {
		k := c.runSome(r, block, deadline, max)
		n += k
		if k == 0 || one {
			break
		}
	}
	return n
}

// leave ends a Run/Poll call.
func (c *IOContext) leave(r *runner) {
	c.mu.Lock()
	c.removeRunnerLocked(r)
	c.mu.Unlock()
	r.c, r.chained, r.one = nil, 0, false
	runnerPool.Put(r)
}

func (c *IOContext) removeRunnerLocked(r *runner) {
	c.runners, _ = removeUnordered(c.runners, r)
	c.done.Broadcast()
}

// runBatch is how many ready handlers one Run goroutine takes under one
// lock when no other goroutine is running the context.
const runBatch = 32

// runSome runs at least one and at most max handlers, polling the backend
// when none is ready, and returns how many ran (0: stopped, out of work or
// past the deadline). Alone on the context, it takes up to max handlers
// from the queue at once, to lock once for all of them.
func (c *IOContext) runSome(r *runner, block bool, deadline int64, max int) int {
	c.mu.Lock()
	for {
		if c.stopped {
			c.mu.Unlock()
			return 0
		}
		if c.ahead <= 0 && c.q.len() > 0 && !c.polling && !c.closed.Load() {
			// Handlers keep coming: poll without waiting, so that I/O and
			// timers are not starved (Asio's reactor task in the queue).
			// Idle tasks that waited idleBound handlers go first.
			c.releaseIdleLocked()
			c.pollLocked(r, false, -1, -1)
			continue
		}
		if c.q.len() == 0 && c.releaseIdleLocked() {
			continue // nothing else ready: the idle tasks' turn
		}
		if c.q.len() > 0 {
			n := 1
			if max > 1 && c.idle == 0 && len(c.runners) == 1 {
				n = clamp(c.ahead, 1, min(c.q.len(), max, len(r.tasks)))
			}
			for i := 0; i < n; i++ {
				r.tasks[i], _ = c.q.pop()
			}
			r.ntasks, r.done = n, 0
			c.ahead -= n
			if c.q.len() > 0 && c.idle > 0 {
				c.cond.Signal()
			}
			c.mu.Unlock()
			return c.runTasks(r)
		}
		if c.work.Load() == 0 {
			c.stopLocked()
			c.mu.Unlock()
			return 0
		}
		now := int64(-1)
		if deadline >= 0 {
			now = c.now()
			if now >= deadline {
				c.mu.Unlock()
				return 0
			}
		}
		if !c.polling {
			if c.closed.Load() {
				// No backend any more: only posted handlers can run.
				if !block {
					c.mu.Unlock()
					return 0
				}
				c.waitIdleLocked(deadline, now)
				continue
			}
			c.pollLocked(r, block, deadline, now)
			if c.q.len() == 0 && !block {
				c.mu.Unlock()
				return 0
			}
			continue
		}
		if !block {
			c.mu.Unlock()
			return 0
		}
		c.waitIdleLocked(deadline, now)
	}
}

// runTasks runs the handlers taken into r.tasks, stopping early if one of
// them stops the context, counts their work done at once and returns how
// many ran. The ones not run (after a Stop, or a panic) go back in the
// queue through the deferred requeue, so that none is lost.
func (c *IOContext) runTasks(r *runner) (ran int) {
	defer func() { ran = c.requeue(r) }()
	for r.done < r.ntasks {
		if r.done > 0 && c.halt.Load() {
			return // stopped by a handler: the rest wait in the queue
		}
		t := r.tasks[r.done]
		r.tasks[r.done] = nil
		r.done++
		t.run(r)
	}
	return
}

// requeue finishes a batch: it counts the work of the handlers that ran and
// queues again those that did not (after a panic).
func (c *IOContext) requeue(r *runner) int {
	done, left := r.done, r.ntasks-r.done
	r.ntasks, r.done = 0, 0
	if left > 0 {
		c.mu.Lock()
		for i := done + left - 1; i >= done; i-- { // back at the front, in order
			c.q.pushFront(r.tasks[i])
			r.tasks[i] = nil
		}
		c.mu.Unlock()
	}
	ran := done + r.chained // chained handlers ran inside done's tasks
	r.chained = 0
	c.stats.handlers.Add(int64(ran))
	if r.finished != 0 {
		c.stats.finished.Add(r.finished)
		r.finished = 0
	}
	if done > 0 && c.idleN.Load() > 0 {
		c.mu.Lock()
		c.idleRuns += done
		c.mu.Unlock()
	}
	if c.work.Add(-int64(done)) == 0 {
		c.Stop()
	}
	return ran
}

// waitIdleLocked waits, mu held, until another goroutine queues a handler,
// finishes a poll or stops the context, or until the deadline passes (a
// RunFor while another Run is inside the backend).
func (c *IOContext) waitIdleLocked(deadline, now int64) {
	c.idle++
	if deadline >= 0 {
		t := time.AfterFunc(time.Duration(deadline-now), func() {
			c.mu.Lock()
			c.cond.Broadcast()
			c.mu.Unlock()
		})
		c.cond.Wait()
		t.Stop()
	} else {
		c.cond.Wait()
	}
	c.idle--
}

// pollLocked runs the backend once (mu held on entry and on return, released
// while waiting) and queues what completed, expired timers included.
func (c *IOContext) pollLocked(r *runner, block bool, deadline, now int64) {
	timeout := 0
	end := int64(0)
	if block {
		timeout, end = c.pollTimeoutLocked(deadline, now)
	}
	c.polling = true
	c.woken = false
	c.pollEnd = end
	c.mu.Unlock()

	c.stats.polls.Add(1)
	c.be.wait(timeout)
	c.deferred.flush()

	c.mu.Lock()
	c.polling = false
	c.expireTimersLocked(&r.batch)
	foreign := c.queueBatchLocked(&r.batch)
	c.ahead = c.q.len() + pollFairness
	if c.idle > 0 {
		c.cond.Broadcast()
	}
	if foreign.head != nil || c.deferred.n.Load() != 0 {
		c.mu.Unlock()
		handOffAll(&foreign)
		c.deferred.flush()
		c.mu.Lock()
	}
}

// pollFairness is how many handlers beyond those ready after a poll may run
// before the backend is polled again (without waiting) while handlers keep
// being queued.
const pollFairness = 128

// pollTimeoutLocked returns the poll timeout in ms (-1: none) and its end on
// the timers' clock (maxInt64: none), from the next timer and the deadline.
func (c *IOContext) pollTimeoutLocked(deadline, now int64) (int, int64) {
	end := int64(1<<63 - 1)
	if len(c.timers) > 0 {
		end = c.timers[0].x.when
	}
	if deadline >= 0 && deadline < end {
		end = deadline
	}
	if end == 1<<63-1 {
		return -1, end
	}
	if now < 0 {
		now = c.now()
	}
	if end <= now {
		return 0, end // compared, not subtracted: end may be far in the past
	}
	d := end - now
	ms := d / int64(time.Millisecond)
	if d%int64(time.Millisecond) != 0 {
		ms++ // never wake before the deadline
	}
	return int(min(ms, 1<<30)), end
}

// queueBatchLocked moves completed operations to the ready queue; their work
// was counted when they started and carries over. Those bound to a user's
// executor join the deferred list (in order, under mu); those bound to
// another of the library's executors, which may take mu, are returned to
// be handed off once mu is released, followed by a flush of the deferred
// list.
func (c *IOContext) queueBatchLocked(b *opList) opList {
	var foreign opList
	for o := b.pop(); o != nil; o = b.pop() {
		switch ex := o.exec().(type) {
		case ioExecutor:
			if ex.c == c {
				c.q.push(o)
				continue
			}
		case *Strand:
		default:
			c.deferred.push(o)
			continue
		}
		foreign.push(o)
	}
	return foreign
}

// handOffPolled hands the ops of l to their executors, from the goroutine
// inside the backend and with the lock of the descriptor queue they left
// held: those of this context's executor in one lock of mu (and no wakeup
// for the poller), the others through handOff. The poller flushes the
// deferred list once the backend's wait returns.
func (c *IOContext) handOffPolled(l *opList) {
	var other opList
	c.mu.Lock()
	for o := l.pop(); o != nil; o = l.pop() {
		if o.exec() == Executor(c.ex) {
			c.q.push(o)
		} else {
			other.push(o)
		}
	}
	if c.idle > 0 {
		c.cond.Signal()
	}
	c.mu.Unlock()
	handOffAll(&other)
}

// postIdle queues t, counted as work, to run once the context has no
// other handler ready, or at the latest after idleBound more handlers ran
// (WriteQueue's flush: the replies of every handler ready now go out
// together). It wakes a Run blocked in the backend, as post does.
func (c *IOContext) postIdle(t runnable) {
	c.work.Add(1)
	c.mu.Lock()
	c.idleq.push(t)
	c.idleN.Add(1)
	wake := c.rouseLocked()
	c.mu.Unlock()
	if wake {
		c.be.wake()
	}
}

// idleBound is how many handlers may run while an idle task waits for the
// ready queue to empty: enough for the replies of a round of pipelined
// requests on every connection of a busy context to go out together (a
// 16-deep RESP pipeline on 50 connections is some 2,400 handler runs),
// few enough that a context never idle delays them by milliseconds only.
const idleBound = 4096

// releaseIdleLocked moves the idle tasks to the ready queue (mu held),
// when nothing else is ready or they waited long enough.
func (c *IOContext) releaseIdleLocked() bool {
	if c.idleq.len() == 0 || (c.q.len() > 0 && c.idleRuns < idleBound) {
		return false
	}
	c.idleRuns = 0
	c.idleN.Store(0)
	for t, ok := c.idleq.pop(); ok; t, ok = c.idleq.pop() {
		c.q.push(t)
	}
	return true
}

// post queues t and counts it as work.
func (c *IOContext) post(t runnable) {
	c.work.Add(1)
	c.enqueue(t)
}

// enqueue queues t whose work is already counted, waking a goroutine to run
// it: an idle Run call, or the one blocked in the backend.
func (c *IOContext) enqueue(t runnable) {
	c.mu.Lock()
	c.q.push(t)
	wake := c.rouseLocked()
	c.mu.Unlock()
	if wake {
		c.be.wake()
	}
}

// rouseLocked gets a goroutine to run what was just queued: an idle Run
// call, signalled here, or the one inside the backend, which the caller
// wakes (be.wake, outside mu) when it reports true.
func (c *IOContext) rouseLocked() bool {
	if c.idle > 0 {
		c.cond.Signal()
		return false
	}
	return c.wakeLocked()
}

// wakeLocked says whether the goroutine inside the backend must be woken,
// and records that it will be.
func (c *IOContext) wakeLocked() bool {
	if c.polling && !c.woken {
		c.woken = true
		return true
	}
	return false
}

func (c *IOContext) workStarted() { c.work.Add(1) }

func (c *IOContext) workFinished() {
	if c.work.Add(-1) == 0 {
		c.Stop()
	}
}

func (c *IOContext) stopLocked() {
	c.setStoppedLocked(true)
	c.cond.Broadcast()
}

// now is the timers' clock: monotonic nanoseconds since the context began.
func (c *IOContext) now() int64 { return int64(time.Since(c.base)) }

// addSat returns a+b, saturated at the bounds of int64: times on the
// timers' clock plus users' durations must not wrap around.
func addSat(a, b int64) int64 {
	s := a + b
	switch {
	case b > 0 && s < a:
		return math.MaxInt64
	case b < 0 && s > a:
		return math.MinInt64
	}
	return s
}

// runningHere reports whether the calling goroutine is inside one of this
// context's Run/Poll calls, i.e. running one of its handlers.
func (c *IOContext) runningHere() bool {
	id := goid()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.runners {
		if r.gid == id {
			return true
		}
	}
	return false
}

// Close stops the context, waits for every Run call to return, then
// completes every pending operation with ErrOperationAborted on the calling
// goroutine (their handlers run here, with whatever was already queued),
// closes every socket of the context and releases the backend. Called from
// one of the context's own handlers it returns ErrContextClosed instead of
// waiting for itself.
//
// From the moment Close begins until it returns, Run, RunOne, RunFor, Poll
// and PollOne return 0 at once and Restart does nothing, so that a
// supervisor goroutine that keeps calling Restart and Run cannot hold Close
// off. Handlers posted after Close run only if Run or Poll is called again
// (after Restart). A handler that panics inside Close's drain makes Close
// panic with the same value; the handlers left run in a later Run or Poll,
// or in the next Close, which finishes the drain.
func (c *IOContext) Close() error {
	if c.runningHere() {
		return ErrContextClosed
	}
	c.closing.Lock()
	defer c.closing.Unlock()
	c.mu.Lock()
	c.shutting = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.shutting = false
		c.mu.Unlock()
	}()
	if c.closed.Load() {
		c.drain(nil) // what a panic in an earlier Close's drain left
		return nil
	}
	c.Stop()
	c.mu.Lock()
	for len(c.runners) > 0 {
		c.done.Wait()
	}
	c.closed.Store(true)
	var aborted opList
	for len(c.timers) > 0 {
		o := c.timers[0]
		c.timers.remove(o)
		o.x.tm.dropWaitLocked(o)
		o.err = ErrOperationAborted
		aborted.push(o)
	}
	c.mu.Unlock()

	err := c.be.shutdown()
	c.drain(&aborted)
	return err
}

// drain runs, on the calling goroutine, every aborted operation's handler
// and every handler already queued, until nothing is left. Operations
// started by those handlers complete at once and are drained too: with
// ErrBadDescriptor on the sockets Close closed, ErrOperationAborted on
// timers and anything else. A handler's panic ends the drain, as it ends a
// Run: its work is counted done and the drain's runner entry removed.
func (c *IOContext) drain(aborted *opList) {
	r := runnerPool.Get().(*runner)
	r.gid = goidInto(&r.stack)
	r.one = true // one handler per task: nothing counts chained ones here
	c.mu.Lock()
	c.runners = append(c.runners, r)
	var foreign opList
	if aborted != nil {
		foreign = c.queueBatchLocked(aborted)
	}
	c.mu.Unlock()
	defer c.leave(r)
	handOffAll(&foreign)
	c.deferred.flush()
	c.mu.Lock()
	for {
		t, ok := c.q.pop()
		if !ok {
			if c.releaseIdleLocked() {
				continue
			}
			break
		}
		c.mu.Unlock()
		c.runDrained(t, r)
		c.mu.Lock()
	}
	c.mu.Unlock()
}

// runDrained runs one handler for drain and counts its work done, even if
// it panics.
func (c *IOContext) runDrained(t runnable, r *runner) {
	defer c.work.Add(-1)
	c.stats.handlers.Add(1)
	t.run(r)
}

func (c *IOContext) setStoppedLocked(v bool) {
	c.stopped = v
	c.halt.Store(v)
}

func clamp(v, lo, hi int) int { return min(max(v, lo), hi) }
