package asio

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunWithoutWorkReturnsAndStops(t *testing.T) {
	ctx := newTestContext(t)
	if ctx.Stopped() {
		t.Fatal("a new context is stopped")
	}
	if n := ctx.Run(); n != 0 {
		t.Fatalf("Run with no work ran %d handlers", n)
	}
	if !ctx.Stopped() {
		t.Fatal("Run returned for lack of work but Stopped is false")
	}
	// Stopped until Restart: a posted handler does not run.
	ran := 0
	ctx.Executor().Post(func() { ran++ })
	if n := ctx.Run(); n != 0 || ran != 0 {
		t.Fatalf("Run on a stopped context ran %d handlers (%d)", n, ran)
	}
	if n := ctx.Poll(); n != 0 || ran != 0 {
		t.Fatalf("Poll on a stopped context ran %d handlers", n)
	}
	ctx.Restart()
	if ctx.Stopped() {
		t.Fatal("Stopped after Restart")
	}
	if n := ctx.Run(); n != 1 || ran != 1 {
		t.Fatalf("Run after Restart ran %d handlers (%d), want 1", n, ran)
	}
	if !ctx.Stopped() {
		t.Fatal("Run returned but Stopped is false")
	}
}

func TestRunCountsHandlersPostedByHandlers(t *testing.T) {
	ctx := newTestContext(t)
	ex := ctx.Executor()
	var order []int
	ex.Post(func() {
		order = append(order, 1)
		ex.Post(func() {
			order = append(order, 3)
			ex.Defer(func() { order = append(order, 5) })
		})
		ex.Defer(func() { order = append(order, 4) })
		order = append(order, 2)
	})
	if n := ctx.Run(); n != 4 {
		t.Fatalf("Run returned %d, want 4", n)
	}
	want := []int{1, 2, 3, 4, 5}
	if len(order) != len(want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v (FIFO)", order, want)
		}
	}
}

func TestRunOnePollPollOneCounts(t *testing.T) {
	ctx := newTestContext(t)
	ran := 0
	for i := 0; i < 3; i++ {
		ctx.Executor().Post(func() { ran++ })
	}
	if n := ctx.RunOne(); n != 1 || ran != 1 {
		t.Fatalf("RunOne: %d (%d ran), want 1", n, ran)
	}
	if n := ctx.PollOne(); n != 1 || ran != 2 {
		t.Fatalf("PollOne: %d (%d ran), want 1", n, ran)
	}
	if n := ctx.Poll(); n != 1 || ran != 3 {
		t.Fatalf("Poll: %d (%d ran), want 1", n, ran)
	}
	ctx.Restart()
	if n := ctx.PollOne(); n != 0 {
		t.Fatalf("PollOne with nothing ready: %d", n)
	}
	ctx.Restart()
	if n := ctx.Poll(); n != 0 {
		t.Fatalf("Poll with nothing ready: %d", n)
	}

	// Poll never blocks: a pending timer is not waited for.
	ctx.Restart()
	tm := NewTimer(ctx.Executor())
	tm.ExpiresAfter(time.Hour)
	tm.AsyncWait(func(error) { ran++ })
	t0 := time.Now()
	if n := ctx.Poll(); n != 0 {
		t.Fatalf("Poll with a pending timer ran %d", n)
	}
	if n := ctx.PollOne(); n != 0 {
		t.Fatalf("PollOne with a pending timer ran %d", n)
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("Poll blocked for %v", d)
	}
	if ctx.Stopped() {
		t.Fatal("Poll stopped a context that still has work")
	}
	// RunOne waits for the next handler.
	tm.ExpiresAfter(5 * time.Millisecond) // aborts the wait: its handler is ready
	if n := ctx.RunOne(); n != 1 {
		t.Fatalf("RunOne: %d", n)
	}
}

func TestRunForReturnsAtDeadline(t *testing.T) {
	ctx := newTestContext(t)
	fired := 0
	short := NewTimer(ctx.Executor())
	short.ExpiresAfter(5 * time.Millisecond)
	short.AsyncWait(func(err error) {
		if err != nil {
			t.Errorf("short timer: %v", err)
		}
		fired++
	})
	long := NewTimer(ctx.Executor())
	long.ExpiresAfter(time.Hour)
	long.AsyncWait(func(err error) {
		if !isAborted(err) {
			t.Errorf("long timer: %v, want aborted", err)
		}
	})
	t0 := time.Now()
	n := ctx.RunFor(60 * time.Millisecond)
	d := time.Since(t0)
	if n != 1 || fired != 1 {
		t.Errorf("RunFor ran %d handlers (short fired %d), want 1", n, fired)
	}
	if d < 55*time.Millisecond || d > 5*time.Second {
		t.Errorf("RunFor(60ms) returned after %v", d)
	}
	if ctx.Stopped() {
		t.Error("RunFor's deadline stopped the context")
	}
	if c := long.Cancel(); c != 1 {
		t.Errorf("Cancel returned %d, want 1", c)
	}
	if n := ctx.Run(); n != 1 {
		t.Errorf("Run after cancel: %d, want 1", n)
	}
}

// TestRunForFromSecondGoroutine: RunFor honours its deadline even while
// another goroutine is the one blocked in the backend.
func TestRunForFromSecondGoroutine(t *testing.T) {
	ctx := newTestContext(t)
	_, stop := runInBackground(t, ctx, 1)
	defer stop()
	// Let the background Run reach the backend's wait.
	waitPolling(t, ctx)
	done := make(chan time.Duration, 1)
	go func() {
		t0 := time.Now()
		ctx.RunFor(50 * time.Millisecond)
		done <- time.Since(t0)
	}()
	select {
	case d := <-done:
		if d < 45*time.Millisecond {
			t.Errorf("RunFor(50ms) returned after %v", d)
		}
	case <-time.After(3 * time.Second):
		t.Error("RunFor(50ms) did not return within 3s while another goroutine waits in the backend")
		ctx.Stop() // release it
		<-done
	}
}

// waitPolling waits until some Run call of ctx is inside the backend's
// wait (the test looks at the scheduler's state to avoid a sleep).
func waitPolling(t *testing.T, ctx *IOContext) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ctx.mu.Lock()
		p := ctx.polling
		ctx.mu.Unlock()
		if p {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no Run call reached the backend")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWorkGuardKeepsRunAlive(t *testing.T) {
	ctx := newTestContext(t)
	g := NewWorkGuard(ctx.Executor())
	returned := make(chan int, 1)
	go func() { returned <- ctx.Run() }()
	ran := make(chan struct{})
	ctx.Executor().Post(func() { close(ran) })
	waitChan(t, ran, "a handler posted while Run waits")
	waitPolling(t, ctx)
	select {
	case <-returned:
		t.Fatal("Run returned while a WorkGuard is held")
	default:
	}
	g.Reset()
	g.Reset() // twice is harmless
	if n := waitChan(t, returned, "Run to return after Reset"); n != 1 {
		t.Errorf("Run returned %d, want 1", n)
	}
	if !ctx.Stopped() {
		t.Error("not stopped after the guard was reset")
	}
}

func TestStopWakesRunBlockedInBackend(t *testing.T) {
	ctx := newTestContext(t)
	g := NewWorkGuard(ctx.Executor())
	defer g.Reset()
	returned := make(chan int, 1)
	go func() { returned <- ctx.Run() }()
	waitPolling(t, ctx)
	ctx.Stop()
	waitChan(t, returned, "Run to return after Stop")
	if !ctx.Stopped() {
		t.Error("Stopped is false after Stop")
	}
	// Stopped: Run returns at once, work or not.
	if n := ctx.Run(); n != 0 {
		t.Errorf("Run on a stopped context: %d", n)
	}
}

func TestPostFromAnotherGoroutineWakesRun(t *testing.T) {
	ctx := newTestContext(t)
	g := NewWorkGuard(ctx.Executor())
	runID := make(chan uint64, 1)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		runID <- curGoroutineID()
		ctx.Run()
	}()
	id := <-runID
	for i := 0; i < 20; i++ {
		waitPolling(t, ctx)
		ran := make(chan uint64)
		ctx.Executor().Post(func() { ran <- curGoroutineID() })
		if got := waitChan(t, ran, "the posted handler"); got != id {
			t.Fatalf("handler ran on goroutine %d, Run is on %d", got, id)
		}
	}
	g.Reset()
	waitChan(t, returned, "Run to return")
}

// TestRunPool: four goroutines run one context; 1000 handlers posted from
// outside each run exactly once, and the Run calls' counts add up.
func TestRunPool(t *testing.T) {
	ctx := newTestContext(t)
	g := NewWorkGuard(ctx.Executor())
	const runners, handlers = 4, 1000
	var total atomic.Int64
	var wg sync.WaitGroup
	ids := make(chan uint64, runners)
	for i := 0; i < runners; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids <- curGoroutineID()
			total.Add(int64(ctx.Run()))
		}()
	}
	runIDs := map[uint64]bool{}
	for i := 0; i < runners; i++ {
		runIDs[<-ids] = true
	}
	counts := make([]atomic.Int32, handlers)
	var mu sync.Mutex
	var bad []uint64
	var ran sync.WaitGroup
	ran.Add(handlers)
	for i := 0; i < handlers; i++ {
		i := i
		ctx.Executor().Post(func() {
			counts[i].Add(1)
			id := curGoroutineID()
			if !runIDs[id] {
				mu.Lock()
				bad = append(bad, id)
				mu.Unlock()
			}
			ran.Done()
		})
	}
	ranCh := make(chan struct{})
	go func() { ran.Wait(); close(ranCh) }()
	waitChan(t, ranCh, "1000 handlers")
	g.Reset()
	doneCh := make(chan struct{})
	go func() { wg.Wait(); close(doneCh) }()
	waitChan(t, doneCh, "every Run to return")
	for i := range counts {
		if c := counts[i].Load(); c != 1 {
			t.Fatalf("handler %d ran %d times", i, c)
		}
	}
	if total.Load() != handlers {
		t.Errorf("the Run calls returned %d in total, want %d", total.Load(), handlers)
	}
	if len(bad) > 0 {
		t.Errorf("handlers ran on goroutines %v, not a Run goroutine", bad)
	}
}

func TestDispatch(t *testing.T) {
	ctx := newTestContext(t)
	ex := ctx.Executor()
	// From outside any handler: posted, not run here.
	ran := false
	ex.Dispatch(func() { ran = true })
	if ran {
		t.Fatal("Dispatch from outside Run ran the function inline")
	}
	var order []string
	ex.Post(func() {
		order = append(order, "outer")
		ex.Dispatch(func() { order = append(order, "dispatched") })
		order = append(order, "after dispatch")
		ex.Post(func() { order = append(order, "posted") })
	})
	if n := ctx.Run(); n != 3 {
		t.Errorf("Run: %d, want 3 (dispatch from a handler is not a separate handler)", n)
	}
	if !ran {
		t.Error("dispatched function never ran")
	}
	want := []string{"outer", "dispatched", "after dispatch", "posted"}
	if len(order) != len(want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}

	// Dispatch to another context's executor from a handler of this one
	// posts it there.
	other := newTestContext(t)
	inline := false
	ctx.Restart()
	ex.Post(func() {
		returned := false
		other.Executor().Dispatch(func() { inline = !returned })
		returned = true
	})
	ctx.Run()
	if n := other.Run(); n != 1 || inline {
		t.Errorf("dispatch to another context: ran %d, inline %v", n, inline)
	}
}

func TestCloseFromInsideHandler(t *testing.T) {
	ctx := newTestContext(t)
	var err error
	ctx.Executor().Post(func() { err = ctx.Close() })
	ctx.Executor().Post(func() {}) // the context still works after
	if n := ctx.Run(); n != 2 {
		t.Fatalf("Run: %d, want 2", n)
	}
	if err == nil {
		t.Fatal("Close from inside a handler returned nil")
	}
	if !errors.Is(err, ErrContextClosed) {
		t.Logf("Close from a handler: %v", err)
	}
	if err := ctx.Close(); err != nil {
		t.Fatalf("Close from outside: %v", err)
	}
	if err := ctx.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestClosePendingOps: Close completes every pending read, accept and timer
// wait with ErrOperationAborted, exactly once, on the goroutine calling
// Close, after the Run calls in progress returned.
func TestClosePendingOps(t *testing.T) {
	for _, mode := range []string{"no Run", "Run on two goroutines", "Stop then Close"} {
		withRun := mode != "no Run"
		t.Run(mode, func(t *testing.T) {
			ctx, err := NewIOContext()
			if err != nil {
				t.Fatal(err)
			}
			_, s := connectedPair(t, ctx)
			acc, err := ListenTCP(ctx.Executor(), loopback4)
			if err != nil {
				t.Fatal(err)
			}
			tm := NewTimer(ctx.Executor())
			tm.ExpiresAfter(time.Hour)
			strand := NewStrand(ctx.Executor())

			me := curGoroutineID()
			counts := map[string]int{}
			var mu sync.Mutex
			check := func(what string, err error) {
				mu.Lock()
				defer mu.Unlock()
				counts[what]++
				if !isAborted(err) {
					t.Errorf("%s: %v, want ErrOperationAborted", what, err)
				}
				if id := curGoroutineID(); id != me {
					t.Errorf("%s: handler ran on goroutine %d, Close was called on %d", what, id, me)
				}
			}
			buf := make([]byte, 16)
			s.AsyncReadSome([][]byte{buf}, func(n int, err error) { check("read", err) })
			s.AsyncReadSome([][]byte{buf}, func(n int, err error) { check("read on strand", err) }, BindExecutor(strand))
			acc.AsyncAccept(func(c *TCPSocket, err error) { check("accept", err) })
			tm.AsyncWait(func(err error) { check("timer", err) })
			tm.AsyncWait(func(err error) { check("timer on strand", err) }, BindExecutor(strand))

			var wg sync.WaitGroup
			if withRun {
				for i := 0; i < 2; i++ {
					wg.Add(1)
					go func() { defer wg.Done(); ctx.Run() }()
				}
				waitPolling(t, ctx)
			}
			if mode == "Stop then Close" {
				ctx.Stop()
				wg.Wait()
				mu.Lock()
				if len(counts) != 0 {
					t.Errorf("Stop completed pending ops: %v", counts)
				}
				mu.Unlock()
			}
			if err := ctx.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			wg.Wait() // Close waited for them: they have returned
			mu.Lock()
			defer mu.Unlock()
			for _, what := range []string{"read", "read on strand", "accept", "timer", "timer on strand"} {
				if counts[what] != 1 {
					t.Errorf("%s handler ran %d times, want 1", what, counts[what])
				}
			}
			if s.IsOpen() {
				t.Error("socket still open after its context was closed")
			}
		})
	}
}

// TestOpsAfterClose: ops started on a closed context fail through the
// handler and do not hang or panic.
func TestOpsAfterClose(t *testing.T) {
	ctx, err := NewIOContext()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := connectedPair(t, ctx)
	if err := ctx.Close(); err != nil {
		t.Fatal(err)
	}
	var got []error
	c.AsyncReadSome([][]byte{make([]byte, 4)}, func(n int, err error) { got = append(got, err) })
	tm := NewTimer(ctx.Executor())
	tm.ExpiresAfter(time.Hour)
	tm.AsyncWait(func(err error) { got = append(got, err) })
	if _, err := ListenTCP(ctx.Executor(), loopback4); err == nil {
		t.Error("ListenTCP on a closed context succeeded")
	}
	ctx.Restart()
	ctx.Poll()
	if len(got) != 2 {
		t.Fatalf("%d handlers ran, want 2", len(got))
	}
	for _, err := range got {
		if err == nil {
			t.Error("op on a closed context succeeded")
		}
	}
}

// TestCloseRacesRun: Close from one goroutine while others run handlers
// that keep posting and starting ops.
func TestCloseRacesRun(t *testing.T) {
	for i := 0; i < 10; i++ {
		ctx, err := NewIOContext()
		if err != nil {
			t.Fatal(err)
		}
		c, s := connectedPair(t, ctx)
		var started, completed atomic.Int64
		var loop func()
		loop = func() {
			started.Add(1)
			c.AsyncWriteSome([][]byte{[]byte("x")}, func(n int, err error) {
				completed.Add(1)
				if err == nil {
					loop()
				}
			})
		}
		buf := make([]byte, 64)
		var read func()
		read = func() {
			started.Add(1)
			s.AsyncReadSome([][]byte{buf}, func(n int, err error) {
				completed.Add(1)
				if err == nil {
					read()
				}
			})
		}
		loop()
		read()
		var wg sync.WaitGroup
		for j := 0; j < 3; j++ {
			wg.Add(1)
			go func() { defer wg.Done(); ctx.Run() }()
		}
		time.Sleep(time.Duration(i) * time.Millisecond) // let some work happen; any value will do
		if err := ctx.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		// Ops started by handlers drained in Close complete with an error
		// and are drained too: nothing is left pending.
		if s, c := started.Load(), completed.Load(); s != c {
			t.Fatalf("iteration %d: %d ops started, %d handlers ran", i, s, c)
		}
	}
}

func TestFuture(t *testing.T) {
	ctx := newTestContext(t)
	_, stop := runInBackground(t, ctx, 1)
	defer stop()
	c, s := connectedPair(t, ctx)

	f := NewFuture[int]()
	s.AsyncReadSome([][]byte{make([]byte, 8)}, f.Complete)
	if _, err := c.WriteSome([][]byte{[]byte("abc")}); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	n, err := f.Wait(cctx)
	if n != 3 || err != nil {
		t.Fatalf("Wait: (%d, %v), want (3, nil)", n, err)
	}
	select {
	case <-f.Done():
	default:
		t.Fatal("Done not closed after completion")
	}

	// A context that ends first: ctx.Err(), and the op goes on.
	f2 := NewFuture[int]()
	s.AsyncReadSome([][]byte{make([]byte, 8)}, f2.Complete)
	short, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := f2.Wait(short); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context: %v, want context.Canceled", err)
	}
	c.WriteSome([][]byte{[]byte("z")})
	if n, err := f2.Wait(cctx); n != 1 || err != nil {
		t.Fatalf("the op did not go on: (%d, %v)", n, err)
	}

	// CompleteErr for func(error) handlers.
	f3 := NewFuture[struct{}]()
	tm := NewTimer(ctx.Executor())
	tm.ExpiresAfter(time.Millisecond)
	tm.AsyncWait(f3.CompleteErr)
	if _, err := f3.Wait(cctx); err != nil {
		t.Fatalf("timer future: %v", err)
	}
}

func TestNewIOContextBackend(t *testing.T) {
	ctx := newTestContext(t)
	if b := ctx.Backend(); b == BackendAuto || b.String() == "auto" {
		t.Errorf("Backend() = %v, want the backend in use", b)
	}
	if ctx.Executor().Context() != ctx {
		t.Error("Executor().Context() is not the context")
	}
}

// TestPollRunsExpiredTimers: Poll and PollOne run the handler of a timer
// whose expiry has passed, without blocking.
func TestPollRunsExpiredTimers(t *testing.T) {
	ctx := newTestContext(t)
	tm := NewTimer(ctx.Executor())
	tm.ExpiresAfter(-time.Millisecond)
	var got error = ErrTimeout
	tm.AsyncWait(func(err error) { got = err })
	if n := ctx.PollOne(); n != 1 || got != nil {
		t.Fatalf("PollOne: %d, %v", n, got)
	}
	tm2 := NewTimer(ctx.Executor())
	tm2.ExpiresAfter(-time.Millisecond)
	ran := 0
	tm2.AsyncWait(func(error) { ran++ })
	tm2.AsyncWait(func(error) { ran++ })
	ctx.Restart()
	if n := ctx.Poll(); n != 2 || ran != 2 {
		t.Fatalf("Poll: %d (%d ran), want 2", n, ran)
	}
}

// TestCloseSurvivesPanickingHandler: a handler that panics inside Close's
// drain leaves the context consistent: the panic reaches Close's caller,
// the other handler still runs exactly once (in a later Run), Run returns
// when the work is done, Dispatch from a plain goroutine does not run
// inline, and a later Close does not think it is inside a handler.
func TestCloseSurvivesPanickingHandler(t *testing.T) {
	ctx, err := NewIOContext()
	if err != nil {
		t.Fatal(err)
	}
	tm := NewTimer(ctx.Executor())
	tm.ExpiresAfter(time.Hour)
	var second atomic.Int32
	tm.AsyncWait(func(error) { panic("first handler") })
	tm.AsyncWait(func(error) { second.Add(1) })
	func() {
		defer func() {
			if r := recover(); r != "first handler" {
				t.Fatalf("recovered %v from Close, want the handler's panic", r)
			}
		}()
		ctx.Close()
		t.Fatal("Close returned although a handler panicked")
	}()
	ctx.Restart()
	done := make(chan int, 1)
	go func() { done <- ctx.Run() }()
	if n := waitChan(t, done, "Run after a Close whose handler panicked"); n != 1 {
		t.Errorf("Run ran %d handlers, want 1 (the second wait's)", n)
	}
	if n := second.Load(); n != 1 {
		t.Errorf("second handler ran %d times, want 1", n)
	}
	inline := false
	ctx.Executor().Dispatch(func() { inline = true })
	if inline {
		t.Error("Dispatch from a plain goroutine ran inline: a stale runner is left")
	}
	if err := ctx.Close(); err != nil {
		t.Errorf("Close after the panic: %v", err)
	}
}

// TestCloseAgainFinishesDrain: a Close whose drain a panic cut short is
// finished by the next Close, which runs the handlers left.
func TestCloseAgainFinishesDrain(t *testing.T) {
	ctx, err := NewIOContext()
	if err != nil {
		t.Fatal(err)
	}
	tm := NewTimer(ctx.Executor())
	tm.ExpiresAfter(time.Hour)
	var ran atomic.Int32
	tm.AsyncWait(func(error) { panic("boom") })
	tm.AsyncWait(func(error) { ran.Add(1) })
	func() {
		defer func() { recover() }()
		ctx.Close()
	}()
	if err := ctx.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := ran.Load(); n != 1 {
		t.Fatalf("the handler left by the panic ran %d times in the second Close, want 1", n)
	}
}

// TestCloseAgainstSupervisorLoop: Close returns even while other
// goroutines keep calling Restart and RunFor with a WorkGuard held: once
// Close has begun, Run calls return at once and Restart does nothing until
// Close returns. Before, Close waited for a moment with no Run call in
// progress, which the supervisors kept from coming.
func TestCloseAgainstSupervisorLoop(t *testing.T) {
	ctx, err := NewIOContext()
	if err != nil {
		t.Fatal(err)
	}
	g := NewWorkGuard(ctx.Executor())
	defer g.Reset()
	quit := make(chan struct{})
	var looping, loops sync.WaitGroup
	const supervisors = 4
	looping.Add(supervisors)
	for i := 0; i < supervisors; i++ {
		loops.Add(1)
		go func() {
			defer loops.Done()
			first := true
			for {
				select {
				case <-quit:
					return
				default:
				}
				ctx.Restart()
				ctx.RunFor(50 * time.Millisecond)
				if first {
					first = false
					looping.Done()
				}
			}
		}()
	}
	looping.Wait()
	closed := make(chan error, 1)
	go func() { closed <- ctx.Close() }()
	if err := waitChan(t, closed, "Close against Restart/RunFor loops"); err != nil {
		t.Errorf("Close: %v", err)
	}
	close(quit)
	loops.Wait()
}

// TestRunForDurations: RunFor with a negative, zero or overflowing
// duration returns (after the ready handlers) instead of blocking like Run.
func TestRunForDurations(t *testing.T) {
	for _, d := range []time.Duration{-time.Hour, math.MinInt64, 0} {
		t.Run(d.String(), func(t *testing.T) {
			ctx := newTestContext(t)
			g := NewWorkGuard(ctx.Executor())
			defer g.Reset()
			ctx.Executor().Post(func() {})
			done := make(chan int, 1)
			go func() { done <- ctx.RunFor(d) }()
			if n := waitChan(t, done, "RunFor"); n != 1 {
				t.Errorf("RunFor(%v) ran %d handlers, want the 1 ready", d, n)
			}
		})
	}
	t.Run("MaxInt64 with a timer", func(t *testing.T) {
		// A timer due in the far future must not turn RunFor's deadline
		// into another wait of about 12 days.
		ctx := newTestContext(t)
		tm := NewTimer(ctx.Executor())
		tm.ExpiresAfter(math.MaxInt64)
		tm.AsyncWait(func(error) {})
		done := make(chan int, 1)
		go func() { done <- ctx.RunFor(100 * time.Millisecond) }()
		waitChan(t, done, "RunFor(100ms) with a timer at +MaxInt64")
		if n := tm.Cancel(); n != 1 {
			t.Errorf("Cancel: %d waits, want 1", n)
		}
	})
}

// A handler panic leaves the runner in c.runners (loop removes it only on
// a normal return): Close then waits forever, and the goroutine that
// recovered counts as "running a handler" for Dispatch.

func TestHandlerPanicLeavesNoStaleRunner(t *testing.T) {
	ctx, err := NewIOContext()
	if err != nil {
		t.Fatal(err)
	}
	ctx.Executor().Post(func() { panic("boom") })
	inline := make(chan bool, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		func() {
			defer func() { recover() }()
			ctx.Run()
		}()
		// Not inside any handler now.
		ran := false
		ctx.Executor().Dispatch(func() { ran = true })
		inline <- ran
	}()
	<-done
	if <-inline {
		t.Errorf("Dispatch ran f inline on a goroutine that is not running a handler (stale runner after a recovered panic)")
	}
	closed := make(chan error, 1)
	go func() { closed <- ctx.Close() }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Errorf("IOContext.Close hangs after a handler panic was recovered outside Run: c.runners still holds the dead runner")
	}
}

// TestStopInsideBatch: a handler that calls Stop is the last one Run runs,
// even when more handlers were ready at the same time.
func TestStopInsideBatch(t *testing.T) {
	ctx := newTestContext(t)
	ran := 0
	var order []int
	for i := 0; i < 10; i++ {
		ctx.Executor().Post(func() {
			ran++
			order = append(order, i)
			if ran == 3 {
				ctx.Stop()
				ctx.Executor().Post(func() { order = append(order, 100) })
			}
		})
	}
	if n := ctx.Run(); n != 3 || ran != 3 {
		t.Fatalf("Run ran %d handlers (returned %d), want 3: Stop must end Run after the current handler", ran, n)
	}
	ctx.Restart()
	if n := ctx.Run(); n != 8 || ran != 10 {
		t.Fatalf("after Restart, Run returned %d (total %d), want the 7 left and the one posted", n, ran)
	}
	// FIFO holds across the Stop: the handlers left over run before the one
	// posted by the handler that stopped.
	want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100}
	for i := range want {
		if i >= len(order) || order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
}
