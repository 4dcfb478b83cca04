package asio

import (
	"sync"
	"sync/atomic"
)

// Strand is an Executor whose handlers never run concurrently and run in
// the order they were queued, whatever goroutines call Run on the inner
// executor's context.
type Strand struct {
	inner   Executor
	c       *IOContext
	mu      sync.Mutex
	q       taskQueue     // waiting handlers
	batch   taskQueue     // the batch being run
	locked  bool          // an invoker is queued or running
	running atomic.Uint64 // goroutine id running the strand, 0 if none
	self    execRef       // the strand, for the sockets on it to point to (fdState.exp)
}

// NewStrand returns a strand over ex.
func NewStrand(ex Executor) *Strand {
	s := &Strand{inner: ex, c: ex.Context()}
	s.self = execRef{s, s.c}
	return s
}

// Post queues f on the strand.
func (s *Strand) Post(f func()) { s.postTask(funcTask(mustFunc(f))) }

// Defer is Post.
func (s *Strand) Defer(f func()) { s.postTask(funcTask(mustFunc(f))) }

// Dispatch runs f at once when called from a handler running in this
// strand, and posts it otherwise.
func (s *Strand) Dispatch(f func()) {
	mustFunc(f)
	if id := s.running.Load(); id != 0 && id == goid() {
		f()
		return
	}
	s.postTask(funcTask(f))
}

// Context returns the inner executor's context.
func (s *Strand) Context() *IOContext { return s.c }

// postTask queues t; the first one queued schedules the invoker.
func (s *Strand) postTask(t runnable) {
	s.c.workStarted()
	s.mu.Lock()
	s.q.push(t)
	if s.locked {
		s.mu.Unlock()
		return
	}
	s.locked = true
	s.mu.Unlock()
	postTo(s.inner, s)
}

// run is the invoker: it runs the handlers queued so far, then schedules
// itself again if more came meanwhile (after other work, for fairness).
func (s *Strand) run(r *runner) {
	var id uint64
	if r != nil {
		id = r.gid
	} else {
		id = goid()
	}
	s.mu.Lock()
	s.q, s.batch = s.batch, s.q
	s.mu.Unlock()
	s.running.Store(id)
	inTask := false
	defer func() { s.finish(inTask) }() // also when a handler panics: the strand lives on
	for t, ok := s.batch.pop(); ok; t, ok = s.batch.pop() {
		inTask = true
		t.run(r)
		inTask = false
		s.c.workFinished()
	}
}

// finish ends a run of the invoker: the work of a handler that panicked is
// counted done, the handlers of the batch left over go back to the front of
// the queue, and the invoker is scheduled again if anything is queued.
func (s *Strand) finish(panicked bool) {
	if panicked {
		s.c.workFinished()
	}
	s.running.Store(0)
	s.mu.Lock()
	for s.batch.len() > 0 {
		t, _ := s.batch.popBack()
		s.q.pushFront(t)
	}
	if s.q.len() == 0 {
		s.locked = false
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	postTo(s.inner, s)
}
