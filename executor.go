package asio

// Executor is where handlers run. The IOContext's own executor, a Strand,
// or a user type may serve; handlers bound to an executor run through it.
type Executor interface {
	// Post queues f; it never runs f before returning.
	Post(f func())
	// Dispatch runs f at once when called from a handler running on this
	// executor, and posts it otherwise.
	Dispatch(f func())
	// Defer posts f, hinting that f continues the current handler.
	Defer(f func())
	// Context is the IOContext whose Run executes the handlers.
	Context() *IOContext
}

// runnable is one queued unit of work: an operation's completion, a posted
// func, or a strand's invoker. r is the Run call that executes it (nil when
// a foreign executor runs it).
type runnable interface{ run(r *runner) }

// funcTask makes a posted func runnable without allocating: a func value is
// pointer-shaped, so it fits in the interface as it is.
type funcTask func()

func (f funcTask) run(*runner) { f() }

// ioExecutor is the executor of an IOContext. It is a one-pointer struct, so
// storing it in an Executor interface does not allocate.
type ioExecutor struct{ c *IOContext }

func (e ioExecutor) Post(f func())       { e.c.post(funcTask(mustFunc(f))) }
func (e ioExecutor) Defer(f func())      { e.c.post(funcTask(mustFunc(f))) }
func (e ioExecutor) Context() *IOContext { return e.c }

func (e ioExecutor) Dispatch(f func()) {
	mustFunc(f)
	if e.c.runningHere() {
		f()
		return
	}
	e.c.post(funcTask(f))
}

func mustFunc(f func()) func() {
	if f == nil {
		panic("asio: nil handler")
	}
	return f
}

// taskPoster is implemented by the library's own executors, which accept a
// runnable directly so that completing an operation allocates nothing.
type taskPoster interface {
	postTask(t runnable)
}

func (e ioExecutor) postTask(t runnable) { e.c.post(t) }

// postTo queues t on ex: directly for the library's executors, through a
// closure for a user's.
func postTo(ex Executor, t runnable) {
	if p, ok := ex.(taskPoster); ok {
		p.postTask(t)
		return
	}
	ex.Post(func() { t.run(nil) })
}
