package asio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Test helpers. Every wait is bounded: a context runs for at most
// udpRunLimit, a standard-library peer reads with a deadline.

const udpRunLimit = time.Second

func udpContext(t testing.TB) *IOContext {
	t.Helper()
	ctx, err := NewIOContext()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctx.Close() })
	return ctx
}

// udpRun runs ctx until its work runs out (or udpRunLimit passes).
func udpRun(ctx *IOContext) {
	ctx.Restart()
	ctx.RunFor(udpRunLimit)
}

// loopback is the loopback address of a test family; IPv6 tests are skipped
// when ::1 cannot be bound.
func udpLoopback(t testing.TB, family string) netip.Addr {
	t.Helper()
	if family == "IPv4" {
		return netip.MustParseAddr("127.0.0.1")
	}
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("skipping: ::1 is not available on this host (%v)", err)
	}
	c.Close()
	return netip.IPv6Loopback()
}

func udpBound(t testing.TB, ctx *IOContext, addr netip.Addr) *UDPSocket {
	t.Helper()
	s := NewUDPSocket(ctx.Executor())
	if err := s.Bind(netip.AddrPortFrom(addr, 0)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func udpPeer(t testing.TB, addr netip.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func udpLocal(t testing.TB, s *UDPSocket) netip.AddrPort {
	t.Helper()
	ep, err := s.LocalEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

func udpPeerEP(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// udpPeerRead reads one datagram at the standard-library peer.
func udpPeerRead(t testing.TB, c *net.UDPConn, size int) ([]byte, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, size)
	c.SetReadDeadline(time.Now().Add(udpRunLimit))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("peer read: %v", err)
	}
	return buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
}

func udpPeerWrite(t testing.TB, c *net.UDPConn, b []byte, to netip.AddrPort) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatalf("peer write: %v", err)
	}
}

// udpResult is one handler call, counted so that exactly-once can be checked.
type udpResult struct {
	calls  int
	n      int
	from   netip.AddrPort
	err    error
	inline bool // the handler ran before the initiating function returned
}

// start initiates an op whose handler records into r, and notes whether the
// handler ran inside the initiating call.
func (r *udpResult) start(initiate func(h func(int, error))) {
	var returned atomic.Bool
	initiate(func(n int, err error) {
		r.calls++
		r.n, r.err = n, err
		r.inline = r.inline || !returned.Load()
	})
	returned.Store(true)
}

func (r *udpResult) startFrom(initiate func(h func(int, netip.AddrPort, error))) {
	var returned atomic.Bool
	initiate(func(n int, from netip.AddrPort, err error) {
		r.calls++
		r.n, r.from, r.err = n, from, err
		r.inline = r.inline || !returned.Load()
	})
	returned.Store(true)
}

func (r *udpResult) check(t testing.TB, what string, n int, err error) {
	t.Helper()
	if r.calls != 1 {
		t.Fatalf("%s: handler called %d times, want once", what, r.calls)
	}
	if r.inline {
		t.Errorf("%s: handler ran inside the initiating function", what)
	}
	if r.n != n || !errors.Is(r.err, err) {
		t.Errorf("%s: got (%d, %v), want (%d, %v)", what, r.n, r.err, n, err)
	}
}

var udpFamilies = []string{"IPv4", "IPv6"}

func TestUDPSendReceive(t *testing.T) {
	for _, fam := range udpFamilies {
		t.Run(fam, func(t *testing.T) {
			addr := udpLoopback(t, fam)
			ctx := udpContext(t)
			s := udpBound(t, ctx, addr)
			peer := udpPeer(t, addr)
			me, them := udpLocal(t, s), udpPeerEP(peer)

			// Peer to socket, with the sender reported.
			udpPeerWrite(t, peer, []byte("ping"), me)
			buf := make([]byte, 64)
			var r udpResult
			r.startFrom(func(h func(int, netip.AddrPort, error)) { s.AsyncReceiveFrom(Buffers{buf}, 0, h) })
			udpRun(ctx)
			r.check(t, "AsyncReceiveFrom", 4, nil)
			if string(buf[:4]) != "ping" || r.from != them {
				t.Errorf("received %q from %v, want \"ping\" from %v", buf[:4], r.from, them)
			}

			// Socket to peer.
			r = udpResult{}
			r.start(func(h func(int, error)) { s.AsyncSendTo(Buffers{[]byte("pong")}, them, 0, h) })
			udpRun(ctx)
			r.check(t, "AsyncSendTo", 4, nil)
			if got, from := udpPeerRead(t, peer, 64); string(got) != "pong" || from != me {
				t.Errorf("peer got %q from %v, want \"pong\" from %v", got, from, me)
			}

			// Connected: AsyncSend and AsyncReceive.
			if err := s.Connect(them); err != nil {
				t.Fatal(err)
			}
			if ep, err := s.RemoteEndpoint(); err != nil || ep != them {
				t.Errorf("RemoteEndpoint = %v, %v; want %v", ep, err, them)
			}
			r = udpResult{}
			r.start(func(h func(int, error)) { s.AsyncSend(Buffers{[]byte("hello")}, 0, h) })
			udpRun(ctx)
			r.check(t, "AsyncSend", 5, nil)
			if got, _ := udpPeerRead(t, peer, 64); string(got) != "hello" {
				t.Errorf("peer got %q, want hello", got)
			}
			udpPeerWrite(t, peer, []byte("world!"), me)
			r = udpResult{}
			r.start(func(h func(int, error)) { s.AsyncReceive(Buffers{buf}, 0, h) })
			udpRun(ctx)
			r.check(t, "AsyncReceive", 6, nil)
			if string(buf[:6]) != "world!" {
				t.Errorf("received %q, want world!", buf[:6])
			}

			// The blocking forms need no Run.
			if n, err := s.Send(Buffers{[]byte("b1")}, 0); n != 2 || err != nil {
				t.Errorf("Send = %d, %v", n, err)
			}
			if n, err := s.SendTo(Buffers{[]byte("b22")}, them, 0); n != 3 || err != nil {
				t.Errorf("SendTo = %d, %v", n, err)
			}
			for _, want := range []string{"b1", "b22"} {
				if got, _ := udpPeerRead(t, peer, 64); string(got) != want {
					t.Errorf("peer got %q, want %q", got, want)
				}
			}
			udpPeerWrite(t, peer, []byte("x1"), me)
			udpPeerWrite(t, peer, []byte("x22"), me)
			if n, err := s.Receive(Buffers{buf}, 0); n != 2 || err != nil || string(buf[:n]) != "x1" {
				t.Errorf("Receive = %d %q, %v", n, buf[:n], err)
			}
			if n, from, err := s.ReceiveFrom(Buffers{buf}, 0); n != 3 || err != nil || from != them || string(buf[:n]) != "x22" {
				t.Errorf("ReceiveFrom = %d %q from %v, %v", n, buf[:n], from, err)
			}
		})
	}
}

// A receive started before any datagram is queued, then completed by the
// reactor when the peer sends, while Run is already waiting.
func TestUDPReceivePending(t *testing.T) {
	ctx := udpContext(t)
	s := udpBound(t, ctx, netip.MustParseAddr("127.0.0.1"))
	peer := udpPeer(t, netip.MustParseAddr("127.0.0.1"))
	me := udpLocal(t, s)
	buf := make([]byte, 16)
	var r udpResult
	r.startFrom(func(h func(int, netip.AddrPort, error)) { s.AsyncReceiveFrom(Buffers{buf}, 0, h) })
	go func() {
		if _, err := peer.WriteToUDPAddrPort([]byte("late"), me); err != nil {
			t.Error(err)
		}
	}()
	udpRun(ctx)
	r.check(t, "pending AsyncReceiveFrom", 4, nil)
	if r.from != udpPeerEP(peer) {
		t.Errorf("from %v, want %v", r.from, udpPeerEP(peer))
	}
}

func TestUDPGatherScatter(t *testing.T) {
	addr := netip.MustParseAddr("127.0.0.1")
	ctx := udpContext(t)
	s := udpBound(t, ctx, addr)
	peer := udpPeer(t, addr)

	// Three buffers, one of them empty, make one datagram.
	var r udpResult
	r.start(func(h func(int, error)) {
		s.AsyncSendTo(Buffers{[]byte("ab"), nil, []byte("cde")}, udpPeerEP(peer), 0, h)
	})
	udpRun(ctx)
	r.check(t, "gather AsyncSendTo", 5, nil)
	if got, _ := udpPeerRead(t, peer, 64); string(got) != "abcde" {
		t.Errorf("peer got %q, want one datagram \"abcde\"", got)
	}

	// One datagram fills several buffers in order.
	udpPeerWrite(t, peer, []byte("hello world"), udpLocal(t, s))
	b1, b2 := make([]byte, 5), make([]byte, 10)
	r = udpResult{}
	r.startFrom(func(h func(int, netip.AddrPort, error)) { s.AsyncReceiveFrom(Buffers{b1, b2}, 0, h) })
	udpRun(ctx)
	r.check(t, "scatter AsyncReceiveFrom", 11, nil)
	if string(b1) != "hello" || string(b2[:6]) != " world" {
		t.Errorf("scattered into %q and %q", b1, b2[:6])
	}
}

func TestUDPEmptyDatagram(t *testing.T) {
	addr := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		name string
		b    Buffers
	}{
		{"nil", nil},
		{"one empty buffer", Buffers{{}}},
		{"two empty buffers", Buffers{nil, {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := udpContext(t)
			s := udpBound(t, ctx, addr)
			peer := udpPeer(t, addr)
			me, them := udpLocal(t, s), udpPeerEP(peer)

			var r udpResult
			r.start(func(h func(int, error)) { s.AsyncSendTo(tc.b, them, 0, h) })
			udpRun(ctx)
			r.check(t, "empty AsyncSendTo", 0, nil)
			if got, from := udpPeerRead(t, peer, 64); len(got) != 0 || from != me {
				t.Errorf("peer got %q from %v, want an empty datagram from %v", got, from, me)
			}

			// Connected too: a real zero-length datagram, not a no-op.
			if err := s.Connect(them); err != nil {
				t.Fatal(err)
			}
			r = udpResult{}
			r.start(func(h func(int, error)) { s.AsyncSend(tc.b, 0, h) })
			udpRun(ctx)
			r.check(t, "empty AsyncSend", 0, nil)
			if got, _ := udpPeerRead(t, peer, 64); len(got) != 0 {
				t.Errorf("peer got %q, want an empty datagram", got)
			}

			// An empty datagram is received as one, with 0 bytes and no
			// error, and only that one: the next datagram stays queued.
			udpPeerWrite(t, peer, nil, me)
			udpPeerWrite(t, peer, []byte("next"), me)
			buf := make([]byte, 8)
			r = udpResult{}
			r.startFrom(func(h func(int, netip.AddrPort, error)) { s.AsyncReceiveFrom(Buffers{buf}, 0, h) })
			udpRun(ctx)
			r.check(t, "receive of an empty datagram", 0, nil)
			if r.from != them {
				t.Errorf("from %v, want %v", r.from, them)
			}
			if n, err := s.Receive(Buffers{buf}, 0); n != 4 || err != nil {
				t.Errorf("next Receive = %d, %v; want 4", n, err)
			}
		})
	}
}

func TestUDPSendUnconnected(t *testing.T) {
	ctx := udpContext(t)
	s := udpBound(t, ctx, netip.MustParseAddr("127.0.0.1"))
	var r udpResult
	r.start(func(h func(int, error)) { s.AsyncSend(Buffers{[]byte("x")}, 0, h) })
	if r.calls != 0 {
		t.Fatal("AsyncSend completed inside the initiating function")
	}
	udpRun(ctx)
	if r.calls != 1 || r.inline {
		t.Fatalf("handler calls %d, inline %v", r.calls, r.inline)
	}
	if !errors.Is(r.err, syscall.EDESTADDRREQ) && !errors.Is(r.err, syscall.ENOTCONN) {
		t.Errorf("AsyncSend on an unconnected socket: %v, want EDESTADDRREQ or ENOTCONN", r.err)
	}
	if _, err := s.Send(Buffers{[]byte("x")}, 0); !errors.Is(err, syscall.EDESTADDRREQ) {
		t.Errorf("Send on an unconnected socket: %v, want EDESTADDRREQ", err)
	}
	if _, err := s.RemoteEndpoint(); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("RemoteEndpoint unconnected: %v, want ENOTCONN", err)
	}
}

func TestUDPTruncation(t *testing.T) {
	addr := netip.MustParseAddr("127.0.0.1")
	ctx := udpContext(t)
	s := udpBound(t, ctx, addr)
	peer := udpPeer(t, addr)
	me := udpLocal(t, s)
	big := bytes.Repeat([]byte("0123456789"), 10)
	buf := make([]byte, 10)

	receivers := []struct {
		name  string
		start func(r *udpResult)
	}{
		{"AsyncReceiveFrom", func(r *udpResult) {
			r.startFrom(func(h func(int, netip.AddrPort, error)) { s.AsyncReceiveFrom(Buffers{buf}, 0, h) })
		}},
		{"AsyncReceive", func(r *udpResult) {
			r.start(func(h func(int, error)) { s.AsyncReceive(Buffers{buf}, 0, h) })
		}},
		{"scattered AsyncReceiveFrom", func(r *udpResult) {
			r.startFrom(func(h func(int, netip.AddrPort, error)) { s.AsyncReceiveFrom(Buffers{buf[:4], buf[4:]}, 0, h) })
		}},
	}
	for _, tc := range receivers {
		udpPeerWrite(t, peer, big, me)
		var r udpResult
		tc.start(&r)
		udpRun(ctx)
		r.check(t, tc.name, len(buf), ErrMessageTooLong)
		if !bytes.Equal(buf, big[:10]) {
			t.Errorf("%s: delivered %q", tc.name, buf)
		}
	}
	udpPeerWrite(t, peer, big, me)
	if n, _, err := s.ReceiveFrom(Buffers{buf}, 0); n != 10 || !errors.Is(err, ErrMessageTooLong) {
		t.Errorf("ReceiveFrom of a truncated datagram = %d, %v", n, err)
	}
	// The truncated rest is gone: the next datagram is whole.
	udpPeerWrite(t, peer, []byte("ok"), me)
	if n, err := s.Receive(Buffers{buf}, 0); n != 2 || err != nil {
		t.Errorf("Receive after truncation = %d, %v", n, err)
	}
}

func TestUDPMessageTooLong(t *testing.T) {
	ctx := udpContext(t)
	s := udpBound(t, ctx, netip.MustParseAddr("127.0.0.1"))
	peer := udpPeer(t, netip.MustParseAddr("127.0.0.1"))
	huge := make([]byte, 70000)
	var r udpResult
	r.start(func(h func(int, error)) { s.AsyncSendTo(Buffers{huge}, udpPeerEP(peer), 0, h) })
	udpRun(ctx)
	r.check(t, "AsyncSendTo of 70000 bytes", 0, syscall.EMSGSIZE)
	if _, err := s.SendTo(Buffers{huge[:35000], huge[35000:]}, udpPeerEP(peer), 0); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("SendTo of 70000 bytes: %v, want EMSGSIZE", err)
	}
}

func TestUDPClosed(t *testing.T) {
	ctx := udpContext(t)
	to := netip.MustParseAddrPort("127.0.0.1:9")
	closed := NewUDPSocket(ctx.Executor())
	if err := closed.Bind(netip.MustParseAddrPort("127.0.0.1:0")); err != nil {
		t.Fatal(err)
	}
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	sockets := map[string]*UDPSocket{"closed": closed, "never opened": NewUDPSocket(ctx.Executor())}
	buf := make([]byte, 8)
	ops := []struct {
		name  string
		start func(s *UDPSocket, r *udpResult)
	}{
		{"AsyncSend", func(s *UDPSocket, r *udpResult) {
			r.start(func(h func(int, error)) { s.AsyncSend(Buffers{buf}, 0, h) })
		}},
		{"AsyncSend empty", func(s *UDPSocket, r *udpResult) {
			r.start(func(h func(int, error)) { s.AsyncSend(nil, 0, h) })
		}},
		{"AsyncSendTo", func(s *UDPSocket, r *udpResult) {
			r.start(func(h func(int, error)) { s.AsyncSendTo(Buffers{buf}, to, 0, h) })
		}},
		{"AsyncReceive", func(s *UDPSocket, r *udpResult) {
			r.start(func(h func(int, error)) { s.AsyncReceive(Buffers{buf}, 0, h) })
		}},
		{"AsyncReceiveFrom", func(s *UDPSocket, r *udpResult) {
			r.startFrom(func(h func(int, netip.AddrPort, error)) { s.AsyncReceiveFrom(Buffers{buf}, 0, h) })
		}},
		{"AsyncSendBatch", func(s *UDPSocket, r *udpResult) {
			r.start(func(h func(int, error)) { s.AsyncSendBatch([]Message{{Buffers: Buffers{buf}, Addr: to}}, h) })
		}},
		{"AsyncReceiveBatch", func(s *UDPSocket, r *udpResult) {
			r.start(func(h func(int, error)) { s.AsyncReceiveBatch([]Message{{Buffers: Buffers{buf}}}, h) })
		}},
	}
	for name, s := range sockets {
		for _, op := range ops {
			var r udpResult
			op.start(s, &r)
			udpRun(ctx)
			r.check(t, name+" "+op.name, 0, ErrBadDescriptor)
		}
		blocking := map[string]error{}
		_, blocking["Send"] = s.Send(Buffers{buf}, 0)
		_, blocking["SendTo"] = s.SendTo(Buffers{buf}, to, 0)
		_, blocking["Receive"] = s.Receive(Buffers{buf}, 0)
		_, _, blocking["ReceiveFrom"] = s.ReceiveFrom(Buffers{buf}, 0)
		_, blocking["SendBatch"] = s.SendBatch([]Message{{Addr: to}})
		_, blocking["ReceiveBatch"] = s.ReceiveBatch([]Message{{}})
		blocking["Cancel"] = s.Cancel()
		blocking["Close"] = s.Close()
		_, blocking["LocalEndpoint"] = s.LocalEndpoint()
		blocking["SetBroadcast"] = s.SetBroadcast(true)
		for what, err := range blocking {
			if !errors.Is(err, ErrBadDescriptor) {
				t.Errorf("%s %s: %v, want ErrBadDescriptor", name, what, err)
			}
		}
		if s.IsOpen() {
			t.Errorf("%s socket IsOpen", name)
		}
	}
}

func TestUDPCancel(t *testing.T) {
	addr := netip.MustParseAddr("127.0.0.1")
	cases := []struct {
		name   string
		opts   func(sig *CancellationSignal, ctx context.Context) []OpOption
		cancel func(s *UDPSocket, sig *CancellationSignal, stop context.CancelFunc)
	}{
		{"Cancel", nil, func(s *UDPSocket, _ *CancellationSignal, _ context.CancelFunc) { s.Cancel() }},
		{"Close", nil, func(s *UDPSocket, _ *CancellationSignal, _ context.CancelFunc) { s.Close() }},
		{"terminal signal", udpWithSlot, udpEmit(CancelTerminal)},
		{"partial signal", udpWithSlot, udpEmit(CancelPartial)},
		{"total signal", udpWithSlot, udpEmit(CancelTotal)},
		{"all signal", udpWithSlot, udpEmit(CancelAll)},
		{"WithContext", func(_ *CancellationSignal, ctx context.Context) []OpOption {
			return []OpOption{WithContext(ctx)}
		}, func(_ *UDPSocket, _ *CancellationSignal, stop context.CancelFunc) { stop() }},
	}
	kinds := []struct {
		name  string
		start func(s *UDPSocket, r *udpResult, opts []OpOption)
	}{
		{"AsyncReceiveFrom", func(s *UDPSocket, r *udpResult, opts []OpOption) {
			r.startFrom(func(h func(int, netip.AddrPort, error)) { s.AsyncReceiveFrom(Buffers{make([]byte, 8)}, 0, h, opts...) })
		}},
		{"AsyncReceive", func(s *UDPSocket, r *udpResult, opts []OpOption) {
			r.start(func(h func(int, error)) { s.AsyncReceive(Buffers{make([]byte, 8)}, 0, h, opts...) })
		}},
		{"AsyncReceiveBatch", func(s *UDPSocket, r *udpResult, opts []OpOption) {
			r.start(func(h func(int, error)) {
				s.AsyncReceiveBatch([]Message{{Buffers: Buffers{make([]byte, 8)}}}, h, opts...)
			})
		}},
	}
	for _, tc := range cases {
		for _, k := range kinds {
			t.Run(tc.name+"/"+k.name, func(t *testing.T) {
				ctx := udpContext(t)
				s := udpBound(t, ctx, addr)
				sig := NewCancellationSignal()
				cctx, stop := context.WithCancel(context.Background())
				defer stop()
				var opts []OpOption
				if tc.opts != nil {
					opts = tc.opts(sig, cctx)
				}
				var r udpResult
				k.start(s, &r, opts)
				tc.cancel(s, sig, stop)
				tc.cancel(s, sig, stop) // a second request finds nothing to cancel
				udpRun(ctx)
				r.check(t, k.name, 0, ErrOperationAborted)
				sig.Emit(CancelAll) // after completion: no effect
				udpRun(ctx)
				if r.calls != 1 {
					t.Fatalf("handler called %d times", r.calls)
				}
			})
		}
	}
}

func udpWithSlot(sig *CancellationSignal, _ context.Context) []OpOption {
	return []OpOption{BindCancellationSlot(sig.Slot())}
}

func udpEmit(ct CancellationType) func(*UDPSocket, *CancellationSignal, context.CancelFunc) {
	return func(_ *UDPSocket, sig *CancellationSignal, _ context.CancelFunc) { sig.Emit(ct) }
}

// A cancelled receive leaves the socket working, and a signal cancels only
// its own op: the receive queued behind it still gets the datagram.
func TestUDPCancelOneOfTwo(t *testing.T) {
	addr := netip.MustParseAddr("127.0.0.1")
	ctx := udpContext(t)
	s := udpBound(t, ctx, addr)
	peer := udpPeer(t, addr)
	sig := NewCancellationSignal()
	var first, second udpResult
	b1, b2 := make([]byte, 8), make([]byte, 8)
	first.start(func(h func(int, error)) { s.AsyncReceive(Buffers{b1}, 0, h, BindCancellationSlot(sig.Slot())) })
	second.start(func(h func(int, error)) { s.AsyncReceive(Buffers{b2}, 0, h) })
	sig.Emit(CancelTerminal)
	udpPeerWrite(t, peer, []byte("data"), udpLocal(t, s))
	udpRun(ctx)
	first.check(t, "cancelled receive", 0, ErrOperationAborted)
	second.check(t, "second receive", 4, nil)
}

func TestUDPDualStack(t *testing.T) {
	udpLoopback(t, "IPv6")
	ctx := udpContext(t)
	s := NewUDPSocket(ctx.Executor())
	defer s.Close()
	if err := s.Open(IPv6); err != nil {
		t.Fatal(err)
	}
	if err := s.SetV6Only(false); err != nil {
		t.Fatal(err)
	}
	if err := s.Bind(netip.MustParseAddrPort("[::]:0")); err != nil {
		t.Fatal(err)
	}
	peer := udpPeer(t, netip.MustParseAddr("127.0.0.1"))
	me := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), udpLocal(t, s).Port())
	udpPeerWrite(t, peer, []byte("v4"), me)
	buf := make([]byte, 8)
	var r udpResult
	r.startFrom(func(h func(int, netip.AddrPort, error)) { s.AsyncReceiveFrom(Buffers{buf}, 0, h) })
	udpRun(ctx)
	r.check(t, "AsyncReceiveFrom on a dual-stack socket", 2, nil)
	if !r.from.Addr().Is4() || r.from != udpPeerEP(peer) {
		t.Fatalf("from %v, want the unmapped %v", r.from, udpPeerEP(peer))
	}
	// The unmapped address is a valid destination for the IPv6 socket.
	from := r.from
	r = udpResult{}
	r.start(func(h func(int, error)) { s.AsyncSendTo(Buffers{[]byte("back")}, from, 0, h) })
	udpRun(ctx)
	r.check(t, "AsyncSendTo an IPv4 peer from an IPv6 socket", 4, nil)
	if got, _ := udpPeerRead(t, peer, 8); string(got) != "back" {
		t.Errorf("peer got %q", got)
	}
}

func TestUDPBatch(t *testing.T) {
	const count = 32
	for _, fam := range udpFamilies {
		t.Run(fam, func(t *testing.T) {
			addr := udpLoopback(t, fam)
			ctx := udpContext(t)
			s := udpBound(t, ctx, addr)
			peer := udpPeer(t, addr)
			me, them := udpLocal(t, s), udpPeerEP(peer)
			if err := peer.SetReadBuffer(1 << 20); err != nil {
				t.Fatal(err)
			}

			// Receive: the peer queues 32 datagrams of different sizes.
			for i := range count {
				udpPeerWrite(t, peer, bytes.Repeat([]byte{byte(i)}, i), me)
			}
			msgs := make([]Message, count)
			for i := range msgs {
				msgs[i].Buffers = Buffers{make([]byte, 16), make([]byte, 16)}
			}
			got := 0
			for got < count {
				var r udpResult
				r.start(func(h func(int, error)) { s.AsyncReceiveBatch(msgs[got:], h) })
				udpRun(ctx)
				if r.calls != 1 || r.inline || r.err != nil || r.n < 1 {
					t.Fatalf("AsyncReceiveBatch: calls %d, inline %v, n %d, err %v", r.calls, r.inline, r.n, r.err)
				}
				got += r.n
			}
			for i, m := range msgs {
				flat := append(append([]byte{}, m.Buffers[0]...), m.Buffers[1]...)
				if m.N != i || m.Addr != them || m.Truncated || !bytes.Equal(flat[:i], bytes.Repeat([]byte{byte(i)}, i)) {
					t.Fatalf("message %d: N %d from %v truncated %v data %v", i, m.N, m.Addr, m.Truncated, flat[:m.N])
				}
			}

			// Send, unconnected (Addr per message) then connected (no Addr).
			for _, connected := range []bool{false, true} {
				for i := range msgs {
					msgs[i] = Message{Buffers: Buffers{[]byte(fmt.Sprintf("msg-%02d", i)), []byte("!")}}
					if !connected {
						msgs[i].Addr = them
					}
				}
				if connected {
					if err := s.Connect(them); err != nil {
						t.Fatal(err)
					}
				}
				sent := 0
				for sent < count {
					var r udpResult
					r.start(func(h func(int, error)) { s.AsyncSendBatch(msgs[sent:], h) })
					udpRun(ctx)
					if r.calls != 1 || r.inline || r.err != nil || r.n < 1 {
						t.Fatalf("AsyncSendBatch: calls %d, inline %v, n %d, err %v", r.calls, r.inline, r.n, r.err)
					}
					sent += r.n
				}
				for i := range count {
					want := fmt.Sprintf("msg-%02d!", i)
					if msgs[i].N != len(want) {
						t.Errorf("message %d: N = %d", i, msgs[i].N)
					}
					if b, from := udpPeerRead(t, peer, 64); string(b) != want || from != me {
						t.Fatalf("peer got %q from %v, want %q from %v", b, from, want, me)
					}
				}
			}
		})
	}
}

func TestUDPBatchEdges(t *testing.T) {
	addr := netip.MustParseAddr("127.0.0.1")
	ctx := udpContext(t)
	s := udpBound(t, ctx, addr)
	peer := udpPeer(t, addr)
	me, them := udpLocal(t, s), udpPeerEP(peer)

	// No messages: (0, nil), posted.
	var r udpResult
	r.start(func(h func(int, error)) { s.AsyncSendBatch(nil, h) })
	udpRun(ctx)
	r.check(t, "empty AsyncSendBatch", 0, nil)

	// A bad address stops the batch before it; alone, it is the error.
	msgs := []Message{
		{Buffers: Buffers{[]byte("a")}, Addr: them},
		{Buffers: Buffers{[]byte("b")}, Addr: netip.MustParseAddrPort("[2001:db8::1]:9")},
	}
	r = udpResult{}
	r.start(func(h func(int, error)) { s.AsyncSendBatch(msgs, h) })
	udpRun(ctx)
	r.check(t, "AsyncSendBatch before a bad address", 1, nil)
	r = udpResult{}
	r.start(func(h func(int, error)) { s.AsyncSendBatch(msgs[1:], h) })
	udpRun(ctx)
	r.check(t, "AsyncSendBatch of a bad address", 0, syscall.EAFNOSUPPORT)
	if got, _ := udpPeerRead(t, peer, 8); string(got) != "a" {
		t.Errorf("peer got %q, want a", got)
	}

	// Empty and truncated datagrams in a receive batch; the blocking forms.
	udpPeerWrite(t, peer, nil, me)
	udpPeerWrite(t, peer, []byte("too long"), me)
	in := []Message{{Buffers: Buffers{make([]byte, 4)}}, {Buffers: Buffers{make([]byte, 4)}}}
	n, err := s.ReceiveBatch(in)
	if err == nil && n == 1 {
		var m int
		m, err = s.ReceiveBatch(in[1:])
		n += m
	}
	if n != 2 || err != nil || in[0].N != 0 || in[0].Truncated || in[1].N != 4 || !in[1].Truncated {
		t.Errorf("ReceiveBatch = %d, %v; messages %+v", n, err, in)
	}
	if n, err := s.SendBatch([]Message{{Addr: them}, {Buffers: Buffers{[]byte("z")}, Addr: them}}); n != 2 || err != nil {
		t.Errorf("SendBatch = %d, %v", n, err)
	}
	if got, _ := udpPeerRead(t, peer, 8); len(got) != 0 {
		t.Errorf("peer got %q, want an empty datagram", got)
	}
	if got, _ := udpPeerRead(t, peer, 8); string(got) != "z" {
		t.Errorf("peer got %q, want z", got)
	}
}

func TestUDPOpenBindOptions(t *testing.T) {
	ctx := udpContext(t)
	s := NewUDPSocket(ctx.Executor())
	if s.IsOpen() || s.Executor() != ctx.Executor() {
		t.Fatal("a new socket is open, or has the wrong executor")
	}
	// Bind opens a never-opened socket for the endpoint's family.
	if err := s.Bind(netip.MustParseAddrPort("127.0.0.1:0")); err != nil {
		t.Fatal(err)
	}
	if !s.IsOpen() {
		t.Fatal("Bind did not open the socket")
	}
	if ep := udpLocal(t, s); !ep.Addr().Is4() || ep.Port() == 0 {
		t.Errorf("LocalEndpoint = %v", ep)
	}
	if err := s.Open(IPv4); !errors.Is(err, syscall.EISCONN) {
		t.Errorf("Open of an open socket: %v", err)
	}
	var r udpResult
	r.start(func(h func(int, error)) {
		s.AsyncSendTo(Buffers{[]byte("x")}, netip.MustParseAddrPort("[::1]:9"), 0, h)
	})
	udpRun(ctx)
	r.check(t, "AsyncSendTo an IPv6 address", 0, syscall.EAFNOSUPPORT)
	lo := udpLoopbackIndex(t)
	for name, err := range map[string]error{
		"SetBroadcast":          s.SetBroadcast(true),
		"SetReuseAddress":       s.SetReuseAddress(true),
		"SetReusePort":          s.SetReusePort(true),
		"SetSendBufferSize":     s.SetSendBufferSize(1 << 16),
		"SetReceiveBufferSize":  s.SetReceiveBufferSize(1 << 16),
		"SetMulticastLoopback":  s.SetMulticastLoopback(true),
		"SetMulticastHops":      s.SetMulticastHops(4),
		"SetMulticastInterface": s.SetMulticastInterface(lo),
		"JoinGroup":             s.JoinGroup(netip.MustParseAddr("239.1.2.3"), lo),
		"LeaveGroup":            s.LeaveGroup(netip.MustParseAddr("239.1.2.3"), lo),
		"JoinGroup unicast":     udpErrIs(s.JoinGroup(netip.MustParseAddr("127.0.0.1"), lo), syscall.EINVAL),
	} {
		if err != nil {
			t.Errorf("IPv4 %s: %v", name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened for IPv6, with the IPv6 flavour of the options.
	udpLoopback(t, "IPv6")
	if err := s.Open(IPv6); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, err := range map[string]error{
		"SetV6Only":             s.SetV6Only(true),
		"SetMulticastLoopback":  s.SetMulticastLoopback(false),
		"SetMulticastHops":      s.SetMulticastHops(2),
		"SetMulticastInterface": s.SetMulticastInterface(lo),
		"Bind":                  s.Bind(netip.MustParseAddrPort("[::1]:0")),
		"JoinGroup":             s.JoinGroup(netip.MustParseAddr("ff15::1234"), lo),
		"LeaveGroup":            s.LeaveGroup(netip.MustParseAddr("ff15::1234"), lo),
	} {
		if err != nil {
			t.Errorf("IPv6 %s: %v", name, err)
		}
	}
}

func udpErrIs(err, target error) error {
	if errors.Is(err, target) {
		return nil
	}
	return fmt.Errorf("%v, want %v", err, target)
}

func udpLoopbackIndex(t testing.TB) int {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			return i.Index
		}
	}
	t.Skip("skipping: no loopback interface")
	return 0
}

// Datagrams sent to an IPv4 multicast group on the loopback interface come
// back to a member socket.
func TestUDPMulticast(t *testing.T) {
	ctx := udpContext(t)
	lo := udpLoopbackIndex(t)
	group := netip.MustParseAddr("239.77.0.1")
	rx := NewUDPSocket(ctx.Executor())
	defer rx.Close()
	if err := rx.Open(IPv4); err != nil {
		t.Fatal(err)
	}
	rx.SetReuseAddress(true)
	if err := rx.Bind(netip.MustParseAddrPort("0.0.0.0:0")); err != nil {
		t.Fatal(err)
	}
	if err := rx.JoinGroup(group, lo); err != nil {
		t.Fatal(err)
	}
	tx := udpBound(t, ctx, netip.MustParseAddr("127.0.0.1"))
	if err := tx.SetMulticastInterface(lo); err != nil {
		t.Fatal(err)
	}
	if err := tx.SetMulticastLoopback(true); err != nil {
		t.Fatal(err)
	}
	if err := tx.SetMulticastHops(1); err != nil {
		t.Fatal(err)
	}
	dst := netip.AddrPortFrom(group, udpLocal(t, rx).Port())
	if _, err := tx.SendTo(Buffers{[]byte("to the group")}, dst, 0); err != nil {
		t.Skipf("skipping: this host cannot send multicast on loopback (%v)", err)
	}
	buf := make([]byte, 32)
	var r udpResult
	timer := NewTimer(ctx.Executor())
	timer.ExpiresAfter(500 * time.Millisecond)
	timer.AsyncWait(func(err error) {
		if err == nil {
			rx.Cancel()
		}
	})
	r.startFrom(func(h func(int, netip.AddrPort, error)) {
		rx.AsyncReceiveFrom(Buffers{buf}, 0, func(n int, from netip.AddrPort, err error) {
			timer.Cancel()
			h(n, from, err)
		})
	})
	udpRun(ctx)
	if errors.Is(r.err, ErrOperationAborted) {
		t.Skip("skipping: multicast on loopback is not delivered on this host")
	}
	r.check(t, "multicast receive", 12, nil)
	if r.from != udpLocal(t, tx) {
		t.Errorf("from %v, want %v", r.from, udpLocal(t, tx))
	}
}

// Handlers run on their bound executor; an immediate completion goes to the
// bound immediate executor.
func TestUDPBoundExecutors(t *testing.T) {
	addr := netip.MustParseAddr("127.0.0.1")
	ctx := udpContext(t)
	s := udpBound(t, ctx, addr)
	peer := udpPeer(t, addr)
	strand := NewStrand(ctx.Executor())
	var onStrand, viaImmediate bool
	imm := &udpCountingExecutor{Executor: ctx.Executor()}
	s.AsyncSendTo(Buffers{[]byte("a")}, udpPeerEP(peer), 0, func(n int, err error) {
		onStrand = err == nil // the strand runs it: no other check is portable
	}, BindExecutor(strand))
	s.AsyncSendTo(Buffers{[]byte("b")}, udpPeerEP(peer), 0, func(n int, err error) {
		viaImmediate = err == nil
	}, BindImmediateExecutor(imm))
	udpRun(ctx)
	if !onStrand || !viaImmediate || imm.dispatched.Load() != 1 {
		t.Errorf("strand handler %v, immediate handler %v, dispatched %d", onStrand, viaImmediate, imm.dispatched.Load())
	}
}

type udpCountingExecutor struct {
	Executor
	dispatched atomic.Int32
}

func (e *udpCountingExecutor) Dispatch(f func()) {
	e.dispatched.Add(1)
	e.Executor.Dispatch(f)
}

// Many goroutines start sends at once while two goroutines Run the
// context: every handler runs exactly once and every datagram arrives.
func TestUDPConcurrentSenders(t *testing.T) {
	const senders, each = 8, 50
	addr := netip.MustParseAddr("127.0.0.1")
	ctx := udpContext(t)
	tx := udpBound(t, ctx, addr)
	rx := udpBound(t, ctx, addr)
	rx.SetReceiveBufferSize(1 << 20)
	to := udpLocal(t, rx)
	guard := NewWorkGuard(ctx.Executor())
	var handled atomic.Int32
	var received int
	buf := make([]byte, 8)
	var receive func()
	receive = func() {
		rx.AsyncReceive(Buffers{buf}, 0, func(n int, err error) {
			if err != nil {
				t.Error(err)
				guard.Reset()
				return
			}
			received++ // receives are ordered: one at a time
			if received == senders*each {
				guard.Reset()
				return
			}
			receive()
		})
	}
	receive()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { ctx.RunFor(udpRunLimit) })
	}
	var start sync.WaitGroup
	for range senders {
		start.Go(func() {
			for range each {
				tx.AsyncSendTo(Buffers{[]byte("x")}, to, 0, func(n int, err error) {
					if n != 1 || err != nil {
						t.Errorf("send: %d, %v", n, err)
					}
					handled.Add(1)
				})
			}
		})
	}
	start.Wait()
	wg.Wait()
	if handled.Load() != senders*each || received != senders*each {
		t.Errorf("send handlers %d, datagrams received %d, want %d each", handled.Load(), received, senders*each)
	}
}

// BenchmarkUDPSendToReceiveFrom is one AsyncSendTo/AsyncReceiveFrom round
// over loopback per iteration: a steady state that allocates nothing.
func BenchmarkUDPSendToReceiveFrom(b *testing.B) {
	ctx := udpContext(b)
	a := udpBound(b, ctx, netip.MustParseAddr("127.0.0.1"))
	z := udpBound(b, ctx, netip.MustParseAddr("127.0.0.1"))
	to := udpLocal(b, z)
	out, in := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), make([]byte, 64)
	left := b.N
	var sent func(int, error)
	var recvd func(int, netip.AddrPort, error)
	round := func() {
		z.AsyncReceiveFrom(Buffers{in}, 0, recvd)
		a.AsyncSendTo(Buffers{out}, to, 0, sent)
	}
	sent = func(n int, err error) {
		if err != nil {
			b.Error(err)
		}
	}
	recvd = func(n int, from netip.AddrPort, err error) {
		if err != nil || n != len(out) {
			b.Fatal(n, err)
		}
		if left--; left > 0 {
			round()
		}
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	b.ResetTimer()
	round()
	ctx.Restart()
	ctx.Run()
	if left != 0 {
		b.Fatalf("%d rounds left", left)
	}
}

// BenchmarkUDPBatch32 sends and receives 32 datagrams per iteration with
// one sendmmsg and one recvmmsg.
func BenchmarkUDPBatch32(b *testing.B) {
	const count = 32
	ctx := udpContext(b)
	a := udpBound(b, ctx, netip.MustParseAddr("127.0.0.1"))
	z := udpBound(b, ctx, netip.MustParseAddr("127.0.0.1"))
	z.SetReceiveBufferSize(1 << 20)
	to := udpLocal(b, z)
	out, in := make([]Message, count), make([]Message, count)
	for i := range out {
		out[i] = Message{Buffers: Buffers{make([]byte, 64)}, Addr: to}
		in[i] = Message{Buffers: Buffers{make([]byte, 64)}}
	}
	left := b.N
	var sentN, recvN int
	var sent, recvd func(int, error)
	round := func() {
		sentN, recvN = 0, 0
		z.AsyncReceiveBatch(in, recvd)
		a.AsyncSendBatch(out, sent)
	}
	sent = func(n int, err error) {
		if err != nil {
			b.Fatal(err)
		}
		if sentN += n; sentN < count {
			a.AsyncSendBatch(out[sentN:], sent)
		}
	}
	recvd = func(n int, err error) {
		if err != nil {
			b.Fatal(err)
		}
		if recvN += n; recvN < count {
			z.AsyncReceiveBatch(in[recvN:], recvd)
			return
		}
		if left--; left > 0 {
			round()
		}
	}
	b.SetBytes(count * 64)
	b.ReportAllocs()
	b.ResetTimer()
	round()
	ctx.Restart()
	ctx.Run()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*count), "ns/msg")
}
