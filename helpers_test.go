package asio

import (
	"net/netip"
	"testing"
	"time"
)

// newTestContext returns a context closed when the test ends.
func newTestContext(t testing.TB) *IOContext {
	t.Helper()
	c, err := NewIOContext()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var loopback4 = netip.MustParseAddrPort("127.0.0.1:0")

// connectedPair returns a client and a server socket connected over
// loopback, both on ctx, set up with the blocking forms (no Run needed).
func connectedPair(t testing.TB, ctx *IOContext) (client, server *TCPSocket) {
	t.Helper()
	return pairOn(t, ctx, loopback4)
}

// runUntil runs ctx until done is closed, failing the test after a timeout.
func runUntil(t testing.TB, ctx *IOContext, done <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for handlers")
		}
		ctx.Restart()
		ctx.RunFor(20 * time.Millisecond)
	}
}

// counter checks that a handler runs exactly once.
type onceChecker struct {
	t     testing.TB
	calls int
}

func (o *onceChecker) hit() {
	o.calls++
	if o.calls > 1 {
		o.t.Errorf("handler called %d times", o.calls)
	}
}
