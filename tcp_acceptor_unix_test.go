//go:build unix

package asio

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

// TestAcceptEMFILE: out of descriptors, an accept completes with EMFILE
// through its handler, whether it waited for the connection or found it
// waiting; the loop does not spin meanwhile; once descriptors are
// available again the same acceptor accepts the waiting connection.
//
// The portable backend makes a TCP socket only when it connects, so there
// the client connects before the limit is lowered and only an accept that
// finds the connection waiting is tried.
func TestAcceptEMFILE(t *testing.T) {
	ctx := newTestContext(t)
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	// The client is opened now; connecting needs no new descriptor.
	c := NewTCPSocket(ctx.Executor())
	defer c.Close()
	waiting := ctx.Backend() != BackendPortable // an accept waits for the connection
	if !waiting {
		if err := c.Connect(acc.LocalEndpoint()); err != nil {
			t.Fatal(err)
		}
	} else if err := c.Open(IPv4); err != nil {
		t.Fatal(err)
	}

	type acceptResult struct {
		s   *TCPSocket
		err error
	}
	ch := make(chan acceptResult, 2)
	h := func(s *TCPSocket, err error) { ch <- acceptResult{s, err} }
	// An accept waiting when the connection comes (queued before the
	// limit is lowered: out of descriptors, accept4 fails at once even
	// with no connection).
	if waiting {
		acc.AsyncAccept(h)
		if ctx.Poll(); len(ch) != 0 {
			t.Fatalf("accept completed with no connection: %v", (<-ch).err)
		}
	}

	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	// The lowest free descriptor number: with the limit there, every new
	// descriptor is refused.
	lowest, err := syscall.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(lowest)
	low := orig
	setLimit(&low.Cur, lowest)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("cannot lower RLIMIT_NOFILE: %v", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
				t.Fatalf("restoring RLIMIT_NOFILE: %v", err)
			}
		}
	}
	defer restore()

	fail := func(format string, args ...any) {
		t.Helper()
		restore()
		t.Fatalf(format, args...)
	}

	if waiting {
		if err := c.Connect(acc.LocalEndpoint()); err != nil {
			fail("connect: %v", err)
		}
		if r := runFor1(t, ctx, ch); !errors.Is(r.err, syscall.EMFILE) || r.s != nil {
			fail("pending accept, out of descriptors: (%v, %v), want EMFILE", r.s, r.err)
		}
	}
	// An accept that finds the connection waiting.
	acc.AsyncAccept(h)
	if r := runFor1(t, ctx, ch); !errors.Is(r.err, syscall.EMFILE) || r.s != nil {
		fail("accept with a connection waiting, out of descriptors: (%v, %v), want EMFILE", r.s, r.err)
	}

	// No busy loop: with the connection still waiting and no accept
	// pending, the loop sleeps in the backend instead of spinning on it.
	g := NewWorkGuard(ctx.Executor())
	polls := ctx.stats.polls.Load()
	ctx.Restart()
	ctx.RunFor(50 * time.Millisecond)
	if p := ctx.stats.polls.Load() - polls; p > 10 {
		t.Errorf("%d backend polls in 50ms with nothing to do: a busy loop", p)
	}
	g.Reset()
	restore()

	// Descriptors again: the same acceptor takes the waiting client.
	ctx.Restart()
	acc.AsyncAccept(h)
	r := runFor1(t, ctx, ch)
	if r.err != nil {
		t.Fatalf("accept after the limit was raised: %v", r.err)
	}
	defer r.s.Close()
	ep, _ := c.LocalEndpoint()
	if rem, _ := r.s.RemoteEndpoint(); rem != ep {
		t.Fatalf("accepted %v, want the waiting client %v", rem, ep)
	}
}
