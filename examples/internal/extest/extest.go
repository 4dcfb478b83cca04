// Package extest holds the test helpers that the tests of the example
// servers (examples/http, examples/resp) share: a server on a free
// loopback port closed at the end of the test, what ended each connection,
// raw client connections, Shutdown in the background, and the example's
// main run in a child process until SIGTERM.
//
// The helpers are called from the test's goroutine (they call t.Fatal),
// except Ends.Record, which is the servers' ConnDone and runs on a
// server's context.
package extest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// Closer is the server Serve starts: Close stops it, and reports an
// error if serving failed.
type Closer interface{ Close() error }

// Serve starts a server with listen and closes it when the test ends
// (reporting Close's error); a listen error fails the test.
func Serve[S Closer](t testing.TB, listen func() (S, error)) S {
	t.Helper()
	srv, err := listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return srv
}

// Ends receives what ended each connection of a server whose ConnDone is
// its Record.
type Ends chan error

// NewEnds returns an Ends with room for 1024 connections: Record never
// blocks a server's context in a test.
func NewEnds() Ends { return make(Ends, 1024) }

// Record is a ConnDone: it sends err. It runs on the connection's context.
func (e Ends) Record(err error) { e <- err }

// Next returns what ended the next connection, failing the test if none
// ends within 10 s.
func (e Ends) Next(t testing.TB) error {
	t.Helper()
	select {
	case err := <-e:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no connection ended within 10s")
		return nil
	}
}

// None checks that no further connection has ended (one connection ends
// once).
func (e Ends) None(t testing.TB) {
	t.Helper()
	select {
	case err := <-e:
		t.Errorf("a second end for one connection: %v", err)
	default:
	}
}

// Reset checks that the next connection to end ends with an I/O error
// (the client reset it), neither nil nor io.EOF, and ends once.
func (e Ends) Reset(t testing.TB) {
	t.Helper()
	err := e.Next(t)
	if err == nil || errors.Is(err, io.EOF) {
		t.Errorf("connection ended with %v, want the reset's error", err)
	}
	t.Logf("ended with: %v", err)
	e.None(t)
}

// Counting is a server that counts its open connections.
type Counting interface {
	Conns() int
	Close() error
}

// CloseAll checks that srv has n connections open, closes it, and checks
// that each of them ends and none is left open.
func CloseAll(t testing.TB, srv Counting, done Ends, n int) {
	t.Helper()
	if srv.Conns() != n {
		t.Fatalf("%d connections open, want %d", srv.Conns(), n)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	for range n {
		done.Next(t)
	}
	if srv.Conns() != 0 {
		t.Errorf("%d connections left", srv.Conns())
	}
}

// Dial connects to addr, with a 20 s deadline for all its I/O; the
// connection is closed when the test ends.
func Dial(t testing.TB, addr netip.AddrPort) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c.(*net.TCPConn)
}

// ShutdownLater calls shutdown in a goroutine of its own with a 10 s
// deadline; the channel receives what it returned.
func ShutdownLater(shutdown func(context.Context) error) <-chan error {
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- shutdown(ctx)
	}()
	return shut
}

// Pending checks that shut (of ShutdownLater) has received nothing yet:
// Shutdown waits for the request in progress.
func Pending(t testing.TB, shut <-chan error) {
	t.Helper()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in progress", err)
	default:
	}
}

// NotServed checks that a server shutting down serves no new connection:
// a dial may succeed (the kernel completes the handshake), but request then
// gets EOF or a reset, not a reply and not silence.
func NotServed(t testing.TB, addr netip.AddrPort, request string) {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		return // refused
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte(request))
	if n, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a new connection during Shutdown: %d bytes, %v; want EOF or a reset", n, err)
	}
}

// Pipeline is the loop of a benchmark of one connection: it writes req,
// which holds per requests, and reads the replies to them, exactly
// len(replies) bytes, into replies, until b.N requests are answered. The
// allocations it reports are the server's: the loop makes none. It clears
// c's deadline (of Dial), which a long run would pass.
func Pipeline(b *testing.B, c net.Conn, req, replies []byte, per int) {
	b.Helper()
	c.SetDeadline(time.Time{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += per {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, replies); err != nil {
			b.Fatal(err)
		}
	}
}
