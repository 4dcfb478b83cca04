package asio

import (
	"sync"
	"testing"
)

// forwardingExecutor is a user's executor that forwards everything to
// another executor: the library cannot tell it from any other user type.
type forwardingExecutor struct{ inner Executor }

func (e forwardingExecutor) Post(f func())       { e.inner.Post(f) }
func (e forwardingExecutor) Dispatch(f func())   { e.inner.Post(f) }
func (e forwardingExecutor) Defer(f func())      { e.inner.Post(f) }
func (e forwardingExecutor) Context() *IOContext { return e.inner.Context() }

// TestUserExecutorCompletionDoesNotTouchRecycledOp: a completion handed
// to a user's executor may run, and its op be recycled, on another Run
// goroutine before the handing-over returns; nothing of the op may be read
// after it (a crash in workFinished, or a wrong work count, before the fix).
func TestUserExecutorCompletionDoesNotTouchRecycledOp(t *testing.T) {
	ctx := newTestContext(t)
	_, s := connectedPair(t, ctx)
	_, stop := runInBackground(t, ctx, 2)
	ex := forwardingExecutor{ctx.Executor()}
	const n = 10000
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		// A zero-size read is an immediate completion: it is handed to ex
		// from inside the initiating call, while the pool's Run goroutines
		// run the handlers of the previous ones.
		s.AsyncReadSome(nil, func(int, error) { wg.Done() }, BindExecutor(ex))
	}
	waitChan(t, waitGroupDone(&wg), "every handler")
	stop()
	if w := ctx.work.Load(); w != 0 {
		t.Fatalf("work count %d after every handler ran and the guard was reset, want 0", w)
	}
}

// serialExecutor is a user's executor that runs what it is given, one at a
// time, in the order it was given, on a goroutine of its own: the order of
// its Post calls is the order its functions run.
type serialExecutor struct {
	ctx  *IOContext
	mu   sync.Mutex
	cond sync.Cond
	q    []func()
	quit bool
}

func newSerialExecutor(t testing.TB, ctx *IOContext) *serialExecutor {
	e := &serialExecutor{ctx: ctx}
	e.cond.L = &e.mu
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.mu.Lock()
		for {
			for len(e.q) == 0 && !e.quit {
				e.cond.Wait()
			}
			if len(e.q) == 0 {
				e.mu.Unlock()
				return
			}
			f := e.q[0]
			e.q = e.q[1:]
			e.mu.Unlock()
			f()
			e.mu.Lock()
		}
	}()
	t.Cleanup(func() {
		e.mu.Lock()
		e.quit = true
		e.cond.Signal()
		e.mu.Unlock()
		<-done
	})
	return e
}

func (e *serialExecutor) Post(f func()) {
	e.mu.Lock()
	e.q = append(e.q, f)
	e.cond.Signal()
	e.mu.Unlock()
}
func (e *serialExecutor) Dispatch(f func())   { e.Post(f) }
func (e *serialExecutor) Defer(f func())      { e.Post(f) }
func (e *serialExecutor) Context() *IOContext { return e.ctx }

// TestUserExecutorKeepsInitiationOrder: read A is performed by the poller,
// read B, started right after, completes at once; both are bound to a
// user's executor, which must get A first. Before the fix the poller handed
// its completions to users' executors only after its whole batch, so B
// could overtake A.
func TestUserExecutorKeepsInitiationOrder(t *testing.T) {
	ctx := newTestContext(t)
	peer, s := connectedPair(t, ctx)
	_, stop := runInBackground(t, ctx, 2)
	defer stop()
	ex := newSerialExecutor(t, ctx)
	const rounds = 4000
	inversions := 0
	bufA, bufB := make([]byte, 1), make([]byte, 1)
	two := []byte("ab")
	for i := 0; i < rounds; i++ {
		var mu sync.Mutex
		var order []byte
		var wg sync.WaitGroup
		wg.Add(2)
		record := func(b byte) func(int, error) {
			return func(n int, err error) {
				if err != nil || n != 1 {
					t.Errorf("read %c: (%d, %v), want (1, nil)", b, n, err)
				}
				mu.Lock()
				order = append(order, b)
				mu.Unlock()
				wg.Done()
			}
		}
		s.AsyncReadSome(Buffers{bufA}, record('A'), BindExecutor(ex))
		if _, err := peer.WriteSome(Buffers{two}); err != nil {
			t.Fatal(err)
		}
		s.AsyncReadSome(Buffers{bufB}, record('B'), BindExecutor(ex))
		waitChan(t, waitGroupDone(&wg), "both reads")
		if order[0] != 'A' {
			inversions++
		}
	}
	if inversions > 0 {
		t.Fatalf("%d of %d rounds: read B's handler reached the user's executor before read A's", inversions, rounds)
	}
}

// waitGroupDone returns a channel closed when wg's count reaches zero.
func waitGroupDone(wg *sync.WaitGroup) <-chan struct{} {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	return ch
}
