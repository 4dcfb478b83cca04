package asio_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/goasio/asio"
)

// tlHeldConn is a crypto/tls peer's net.Conn that sends only the first
// `keep` bytes of each record it writes until release: a way to have half
// a record on the wire.
type tlHeldConn struct {
	net.Conn
	held []byte
	keep int
}

func (c *tlHeldConn) Write(p []byte) (int, error) {
	if c.keep == 0 {
		return c.Conn.Write(p)
	}
	k := min(c.keep, len(p))
	c.held = append(c.held, p[k:]...)
	if _, err := c.Conn.Write(p[:k]); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *tlHeldConn) release() error {
	c.keep = 0
	_, err := c.Conn.Write(c.held)
	c.held = nil
	return err
}

// TestTLSStreamCancelRead: a pending read, with half a record already
// received, is cancelled by each cancellation type and by a context; it
// completes with ErrOperationAborted and the stream stays usable: the next
// read gets the whole record.
func TestTLSStreamCancelRead(t *testing.T) {
	for _, c := range []struct {
		name string
		t    asio.CancellationType
	}{{"terminal", asio.CancelTerminal}, {"partial", asio.CancelPartial}, {"total", asio.CancelTotal}, {"context", 0}} {
		t.Run(c.name, func(t *testing.T) {
			ctx, runID := tlContext(t)
			sock, peerConn := tlDialPeer(t, ctx)
			held := &tlHeldConn{Conn: peerConn}
			peer := tls.Server(held, tlServerConfig(t, tls.VersionTLS12))
			peerErr := make(chan error, 1)
			go func() { peerErr <- peer.Handshake() }()
			s := asio.NewTLSStream(sock, tlClientConfig(t, tls.VersionTLS12))
			if err := tlHandshake(t, s, asio.HandshakeClient, runID); err != nil {
				t.Fatal(err)
			}
			if err := tlWaitErr(t, peerErr, "peer"); err != nil {
				t.Fatal(err)
			}
			held.keep = 20
			if _, err := peer.Write([]byte("a record that arrives in two parts")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			ch := make(chan tlResult, 1)
			sig := asio.NewCancellationSignal()
			opt := asio.BindCancellationSlot(sig.Slot())
			cctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if c.t == 0 {
				opt = asio.WithContext(cctx)
			}
			s.AsyncReadSome(asio.Buffers{buf}, func(n int, err error) { ch <- tlResult{n, err} }, opt)
			// The half record is in the socket already: the read's first
			// step takes it in at once, and its completion is queued before
			// what is posted now; two posts later, the read waits for the
			// rest.
			done := make(chan struct{})
			ctx.Executor().Post(func() { ctx.Executor().Post(func() { close(done) }) })
			<-done
			if c.t == 0 {
				cancel()
			} else {
				sig.Emit(c.t)
			}
			if r := tlWaitN(t, ch, "cancelled read"); !errors.Is(r.err, asio.ErrOperationAborted) || r.n != 0 {
				t.Fatalf("cancelled read: %d, %v", r.n, r.err)
			}
			if err := held.release(); err != nil {
				t.Fatal(err)
			}
			if r := tlRead(t, s, buf, runID); r.err != nil || string(buf[:r.n]) != "a record that arrives in two parts" {
				t.Fatalf("read after the cancellation: %q, %v", buf[:r.n], r.err)
			}
		})
	}
}

// TestTLSStreamCancelWrite: a write whose ciphertext is still going out is
// cancelled (terminal): ErrOperationAborted, and the write side is broken
// for good — later writes get the same error, since a record cut in the
// middle cannot be resumed. Partial and total requests do nothing.
func TestTLSStreamCancelWrite(t *testing.T) {
	ctx, runID := tlContext(t)
	a, b := tlSocketPair(t, ctx)
	a.SetSendBufferSize(4096)
	b.SetReceiveBufferSize(4096)
	client := asio.NewTLSStream(a, tlClientConfig(t, 0))
	server := asio.NewTLSStream(b, tlServerConfig(t, 0))
	ch := make(chan error, 2)
	server.AsyncHandshake(asio.HandshakeServer, func(err error) { ch <- err })
	client.AsyncHandshake(asio.HandshakeClient, func(err error) { ch <- err })
	for range 2 {
		if err := tlWaitErr(t, ch, "handshake"); err != nil {
			t.Fatal(err)
		}
	}
	// The server does not read: 60 KiB of records cannot all go out.
	sig := asio.NewCancellationSignal()
	wch := make(chan tlResult, 1)
	client.AsyncWriteSome(asio.Buffers{make([]byte, 1<<20)}, func(n int, err error) { wch <- tlResult{n, err} }, asio.BindCancellationSlot(sig.Slot()))
	sig.Emit(asio.CancelPartial | asio.CancelTotal)
	select {
	case r := <-wch:
		t.Fatalf("the write completed (%d, %v) on a partial/total request, or could not be held", r.n, r.err)
	default:
	}
	sig.Emit(asio.CancelTerminal)
	if r := tlWaitN(t, wch, "cancelled write"); !errors.Is(r.err, asio.ErrOperationAborted) {
		t.Fatalf("cancelled write: %d, %v", r.n, r.err)
	}
	if r := tlWrite(t, client, []byte("x"), runID); !errors.Is(r.err, asio.ErrOperationAborted) {
		t.Fatalf("write after: %v, want ErrOperationAborted", r.err)
	}
}

// TestTLSStreamCancelHandshake: a handshake with a silent peer ends with
// ErrOperationAborted when its context is done, when its slot emits a
// terminal request, and when the TLSStream is closed; its goroutine ends.
func TestTLSStreamCancelHandshake(t *testing.T) {
	for _, how := range []string{"context", "slot", "close"} {
		t.Run(how, func(t *testing.T) {
			ctx, runID := tlContext(t)
			before := runtime.NumGoroutine()
			sock, peerConn := tlDialPeer(t, ctx)
			defer peerConn.Close()
			s := asio.NewTLSStream(sock, tlServerConfig(t, 0))
			cctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sig := asio.NewCancellationSignal()
			ch := make(chan error, 2)
			s.AsyncHandshake(asio.HandshakeServer, func(err error) { ch <- err }, asio.WithContext(cctx), asio.BindCancellationSlot(sig.Slot()))
			switch how {
			case "context":
				cancel()
			case "slot":
				sig.Emit(asio.CancelPartial) // not supported: nothing happens
				sig.Emit(asio.CancelTerminal)
			case "close":
				s.Close()
			}
			if err := tlWaitErr(t, ch, "handshake"); !errors.Is(err, asio.ErrOperationAborted) {
				t.Fatalf("handshake: %v, want ErrOperationAborted", err)
			}
			if g := tlGoroutines(before); g > before {
				t.Errorf("goroutines: %d before, %d after", before, g)
			}
			if r := tlRead(t, s, make([]byte, 1), runID); r.err == nil {
				t.Error("read after the aborted handshake succeeded")
			}
		})
	}
}

// TestTLSStreamContextClose: IOContext.Close completes a handshake in
// progress (its goroutine waiting for input, or computing) and a pending
// read, once each, with ErrOperationAborted, on Close's goroutine.
func TestTLSStreamContextClose(t *testing.T) {
	ctx, err := asio.NewIOContext()
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan struct{})
	g := asio.NewWorkGuard(ctx.Executor())
	go func() { ctx.Run(); close(runDone) }()
	before := runtime.NumGoroutine()

	sock, peerConn := tlDialPeer(t, ctx)
	defer peerConn.Close()
	hs := asio.NewTLSStream(sock, tlServerConfig(t, 0))
	var calls atomic.Int32
	var hsErr error
	var onClose atomic.Bool
	closing := make(chan struct{})
	hs.AsyncHandshake(asio.HandshakeServer, func(err error) {
		calls.Add(1)
		hsErr = err
		select {
		case <-closing:
			onClose.Store(true)
		default:
		}
	})

	a, b := tlSocketPair(t, ctx)
	client := asio.NewTLSStream(a, tlClientConfig(t, 0))
	server := asio.NewTLSStream(b, tlServerConfig(t, 0))
	ch := make(chan error, 2)
	server.AsyncHandshake(asio.HandshakeServer, func(err error) { ch <- err })
	client.AsyncHandshake(asio.HandshakeClient, func(err error) { ch <- err })
	for range 2 {
		if err := tlWaitErr(t, ch, "handshake"); err != nil {
			t.Fatal(err)
		}
	}
	var readCalls atomic.Int32
	var readErr error
	server.AsyncReadSome(asio.Buffers{make([]byte, 8)}, func(_ int, err error) { readCalls.Add(1); readErr = err })

	close(closing)
	g.Reset()
	ctx.Stop()
	<-runDone
	ctx.Close()
	if calls.Load() != 1 || !errors.Is(hsErr, asio.ErrOperationAborted) || !onClose.Load() {
		t.Errorf("handshake: %d calls, %v, on Close's goroutine: %v", calls.Load(), hsErr, onClose.Load())
	}
	if readCalls.Load() != 1 || !errors.Is(readErr, asio.ErrOperationAborted) {
		t.Errorf("read: %d calls, %v", readCalls.Load(), readErr)
	}
	if g := tlGoroutines(before); g > before {
		t.Errorf("goroutines: %d before, %d after", before, g)
	}
}
