package asio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Helpers of this file are prefixed ts, to stay clear of other test files.

// tsPair returns a stream and its peer socket, connected over loopback with
// the blocking forms (no Run needed).
func tsPair(t testing.TB, ctx *IOContext) (*TCPStream, *TCPSocket) {
	t.Helper()
	c, peer := connectedPair(t, ctx)
	return WrapTCPStream(c), peer
}

// tsRun runs ctx until its work runs out; it fails the test if handlers are
// still pending after 10 s.
func tsRun(t testing.TB, ctx *IOContext) {
	t.Helper()
	var hung atomic.Bool
	w := time.AfterFunc(10*time.Second, func() { hung.Store(true); ctx.Stop() })
	ctx.Restart()
	ctx.Run()
	w.Stop()
	if hung.Load() {
		t.Fatal("handlers still pending after 10s")
	}
}

// tsFillSendBuffer writes to s's descriptor until the kernel refuses more,
// so that the next AsyncWriteSome stays pending.
func tsFillSendBuffer(t testing.TB, s *TCPSocket) {
	t.Helper()
	fd, err := osFD(&s.d)
	if err == nil {
		err = writeUntilFull(fd)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// tsCall records the calls of a handler.
type tsCall struct {
	mu    sync.Mutex
	calls int
	n     int
	err   error
	at    time.Time
}

func (c *tsCall) h(n int, err error) {
	c.mu.Lock()
	c.calls++
	c.n, c.err, c.at = n, err, time.Now()
	c.mu.Unlock()
}

func (c *tsCall) check(t *testing.T, name string, wantN int, want error) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls != 1 {
		t.Errorf("%s: handler called %d times, want 1", name, c.calls)
		return
	}
	if wantN >= 0 && c.n != wantN {
		t.Errorf("%s: n = %d, want %d", name, c.n, wantN)
	}
	if !errors.Is(c.err, want) && !(want == nil && c.err == nil) {
		t.Errorf("%s: err = %v, want %v", name, c.err, want)
	}
}

// tsAfter runs f on ctx after d, through a loop timer (no sleeping).
func tsAfter(ctx *IOContext, d time.Duration, f func()) {
	tm := NewTimer(ctx.Executor())
	tm.ExpiresAfter(d)
	tm.AsyncWait(func(error) { f() })
}

func TestTCPStreamConnectWriteReadUntil(t *testing.T) {
	ctx := newTestContext(t)
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	acc.AsyncAccept(func(p *TCPSocket, err error) {
		if err != nil {
			t.Error(err)
			return
		}
		buf := make([]byte, 64)
		p.AsyncReadSome(Buffers{buf}, func(n int, err error) {
			AsyncWrite(p, Buffers{[]byte("pong:"), buf[:n]}, func(int, error) { p.Close() })
		})
	})
	s := NewTCPStream(ctx.Executor())
	s.ExpiresAfter(5 * time.Second)
	var reply string
	s.AsyncConnect(acc.LocalEndpoint(), func(err error) {
		if err != nil {
			t.Error("connect:", err)
			return
		}
		AsyncWrite(s, Buffers{[]byte("ping\n")}, func(n int, err error) {
			if err != nil || n != 5 {
				t.Error("write:", n, err)
				return
			}
			buf := NewDynamicBuffer(0)
			AsyncReadUntil(s, buf, []byte("\n"), func(n int, err error) {
				if err != nil {
					t.Error("read:", err)
				}
				reply = string(buf.Bytes()[:n])
				s.Close()
			})
		})
	})
	tsRun(t, ctx)
	if reply != "pong:ping\n" {
		t.Fatalf("reply %q", reply)
	}
}

// The deadline is one point in time: ops that complete do not move it, and
// once it has passed the next op fails at once (closing the socket), until
// it is set again.
func TestTCPStreamDeadlineSpansOps(t *testing.T) {
	ctx := newTestContext(t)
	s, peer := tsPair(t, ctx)
	var w1, w2, r1, r2, r3 tsCall
	start := time.Now()
	s.ExpiresAfter(300 * time.Millisecond)
	s.AsyncWriteSome(Buffers{[]byte("a")}, w1.h)
	tsAfter(ctx, 250*time.Millisecond, func() {
		s.AsyncWriteSome(Buffers{[]byte("b")}, func(n int, err error) {
			w2.h(n, err)
			// The peer stays silent: this read meets the deadline set
			// 250 ms ago, 50 ms from now, not 300 ms from now.
			s.AsyncReadSome(Buffers{make([]byte, 8)}, func(n int, err error) {
				r1.h(n, err)
				if s.Socket().IsOpen() {
					t.Error("socket still open after the timeout")
				}
				returned := false
				s.AsyncReadSome(Buffers{make([]byte, 8)}, func(n int, err error) {
					if !returned {
						t.Error("timeout of an op past the deadline ran inline")
					}
					r2.h(n, err)
					s.ExpiresNever()
					s.AsyncReadSome(Buffers{make([]byte, 8)}, r3.h)
				})
				returned = true
			})
		})
	})
	tsRun(t, ctx)
	w1.check(t, "write 1", 1, nil)
	w2.check(t, "write 2", 1, nil)
	r1.check(t, "pending read", 0, ErrTimeout)
	r2.check(t, "read past the deadline", 0, ErrTimeout)
	// Reset: no more ErrTimeout; the timeout closed the socket, as in Beast.
	r3.check(t, "read after ExpiresNever", 0, ErrBadDescriptor)
	if el := r1.at.Sub(start); el < 300*time.Millisecond || el > 500*time.Millisecond {
		t.Errorf("pending read timed out %v after ExpiresAfter(300ms)", el)
	}
	_ = peer
}

// When the deadline passes under a pending op: that op gets ErrTimeout, the
// socket is closed, the other direction's pending op gets
// ErrOperationAborted. A deadline set while the write is pending applies to
// the read only.
func TestTCPStreamTimeoutAbortsOtherDirection(t *testing.T) {
	ctx := newTestContext(t)
	s, _ := tsPair(t, ctx)
	tsFillSendBuffer(t, s.Socket())
	var w, r tsCall
	s.AsyncWriteSome(Buffers{make([]byte, 1024)}, w.h) // pending, no deadline
	s.ExpiresAfter(50 * time.Millisecond)              // the read direction only
	s.AsyncReadSome(Buffers{make([]byte, 16)}, r.h)
	tsRun(t, ctx)
	r.check(t, "read", 0, ErrTimeout)
	w.check(t, "write", 0, ErrOperationAborted)
	if s.Socket().IsOpen() {
		t.Error("socket open after a timeout")
	}
	if !r.at.Before(w.at) && !r.at.Equal(w.at) {
		// Both complete from the same close; order is not part of the
		// contract, so only report it.
		t.Logf("write completed before read")
	}
}

// The write direction keeps the deadline it had when a deadline is set
// while it is pending (here: none), so it is not timed out.
func TestTCPStreamExpiresWhilePendingLeavesThatDirection(t *testing.T) {
	ctx := newTestContext(t)
	s, peer := tsPair(t, ctx)
	var r tsCall
	s.AsyncReadSome(Buffers{make([]byte, 16)}, r.h) // pending, no deadline
	s.ExpiresAfter(20 * time.Millisecond)
	tsAfter(ctx, 80*time.Millisecond, func() {
		if !s.Socket().IsOpen() {
			t.Error("a deadline set while the read was pending timed it out")
		}
		if _, err := peer.WriteSome(Buffers{[]byte("late")}); err != nil {
			t.Error(err)
		}
	})
	tsRun(t, ctx)
	r.check(t, "read", 4, nil)
	// The write direction took the deadline, which has passed.
	var w tsCall
	s.AsyncWriteSome(Buffers{[]byte("x")}, w.h)
	tsRun(t, ctx)
	w.check(t, "write", 0, ErrTimeout)
}

// A composed write over a stream inherits its deadline and reports the
// bytes it moved with ErrTimeout.
func TestTCPStreamAsyncWriteTimeoutKeepsBytes(t *testing.T) {
	ctx := newTestContext(t)
	s, _ := tsPair(t, ctx) // the peer never reads
	big := make([]byte, 64<<20)
	var w tsCall
	s.ExpiresAfter(100 * time.Millisecond)
	AsyncWrite(s, Buffers{big}, w.h)
	tsRun(t, ctx)
	w.check(t, "AsyncWrite", -1, ErrTimeout)
	if w.n <= 0 || w.n >= len(big) {
		t.Errorf("AsyncWrite moved %d bytes before the timeout, want some", w.n)
	}
}

func TestTCPStreamAsyncReadUntilTimeout(t *testing.T) {
	ctx := newTestContext(t)
	s, peer := tsPair(t, ctx)
	if _, err := peer.WriteSome(Buffers{[]byte("no newline yet")}); err != nil {
		t.Fatal(err)
	}
	var r tsCall
	buf := NewDynamicBuffer(0)
	s.ExpiresAfter(50 * time.Millisecond)
	AsyncReadUntil(s, buf, []byte("\n"), r.h)
	tsRun(t, ctx)
	r.check(t, "AsyncReadUntil", -1, ErrTimeout)
	if string(buf.Bytes()) != "no newline yet" {
		t.Errorf("buffer holds %q", buf.Bytes())
	}
}

// A deadline wait that fires after its op completed (both results in the
// same poll, the op's first) changes nothing: no timeout, no close, and the
// next op, under a new deadline, is not affected.
func TestTCPStreamStaleTimerTick(t *testing.T) {
	ctx := newTestContext(t)
	s, peer := tsPair(t, ctx)
	var r1, r2 tsCall
	// The data is there before the read starts, so the read has its result
	// before the deadline on every backend (the portable one would
	// otherwise need its serving goroutine to run within the 2 ms).
	if _, err := peer.WriteSome(Buffers{[]byte("data")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Millisecond)
	s.ExpiresAt(deadline)
	s.AsyncReadSome(Buffers{make([]byte, 16)}, func(n int, err error) {
		r1.h(n, err)
		s.ExpiresAfter(time.Hour)
		s.AsyncReadSome(Buffers{make([]byte, 16)}, r2.h)
	})
	for time.Now().Before(deadline.Add(time.Millisecond)) {
		runtime.Gosched() // let the deadline pass before the loop looks
	}
	// One poll collects the read (ready) and then the expired deadline wait;
	// the read's handler runs first, then the stale tick.
	for i := 0; i < 20 && r1.calls == 0; i++ {
		ctx.Restart()
		ctx.Poll()
	}
	ctx.Restart()
	ctx.Poll()
	r1.check(t, "read 1", 4, nil)
	if !s.Socket().IsOpen() {
		t.Fatal("a stale deadline tick closed the socket")
	}
	if r2.calls != 0 {
		t.Fatalf("read 2 completed: %d %v", r2.n, r2.err)
	}
	peer.WriteSome(Buffers{[]byte("more")})
	tsRun(t, ctx)
	r2.check(t, "read 2", 4, nil)
}

// Zero-size ops complete with (0, nil), never inline, even while an op of
// their direction is pending; with a passed deadline they time out.
func TestTCPStreamZeroSize(t *testing.T) {
	ctx := newTestContext(t)
	s, peer := tsPair(t, ctx)
	var pending, z1, z2, z3 tsCall
	ctx.Executor().Post(func() {
		s.ExpiresAfter(time.Hour)
		s.AsyncReadSome(Buffers{make([]byte, 8)}, pending.h)
		returned := false
		s.AsyncReadSome(nil, func(n int, err error) {
			if !returned {
				t.Error("zero-size read ran inline")
			}
			z1.h(n, err)
			peer.WriteSome(Buffers{[]byte("x")})
		})
		s.AsyncWriteSome(Buffers{[]byte{}}, func(n int, err error) {
			if !returned {
				t.Error("zero-size write ran inline")
			}
			z2.h(n, err)
		})
		returned = true
	})
	tsRun(t, ctx)
	z1.check(t, "zero-size read while a read is pending", 0, nil)
	z2.check(t, "zero-size write", 0, nil)
	pending.check(t, "pending read", 1, nil)

	s.ExpiresAfter(-time.Second)
	ctx.Executor().Post(func() {
		returned := false
		s.AsyncWriteSome(nil, func(n int, err error) {
			if !returned {
				t.Error("zero-size write past the deadline ran inline")
			}
			z3.h(n, err)
		})
		returned = true
	})
	tsRun(t, ctx)
	z3.check(t, "zero-size write past the deadline", 0, ErrTimeout)
}

// Two pending non-empty ops of one direction: the second gets
// ErrOperationInProgress (posted), the first is not disturbed.
func TestTCPStreamOperationInProgress(t *testing.T) {
	ctx := newTestContext(t)
	s, peer := tsPair(t, ctx)
	tsFillSendBuffer(t, s.Socket())
	var r1, r2, w1, w2, c1 tsCall
	ctx.Executor().Post(func() {
		returned := false
		s.AsyncReadSome(Buffers{make([]byte, 8)}, func(n int, err error) {
			r1.h(n, err)
			s.Close() // ends the pending write
		})
		s.AsyncReadSome(Buffers{make([]byte, 8)}, func(n int, err error) {
			if !returned {
				t.Error("usage error ran inline")
			}
			r2.h(n, err)
			peer.WriteSome(Buffers{[]byte("ok")})
		})
		s.AsyncWriteSome(Buffers{[]byte("w")}, w1.h)
		s.AsyncWriteSome(Buffers{[]byte("w")}, w2.h)
		s.AsyncConnect(netip.MustParseAddrPort("127.0.0.1:1"), func(err error) { c1.h(0, err) })
		returned = true
	})
	tsRun(t, ctx)
	r2.check(t, "second read", 0, ErrOperationInProgress)
	w2.check(t, "second write", 0, ErrOperationInProgress)
	c1.check(t, "connect while pending", 0, ErrOperationInProgress)
	r1.check(t, "first read", 2, nil)
	// The first write waits on a full send buffer until Close aborts it,
	// unless the kernel took its byte first: the peer's segment may open
	// the window a little, and a backend that submits the write after the
	// peer's write (io_uring, at the end of the handler's turn) sees it.
	if w1.calls == 1 && w1.n == 1 && w1.err == nil {
		return
	}
	w1.check(t, "first write", 0, ErrOperationAborted)
}

func TestTCPStreamCancelAndClose(t *testing.T) {
	ctx := newTestContext(t)
	s, peer := tsPair(t, ctx)
	var r1, r2, r3 tsCall
	s.ExpiresAfter(time.Hour)
	s.AsyncReadSome(Buffers{make([]byte, 8)}, func(n int, err error) {
		r1.h(n, err)
		// Still open and usable after Cancel.
		s.AsyncReadSome(Buffers{make([]byte, 8)}, func(n int, err error) {
			r2.h(n, err)
			s.AsyncReadSome(Buffers{make([]byte, 8)}, r3.h)
			s.Close()
		})
		peer.WriteSome(Buffers{[]byte("hi")})
	})
	ctx.Executor().Post(func() {
		if err := s.Cancel(); err != nil {
			t.Error(err)
		}
	})
	tsRun(t, ctx)
	r1.check(t, "cancelled read", 0, ErrOperationAborted)
	r2.check(t, "read after Cancel", 2, nil)
	r3.check(t, "read closed by Close", 0, ErrOperationAborted)
	if s.Socket().IsOpen() {
		t.Error("open after Close")
	}
}

func TestTCPStreamRelease(t *testing.T) {
	ctx := newTestContext(t)
	s, peer := tsPair(t, ctx)
	orig := s.Socket()
	var r tsCall
	s.ExpiresAfter(time.Hour)
	s.AsyncReadSome(Buffers{make([]byte, 8)}, r.h)
	got := s.Release()
	if got != orig || !got.IsOpen() {
		t.Fatal("Release did not hand back the open socket")
	}
	if s.Socket() == orig || s.Socket().IsOpen() {
		t.Fatal("stream still holds the released socket")
	}
	tsRun(t, ctx)
	r.check(t, "read pending at Release", 0, ErrOperationAborted)
	peer.WriteSome(Buffers{[]byte("yo")})
	n, err := got.ReadSome(Buffers{make([]byte, 8)})
	if n != 2 || err != nil {
		t.Fatal("released socket unusable:", n, err)
	}
	got.Close()
}

// A cancellation slot bound to a stream op reaches the socket op.
func TestTCPStreamCancellationSlot(t *testing.T) {
	ctx := newTestContext(t)
	s, _ := tsPair(t, ctx)
	sig := NewCancellationSignal()
	var r tsCall
	s.ExpiresAfter(time.Hour)
	s.AsyncReadSome(Buffers{make([]byte, 8)}, r.h, BindCancellationSlot(sig.Slot()))
	ctx.Executor().Post(func() { sig.Emit(CancelTerminal) })
	tsRun(t, ctx)
	r.check(t, "read", 0, ErrOperationAborted)
	if !s.Socket().IsOpen() {
		t.Error("per-op cancellation closed the socket")
	}
}

// tsExec is an executor that marks the handlers it runs.
type tsExec struct {
	Executor
	in    atomic.Int32
	posts atomic.Int32
}

func (e *tsExec) Post(f func()) {
	e.posts.Add(1)
	e.Executor.Post(func() { e.in.Add(1); f(); e.in.Add(-1) })
}
func (e *tsExec) Dispatch(f func()) { e.Post(f) }
func (e *tsExec) Defer(f func())    { e.Post(f) }

// Handlers run on the op's bound executor on every path: completion,
// timeout, usage error, passed deadline.
func TestTCPStreamBindExecutor(t *testing.T) {
	ctx := newTestContext(t)
	s, peer := tsPair(t, ctx)
	ex := &tsExec{Executor: ctx.Executor()}
	on := func(name string, c *tsCall) func(int, error) {
		return func(n int, err error) {
			if ex.in.Load() == 0 {
				t.Errorf("%s: handler not on the bound executor", name)
			}
			c.h(n, err)
		}
	}
	var ok, busy, timeout, past tsCall
	peer.WriteSome(Buffers{[]byte("abc")})
	s.ExpiresAfter(time.Hour)
	s.AsyncReadSome(Buffers{make([]byte, 8)}, on("read", &ok), BindExecutor(ex))
	tsRun(t, ctx)
	s.AsyncReadSome(Buffers{make([]byte, 8)}, func(int, error) {})
	s.AsyncReadSome(Buffers{make([]byte, 8)}, on("busy", &busy), BindExecutor(ex))
	s.Cancel()
	tsRun(t, ctx)
	s.ExpiresAfter(30 * time.Millisecond)
	s.AsyncReadSome(Buffers{make([]byte, 8)}, on("timeout", &timeout), BindExecutor(ex))
	tsRun(t, ctx)
	s.AsyncReadSome(Buffers{make([]byte, 8)}, on("past", &past), BindExecutor(ex))
	tsRun(t, ctx)
	ok.check(t, "read", 3, nil)
	busy.check(t, "busy", 0, ErrOperationInProgress)
	timeout.check(t, "timeout", 0, ErrTimeout)
	past.check(t, "past", 0, ErrTimeout)
}

// tsRefusedEndpoint returns a loopback endpoint nobody listens on.
func tsRefusedEndpoint(t *testing.T, ctx *IOContext) netip.AddrPort {
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	ep := acc.LocalEndpoint()
	acc.Close()
	return ep
}

// tsHangingEndpoint returns an endpoint whose connects hang: a listener
// with backlog 0 whose accept queue is already full.
func tsHangingEndpoint(t *testing.T, ctx *IOContext) netip.AddrPort {
	acc, err := ListenTCP(ctx.Executor(), loopback4, Backlog(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acc.Close() })
	filler := NewTCPSocket(ctx.Executor())
	if err := filler.Connect(acc.LocalEndpoint()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { filler.Close() })
	probe := NewTCPSocket(ctx.Executor())
	defer probe.Close()
	var c tsCall
	probe.AsyncConnect(acc.LocalEndpoint(), func(err error) { c.h(0, err) })
	tsAfter(ctx, 50*time.Millisecond, func() { probe.Close() })
	tsRun(t, ctx)
	if c.err != ErrOperationAborted {
		t.Skipf("this kernel completes connects to a full accept queue (%v)", c.err)
	}
	return acc.LocalEndpoint()
}

func TestTCPStreamConnectTimeout(t *testing.T) {
	ctx := newTestContext(t)
	hang := tsHangingEndpoint(t, ctx)
	s := NewTCPStream(ctx.Executor())
	var c tsCall
	start := time.Now()
	s.ExpiresAfter(50 * time.Millisecond)
	s.AsyncConnect(hang, func(err error) { c.h(0, err) })
	tsRun(t, ctx)
	c.check(t, "connect", 0, ErrTimeout)
	if el := c.at.Sub(start); el < 50*time.Millisecond {
		t.Errorf("timed out after %v", el)
	}
	if s.Socket().IsOpen() {
		t.Error("socket open after a connect timeout")
	}
	// The deadline has passed: the next connect fails at once.
	var c2 tsCall
	s.AsyncConnect(hang, func(err error) { c2.h(0, err) })
	tsRun(t, ctx)
	c2.check(t, "connect past the deadline", 0, ErrTimeout)
}

func TestTCPStreamConnectRange(t *testing.T) {
	ctx := newTestContext(t)
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	good := acc.LocalEndpoint()
	bad1, bad2 := tsRefusedEndpoint(t, ctx), tsRefusedEndpoint(t, ctx)

	type result struct {
		calls int
		ep    netip.AddrPort
		err   error
	}
	connect := func(s *TCPStream, eps []netip.AddrPort) result {
		var r result
		s.AsyncConnectRange(eps, func(ep netip.AddrPort, err error) { r.calls++; r.ep, r.err = ep, err })
		tsRun(t, ctx)
		return r
	}

	s := NewTCPStream(ctx.Executor())
	s.ExpiresAfter(5 * time.Second)
	if r := connect(s, []netip.AddrPort{bad1, bad2, good}); r.calls != 1 || r.err != nil || r.ep != good {
		t.Errorf("range with a good last endpoint: %+v", r)
	}
	if ep, err := s.Socket().RemoteEndpoint(); err != nil || ep != good {
		t.Errorf("connected to %v, %v", ep, err)
	}
	s.Close()

	s = NewTCPStream(ctx.Executor())
	if r := connect(s, []netip.AddrPort{bad1, bad2}); r.calls != 1 || !errors.Is(r.err, syscall.ECONNREFUSED) || r.ep.IsValid() {
		t.Errorf("range of refused endpoints: %+v", r)
	}
	if r := connect(s, nil); r.calls != 1 || r.err != ErrNoEndpoints {
		t.Errorf("empty range: %+v", r)
	}
}

// The deadline covers the whole range: a hanging first endpoint times the
// range out, the next one is not tried.
func TestTCPStreamConnectRangeTimeout(t *testing.T) {
	ctx := newTestContext(t)
	hang := tsHangingEndpoint(t, ctx)
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	s := NewTCPStream(ctx.Executor())
	s.ExpiresAfter(50 * time.Millisecond)
	calls := 0
	var got error
	s.AsyncConnectRange([]netip.AddrPort{hang, acc.LocalEndpoint()}, func(ep netip.AddrPort, err error) {
		calls++
		got = err
		if ep.IsValid() {
			t.Error("endpoint reported with an error:", ep)
		}
	})
	tsRun(t, ctx)
	if calls != 1 || got != ErrTimeout {
		t.Fatalf("calls %d, err %v", calls, got)
	}
	if s.Socket().IsOpen() {
		t.Error("socket open after the range timed out")
	}
}

// A second composed write on a stream gets ErrWriteInProgress.
func TestTCPStreamComposedWriteInProgress(t *testing.T) {
	ctx := newTestContext(t)
	s, _ := tsPair(t, ctx)
	var w1, w2 tsCall
	big := make([]byte, 64<<20)
	AsyncWrite(s, Buffers{big}, w1.h)
	AsyncWrite(s, Buffers{[]byte("x")}, func(n int, err error) {
		w2.h(n, err)
		s.Close()
	})
	tsRun(t, ctx)
	w2.check(t, "second AsyncWrite", 0, ErrWriteInProgress)
	// Close ends the first one: aborted in a step, or refused at the next.
	if w1.calls != 1 || (w1.err != ErrOperationAborted && w1.err != ErrBadDescriptor) {
		t.Errorf("first AsyncWrite: %d calls, err %v", w1.calls, w1.err)
	}
	// The lock is given back: a new composed write starts (and fails on
	// the closed socket rather than with ErrWriteInProgress).
	var w3 tsCall
	AsyncWrite(s, Buffers{[]byte("x")}, w3.h)
	tsRun(t, ctx)
	w3.check(t, "third AsyncWrite", 0, ErrBadDescriptor)
}

// Every op calls its handler exactly once whatever ends it: data, timeout,
// Cancel, Close from other goroutines, with several goroutines in Run.
func TestTCPStreamExactlyOnceStress(t *testing.T) {
	ctx := newTestContext(t)
	const pairs = 40
	const opsPerPair = 30
	type pair struct {
		s    *TCPStream
		peer *TCPSocket
	}
	ps := make([]pair, pairs)
	for i := range ps {
		ps[i].s, ps[i].peer = tsPair(t, ctx)
	}
	var started, done atomic.Int64
	var dup atomic.Int64
	guard := NewWorkGuard(ctx.Executor())
	var runners sync.WaitGroup
	for i := 0; i < 4; i++ {
		runners.Add(1)
		go func() { defer runners.Done(); ctx.Run() }()
	}
	var wg sync.WaitGroup
	for i := range ps {
		wg.Add(1)
		go func(i int, p pair) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(i)))
			for k := 0; k < opsPerPair; k++ {
				var calls atomic.Int32
				fin := make(chan struct{})
				h := func(int, error) {
					if calls.Add(1) != 1 {
						dup.Add(1)
						return
					}
					done.Add(1)
					close(fin)
				}
				started.Add(1)
				p.s.ExpiresAfter(time.Duration(rng.Intn(3000)) * time.Microsecond)
				switch rng.Intn(4) {
				case 0:
					p.s.AsyncReadSome(Buffers{make([]byte, 8)}, h)
				case 1:
					p.s.AsyncWriteSome(Buffers{make([]byte, 8)}, h)
				case 2:
					AsyncWrite(p.s, Buffers{make([]byte, 1<<16)}, h)
				default:
					p.s.AsyncReadSome(Buffers{make([]byte, 8)}, h)
					p.peer.WriteSome(Buffers{[]byte("x")})
				}
				switch rng.Intn(4) {
				case 0:
					p.s.Cancel()
				case 1:
					p.s.Close()
				}
				<-fin
			}
		}(i, ps[i])
	}
	wg.Wait()
	guard.Reset()
	runners.Wait()
	if dup.Load() != 0 || started.Load() != done.Load() {
		t.Fatalf("started %d, completed %d, extra calls %d", started.Load(), done.Load(), dup.Load())
	}
}

// tsRoundTrip is a timed AsyncWriteSome on one stream and a timed
// AsyncReadSome on its peer stream, n times, each started from the previous
// handler; every handler is a method value made once.
type tsRoundTrip struct {
	c, s       *TCPStream
	wbuf, rbuf []byte
	left       int
	err        error
	onWrite    func(int, error)
	onRead     func(int, error)
}

func newTSRoundTrip(t testing.TB, ctx *IOContext) *tsRoundTrip {
	c, peer := tsPair(t, ctx)
	p := &tsRoundTrip{c: c, s: WrapTCPStream(peer), wbuf: make([]byte, 64), rbuf: make([]byte, 64)}
	p.c.ExpiresAfter(time.Hour)
	p.s.ExpiresAfter(time.Hour)
	p.onWrite, p.onRead = p.wrote, p.read
	return p
}

func (p *tsRoundTrip) start(n int) {
	p.left = n
	p.c.AsyncWriteSome([][]byte{p.wbuf}, p.onWrite)
}

func (p *tsRoundTrip) wrote(n int, err error) {
	if err != nil {
		p.err = err
		return
	}
	p.s.AsyncReadSome([][]byte{p.rbuf}, p.onRead)
}

func (p *tsRoundTrip) read(n int, err error) {
	if err != nil {
		p.err = err
		return
	}
	if p.left--; p.left > 0 {
		p.c.AsyncWriteSome([][]byte{p.wbuf}, p.onWrite)
	}
}

// BenchmarkTCPStreamWriteReadRoundTrip is one timed AsyncWriteSome and one
// timed AsyncReadSome of 64 bytes over loopback: deadline wait armed and
// cancelled on each op. The steady state must not allocate.
func BenchmarkTCPStreamWriteReadRoundTrip(b *testing.B) {
	ctx := newTestContext(b)
	p := newTSRoundTrip(b, ctx)
	p.start(100) // warm the pools
	ctx.Run()
	ctx.Restart()
	b.ReportAllocs()
	b.ResetTimer()
	p.start(b.N)
	ctx.Run()
	if p.err != nil || p.left != 0 {
		b.Fatal(p.err, p.left)
	}
}

func TestTCPStreamRoundTripAllocs(t *testing.T) {
	if raceEnabledTS() {
		t.Skip("the race detector allocates")
	}
	ctx := newTestContext(t)
	p := newTSRoundTrip(t, ctx)
	p.start(100)
	ctx.Run()
	allocs := testing.AllocsPerRun(200, func() {
		ctx.Restart()
		p.start(1)
		ctx.Run()
	})
	if p.err != nil {
		t.Fatal(p.err)
	}
	if allocs > 0 {
		t.Errorf("timed AsyncWriteSome+AsyncReadSome round trip: %.1f allocs, want 0", allocs)
	}
}

// raceEnabledTS reports whether the race detector is on, from the build
// settings of the test binary.
func raceEnabledTS() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// tsIdlePeerEnv makes the test binary the peer process of
// BenchmarkTCPStreamIdle10k (see TestTCPStreamIdlePeerProcess).
const tsIdlePeerEnv = "ASIO_TCPSTREAM_IDLE_PEER"

// TestTCPStreamIdlePeerProcess is not a test: BenchmarkTCPStreamIdle10k
// runs the test binary with tsIdlePeerEnv set to hold the peer ends of its
// connections in another process, since one process may not have
// descriptors enough for both ends of 10,000 connections, and so that
// getrusage counts the streams' process only. It prints its address,
// accepts until its stdin is closed, then exits.
func TestTCPStreamIdlePeerProcess(t *testing.T) {
	if os.Getenv(tsIdlePeerEnv) != "1" {
		t.Skip("helper process of BenchmarkTCPStreamIdle10k")
	}
	tsRaiseFileLimit()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// BenchmarkTCPStreamIdle10k measures what 10,000 idle streams cost, each
// connected and with a timed AsyncReadSome pending (deadline an hour away):
// the process's CPU time (getrusage) over 5 s of idling, the loop's
// wake-ups meanwhile, and the heap per stream. It runs once whatever b.N.
//
//	go test -run '^$' -bench TCPStreamIdle10k -benchtime 1x .
func BenchmarkTCPStreamIdle10k(b *testing.B) {
	const streams = 10000
	const idle = 5 * time.Second
	tsRaiseFileLimit()
	peer := exec.Command(os.Args[0], "-test.run=^TestTCPStreamIdlePeerProcess$")
	peer.Env = append(os.Environ(), tsIdlePeerEnv+"=1")
	peer.Stderr = os.Stderr
	stdin, err := peer.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := peer.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := peer.Start(); err != nil {
		b.Fatal(err)
	}
	defer peer.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	ep, err := netip.ParseAddrPort(strings.TrimSpace(line))
	if err != nil {
		b.Fatalf("peer said %q", line)
	}

	ctx := newTestContext(b)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	all := make([]*TCPStream, streams)
	var aborted atomic.Int64
	h := func(n int, err error) {
		if err == ErrOperationAborted {
			aborted.Add(1)
		}
	}
	for i := range all {
		s := NewTCPStream(ctx.Executor())
		if err := s.Socket().Connect(ep); err != nil {
			b.Fatalf("connect %d: %v", i, err)
		}
		s.ExpiresAfter(time.Hour)
		s.AsyncReadSome(Buffers{make([]byte, 16)}, h)
		all[i] = s
	}
	ran := make(chan struct{})
	go func() { ctx.Run(); close(ran) }()
	// Let the loop take in the first (writable) edge of every socket, 128
	// events a poll, before the idle window opens.
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&ms1)

	b.ResetTimer()
	polls0, cpu0 := ctx.stats.polls.Load(), tsCPUTime()
	time.Sleep(idle) // the measurement itself: nothing to synchronise
	cpu, polls := tsCPUTime()-cpu0, ctx.stats.polls.Load()-polls0
	b.StopTimer()

	for _, s := range all {
		s.Close()
	}
	<-ran
	if aborted.Load() != streams {
		b.Errorf("%d of %d reads completed with ErrOperationAborted at Close", aborted.Load(), streams)
	}
	b.ReportMetric(float64(cpu)/float64(time.Millisecond), "cpu-ms/5s")
	b.ReportMetric(float64(polls), "wakeups/5s")
	b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/streams, "heap-B/stream")
}

// tsInline is an immediate executor that runs what it is given at once.
type tsInline struct{ Executor }

func (e tsInline) Dispatch(f func()) { f() }

// With a bound immediate executor whose Dispatch runs inline, an immediate
// completion runs inside the initiating function (the caller accepted the
// recursion), and the stream does not deadlock on itself.
func TestTCPStreamBindImmediateExecutor(t *testing.T) {
	ctx := newTestContext(t)
	s, peer := tsPair(t, ctx)
	imm := BindImmediateExecutor(tsInline{ctx.Executor()})
	cases := []struct {
		name  string
		start func(h func(int, error))
		want  error
	}{
		{"speculative write", func(h func(int, error)) { s.AsyncWriteSome(Buffers{[]byte("x")}, h, imm) }, nil},
		{"speculative read", func(h func(int, error)) {
			peer.WriteSome(Buffers{[]byte("y")})
			for !tsReadable(s.Socket()) { // so that the read succeeds in the call
				runtime.Gosched()
			}
			s.AsyncReadSome(Buffers{make([]byte, 4)}, h, imm)
		}, nil},
		{"zero-size", func(h func(int, error)) { s.AsyncReadSome(nil, h, imm) }, nil},
		{"in progress", func(h func(int, error)) {
			s.AsyncReadSome(Buffers{make([]byte, 4)}, func(int, error) {})
			s.AsyncReadSome(Buffers{make([]byte, 4)}, h, imm)
			s.Cancel()
		}, ErrOperationInProgress},
		{"past the deadline", func(h func(int, error)) {
			s.ExpiresAfter(-1)
			s.AsyncWriteSome(Buffers{[]byte("x")}, h, imm)
		}, ErrTimeout},
	}
	for _, c := range cases {
		s.ExpiresAfter(time.Hour)
		returned := false
		var r tsCall
		c.start(func(n int, err error) {
			if returned {
				t.Errorf("%s: completed after the call returned", c.name)
			}
			r.h(n, err)
		})
		returned = true
		tsRun(t, ctx)
		r.check(t, c.name, -1, c.want)
	}
}

// tsReadable reports whether s has bytes to read now.
func tsReadable(s *TCPSocket) bool {
	fd, err := osFD(&s.d)
	if err != nil {
		return false
	}
	rev, _ := pollFD(fd, pollIn, 0)
	return rev != 0
}

// Cancelling a range connect (its slot, or the stream's Cancel) stops it:
// the next endpoints are not tried.
func TestTCPStreamConnectRangeCancelled(t *testing.T) {
	ctx := newTestContext(t)
	hang := tsHangingEndpoint(t, ctx)
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	eps := []netip.AddrPort{hang, acc.LocalEndpoint()}
	for _, how := range []string{"slot", "Cancel", "Close"} {
		s := NewTCPStream(ctx.Executor())
		sig := NewCancellationSignal()
		calls := 0
		var got error
		s.AsyncConnectRange(eps, func(ep netip.AddrPort, err error) {
			calls++
			got = err
		}, BindCancellationSlot(sig.Slot()))
		tsAfter(ctx, 20*time.Millisecond, func() {
			switch how {
			case "slot":
				sig.Emit(CancelTerminal)
			case "Cancel":
				s.Cancel()
			default:
				s.Close()
			}
		})
		tsRun(t, ctx)
		if calls != 1 || got != ErrOperationAborted {
			t.Errorf("%s: calls %d, err %v", how, calls, got)
		}
		if _, err := s.Socket().RemoteEndpoint(); err == nil {
			t.Errorf("%s: the next endpoint was tried", how)
		}
		s.Close()
	}
}
