package asio

import (
	"math"
	"sync"
	"testing"
	"time"
)

func TestSimpleRatePolicyBudgets(t *testing.T) {
	p := NewSimpleRatePolicy(1000, 0).(*SimpleRatePolicy)
	if got := p.AvailableReadBytes(); got != 1000 {
		t.Fatalf("read budget at start %d, want 1000 (a full budget, as in Beast)", got)
	}
	if got := p.AvailableWriteBytes(); got != math.MaxInt {
		t.Fatalf("unlimited write budget %d", got)
	}
	p.TransferReadBytes(300)
	p.TransferWriteBytes(1 << 40)
	if p.AvailableReadBytes() != 700 || p.AvailableWriteBytes() != math.MaxInt {
		t.Fatal("transfer:", p.AvailableReadBytes(), p.AvailableWriteBytes())
	}
	p.TransferReadBytes(900) // saturates at 0
	if p.AvailableReadBytes() != 0 {
		t.Fatal("saturation:", p.AvailableReadBytes())
	}
	p.OnTimer()
	if p.AvailableReadBytes() != 1000 {
		t.Fatal("refill:", p.AvailableReadBytes())
	}
	p.SetReadLimit(200) // lowers what is left at once
	if p.AvailableReadBytes() != 200 || p.ReadLimit() != 200 {
		t.Fatal("lower limit:", p.AvailableReadBytes(), p.ReadLimit())
	}
	p.SetReadLimit(5000) // a higher one waits for the refill
	if p.AvailableReadBytes() != 200 {
		t.Fatal("higher limit before refill:", p.AvailableReadBytes())
	}
	p.OnTimer()
	if p.AvailableReadBytes() != 5000 {
		t.Fatal("higher limit after refill:", p.AvailableReadBytes())
	}
	p.SetWriteLimit(10)
	p.SetReadLimit(0) // unlimited again, at once
	if p.AvailableReadBytes() != math.MaxInt || p.ReadLimit() != 0 || p.WriteLimit() != 10 || p.AvailableWriteBytes() != 10 {
		t.Fatal("limits:", p.AvailableReadBytes(), p.ReadLimit(), p.WriteLimit(), p.AvailableWriteBytes())
	}
	u := UnlimitedRatePolicy()
	u.TransferReadBytes(5)
	u.OnTimer()
	if u.AvailableReadBytes() != math.MaxInt || u.AvailableWriteBytes() != math.MaxInt {
		t.Fatal("unlimited policy limits")
	}
}

// rpRecorder is an AsyncWriteStream/AsyncReadStream over a TCPStream that
// records what each *Some call moved and when.
type rpRecorder struct {
	s     *TCPStream
	mu    sync.Mutex
	sizes []int
	times []time.Time
}

func (r *rpRecorder) Executor() Executor { return r.s.Executor() }

func (r *rpRecorder) record(h func(int, error)) func(int, error) {
	return func(n int, err error) {
		r.mu.Lock()
		r.sizes = append(r.sizes, n)
		r.times = append(r.times, time.Now())
		r.mu.Unlock()
		h(n, err)
	}
}

func (r *rpRecorder) AsyncWriteSome(b Buffers, h func(int, error), opts ...OpOption) {
	r.s.AsyncWriteSome(b, r.record(h), opts...)
}

func (r *rpRecorder) AsyncReadSome(b Buffers, h func(int, error), opts ...OpOption) {
	r.s.AsyncReadSome(b, r.record(h), opts...)
}

func rpSizesEqual(a []int, b ...int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// At 1000 B/s a 2500-byte write moves 1000 (the full starting budget),
// 1000 (the first refill, at once) and, one second after that refill, 500.
func TestRatePolicyWriteRefillsOnceASecond(t *testing.T) {
	ctx := newTestContext(t)
	s, _ := tsPair(t, ctx)
	s.SetRatePolicy(NewSimpleRatePolicy(0, 1000))
	rec := &rpRecorder{s: s}
	var w tsCall
	start := time.Now()
	AsyncWrite(rec, Buffers{make([]byte, 2500)}, w.h)
	tsRun(t, ctx)
	w.check(t, "AsyncWrite", 2500, nil)
	if !rpSizesEqual(rec.sizes, 1000, 1000, 500) {
		t.Fatalf("write steps %v, want [1000 1000 500]", rec.sizes)
	}
	if d := rec.times[1].Sub(start); d > 900*time.Millisecond {
		t.Errorf("the first refill waited %v; it should be at once", d)
	}
	if d := rec.times[2].Sub(start); d < time.Second {
		t.Errorf("the second refill came %v after the start, want >= 1s", d)
	}
}

// Reads are limited alike, and independently of writes.
func TestRatePolicyReadRefillsOnceASecond(t *testing.T) {
	ctx := newTestContext(t)
	s, peer := tsPair(t, ctx)
	if _, err := peer.WriteSome(Buffers{make([]byte, 2500)}); err != nil {
		t.Fatal(err)
	}
	s.SetRatePolicy(NewSimpleRatePolicy(1000, 0))
	var sizes []int
	var times []time.Time
	buf := make([]byte, 4096)
	var read func(n int, err error)
	read = func(n int, err error) {
		if err != nil {
			t.Error(err)
			return
		}
		sizes = append(sizes, n)
		times = append(times, time.Now())
		if len(sizes) < 3 {
			s.AsyncReadSome(Buffers{buf}, read)
		}
	}
	start := time.Now()
	s.AsyncReadSome(Buffers{buf}, read)
	var w tsCall
	s.AsyncWriteSome(Buffers{make([]byte, 3000)}, w.h) // not limited
	tsRun(t, ctx)
	w.check(t, "unlimited write", 3000, nil)
	if !rpSizesEqual(sizes, 1000, 1000, 500) {
		t.Fatalf("read steps %v, want [1000 1000 500]", sizes)
	}
	if d := times[2].Sub(start); d < time.Second {
		t.Errorf("the second refill came %v after the start, want >= 1s", d)
	}
}

// rpZero has no budget ever: each op that waited still moves one byte.
type rpZero struct {
	mu     sync.Mutex
	timers int
	moved  int
}

func (p *rpZero) AvailableReadBytes() int  { return 0 }
func (p *rpZero) AvailableWriteBytes() int { return 0 }
func (p *rpZero) TransferReadBytes(n int)  { p.mu.Lock(); p.moved += n; p.mu.Unlock() }
func (p *rpZero) TransferWriteBytes(n int) { p.mu.Lock(); p.moved += n; p.mu.Unlock() }
func (p *rpZero) OnTimer()                 { p.mu.Lock(); p.timers++; p.mu.Unlock() }

func TestRatePolicyAtLeastOneByte(t *testing.T) {
	ctx := newTestContext(t)
	s, peer := tsPair(t, ctx)
	peer.WriteSome(Buffers{[]byte("abcdef")})
	p := &rpZero{}
	s.SetRatePolicy(p)
	var r1, r2 tsCall
	var timersAfterFirst int
	start := time.Now()
	s.AsyncReadSome(Buffers{make([]byte, 16)}, func(n int, err error) {
		r1.h(n, err)
		timersAfterFirst = p.timers
		s.AsyncReadSome(Buffers{make([]byte, 16)}, r2.h)
	})
	tsRun(t, ctx)
	r1.check(t, "read after the first refill", 1, nil)
	r2.check(t, "read after waiting a second", 1, nil)
	if timersAfterFirst != 1 || p.timers != 2 || p.moved != 2 {
		t.Errorf("OnTimer calls %d then %d, bytes reported %d", timersAfterFirst, p.timers, p.moved)
	}
	if d := r2.at.Sub(start); d < time.Second {
		t.Errorf("second refill after %v, want >= 1s", d)
	}
}

// Limits change while the stream uses the policy.
func TestRatePolicyLimitChangesInUse(t *testing.T) {
	ctx := newTestContext(t)
	s, _ := tsPair(t, ctx)
	p := NewSimpleRatePolicy(0, 0).(*SimpleRatePolicy)
	s.SetRatePolicy(p)
	var sizes []int
	b := make([]byte, 3000)
	var step func(n int, err error)
	step = func(n int, err error) {
		if err != nil {
			t.Error(err)
			return
		}
		sizes = append(sizes, n)
		switch len(sizes) {
		case 1:
			p.SetWriteLimit(1000) // the budget drops to 1000 at once
		case 3:
			p.SetWriteLimit(0) // and is lifted at once
		case 4:
			return
		}
		s.AsyncWriteSome(Buffers{b}, step)
	}
	s.AsyncWriteSome(Buffers{b}, step)
	tsRun(t, ctx)
	// unlimited; 1000 left; first refill (at once) to 1000; unlimited.
	if !rpSizesEqual(sizes, 3000, 1000, 1000, 3000) {
		t.Fatalf("write sizes %v, want [3000 1000 1000 3000]", sizes)
	}
}

// The deadline also ends a wait for budget: ErrTimeout, socket closed.
func TestRatePolicyWaitTimesOut(t *testing.T) {
	ctx := newTestContext(t)
	s, peer := tsPair(t, ctx)
	peer.WriteSome(Buffers{[]byte("abcdef")})
	p := &rpZero{}
	s.SetRatePolicy(p)
	var r1, r2 tsCall
	s.AsyncReadSome(Buffers{make([]byte, 16)}, func(n int, err error) {
		r1.h(n, err)
		s.ExpiresAfter(50 * time.Millisecond)
		s.AsyncReadSome(Buffers{make([]byte, 16)}, r2.h) // waits for the refill
	})
	tsRun(t, ctx)
	r1.check(t, "first read", 1, nil)
	r2.check(t, "read waiting for budget", 0, ErrTimeout)
	if p.timers != 1 {
		t.Errorf("OnTimer called %d times, want 1 (the timeout came first)", p.timers)
	}
	if s.Socket().IsOpen() {
		t.Error("socket open after the timeout")
	}
}

// A cancellation slot reaches an op waiting for budget, and so do Cancel
// and the bound executor.
func TestRatePolicyWaitCancelled(t *testing.T) {
	ctx := newTestContext(t)
	s, peer := tsPair(t, ctx)
	peer.WriteSome(Buffers{[]byte("abcdef")})
	p := &rpZero{}
	s.SetRatePolicy(p)
	ex := &tsExec{Executor: ctx.Executor()}
	sig := NewCancellationSignal()
	var r1, r2, r3 tsCall
	s.AsyncReadSome(Buffers{make([]byte, 16)}, func(n int, err error) {
		r1.h(n, err)
		s.AsyncReadSome(Buffers{make([]byte, 16)}, func(n int, err error) {
			if ex.in.Load() == 0 {
				t.Error("handler not on the bound executor")
			}
			r2.h(n, err)
			s.AsyncReadSome(Buffers{make([]byte, 16)}, r3.h)
			s.Cancel()
		}, BindCancellationSlot(sig.Slot()), BindExecutor(ex))
		ctx.Executor().Post(func() { sig.Emit(CancelTerminal) })
	})
	tsRun(t, ctx)
	r1.check(t, "first read", 1, nil)
	r2.check(t, "read cancelled by its slot", 0, ErrOperationAborted)
	r3.check(t, "read cancelled by Cancel", 0, ErrOperationAborted)
	if p.timers != 1 {
		t.Errorf("OnTimer called %d times, want 1", p.timers)
	}
	if !s.Socket().IsOpen() {
		t.Error("cancellation closed the socket")
	}
}
