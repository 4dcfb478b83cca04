package asio

import (
	"io"
	"runtime/trace"
	"testing"
)

// pingPong drives a write on one socket and a read on its peer, n times,
// chaining each op from the previous handler: AsyncWriteSome/AsyncReadSome,
// or the composed AsyncWrite/AsyncRead.
type pingPong struct {
	c, s     *TCPSocket
	composed bool
	wbuf     []byte
	rbuf     []byte
	left     int
	err      error
	onWrite  func(int, error)
	onRead   func(int, error)
}

func newPingPong(c, s *TCPSocket, size int) *pingPong {
	p := &pingPong{c: c, s: s, wbuf: make([]byte, size), rbuf: make([]byte, size)}
	p.onWrite = p.wrote
	p.onRead = p.read
	return p
}

func newComposedPingPong(c, s *TCPSocket, size int) *pingPong {
	p := newPingPong(c, s, size)
	p.composed = true
	return p
}

func (p *pingPong) start(n int) {
	p.left = n
	p.write()
}

func (p *pingPong) write() {
	if p.composed {
		AsyncWrite(p.c, [][]byte{p.wbuf}, p.onWrite)
	} else {
		p.c.AsyncWriteSome([][]byte{p.wbuf}, p.onWrite)
	}
}

func (p *pingPong) wrote(n int, err error) {
	if err != nil {
		p.err = err
		return
	}
	if p.composed {
		AsyncRead(p.s, [][]byte{p.rbuf}, p.onRead)
	} else {
		p.s.AsyncReadSome([][]byte{p.rbuf}, p.onRead)
	}
}

func (p *pingPong) read(n int, err error) {
	if err != nil {
		p.err = err
		return
	}
	p.left--
	if p.left > 0 {
		p.write()
	}
}

// benchRoundTrip measures p's round trip after warming the pools.
func benchRoundTrip(b *testing.B, newP func(c, s *TCPSocket, size int) *pingPong, opts ...ContextOption) {
	ctx, err := NewIOContext(opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ctx.Close() })
	c, s := connectedPair(b, ctx)
	p := newP(c, s, 64)
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

// roundTripAllocs is the allocations of one round trip of p in the steady
// state (Run itself takes a pooled runner; the ops must add nothing).
func roundTripAllocs(t *testing.T, newP func(c, s *TCPSocket, size int) *pingPong) float64 {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector (sync.Pool drops items)")
	}
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	p := newP(c, s, 64)
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
	return allocs
}

// BenchmarkWriteSomeReadSome is one AsyncWriteSome and one AsyncReadSome
// round trip of 64 bytes on a connected loopback pair: the steady state
// must not allocate.
func BenchmarkWriteSomeReadSome(b *testing.B) { benchRoundTrip(b, newPingPong) }

// BenchmarkWriteSomeReadSomeTracked is BenchmarkWriteSomeReadSome with
// handler tracking on and a runtime/trace being recorded (to nowhere): what
// tracking costs when it is used. Off, it is BenchmarkWriteSomeReadSome.
func BenchmarkWriteSomeReadSomeTracked(b *testing.B) {
	if err := trace.Start(io.Discard); err != nil {
		b.Skip("a trace is already being recorded: ", err)
	}
	defer trace.Stop()
	benchRoundTrip(b, newPingPong, WithHandlerTracking())
}

func TestWriteReadRoundTripAllocs(t *testing.T) {
	if allocs := roundTripAllocs(t, newPingPong); allocs > 0 {
		t.Errorf("AsyncWriteSome+AsyncReadSome round trip: %.1f allocs, want 0", allocs)
	}
}

// BenchmarkAsyncWriteAsyncRead is BenchmarkWriteSomeReadSome with the
// composed operations.
func BenchmarkAsyncWriteAsyncRead(b *testing.B) { benchRoundTrip(b, newComposedPingPong) }

func TestComposedRoundTripAllocs(t *testing.T) {
	if allocs := roundTripAllocs(t, newComposedPingPong); allocs > 0 {
		t.Errorf("AsyncWrite+AsyncRead round trip: %.1f allocs, want 0", allocs)
	}
}

// BenchmarkImmediateCompletion is the op machinery alone, without a
// syscall: a zero-size AsyncReadSome completes at once (posted), and Run
// runs its handler. With -bench ImmediateCompletion both variants run:
// tracking off, and on with a runtime/trace recording.
func BenchmarkImmediateCompletion(b *testing.B) {
	for _, tracked := range []bool{false, true} {
		name := "tracking=off"
		var opts []ContextOption
		if tracked {
			name = "tracking=on"
			opts = append(opts, WithHandlerTracking())
		}
		b.Run(name, func(b *testing.B) {
			if tracked {
				if err := trace.Start(io.Discard); err != nil {
					b.Skip("a trace is already being recorded: ", err)
				}
				defer trace.Stop()
			}
			ctx, err := NewIOContext(opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer ctx.Close()
			_, s := connectedPair(b, ctx)
			left := 0
			var h func(int, error)
			h = func(int, error) {
				if left--; left > 0 {
					s.AsyncReadSome(nil, h)
				}
			}
			left = 100 // warm the pools
			s.AsyncReadSome(nil, h)
			ctx.Run()
			ctx.Restart()
			b.ReportAllocs()
			b.ResetTimer()
			left = b.N
			s.AsyncReadSome(nil, h)
			ctx.Run()
		})
	}
}
