package asio

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var cancelTypes = []struct {
	name string
	t    CancellationType
}{
	{"terminal", CancelTerminal},
	{"partial", CancelPartial},
	{"total", CancelTotal},
	{"all", CancelAll},
	{"terminal|total", CancelTerminal | CancelTotal},
}

// pendingConnectEndpoint returns an endpoint whose listener's accept queue
// is full, so that a connect to it stays pending (its SYN is dropped).
func pendingConnectEndpoint(t *testing.T, ctx *IOContext) netip.AddrPort {
	t.Helper()
	acc, err := ListenTCP(ctx.Executor(), loopback4, Backlog(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acc.Close() })
	filler := NewTCPSocket(ctx.Executor())
	t.Cleanup(func() { filler.Close() })
	if err := filler.Connect(acc.LocalEndpoint()); err != nil {
		t.Fatal(err)
	}
	return acc.LocalEndpoint()
}

// pendingOps are the operations that support terminal, partial and total
// cancellation, each started so that it waits.
func pendingOps() []struct {
	name  string
	start func(t *testing.T, ctx *IOContext, h func(int, error), opts ...OpOption)
} {
	type startFn = func(t *testing.T, ctx *IOContext, h func(int, error), opts ...OpOption)
	return []struct {
		name  string
		start startFn
	}{
		{"AsyncReadSome", func(t *testing.T, ctx *IOContext, h func(int, error), o ...OpOption) {
			_, s := connectedPair(t, ctx)
			s.AsyncReadSome([][]byte{make([]byte, 8)}, h, o...)
		}},
		{"AsyncReceive", func(t *testing.T, ctx *IOContext, h func(int, error), o ...OpOption) {
			_, s := connectedPair(t, ctx)
			s.AsyncReceive([][]byte{make([]byte, 8)}, MsgPeek, h, o...)
		}},
		{"AsyncReceive OOB", func(t *testing.T, ctx *IOContext, h func(int, error), o ...OpOption) {
			_, s := connectedPair(t, ctx)
			s.AsyncReceive([][]byte{make([]byte, 8)}, MsgOutOfBand, h, o...)
		}},
		{"AsyncWait", func(t *testing.T, ctx *IOContext, h func(int, error), o ...OpOption) {
			_, s := connectedPair(t, ctx)
			s.AsyncWait(WaitRead, errH(h), o...)
		}},
		{"AsyncWriteSome", func(t *testing.T, ctx *IOContext, h func(int, error), o ...OpOption) {
			c, s := connectedPair(t, ctx)
			clog(t, ctx, c, s)
			c.AsyncWriteSome([][]byte{make([]byte, 8)}, h, o...)
		}},
		{"AsyncSend", func(t *testing.T, ctx *IOContext, h func(int, error), o ...OpOption) {
			c, s := connectedPair(t, ctx)
			clog(t, ctx, c, s)
			c.AsyncSend([][]byte{make([]byte, 8)}, 0, h, o...)
		}},
		{"AsyncConnect", func(t *testing.T, ctx *IOContext, h func(int, error), o ...OpOption) {
			ep := pendingConnectEndpoint(t, ctx)
			c := NewTCPSocket(ctx.Executor())
			t.Cleanup(func() { c.Close() })
			c.AsyncConnect(ep, errH(h), o...)
		}},
		{"AsyncAccept", func(t *testing.T, ctx *IOContext, h func(int, error), o ...OpOption) {
			acc, err := ListenTCP(ctx.Executor(), loopback4)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { acc.Close() })
			acc.AsyncAccept(acceptH(h), o...)
		}},
		{"Timer.AsyncWait", func(t *testing.T, ctx *IOContext, h func(int, error), o ...OpOption) {
			tm := NewTimer(ctx.Executor())
			tm.ExpiresAfter(time.Hour)
			tm.AsyncWait(errH(h), o...)
		}},
	}
}

// assertPending runs what is ready and fails if the op completed.
func assertPending(t *testing.T, ctx *IOContext, ch chan result, what string) {
	t.Helper()
	ctx.Restart()
	ctx.Poll()
	if len(ch) != 0 {
		r := <-ch
		t.Fatalf("%s: the op completed with (%d, %v), want it still pending", what, r.n, r.err)
	}
}

// TestSocketOpCancellation: each socket op (and timer wait) supports
// terminal, partial and total cancellation: a pending op ends with (0,
// ErrOperationAborted), exactly once; CancelNone does nothing.
func TestSocketOpCancellation(t *testing.T) {
	for _, op := range pendingOps() {
		for _, ct := range cancelTypes {
			t.Run(op.name+"/"+ct.name, func(t *testing.T) {
				ctx := newTestContext(t)
				sig := NewCancellationSignal()
				h, ch := resultChan()
				op.start(t, ctx, h, BindCancellationSlot(sig.Slot()))
				assertPending(t, ctx, ch, "before any emit")
				sig.Emit(CancelNone)
				assertPending(t, ctx, ch, "after CancelNone")
				sig.Emit(ct.t)
				r := runFor1(t, ctx, ch)
				if !isAborted(r.err) || r.n != 0 {
					t.Fatalf("after Emit(%s): (%d, %v), want (0, ErrOperationAborted)", ct.name, r.n, r.err)
				}
				// Emits after completion do nothing; the handler ran once.
				sig.Emit(ct.t)
				sig.Emit(CancelAll)
				ctx.Restart()
				ctx.Poll()
				if len(ch) != 0 {
					t.Fatal("handler ran twice")
				}
			})
		}
	}
}

// TestWithContextCancelsOp: WithContext's ctx ending is a terminal
// cancellation of the op.
func TestWithContextCancelsOp(t *testing.T) {
	for _, op := range pendingOps() {
		t.Run(op.name, func(t *testing.T) {
			ctx := newTestContext(t)
			cctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h, ch := resultChan()
			op.start(t, ctx, h, WithContext(cctx))
			assertPending(t, ctx, ch, "before cancel")
			cancel()
			r := runFor1(t, ctx, ch)
			if !isAborted(r.err) || r.n != 0 {
				t.Fatalf("after the context was cancelled: (%d, %v), want (0, ErrOperationAborted)", r.n, r.err)
			}
			ctx.Restart()
			ctx.Poll()
			if len(ch) != 0 {
				t.Fatal("handler ran twice")
			}
		})
	}
}

// TestWithContextAfterCompletion: a context cancelled after the op
// completed changes nothing, and a deadline context works.
func TestWithContextAfterCompletion(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	cctx, cancel := context.WithCancel(context.Background())
	h, ch := resultChan()
	s.AsyncReadSome([][]byte{make([]byte, 8)}, h, WithContext(cctx))
	c.WriteSome([][]byte{[]byte("abc")})
	if r := runFor1(t, ctx, ch); r.n != 3 || r.err != nil {
		t.Fatalf("read: (%d, %v)", r.n, r.err)
	}
	cancel()
	ctx.Restart()
	ctx.Poll()
	if len(ch) != 0 {
		t.Fatal("cancelling the context after completion ran the handler again")
	}
	dctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	s.AsyncReadSome([][]byte{make([]byte, 8)}, h, WithContext(dctx))
	if r := runFor1(t, ctx, ch); !isAborted(r.err) {
		t.Fatalf("read with an expired deadline context: (%d, %v)", r.n, r.err)
	}
}

// TestSlotReuse: one signal serves one op at a time and can be reused: an
// emit between ops does nothing; the second op is cancelled by its emit;
// an op completed normally leaves the slot.
func TestSlotReuse(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	sig := NewCancellationSignal()
	h, ch := resultChan()
	buf := make([]byte, 8)

	// First op completes normally.
	s.AsyncReadSome([][]byte{buf}, h, BindCancellationSlot(sig.Slot()))
	c.WriteSome([][]byte{[]byte("one")})
	if r := runFor1(t, ctx, ch); r.n != 3 || r.err != nil {
		t.Fatalf("first read: (%d, %v)", r.n, r.err)
	}
	sig.Emit(CancelTerminal) // nothing attached: nothing happens

	// A second op, on another socket, then an unrelated op on the first
	// socket (which may reuse the first op's storage): the emit reaches
	// only the second op.
	h2, ch2 := resultChan()
	c.AsyncReadSome([][]byte{make([]byte, 8)}, h2, BindCancellationSlot(sig.Slot()))
	s.AsyncReadSome([][]byte{buf}, h)
	assertPending(t, ctx, ch2, "second op before its emit")
	sig.Emit(CancelPartial)
	if r := runFor1(t, ctx, ch2); !isAborted(r.err) {
		t.Fatalf("second op: (%d, %v), want aborted", r.n, r.err)
	}
	assertPending(t, ctx, ch, "the unrelated op")
	c.WriteSome([][]byte{[]byte("two")})
	if r := runFor1(t, ctx, ch); r.n != 3 || r.err != nil {
		t.Fatalf("the unrelated op: (%d, %v)", r.n, r.err)
	}
	// A third op on the signal, a timer this time.
	tm := NewTimer(ctx.Executor())
	tm.ExpiresAfter(time.Hour)
	tm.AsyncWait(errH(h), BindCancellationSlot(sig.Slot()))
	sig.Emit(CancelTotal)
	if r := runFor1(t, ctx, ch); !isAborted(r.err) {
		t.Fatalf("timer on the reused slot: %v", r.err)
	}
}

// TestEmitRacesCompletion: emits from another goroutine racing ops that
// complete on their own: every handler runs once, with either its real
// result or ErrOperationAborted and no byte (run with -race).
func TestEmitRacesCompletion(t *testing.T) {
	ctx := newTestContext(t)
	_, stop := runInBackground(t, ctx, 2)
	defer stop()
	c, s := connectedPair(t, ctx)
	const rounds = 300
	sig := NewCancellationSignal()
	var aborted, read int
	for i := 0; i < rounds; i++ {
		ch := make(chan result, 2)
		buf := make([]byte, 1)
		s.AsyncReadSome([][]byte{buf}, func(n int, err error) { ch <- result{n: n, err: err} },
			BindCancellationSlot(sig.Slot()))
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); sig.Emit(CancelTerminal) }()
		go func() { defer wg.Done(); c.WriteSome([][]byte{{byte(i)}}) }()
		wg.Wait()
		r := waitChan(t, ch, "read")
		switch {
		case r.err == nil && r.n == 1:
			read++
		case isAborted(r.err) && r.n == 0:
			aborted++
			// The byte is still there for the next read: take it now.
			if _, err := s.ReadSome([][]byte{buf}); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("round %d: (%d, %v)", i, r.n, r.err)
		}
		if buf[0] != byte(i) {
			t.Fatalf("round %d read byte %d", i, buf[0])
		}
		select {
		case r := <-ch:
			t.Fatalf("round %d: handler ran twice (%v)", i, r.err)
		default:
		}
	}
	t.Logf("%d reads completed, %d aborted", read, aborted)
}

// TestTimerEmitRacesExpiry: emits racing timer expiries (run with -race).
func TestTimerEmitRacesExpiry(t *testing.T) {
	ctx := newTestContext(t)
	_, stop := runInBackground(t, ctx, 2)
	defer stop()
	sig := NewCancellationSignal()
	tm := NewTimer(ctx.Executor())
	for i := 0; i < 300; i++ {
		ch := make(chan error, 2)
		tm.ExpiresAfter(time.Duration(i%3) * 10 * time.Microsecond)
		tm.AsyncWait(func(err error) { ch <- err }, BindCancellationSlot(sig.Slot()))
		go sig.Emit(CancelTerminal)
		if err := waitChan(t, ch, "timer"); err != nil && !isAborted(err) {
			t.Fatalf("round %d: %v", i, err)
		}
		select {
		case <-ch:
			t.Fatalf("round %d: handler ran twice", i)
		default:
		}
	}
}

// TestComposedCancellationOnSocket: an AsyncWrite stalled on a peer that
// does not read stops on a terminal or partial emit with
// ErrOperationAborted and exactly the bytes the peer will read; a
// total-only emit does nothing and the write finishes whole.
func TestComposedCancellationOnSocket(t *testing.T) {
	for _, ct := range cancelTypes {
		t.Run(ct.name, func(t *testing.T) {
			ctx := newTestContext(t)
			c, s := connectedPair(t, ctx)
			c.SetSendBufferSize(32 << 10)
			s.SetReceiveBufferSize(32 << 10)
			data := pattern(0, 4<<20)
			sig := NewCancellationSignal()
			h, ch := resultChan()
			AsyncWrite(c, [][]byte{data[:1<<20], data[1<<20:]}, h, BindCancellationSlot(sig.Slot()))
			// Let it move what the peer's window takes, then stall.
			ctx.RunFor(30 * time.Millisecond)
			assertPending(t, ctx, ch, "stalled write")
			sig.Emit(ct.t)
			all := drainAsync(s)
			r := runFor1(t, ctx, ch)
			c.Close()
			got := waitChan(t, all, "the peer's reads")
			if ct.t&(CancelTerminal|CancelPartial) == 0 {
				if r.err != nil || r.n != len(data) {
					t.Fatalf("after a total-only emit: (%d, %v), want the whole write", r.n, r.err)
				}
			} else {
				if !isAborted(r.err) {
					t.Fatalf("after Emit(%s): (%d, %v), want ErrOperationAborted", ct.name, r.n, r.err)
				}
				if r.n <= 0 || r.n >= len(data) {
					t.Fatalf("aborted write reports %d bytes of %d", r.n, len(data))
				}
			}
			if len(got) != r.n {
				t.Fatalf("handler reports %d bytes, the peer read %d", r.n, len(got))
			}
			if !bytes.Equal(got, data[:r.n]) {
				t.Fatal("the peer read other bytes than the ones written")
			}
		})
	}
}

// TestComposedReadCancellationOnSocket: a pending AsyncRead with part of
// its data in is stopped by terminal/partial emits with the bytes read so
// far, by WithContext, and not by a total-only emit.
func TestComposedReadCancellationOnSocket(t *testing.T) {
	for _, ct := range cancelTypes {
		t.Run(ct.name, func(t *testing.T) {
			ctx := newTestContext(t)
			c, s := connectedPair(t, ctx)
			sig := NewCancellationSignal()
			h, ch := resultChan()
			buf := make([]byte, 10)
			c.WriteSome([][]byte{[]byte("abcd")})
			if err := waitReadable(s); err != nil {
				t.Fatal(err)
			}
			// The first step reads the 4 bytes at once, the second waits.
			AsyncRead(s, [][]byte{buf}, h, BindCancellationSlot(sig.Slot()))
			assertPending(t, ctx, ch, "read of 4 of 10 bytes")
			sig.Emit(ct.t)
			if ct.t&(CancelTerminal|CancelPartial) == 0 {
				assertPending(t, ctx, ch, "after a total-only emit")
				c.WriteSome([][]byte{[]byte("efghij")})
				if r := runFor1(t, ctx, ch); r.n != 10 || r.err != nil || string(buf) != "abcdefghij" {
					t.Fatalf("read after a total-only emit: (%d, %v) %q", r.n, r.err, buf)
				}
				return
			}
			r := runFor1(t, ctx, ch)
			if !isAborted(r.err) || r.n != 4 || string(buf[:4]) != "abcd" {
				t.Fatalf("after Emit(%s): (%d, %v), want (4, ErrOperationAborted)", ct.name, r.n, r.err)
			}
		})
	}
}

// TestComposedCancellationBetweenSteps (test stream): a terminal or partial
// request made while a step runs that cannot itself be cancelled stops the
// op once that step completed, with ErrOperationAborted and the exact
// count including that step; total-only is ignored; any emit after
// completion does nothing.
func TestComposedCancellationBetweenSteps(t *testing.T) {
	for _, write := range []bool{true, false} {
		for _, ct := range cancelTypes {
			name := "AsyncRead/" + ct.name
			if write {
				name = "AsyncWrite/" + ct.name
			}
			t.Run(name, func(t *testing.T) {
				ctx := newTestContext(t)
				st := newTestStream(ctx.Executor())
				st.max = 10
				st.in = [][]byte{pattern(0, 100)}
				sig := NewCancellationSignal()
				st.onCall = func(call int) {
					if call == 3 {
						sig.Emit(ct.t)
					}
				}
				buf := make([]byte, 100)
				h, ch := resultChan()
				if write {
					AsyncWrite(st, [][]byte{buf}, h, BindCancellationSlot(sig.Slot()))
				} else {
					AsyncRead(st, [][]byte{buf}, h, BindCancellationSlot(sig.Slot()))
				}
				r := runFor1(t, ctx, ch)
				calls := len(st.callLog())
				if ct.t&(CancelTerminal|CancelPartial) == 0 {
					if r.err != nil || r.n != 100 || calls != 10 {
						t.Fatalf("total-only emit: (%d, %v) after %d calls, want (100, nil) after 10", r.n, r.err, calls)
					}
				} else if !isAborted(r.err) || r.n != 30 || calls != 3 {
					t.Fatalf("emit during step 3: (%d, %v) after %d calls, want (30, ErrOperationAborted) after 3", r.n, r.err, calls)
				}
				sig.Emit(CancelAll)
				ctx.Restart()
				ctx.Poll()
				if len(ch) != 0 {
					t.Fatal("handler ran twice")
				}
			})
		}
	}
}

// TestComposedCancellationForwardedToStep (test stream): an emit reaches
// the step in flight through the slot the composed op binds to it.
func TestComposedCancellationForwardedToStep(t *testing.T) {
	for _, ct := range cancelTypes {
		t.Run(ct.name, func(t *testing.T) {
			ctx := newTestContext(t)
			st := newTestStream(ctx.Executor())
			st.max = 10
			st.holdAt = 2
			sig := NewCancellationSignal()
			h, ch := resultChan()
			AsyncWrite(st, [][]byte{make([]byte, 50)}, h, BindCancellationSlot(sig.Slot()))
			for i := 0; i < 3; i++ {
				ctx.Restart()
				ctx.Poll()
			}
			if !st.pending() {
				t.Fatal("step 2 is not held")
			}
			sig.Emit(ct.t)
			if ct.t&(CancelTerminal|CancelPartial) == 0 {
				assertPending(t, ctx, ch, "after a total-only emit")
				if !st.pending() {
					t.Fatal("a total-only emit reached the step")
				}
				st.release()
				if r := runFor1(t, ctx, ch); r.n != 50 || r.err != nil {
					t.Fatalf("after release: (%d, %v)", r.n, r.err)
				}
				return
			}
			r := runFor1(t, ctx, ch)
			if !isAborted(r.err) || r.n != 10 {
				t.Fatalf("after Emit(%s): (%d, %v), want (10, ErrOperationAborted)", ct.name, r.n, r.err)
			}
			if n := len(st.callLog()); n != 2 {
				t.Fatalf("%d calls, want 2", n)
			}
		})
	}
}

// TestComposedSlotReuse: a signal used by a finished composed op serves a
// second one; an emit in between does nothing to the second.
func TestComposedSlotReuse(t *testing.T) {
	ctx := newTestContext(t)
	st := newTestStream(ctx.Executor())
	sig := NewCancellationSignal()
	h, ch := resultChan()
	AsyncWrite(st, [][]byte{make([]byte, 20)}, h, BindCancellationSlot(sig.Slot()))
	if r := runFor1(t, ctx, ch); r.n != 20 || r.err != nil {
		t.Fatalf("first: (%d, %v)", r.n, r.err)
	}
	sig.Emit(CancelTerminal)          // after completion: nothing
	st.holdAt = len(st.callLog()) + 2 // the second op's second call
	st.max = 5
	AsyncWrite(st, [][]byte{make([]byte, 20)}, h, BindCancellationSlot(sig.Slot()))
	ctx.Restart()
	ctx.Poll()
	ctx.Poll()
	assertPending(t, ctx, ch, "second op (an emit before it started must not count)")
	sig.Emit(CancelPartial)
	if r := runFor1(t, ctx, ch); !isAborted(r.err) || r.n != 5 {
		t.Fatalf("second: (%d, %v), want (5, aborted)", r.n, r.err)
	}
	// WithContext on a composed op.
	cctx, cancel := context.WithCancel(context.Background())
	st.holdAt = len(st.callLog()) + 1
	AsyncWrite(st, [][]byte{make([]byte, 20)}, h, WithContext(cctx))
	assertPending(t, ctx, ch, "third op")
	cancel()
	if r := runFor1(t, ctx, ch); !isAborted(r.err) || r.n != 0 {
		t.Fatalf("WithContext on AsyncWrite: (%d, %v), want (0, aborted)", r.n, r.err)
	}
}

// TestComposedEmitRacesCompletion: emits from other goroutines racing
// composed writes that complete on their own, with the op objects reused
// from op to op: each handler runs once, with the whole write or an abort
// (run with -race).
func TestComposedEmitRacesCompletion(t *testing.T) {
	ctx := newTestContext(t)
	_, stop := runInBackground(t, ctx, 2)
	defer stop()
	c, s := connectedPair(t, ctx)
	all := drainAsync(s)
	const rounds = 200
	var calls atomic.Int32
	var sent int
	for i := 0; i < rounds; i++ {
		sig := NewCancellationSignal()
		ch := make(chan result, 2)
		msg := []byte(fmt.Sprintf("message %04d;", i))
		AsyncWrite(c, [][]byte{msg[:5], msg[5:]}, func(n int, err error) {
			calls.Add(1)
			ch <- result{n: n, err: err}
		}, BindCancellationSlot(sig.Slot()))
		go sig.Emit(CancelTerminal)
		r := waitChan(t, ch, "write")
		if r.err != nil && !isAborted(r.err) {
			t.Fatalf("round %d: %v", i, r.err)
		}
		sent += r.n
	}
	c.Shutdown(ShutdownSend)
	got := waitChan(t, all, "peer")
	if len(got) != sent {
		t.Fatalf("handlers report %d bytes, the peer read %d", sent, len(got))
	}
	if calls.Load() != rounds {
		t.Fatalf("%d handler calls for %d writes", calls.Load(), rounds)
	}
}

// TestComposedStaleEmitDoesNotReachNextOp: an emit on a finished composed
// op's signal must not cancel another composed op that happens to reuse
// the finished op's storage. The emitter races A's completion; B, started
// from A's handler, has no slot and no context, so nothing may abort it.
func TestComposedStaleEmitDoesNotReachNextOp(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	_, quiet := connectedPair(t, ctx) // nobody writes to it: B's read waits
	drainAsync(s)
	stale, rounds := 0, 0
	// The window is a few instructions wide: a few thousand rounds hit it
	// (measured: 100 to 15 000 without -race, 2 000 to 6 000 with it).
	deadline := time.Now().Add(2500 * time.Millisecond)
	for ; time.Now().Before(deadline) && stale == 0; rounds++ {
		sig := NewCancellationSignal()
		var stop atomic.Bool
		var emits atomic.Int64
		var emitters sync.WaitGroup
		for e := 0; e < 2; e++ {
			emitters.Add(1)
			go func() {
				defer emitters.Done()
				for !stop.Load() {
					sig.Emit(CancelTerminal)
					emits.Add(1)
				}
			}()
		}
		cancelling := false
		bDone := make(chan struct{}, 1)
		AsyncWrite(c, [][]byte{[]byte("x")}, func(int, error) {
			// A is released: B may take its place.
			AsyncRead(quiet, [][]byte{make([]byte, 1)}, func(n int, err error) {
				if isAborted(err) && !cancelling {
					stale++
				}
				bDone <- struct{}{}
			})
		}, BindCancellationSlot(sig.Slot()))
		ctx.Restart()
		ctx.Poll() // A completes, B starts and waits
		// Let the emitter run on while B waits.
		for start := emits.Load(); emits.Load() < start+50; {
			runtime.Gosched()
		}
		stop.Store(true)
		emitters.Wait()
		ctx.Restart()
		ctx.Poll()
		cancelling = true
		quiet.Cancel()
		runFor1(t, ctx, bDone)
	}
	if stale != 0 {
		t.Fatalf("round %d: an emit on a finished AsyncWrite's signal aborted a later AsyncRead that reused its op", rounds)
	}
}

// Lost cancellation of a composed op: an Emit that lands after the
// transferOp installed itself in the caller's slot but before its step is
// queued (and so installed in t.inner) is recorded in t.cancelled, forwarded
// to nothing, and never looked at again until the step completes.

func TestComposedCancelBeforeFirstStep(t *testing.T) {
	ctx := newTestContext(t)
	client, server := connectedPair(t, ctx)
	sig := NewCancellationSignal()
	calls := 0
	cond := func(err error, n int) int {
		calls++
		if calls == 1 {
			// Another goroutine emits now (AsyncReadCond has returned to
			// no one yet; think of it as the emit racing with initiation).
			done := make(chan struct{})
			go func() { sig.Emit(CancelTerminal); close(done) }()
			<-done
		}
		return TransferAll()(err, n)
	}
	fired := make(chan result, 1)
	buf := make([]byte, 16)
	AsyncReadCond(server, Buffers{buf}, cond, func(n int, err error) { fired <- result{n: n, err: err} },
		BindCancellationSlot(sig.Slot()))
	ctx.RunFor(300 * time.Millisecond)
	select {
	case r := <-fired:
		if !isAborted(r.err) {
			t.Errorf("got (%d, %v), want ErrOperationAborted", r.n, r.err)
		}
		return
	default:
	}
	// The cancel was lost: only data ends the op, and not even as aborted.
	client.WriteSome(Buffers{make([]byte, 16)})
	ctx.Restart()
	ctx.RunFor(300 * time.Millisecond)
	select {
	case r := <-fired:
		t.Errorf("Emit(CancelTerminal) was lost: handler ran only after data arrived, with (%d, %v)", r.n, r.err)
	default:
		t.Errorf("Emit(CancelTerminal) was lost: handler never ran")
	}
}

// emitOnStep emits on sig (from another goroutine, waited for) when its
// AsyncReadSome is called for the k-th time, then starts the real step.
type emitOnStep struct {
	*TCPSocket
	sig   *CancellationSignal
	k     int
	calls int
}

func (s *emitOnStep) AsyncReadSome(b Buffers, h func(int, error), opts ...OpOption) {
	s.calls++
	if s.calls == s.k {
		done := make(chan struct{})
		go func() { s.sig.Emit(CancelTerminal); close(done) }()
		<-done
	}
	s.TCPSocket.AsyncReadSome(b, h, opts...)
}

func TestComposedCancelBetweenSteps(t *testing.T) {
	ctx := newTestContext(t)
	client, server := connectedPair(t, ctx)
	if _, err := client.WriteSome(Buffers{[]byte("abcd")}); err != nil {
		t.Fatal(err)
	}
	sig := NewCancellationSignal()
	st := &emitOnStep{TCPSocket: server, sig: sig, k: 2}
	fired := make(chan result, 1)
	buf := make([]byte, 16)
	AsyncRead(st, Buffers{buf}, func(n int, err error) { fired <- result{n: n, err: err} },
		BindCancellationSlot(sig.Slot()))
	ctx.RunFor(300 * time.Millisecond)
	select {
	case r := <-fired:
		if !isAborted(r.err) {
			t.Errorf("got (%d, %v), want ErrOperationAborted", r.n, r.err)
		}
	default:
		t.Errorf("Emit(CancelTerminal) between steps (after onStep checked t.cancelled, before step 2 was queued) was lost: handler not run after 300ms; steps=%d", st.calls)
	}
}

// setOptions overflows stepOpts: three executor/immediate options fill
// the [3]OpOption, then the inner slot is stored at index 3.

func TestComposedRedundantOptions(t *testing.T) {
	ctx := newTestContext(t)
	_, server := connectedPair(t, ctx)
	sig := NewCancellationSignal()
	ex := ctx.Executor()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("AsyncRead panicked on redundant options: %v", p)
		}
	}()
	AsyncRead(server, Buffers{make([]byte, 4)}, func(int, error) {},
		BindExecutor(ex), BindExecutor(ex), BindImmediateExecutor(ex), BindCancellationSlot(sig.Slot()))
	server.Cancel()
	ctx.RunFor(50 * time.Millisecond)
}

// WithContext on a composed op does not check a ctx already done at
// initiation (startLocked does, via ctxDone, for a socket op): the steps get
// no ctx, and the AfterFunc's goroutine comes too late when the first step
// completes speculatively.
func TestComposedWithDoneContext(t *testing.T) {
	ctx := newTestContext(t)
	client, server := connectedPair(t, ctx)
	client.WriteSome(Buffers{[]byte("abcd")})
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The socket op alone honours it:
	h1, ch1 := resultChan()
	server.AsyncReadSome(Buffers{make([]byte, 4)}, h1, WithContext(cctx))
	r1 := runFor1(t, ctx, ch1)
	// The composed op does not:
	h2, ch2 := resultChan()
	AsyncRead(server, Buffers{make([]byte, 4)}, h2, WithContext(cctx))
	ctx.Restart()
	r2 := runFor1(t, ctx, ch2)
	if !isAborted(r1.err) || !isAborted(r2.err) {
		t.Errorf("ctx done before initiation: AsyncReadSome got (%d, %v), AsyncRead got (%d, %v); both should be ErrOperationAborted", r1.n, r1.err, r2.n, r2.err)
	}
}
