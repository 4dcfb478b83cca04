package asio

import (
	"net/netip"
	"testing"
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

// onlyBackends skips t, saying why, unless ctx runs on one of bs: for the
// few tests of what one backend does its own way.
func onlyBackends(t testing.TB, ctx *IOContext, why string, bs ...Backend) {
	t.Helper()
	for _, b := range bs {
		if ctx.Backend() == b {
			return
		}
	}
	t.Skipf("backend %s: %s", ctx.Backend(), why)
}
