package uring

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// flagSets are the setup flag choices the backend decides between.
var flagSets = []struct {
	name  string
	flags Flags
	lock  bool // SINGLE_ISSUER: one thread for the ring's life
}{
	{"none", 0, false},
	{"coop", SetupCoopTaskrun | SetupTaskrunFlag, false},
	{"coop-noflag", SetupCoopTaskrun, false},
	{"defer", SetupSingleIssuer | SetupDeferTaskrun | SetupTaskrunFlag, true},
	{"defer-noflag", SetupSingleIssuer | SetupDeferTaskrun, true},
}

func TestNopRoundTrip(t *testing.T) {
	for _, fs := range flagSets {
		t.Run(fs.name, func(t *testing.T) {
			if fs.lock {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			r := newRing(t, Config{Entries: 8, Flags: fs.flags})
			for i := range 3 {
				sqe(t, r).PrepNop(uint64(100 + i))
			}
			if got := r.Pending(); got != 3 {
				t.Fatalf("Pending = %d, want 3", got)
			}
			cs := collect(t, r, 3)
			for i, c := range cs {
				if c.UserData != uint64(100+i) || c.Res != 0 || c.Flags != 0 {
					t.Errorf("completion %d = %+v, want user_data %d, res 0", i, c, 100+i)
				}
			}
			if r.Pending() != 0 || r.Ready() != 0 {
				t.Errorf("after reaping: Pending %d, Ready %d", r.Pending(), r.Ready())
			}
		})
	}
}

func TestSubmitAndWaitZeroMakesNoSyscallWhenIdle(t *testing.T) {
	r := newRing(t, Config{Entries: 4, Flags: SetupCoopTaskrun | SetupTaskrunFlag})
	before := r.Enters()
	for range 10 {
		if _, err := r.SubmitAndWait(0); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Enters() - before; got != 0 {
		t.Errorf("idle SubmitAndWait(0) made %d io_uring_enter calls, want 0", got)
	}
	sqe(t, r).PrepNop(1)
	if _, err := r.SubmitAndWait(0); err != nil {
		t.Fatal(err)
	}
	if got := r.Enters() - before; got != 1 {
		t.Errorf("SubmitAndWait(0) with one SQE made %d enters, want 1", got)
	}
}

func TestWaitTimeout(t *testing.T) {
	for _, extArg := range []bool{true, false} {
		name := map[bool]string{true: "ext_arg", false: "timeout_sqe"}[extArg]
		t.Run(name, func(t *testing.T) {
			r := newRing(t, Config{Entries: 4})
			if !extArg {
				r.features &^= FeatExtArg // as on a kernel before 5.11
			}
			const d = 30 * time.Millisecond
			var buf [4]CQE
			for range 2 { // the second round shows the fallback timeout left nothing behind
				// A signal (the Go runtime preempts with SIGURG) may end
				// a wait early with nothing to reap, as EINTR does any
				// blocking call; the caller waits again for what is left.
				// A timeout that did not wait would return early every
				// time.
				start := time.Now()
				early := 0
				for left := d; left > 0; left = d - time.Since(start) {
					if _, err := r.SubmitAndWait(left); err != nil {
						t.Fatal(err)
					}
					if n := r.Reap(buf[:]); n != 0 {
						t.Fatalf("Reap after a timeout = %d completions: %+v", n, buf[:n])
					}
					if time.Since(start) < d {
						early++
					}
				}
				if early > 5 {
					t.Errorf("SubmitAndWait(%v) returned early %d times in a row", d, early)
				}
			}
			// A completion ends the wait early, and the fallback timeout
			// (count 1) completes with it instead of lingering.
			sqe(t, r).PrepNop(7)
			start := time.Now()
			if _, err := r.SubmitAndWait(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("a ready completion did not end the wait: %v", el)
			}
			if cs := collect(t, r, 1); cs[0].UserData != 7 {
				t.Errorf("got %+v, want the NOP", cs)
			}
		})
	}
}

func TestWakeFromAnotherGoroutine(t *testing.T) {
	for _, fs := range flagSets {
		t.Run(fs.name, func(t *testing.T) {
			if fs.lock {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			r := newRing(t, Config{Entries: 4, Flags: fs.flags})
			for round := range 3 {
				woke := make(chan struct{})
				go func() {
					// Wake once the owner has announced its wait; before
					// that a Wake would only set the flag (tested below).
					for r.wstate.Load()&stateWaiting == 0 {
						runtime.Gosched()
					}
					r.Wake()
					close(woke)
				}()
				start := time.Now()
				// A signal (the runtime's preemption) may end the wait
				// before the Wake: the wait is then made again, as the
				// backend's loop does. Once woken, the wakeup read's
				// completion stays in the queue until Reap, so a wait made
				// before the waker closes woke returns at once.
			wait:
				for {
					if _, err := r.SubmitAndWait(-1); err != nil {
						t.Fatal(err)
					}
					select {
					case <-woke:
						break wait
					default:
					}
				}
				var buf [4]CQE
				if n := r.Reap(buf[:]); n != 0 {
					t.Errorf("round %d: the wakeup surfaced %d completions: %+v", round, n, buf[:n])
				}
				if el := time.Since(start); el > 5*time.Second {
					t.Fatalf("round %d: woken after %v", round, el)
				}
			}
			if got := r.wakeWrites.Load(); got < 1 || got > 3 {
				t.Errorf("eventfd writes = %d, want 1..3 for 3 wakes of a blocked owner", got)
			}
		})
	}
}

func TestWakeWhileAwakeMakesNoSyscall(t *testing.T) {
	r := newRing(t, Config{Entries: 4})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); r.Wake() }()
	}
	wg.Wait()
	if got := r.wakeWrites.Load(); got != 0 {
		t.Errorf("Wake of an owner that is not waiting wrote the eventfd %d times", got)
	}
	// The wake is remembered: the next wait does not block, once.
	start := time.Now()
	if _, err := r.SubmitAndWait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("a pending Wake did not stop the wait: %v", el)
	}
	const d = 20 * time.Millisecond
	start = time.Now()
	if _, err := r.SubmitAndWait(d); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < d {
		t.Errorf("the Wake was consumed twice: second wait returned after %v", el)
	}
}

// TestCQOverflowLosesNothing fills a 4-entry completion queue with 64
// completions: the kernel keeps the overflow (IORING_FEAT_NODROP) and every
// one arrives.
func TestCQOverflowLosesNothing(t *testing.T) {
	r := newRing(t, Config{Entries: 2, CQEntries: 4})
	if r.CQEntries() != 4 {
		t.Fatalf("CQEntries = %d, want 4", r.CQEntries())
	}
	const total = 64
	overflowed := false
	for i := range total {
		s, err := r.NextSQE()
		for errors.Is(err, syscall.EBUSY) { // old kernels: reap before submitting more
			t.Fatalf("NextSQE: EBUSY with nothing reaped yet: %v", err)
		}
		if err != nil {
			t.Fatalf("NextSQE %d: %v", i, err)
		}
		s.PrepNop(uint64(i))
		if _, err := r.Submit(); err != nil {
			t.Fatalf("Submit %d: %v", i, err)
		}
		overflowed = overflowed || r.Overflowed()
	}
	if !overflowed {
		t.Errorf("64 completions in a 4-entry queue never set IORING_SQ_CQ_OVERFLOW")
	}
	cs := collect(t, r, total)
	seen := make(map[uint64]bool, total)
	for _, c := range cs {
		seen[c.UserData] = true
	}
	for i := range uint64(total) {
		if !seen[i] {
			t.Errorf("completion %d lost", i)
		}
	}
	if r.Overflowed() {
		t.Error("overflow flag still set after everything was reaped")
	}
}

func TestSQFullSubmitsAndRetries(t *testing.T) {
	r := newRing(t, Config{Entries: 4, CQEntries: 64})
	for i := range 4 {
		if r.GetSQE() == nil {
			t.Fatalf("GetSQE %d = nil before the queue is full", i)
		}
		r.sqes[(r.tail-1)&r.sqMask].PrepNop(uint64(i))
	}
	if r.GetSQE() != nil {
		t.Fatal("GetSQE on a full queue did not return nil")
	}
	for i := 4; i < 20; i++ {
		sqe(t, r).PrepNop(uint64(i)) // NextSQE submits the full queue
	}
	if cs := collect(t, r, 20); len(cs) != 20 {
		t.Fatalf("got %d completions", len(cs))
	}
}

// TestSingleIssuerOtherThread shows what the backend must avoid: a
// SINGLE_ISSUER ring entered from another thread fails with EEXIST.
func TestSingleIssuerOtherThread(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := newRing(t, Config{Entries: 4, Flags: SetupSingleIssuer | SetupDeferTaskrun})
	errc := make(chan error)
	go func() {
		runtime.LockOSThread() // a thread of its own, surely not the creator
		defer runtime.UnlockOSThread()
		s := r.GetSQE()
		s.PrepNop(1)
		_, err := r.Submit()
		errc <- err
	}()
	if err := <-errc; !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("Submit from another thread: %v, want EEXIST", err)
	}
}

// TestRDisabledEnable creates a SINGLE_ISSUER ring on one thread and binds
// it to another with Enable, as a backend that creates its ring before the
// polling goroutine exists does.
func TestRDisabledEnable(t *testing.T) {
	r := newRing(t, Config{Entries: 4, Flags: SetupSingleIssuer | SetupDeferTaskrun | SetupRDisabled})
	done := make(chan []CQE)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := r.Enable(); err != nil {
			t.Error(err)
			close(done)
			return
		}
		sqe(t, r).PrepNop(5)
		done <- collect(t, r, 1)
	}()
	if cs := <-done; len(cs) != 1 || cs[0].UserData != 5 {
		t.Fatalf("got %+v", cs)
	}
}

func TestCloseTwice(t *testing.T) {
	r := newRing(t, Config{Entries: 2})
	if _, err := r.SubmitAndWait(time.Millisecond); err != nil { // arms the wakeup read
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err == nil {
		t.Fatal("second Close returned nil")
	}
}

func TestSubmitAndWaitMinBatches(t *testing.T) {
	r := newRing(t, Config{Entries: 8})
	if r.Features()&FeatMinTimeout == 0 {
		t.Skip("the kernel lacks IORING_FEAT_MIN_TIMEOUT (Linux 6.12): SubmitAndWaitMin waits as SubmitAndWait")
	}
	// A full batch returns at once, however long minWait is.
	for i := range 4 {
		sqe(t, r).PrepNop(uint64(i))
	}
	start := time.Now()
	if _, err := r.SubmitAndWaitMin(4, 10*time.Second, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("a full batch waited %v", el)
	}
	if n := r.Reap(make([]CQE, 8)); n != 4 {
		t.Fatalf("reaped %d, want 4", n)
	}
	// One completion of four wanted: the wait lasts minWait, then settles.
	const minWait = 30 * time.Millisecond
	sqe(t, r).PrepNop(9)
	start = time.Now()
	if _, err := r.SubmitAndWaitMin(4, minWait, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	if el < minWait || el > 10*time.Second {
		t.Fatalf("a partial batch returned after %v, want minWait (%v)", el, minWait)
	}
	if n := r.Reap(make([]CQE, 8)); n != 1 {
		t.Fatalf("reaped %d, want 1", n)
	}
}

// TestWaitKeepsPYields: a wait that keeps its P does not starve other
// goroutines even with GOMAXPROCS=1: the runtime preempts the waiter, the
// wait returns, and the goroutine that calls Wake gets to run.
func TestWaitKeepsPYields(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	r := newRing(t, Config{Entries: 4, WaitKeepsP: true})
	var woken atomic.Bool
	go func() {
		r.Wake()
		woken.Store(true)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !woken.Load() {
		if _, err := r.SubmitAndWait(-1); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the waking goroutine never ran")
		}
	}
}
