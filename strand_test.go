package asio

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStrandSerialisesAndKeepsOrder: 10 000 handlers posted to a strand
// while four goroutines run the context never overlap and run in the order
// they were posted.
func TestStrandSerialisesAndKeepsOrder(t *testing.T) {
	ctx := newTestContext(t)
	s := NewStrand(ctx.Executor())
	const n = 10000
	var inFlight, maxInFlight atomic.Int32
	var order []int // only touched inside the strand
	var wg sync.WaitGroup
	wg.Add(n)
	post := func(i int) {
		s.Post(func() {
			if v := inFlight.Add(1); v > maxInFlight.Load() {
				maxInFlight.Store(v)
			}
			order = append(order, i)
			for j := 0; j < 10; j++ { // a little work, to widen any overlap
				_ = j * i
			}
			inFlight.Add(-1)
			wg.Done()
		})
	}
	// Also some plain handlers, so that the Run goroutines have other work
	// to run beside the strand.
	var plain atomic.Int32
	for i := 0; i < n/2; i++ {
		post(i)
		ctx.Executor().Post(func() { plain.Add(1) })
	}
	_, stop := runInBackground(t, ctx, 4)
	for i := n / 2; i < n; i++ { // the rest while they run
		post(i)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	waitChan(t, done, "10 000 strand handlers")
	stop()
	if m := maxInFlight.Load(); m != 1 {
		t.Errorf("%d strand handlers ran at once", m)
	}
	if len(order) != n {
		t.Fatalf("%d handlers ran, want %d", len(order), n)
	}
	for i := range order {
		if order[i] != i {
			t.Fatalf("handler %d ran at position %d: not FIFO", order[i], i)
		}
	}
	if plain.Load() != n/2 {
		t.Errorf("%d plain handlers ran", plain.Load())
	}
}

// TestStrandFIFOPerPoster: handlers posted from several goroutines keep
// each poster's order.
func TestStrandFIFOPerPoster(t *testing.T) {
	ctx := newTestContext(t)
	s := NewStrand(ctx.Executor())
	_, stop := runInBackground(t, ctx, 3)
	const posters, each = 4, 500
	last := make([]int, posters) // only touched inside the strand
	for i := range last {
		last[i] = -1
	}
	var wg, ran sync.WaitGroup
	ran.Add(posters * each)
	for p := 0; p < posters; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				i := i
				s.Post(func() {
					if last[p] != i-1 {
						t.Errorf("poster %d: handler %d ran after %d", p, i, last[p])
					}
					last[p] = i
					ran.Done()
				})
			}
		}(p)
	}
	wg.Wait()
	done := make(chan struct{})
	go func() { ran.Wait(); close(done) }()
	waitChan(t, done, "strand handlers")
	stop()
}

func TestStrandDispatch(t *testing.T) {
	ctx := newTestContext(t)
	s := NewStrand(ctx.Executor())
	var order []string
	// From outside the strand (outside any handler): posted.
	s.Dispatch(func() { order = append(order, "dispatched from outside") })
	if len(order) != 0 {
		t.Fatal("Dispatch from outside the strand ran inline")
	}
	s.Post(func() {
		order = append(order, "in strand")
		s.Dispatch(func() { order = append(order, "dispatched inside") })
		order = append(order, "after dispatch")
		s.Post(func() { order = append(order, "posted inside") })
	})
	// From a handler of the context that is not in the strand: posted.
	ctx.Executor().Post(func() {
		returned := false
		s.Dispatch(func() {
			if !returned {
				t.Error("Dispatch from a non-strand handler ran inline")
			}
			order = append(order, "dispatched from the context")
		})
		returned = true
	})
	ctx.Run()
	// "posted inside" was queued on the strand before the context's
	// handler dispatched to it.
	want := []string{"dispatched from outside", "in strand", "dispatched inside", "after dispatch", "posted inside", "dispatched from the context"}
	if len(order) != len(want) {
		t.Fatalf("order %q, want %q", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %q, want %q", order, want)
		}
	}
	if s.Context() != ctx {
		t.Error("strand's Context is not its executor's")
	}
}

// TestStrandBoundHandlers: completions of socket ops and timers bound to a
// strand never overlap, though four goroutines run the context.
func TestStrandBoundHandlers(t *testing.T) {
	ctx := newTestContext(t)
	s := NewStrand(ctx.Executor())
	_, stop := runInBackground(t, ctx, 4)
	defer stop()
	const pairs, rounds = 8, 50
	var inFlight, overlaps atomic.Int32
	var wg sync.WaitGroup
	enter := func() {
		if inFlight.Add(1) > 1 {
			overlaps.Add(1)
		}
	}
	leave := func() { inFlight.Add(-1) }
	for p := 0; p < pairs; p++ {
		c, srv := connectedPair(t, ctx)
		wg.Add(1)
		buf := make([]byte, 1)
		left := rounds
		var step func()
		step = func() {
			c.AsyncWriteSome([][]byte{{1}}, func(n int, err error) {
				enter()
				defer leave()
				if err != nil {
					t.Error(err)
					wg.Done()
					return
				}
				srv.AsyncReadSome([][]byte{buf}, func(n int, err error) {
					enter()
					defer leave()
					if err != nil {
						t.Error(err)
						wg.Done()
						return
					}
					left--
					if left == 0 {
						wg.Done()
						return
					}
					step()
				}, BindExecutor(s))
			}, BindExecutor(s))
		}
		s.Post(step)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	waitChan(t, done, "strand-bound ping-pongs")
	if o := overlaps.Load(); o != 0 {
		t.Errorf("strand-bound handlers overlapped %d times", o)
	}
}

// TestStrandOverStrand: a strand over a strand is an executor like any.
func TestStrandOverStrand(t *testing.T) {
	ctx := newTestContext(t)
	inner := NewStrand(ctx.Executor())
	outer := NewStrand(inner)
	var order []int
	for i := 0; i < 100; i++ {
		i := i
		outer.Post(func() { order = append(order, i) })
	}
	if n := ctx.Run(); n == 0 {
		t.Fatal("nothing ran")
	}
	if len(order) != 100 {
		t.Fatalf("%d ran", len(order))
	}
	for i := range order {
		if order[i] != i {
			t.Fatalf("order %v", order)
		}
	}
}

// A panic in a strand handler kills the strand: locked stays true and the
// rest of the batch is dropped, so later handlers never run and their work
// is never finished.
func TestStrandSurvivesHandlerPanic(t *testing.T) {
	ctx, err := NewIOContext()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { go ctx.Close() }()
	s := NewStrand(ctx.Executor())
	ran2 := false
	s.Post(func() { panic("boom") })
	s.Post(func() { ran2 = true })
	func() {
		defer func() { recover() }()
		ctx.Run()
	}()
	ran3 := false
	s.Post(func() { ran3 = true })
	ctx.Restart()
	done := make(chan struct{})
	go func() {
		defer func() { recover() }()
		ctx.RunFor(300 * time.Millisecond)
		close(done)
	}()
	<-done
	if !ran2 || !ran3 {
		t.Errorf("after a panicking strand handler: queued handler ran=%v, later-posted handler ran=%v (work left %d)", ran2, ran3, ctx.work.Load())
	}
}
