package asio

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// pooledResult is what a pooled read's handler received.
type pooledResult struct {
	b   []byte
	err error
}

func pooledChan() (func([]byte, error), chan pooledResult) {
	ch := make(chan pooledResult, 16)
	return func(b []byte, err error) { ch <- pooledResult{b, err} }, ch
}

// TestPooledReadHoldsNoBufferWhileWaiting: a pending pooled read takes no
// buffer from its pool until data arrives; the handler gets the bytes in a
// pool buffer, which goes back with Put; the peer's close reads as
// (nil, io.EOF), every time.
func TestPooledReadHoldsNoBufferWhileWaiting(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	p := NewBufferPool(64, 0)
	h, ch := pooledChan()
	s.AsyncReadPooled(p, h)
	ctx.Poll()
	if len(ch) != 0 {
		t.Fatalf("pooled read completed with nothing sent: %v", (<-ch).err)
	}
	if n := p.Outstanding(); n != 0 {
		t.Fatalf("%d buffers out while the read waits, want 0", n)
	}
	if _, err := c.WriteSome(Buffers{[]byte("hello")}); err != nil {
		t.Fatal(err)
	}
	r := runFor1(t, ctx, ch)
	if r.err != nil || string(r.b) != "hello" || cap(r.b) != 64 {
		t.Fatalf("pooled read: (%q cap %d, %v), want (\"hello\" cap 64, nil)", r.b, cap(r.b), r.err)
	}
	if n := p.Outstanding(); n != 1 {
		t.Fatalf("%d buffers out while the handler holds one, want 1", n)
	}
	p.Put(r.b)
	if n := p.Outstanding(); n != 0 {
		t.Fatalf("%d buffers out after Put, want 0", n)
	}
	c.Close()
	for i := 0; i < 2; i++ {
		s.AsyncReadPooled(p, h)
		if r := runFor1(t, ctx, ch); r.err != io.EOF || r.b != nil {
			t.Fatalf("read %d after the peer closed: (%q, %v), want (nil, io.EOF)", i, r.b, r.err)
		}
	}
	if n := p.Outstanding(); n != 0 {
		t.Fatalf("%d buffers out after EOF reads, want 0", n)
	}
}

// TestPooledReadWaitsForPut: with the pool's max buffers held by handlers,
// a read with data waiting does not fail: it completes once a buffer is
// given back.
func TestPooledReadWaitsForPut(t *testing.T) {
	ctx := newTestContext(t)
	c1, s1 := connectedPair(t, ctx)
	c2, s2 := connectedPair(t, ctx)
	p := NewBufferPool(16, 1)
	h, ch := pooledChan()
	c1.WriteSome(Buffers{[]byte("one")})
	s1.AsyncReadPooled(p, h)
	first := runFor1(t, ctx, ch)
	if first.err != nil || string(first.b) != "one" {
		t.Fatalf("first read: (%q, %v)", first.b, first.err)
	}
	c2.WriteSome(Buffers{[]byte("two")})
	if err := waitReadable(s2); err != nil {
		t.Fatal(err)
	}
	s2.AsyncReadPooled(p, h)
	assertPooledPending(t, ctx, ch, "a read with data waiting, its pool's one buffer out")
	p.Put(first.b)
	second := runFor1(t, ctx, ch)
	if second.err != nil || string(second.b) != "two" {
		t.Fatalf("read after Put: (%q, %v), want (\"two\", nil)", second.b, second.err)
	}
	p.Put(second.b)
}

// assertPooledPending runs ctx a while and fails if a handler ran.
func assertPooledPending(t *testing.T, ctx *IOContext, ch chan pooledResult, what string) {
	t.Helper()
	ctx.Restart()
	ctx.RunFor(20 * time.Millisecond)
	if len(ch) != 0 {
		r := <-ch
		t.Fatalf("%s: completed with (%q, %v), want it pending", what, r.b, r.err)
	}
}

// TestPooledReadCancelWhileWaitingForBuffer: Cancel, Close, a cancellation
// slot of any type and WithContext end a pooled read that waits for its
// pool, exactly once; a later Put finds no stale waiter.
func TestPooledReadCancelWhileWaitingForBuffer(t *testing.T) {
	for _, c := range []struct {
		name string
		end  func(s *TCPSocket, sig *CancellationSignal, cancel func())
	}{
		{"Cancel", func(s *TCPSocket, _ *CancellationSignal, _ func()) { s.Cancel() }},
		{"Close", func(s *TCPSocket, _ *CancellationSignal, _ func()) { s.Close() }},
		{"terminal", func(_ *TCPSocket, sig *CancellationSignal, _ func()) { sig.Emit(CancelTerminal) }},
		{"partial", func(_ *TCPSocket, sig *CancellationSignal, _ func()) { sig.Emit(CancelPartial) }},
		{"total", func(_ *TCPSocket, sig *CancellationSignal, _ func()) { sig.Emit(CancelTotal) }},
		{"WithContext", func(_ *TCPSocket, _ *CancellationSignal, cancel func()) { cancel() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := newTestContext(t)
			c1, s1 := connectedPair(t, ctx)
			c2, s2 := connectedPair(t, ctx)
			p := NewBufferPool(16, 1)
			h, ch := pooledChan()
			c1.WriteSome(Buffers{[]byte("one")})
			s1.AsyncReadPooled(p, h)
			held := runFor1(t, ctx, ch)
			c2.WriteSome(Buffers{[]byte("two")})
			if err := waitReadable(s2); err != nil {
				t.Fatal(err)
			}
			sig := NewCancellationSignal()
			cctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s2.AsyncReadPooled(p, h, BindCancellationSlot(sig.Slot()), WithContext(cctx))
			assertPooledPending(t, ctx, ch, "a read waiting for its pool")
			c.end(s2, sig, cancel)
			r := runFor1(t, ctx, ch)
			if !errors.Is(r.err, ErrOperationAborted) || r.b != nil {
				t.Fatalf("after %s: (%q, %v), want (nil, ErrOperationAborted)", c.name, r.b, r.err)
			}
			p.Put(held.b) // no waiter left to tell
			assertPooledPending(t, ctx, ch, "nothing after the Put")
			if n := p.Outstanding(); n != 0 {
				t.Fatalf("%d buffers out, want 0", n)
			}
		})
	}
}

// TestBufferPoolPutMisuse: Put of a slice that is not the pool's, or of a
// buffer given back already, panics with a message that says which.
func TestBufferPoolPutMisuse(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	p := NewBufferPool(32, 0)
	other := NewBufferPool(32, 0)
	h, ch := pooledChan()
	c.WriteSome(Buffers{[]byte("abc")})
	s.AsyncReadPooled(p, h)
	r := runFor1(t, ctx, ch)
	if r.err != nil {
		t.Fatal(r.err)
	}
	cases := []struct {
		name string
		put  func()
		want string
	}{
		{"foreign slice", func() { p.Put(make([]byte, 32)) }, "did not come from this pool"},
		{"another pool's", func() { other.Put(r.b) }, "did not come from this pool"},
		{"resliced past its start", func() { p.Put(r.b[1:]) }, "did not come from this pool"},
		{"empty with no array", func() { p.Put([]byte{}) }, "did not come from this pool"},
		{"twice", func() { p.Put(r.b); p.Put(r.b) }, "already given back"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, c.want) {
					t.Fatalf("panic %q, want one saying %q", msg, c.want)
				}
			}()
			c.put()
		})
	}
	p.Put(nil) // ignored
}

// TestPooledReadOnStream: a TCPStream's pooled read obeys the deadline
// (ErrTimeout, no buffer) and the rate policy (it fills at most the
// budget).
func TestPooledReadOnStream(t *testing.T) {
	ctx := newTestContext(t)
	peer, s := connectedPair(t, ctx)
	p := NewBufferPool(64, 0)
	st := WrapTCPStream(s)
	st.SetRatePolicy(NewSimpleRatePolicy(4, 0))
	peer.WriteSome(Buffers{[]byte("0123456789")})
	if err := waitReadable(s); err != nil {
		t.Fatal(err)
	}
	h, ch := pooledChan()
	st.AsyncReadPooled(p, h)
	if r := runFor1(t, ctx, ch); r.err != nil || string(r.b) != "0123" {
		t.Fatalf("rate-limited pooled read: (%q, %v), want (\"0123\", nil)", r.b, r.err)
	} else {
		p.Put(r.b)
	}
	st.SetRatePolicy(nil)
	st.AsyncReadPooled(p, h)
	if r := runFor1(t, ctx, ch); r.err != nil || string(r.b) != "456789" {
		t.Fatalf("pooled read: (%q, %v), want (\"456789\", nil)", r.b, r.err)
	} else {
		p.Put(r.b)
	}
	st.ExpiresAfter(20 * time.Millisecond)
	st.AsyncReadPooled(p, h)
	if r := runFor1(t, ctx, ch); !errors.Is(r.err, ErrTimeout) || r.b != nil {
		t.Fatalf("pooled read past the deadline: (%q, %v), want (nil, ErrTimeout)", r.b, r.err)
	}
	if n := p.Outstanding(); n != 0 {
		t.Fatalf("%d buffers out, want 0", n)
	}
	st.AsyncReadPooled(nil, h)
	if r := runFor1(t, ctx, ch); !errors.Is(r.err, ErrInvalidArgument) {
		t.Fatalf("nil pool: %v, want ErrInvalidArgument", r.err)
	}
}

// TestPooledReadNilPool: a nil pool is an error through the handler,
// never inline.
func TestPooledReadNilPool(t *testing.T) {
	ctx := newTestContext(t)
	_, s := connectedPair(t, ctx)
	h, ch := pooledChan()
	s.AsyncReadPooled(nil, h)
	if len(ch) != 0 {
		t.Fatal("handler ran inside the initiating call")
	}
	if r := runFor1(t, ctx, ch); !errors.Is(r.err, ErrInvalidArgument) || r.b != nil {
		t.Fatalf("nil pool: (%q, %v), want (nil, ErrInvalidArgument)", r.b, r.err)
	}
}

// TestPooledReadAllocs: a write, a pooled read and its Put allocate
// nothing in steady state.
func TestPooledReadAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items at random")
	}
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	p := NewBufferPool(4096, 0)
	msg := []byte("ping")
	var got []byte
	var rerr error
	wh := func(int, error) {}
	rh := func(b []byte, err error) { got, rerr = b, err }
	round := func() {
		c.AsyncWriteSome(Buffers{msg}, wh)
		s.AsyncReadPooled(p, rh)
		for got == nil && rerr == nil {
			ctx.Restart()
			ctx.RunOne()
		}
		p.Put(got)
		got = nil
	}
	round()
	if a := testing.AllocsPerRun(200, round); a != 0 {
		t.Fatalf("%.1f allocs per write + pooled read + Put, want 0", a)
	}
	if rerr != nil {
		t.Fatal(rerr)
	}
}
