package asio

import (
	"runtime"
	"sync"
	"testing"
)

// TestEpollStaleEventDropped: an event whose token names the descriptor's
// slot with another generation (that of a closed socket whose number the
// kernel gave to a new one) performs nothing on the socket now there.
func TestEpollStaleEventDropped(t *testing.T) {
	ctx := newTestContext(t)
	onlyBackends(t, ctx, "a test of the epoll backend's tokens", BackendEpoll)
	b := ctx.be.(*epollBackend)
	c, s := connectedPair(t, ctx)
	ctx.Poll()
	s.d.mu.Lock()
	fresh := s.d.token()
	s.d.mu.Unlock()
	stale := fresh ^ 1<<32 // same slot, another generation
	h, ch := resultChan()
	s.AsyncReadSome(Buffers{make([]byte, 8)}, h)
	c.WriteSome(Buffers{[]byte("x")})
	b.ready(&s.d, stale, readyRead) // the old socket's event, delivered late
	s.d.mu.Lock()
	pending := !s.d.idle(dirRead)
	s.d.mu.Unlock()
	if len(ch) != 0 || !pending {
		t.Fatal("a stale event performed the socket's read")
	}
	b.ready(&s.d, fresh, readyRead)
	if r := runFor1(t, ctx, ch); r.err != nil || r.n != 1 {
		t.Fatalf("the read, on its own event: (%d, %v)", r.n, r.err)
	}
}

// TestWakeRacesWait: posts from many goroutines while the one Run
// goroutine goes in and out of the backend's wait: every handler runs
// once (a wake lost against a wait would leave one queued).
func TestWakeRacesWait(t *testing.T) {
	ctx := newTestContext(t)
	g := NewWorkGuard(ctx.Executor())
	done := make(chan int)
	go func() { done <- ctx.Run() }()
	const posters, each = 4, 2000
	var wg sync.WaitGroup
	var mu sync.Mutex
	ran := 0
	all := make(chan struct{})
	for p := 0; p < posters; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				ctx.Executor().Post(func() {
					mu.Lock()
					ran++
					if ran == posters*each {
						close(all)
					}
					mu.Unlock()
				})
			}
		}()
	}
	wg.Wait()
	waitChan(t, all, "every posted handler")
	g.Reset()
	if n := waitChan(t, done, "Run's return"); n != posters*each {
		t.Fatalf("Run ran %d handlers, want %d", n, posters*each)
	}
}

// TestKeptWaitYieldsFirst: a goroutine that a handler readies (here a
// worker handed the next step, which it posts back) runs before the
// poller's wait keeps the P, even with GOMAXPROCS=1: the wait then finds
// the worker's post and returns, instead of holding the P until its kept
// millisecond ends with nothing (KeptTimeouts), the worker waiting for it.
func TestKeptWaitYieldsFirst(t *testing.T) {
	ctx := newTestContext(t)
	onlyBackends(t, ctx, "a test of the epoll backend's wait", BackendEpoll)
	b := ctx.be.(*epollBackend)
	if b.p.KeepPMs == 0 {
		t.Skip("the wait does not keep its P (ASIO_EPOLL_TUNE=keepp=0, or ASIO_RUNTIME_POLL=1)")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const steps = 200
	work := make(chan func())
	go func() {
		for f := range work {
			ctx.Executor().Post(f)
		}
	}()
	g := NewWorkGuard(ctx.Executor()) // the worker's posts are not work of the context yet
	n := 0
	var step func()
	step = func() {
		if n++; n == steps {
			g.Reset()
			return
		}
		work <- step
	}
	ctx.Executor().Post(step)
	ctx.Run()
	close(work)
	if n != steps {
		t.Fatalf("%d steps ran, want %d", n, steps)
	}
	if b.p.KeptTimeouts > steps/10 {
		t.Fatalf("%d of %d waits held the P for their whole kept part while the worker was ready", b.p.KeptTimeouts, steps)
	}
}
