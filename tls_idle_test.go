package asio_test

import (
	"runtime"
	"testing"

	"github.com/goasio/asio"
)

// TestTLSStreamIdleHoldsNoGoroutine: established TLS connections with a
// read pending on each side hold no goroutine (the handshake goroutines
// are gone), and the reads still complete.
func TestTLSStreamIdleHoldsNoGoroutine(t *testing.T) {
	ctx, _ := tlContext(t)
	if ctx.Backend() == asio.BackendPortable {
		t.Skip("backend portable: a pending read of the TCP socket beneath is a goroutine parked in the runtime's poller (the TLS stream adds none)")
	}
	before := runtime.NumGoroutine()
	const conns = 50
	type pair struct{ c, s *asio.TLSStream }
	pairs := make([]pair, conns)
	for i := range pairs {
		c, s := tlStreamPair(t, ctx, 0, 0)
		pairs[i] = pair{c, s}
	}
	ch := make(chan tlResult, 2*conns)
	for _, p := range pairs {
		for _, s := range []*asio.TLSStream{p.c, p.s} {
			s.AsyncReadSome(asio.Buffers{make([]byte, 4)}, func(n int, err error) { ch <- tlResult{n, err} })
		}
	}
	if g := tlGoroutines(before); g > before {
		t.Fatalf("goroutines: %d before %d idle TLS connections with pending reads, %d after", before, conns, g)
	}
	for _, p := range pairs {
		asio.AsyncWrite(p.c, asio.Buffers{[]byte("ping")}, func(int, error) {})
		asio.AsyncWrite(p.s, asio.Buffers{[]byte("pong")}, func(int, error) {})
	}
	for range 2 * conns {
		if r := tlWaitN(t, ch, "read"); r.err != nil || r.n != 4 {
			t.Fatalf("read: %d, %v", r.n, r.err)
		}
	}
}

// TestTLSStreamAllocs measures the heap allocations of a ping-pong (a
// write and a read on each side) between two established TLSStreams.
// crypto/tls's Conn.Read allocates the io.Reader its record layer reads
// through, once per record (conn.go, readFromUntil); the stream itself
// allocates nothing, on reads or writes.
func TestTLSStreamAllocs(t *testing.T) {
	if tlRace {
		t.Skip("the race detector allocates")
	}
	ctx := tlUnrunContext(t)
	client, server := tlPairOn(t, ctx, 0)
	p := newTLPingPong(client, server, 64)
	p.run(ctx, 100)
	allocs := testing.AllocsPerRun(200, func() { p.run(ctx, 1) })
	if p.err != nil {
		t.Fatal(p.err)
	}
	t.Logf("allocations per ping-pong (2 writes, 2 reads): %.2f", allocs)
	if allocs > 2 {
		t.Errorf("%.2f allocations per ping-pong, want at most crypto/tls's own 2 (one per record read)", allocs)
	}
}
