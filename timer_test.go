package asio

import (
	"math"
	"math/rand"
	"runtime"
	"sort"
	"testing"
	"time"
)

// TestTimerExpiryOrder: 100 timers with random deadlines complete in
// deadline order, none before its deadline.
func TestTimerExpiryOrder(t *testing.T) {
	ctx := newTestContext(t)
	rng := rand.New(rand.NewSource(1))
	const n = 100
	type fired struct {
		i      int
		expiry time.Time
		at     time.Time
	}
	var got []fired
	expiries := make([]time.Time, n)
	base := time.Now()
	perm := rng.Perm(n)
	for i := 0; i < n; i++ {
		i := i
		tm := NewTimer(ctx.Executor())
		// Distinct deadlines 0.5 ms apart, in random order, over 50 ms.
		tm.ExpiresAt(base.Add(time.Duration(perm[i]+1) * 500 * time.Microsecond))
		expiries[i] = tm.Expiry()
		tm.AsyncWait(func(err error) {
			if err != nil {
				t.Errorf("timer %d: %v", i, err)
			}
			got = append(got, fired{i, tm.Expiry(), time.Now()})
		})
	}
	if ran := ctx.Run(); ran != n {
		t.Fatalf("Run ran %d handlers, want %d", ran, n)
	}
	if !sort.SliceIsSorted(got, func(a, b int) bool { return got[a].expiry.Before(got[b].expiry) }) {
		t.Error("timers did not complete in expiry order")
	}
	for _, f := range got {
		if f.at.Before(f.expiry) {
			t.Errorf("timer %d ran %v before its expiry", f.i, f.expiry.Sub(f.at))
		}
		if !f.expiry.Equal(expiries[f.i]) {
			t.Errorf("timer %d expiry changed", f.i)
		}
	}
}

func TestTimerExpiresAfterCancelsPendingWaits(t *testing.T) {
	ctx := newTestContext(t)
	tm := NewTimer(ctx.Executor())
	if n := tm.ExpiresAfter(time.Hour); n != 0 {
		t.Fatalf("ExpiresAfter with no waits returned %d", n)
	}
	var errs []error
	for i := 0; i < 3; i++ {
		tm.AsyncWait(func(err error) { errs = append(errs, err) })
	}
	before := time.Now()
	if n := tm.ExpiresAfter(10 * time.Millisecond); n != 3 {
		t.Fatalf("ExpiresAfter returned %d, want 3", n)
	}
	if e := tm.Expiry(); e.Before(before.Add(10*time.Millisecond)) || e.After(time.Now().Add(10*time.Millisecond)) {
		t.Errorf("Expiry %v not 10ms after the call", e)
	}
	tm.AsyncWait(func(err error) { errs = append(errs, err) })
	if len(errs) != 0 {
		t.Fatal("handlers ran inside ExpiresAfter")
	}
	ctx.Run()
	if len(errs) != 4 {
		t.Fatalf("%d handlers ran, want 4", len(errs))
	}
	for i := 0; i < 3; i++ {
		if !isAborted(errs[i]) {
			t.Errorf("wait %d: %v, want ErrOperationAborted", i, errs[i])
		}
	}
	if errs[3] != nil {
		t.Errorf("wait after the new expiry: %v", errs[3])
	}
	// ExpiresAt likewise.
	ctx.Restart()
	errs = nil
	tm.AsyncWait(func(err error) { errs = append(errs, err) })
	if n := tm.ExpiresAt(time.Now().Add(time.Hour)); n != 1 {
		t.Errorf("ExpiresAt returned %d, want 1", n)
	}
	ctx.Run()
	if len(errs) != 1 || !isAborted(errs[0]) {
		t.Errorf("wait cancelled by ExpiresAt: %v", errs)
	}
}

func TestTimerCancel(t *testing.T) {
	ctx := newTestContext(t)
	tm := NewTimer(ctx.Executor())
	tm.ExpiresAfter(time.Hour)
	expiry := tm.Expiry()
	var errs []error
	for i := 0; i < 5; i++ {
		tm.AsyncWait(func(err error) { errs = append(errs, err) })
	}
	if n := tm.Cancel(); n != 5 {
		t.Fatalf("Cancel returned %d, want 5", n)
	}
	if n := tm.Cancel(); n != 0 {
		t.Fatalf("second Cancel returned %d, want 0", n)
	}
	if !tm.Expiry().Equal(expiry) {
		t.Error("Cancel changed the expiry")
	}
	if len(errs) != 0 {
		t.Fatal("handlers ran inside Cancel")
	}
	ctx.Run()
	if len(errs) != 5 {
		t.Fatalf("%d handlers ran, want 5", len(errs))
	}
	for _, err := range errs {
		if !isAborted(err) {
			t.Errorf("cancelled wait: %v", err)
		}
	}
	// Cancelling one timer leaves the others.
	ctx.Restart()
	other := NewTimer(ctx.Executor())
	other.ExpiresAfter(time.Millisecond)
	var otherErr error = ErrTimeout
	other.AsyncWait(func(err error) { otherErr = err })
	tm.AsyncWait(func(error) {})
	tm.Cancel()
	ctx.Run()
	if otherErr != nil {
		t.Errorf("the other timer: %v", otherErr)
	}
}

// TestTimerExpiredWait: a wait on an expired timer completes with nil,
// through Run, not inside AsyncWait.
func TestTimerExpiredWait(t *testing.T) {
	ctx := newTestContext(t)
	tm := NewTimer(ctx.Executor()) // expires now
	if !tm.Expiry().Before(time.Now().Add(time.Millisecond)) {
		t.Errorf("a new timer expires at %v, want now", tm.Expiry())
	}
	returned := false
	var got error = ErrTimeout
	tm.AsyncWait(func(err error) {
		if !returned {
			t.Error("handler ran inside AsyncWait")
		}
		got = err
	})
	returned = true
	if n := ctx.Run(); n != 1 || got != nil {
		t.Fatalf("Run: %d, err %v", n, got)
	}
	// Wait (blocking) returns at once too.
	t0 := time.Now()
	if err := tm.Wait(); err != nil || time.Since(t0) > time.Second {
		t.Fatalf("Wait on an expired timer: %v after %v", err, time.Since(t0))
	}
}

func TestTimerWaitBlocking(t *testing.T) {
	ctx := newTestContext(t)
	tm := NewTimer(ctx.Executor())
	tm.ExpiresAfter(20 * time.Millisecond)
	t0 := time.Now()
	if err := tm.Wait(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 19*time.Millisecond {
		t.Fatalf("Wait returned after %v, want 20ms", d)
	}
}

// TestTimerAddedWhileRunBlocks: a timer started from another goroutine
// with an earlier expiry than the one Run waits for fires on time.
func TestTimerAddedWhileRunBlocks(t *testing.T) {
	ctx := newTestContext(t)
	_, stop := runInBackground(t, ctx, 1)
	defer stop()
	far := NewTimer(ctx.Executor())
	far.ExpiresAfter(time.Hour)
	far.AsyncWait(func(error) {})
	waitPolling(t, ctx)
	for _, d := range []time.Duration{0, 10 * time.Millisecond} {
		tm := NewTimer(ctx.Executor())
		tm.ExpiresAfter(d)
		done := make(chan time.Time, 1)
		t0 := time.Now()
		tm.AsyncWait(func(err error) { done <- time.Now() })
		select {
		case at := <-done:
			if at.Sub(t0) < d {
				t.Errorf("timer of %v fired after %v", d, at.Sub(t0))
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("timer of %v started while Run waits did not fire within 3s", d)
		}
		waitPolling(t, ctx)
	}
	far.Cancel()
}

// TestTimersCreateNoGoroutine: timers live in the loop: a thousand pending
// waits add no goroutine.
func TestTimersCreateNoGoroutine(t *testing.T) {
	ctx := newTestContext(t)
	runtime.GC()
	before := runtime.NumGoroutine()
	timers := make([]*Timer, 1000)
	for i := range timers {
		timers[i] = NewTimer(ctx.Executor())
		timers[i].ExpiresAfter(time.Duration(i+1) * time.Hour)
		timers[i].AsyncWait(func(error) {})
	}
	ctx.Poll()
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Fatalf("goroutines: %d before, %d with 1000 pending timer waits", before, after)
	}
	n := 0
	for _, tm := range timers {
		n += tm.Cancel()
	}
	if n != 1000 {
		t.Fatalf("cancelled %d waits, want 1000", n)
	}
	ctx.Restart()
	if ran := ctx.Run(); ran != 1000 {
		t.Fatalf("Run ran %d handlers, want 1000", ran)
	}
}

// TestTimerCancelledAmongMany: cancelling waits in the middle of the heap
// keeps the others in order.
func TestTimerCancelledAmongMany(t *testing.T) {
	ctx := newTestContext(t)
	rng := rand.New(rand.NewSource(2))
	const n = 200
	var fired []time.Time
	aborted := 0
	timers := make([]*Timer, n)
	for i := range timers {
		tm := NewTimer(ctx.Executor())
		tm.ExpiresAfter(time.Duration(rng.Intn(30000)) * time.Microsecond)
		tm.AsyncWait(func(err error) {
			if isAborted(err) {
				aborted++
				return
			}
			fired = append(fired, tm.Expiry())
		})
		timers[i] = tm
	}
	for i := 0; i < n; i += 3 {
		timers[i].Cancel()
	}
	ctx.Run()
	if want := (n + 2) / 3; aborted != want {
		t.Errorf("%d aborted, want %d", aborted, want)
	}
	if len(fired) != n-aborted {
		t.Errorf("%d fired, want %d", len(fired), n-aborted)
	}
	if !sort.SliceIsSorted(fired, func(a, b int) bool { return fired[a].Before(fired[b]) }) {
		t.Error("timers fired out of expiry order after cancellations")
	}
}

// TestTimerExpiriesInThePast: an expiry long past, however it is given
// (the zero time, centuries ago, a hugely negative duration), fires at
// once; it used to overflow the poll timeout into a wait of twelve days.
func TestTimerExpiriesInThePast(t *testing.T) {
	cases := []struct {
		name string
		set  func(*Timer)
	}{
		{"zero time", func(tm *Timer) { tm.ExpiresAt(time.Time{}) }},
		{"300 years ago", func(tm *Timer) { tm.ExpiresAt(time.Now().AddDate(-300, 0, 0)) }},
		{"MinInt64", func(tm *Timer) { tm.ExpiresAfter(math.MinInt64) }},
		{"-1h", func(tm *Timer) { tm.ExpiresAfter(-time.Hour) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := newTestContext(t)
			tm := NewTimer(ctx.Executor())
			c.set(tm)
			h, ch := errChan()
			tm.AsyncWait(h)
			done := make(chan int, 1)
			go func() { done <- ctx.Run() }()
			if n := waitChan(t, done, "Run with a timer in the past"); n != 1 {
				t.Fatalf("Run ran %d handlers, want 1", n)
			}
			if err := <-ch; err != nil {
				t.Fatalf("wait: %v, want nil", err)
			}
		})
	}
}

// TestTimerExpiresAfterSaturates: a duration too long for the clock gives
// an expiry in the far future, not one in the past.
func TestTimerExpiresAfterSaturates(t *testing.T) {
	ctx := newTestContext(t)
	tm := NewTimer(ctx.Executor())
	tm.ExpiresAfter(math.MaxInt64)
	if !tm.Expiry().After(time.Now().AddDate(200, 0, 0)) {
		t.Fatalf("ExpiresAfter(MaxInt64): expiry %v, want centuries ahead", tm.Expiry())
	}
	h, ch := errChan()
	tm.AsyncWait(h)
	ctx.Poll()
	if len(ch) != 0 {
		t.Fatal("a wait with an expiry centuries ahead completed")
	}
	tm.Cancel()
	if err := runFor1(t, ctx, ch); !isAborted(err) {
		t.Fatalf("cancelled wait: %v", err)
	}
}
