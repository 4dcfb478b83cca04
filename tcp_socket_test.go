package asio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ipv6Loopback returns [::1]:0, or skips the test when the host has no
// IPv6 loopback.
func ipv6Loopback(t *testing.T, ctx *IOContext) netip.AddrPort {
	t.Helper()
	ep := netip.MustParseAddrPort("[::1]:0")
	acc, err := ListenTCP(ctx.Executor(), ep)
	if err != nil {
		t.Skipf("IPv6 loopback unavailable on this host: %v", err)
	}
	acc.Close()
	return ep
}

// TestEcho: connect and accept asynchronously over IPv4 and IPv6, echo a
// message with AsyncReadSome/AsyncWrite, and check the endpoints.
func TestEcho(t *testing.T) {
	for _, fam := range []string{"IPv4", "IPv6"} {
		t.Run(fam, func(t *testing.T) {
			ctx := newTestContext(t)
			listen := loopback4
			if fam == "IPv6" {
				listen = ipv6Loopback(t, ctx)
			}
			acc, err := ListenTCP(ctx.Executor(), listen)
			if err != nil {
				t.Fatal(err)
			}
			defer acc.Close()
			if acc.LocalEndpoint().Port() == 0 || acc.LocalEndpoint().Addr() != listen.Addr() {
				t.Fatalf("acceptor endpoint %v", acc.LocalEndpoint())
			}
			msg := []byte("hello, asio " + fam)
			var server *TCPSocket
			echoed := make([]byte, len(msg))
			var got int
			var steps []string

			acc.AsyncAccept(func(s *TCPSocket, err error) {
				if err != nil {
					t.Errorf("accept: %v", err)
					return
				}
				steps = append(steps, "accepted")
				server = s
				buf := make([]byte, 256)
				s.AsyncReadSome([][]byte{buf}, func(n int, err error) {
					if err != nil {
						t.Errorf("server read: %v", err)
						return
					}
					steps = append(steps, "server read")
					AsyncWrite(s, [][]byte{buf[:n]}, func(n int, err error) {
						if err != nil {
							t.Errorf("server write: %v", err)
						}
					})
				})
			})
			client := NewTCPSocket(ctx.Executor())
			defer client.Close()
			client.AsyncConnect(acc.LocalEndpoint(), func(err error) {
				if err != nil {
					t.Errorf("connect: %v", err)
					return
				}
				steps = append(steps, "connected")
				AsyncWrite(client, [][]byte{msg}, func(n int, err error) {
					if err != nil || n != len(msg) {
						t.Errorf("client write (%d, %v)", n, err)
					}
					AsyncRead(client, [][]byte{echoed}, func(n int, err error) {
						if err != nil {
							t.Errorf("client read: %v", err)
						}
						got = n
					})
				})
			})
			ctx.Run()
			if got != len(msg) || !bytes.Equal(echoed, msg) {
				t.Fatalf("echoed %q, want %q (steps %v)", echoed[:got], msg, steps)
			}
			defer server.Close()
			cl, err1 := client.LocalEndpoint()
			cr, err2 := client.RemoteEndpoint()
			sl, err3 := server.LocalEndpoint()
			sr, err4 := server.RemoteEndpoint()
			if err := errors.Join(err1, err2, err3, err4); err != nil {
				t.Fatal(err)
			}
			if cl != sr || cr != sl || sl != acc.LocalEndpoint() {
				t.Errorf("endpoints: client %v->%v, server %v->%v, acceptor %v", cl, cr, sl, sr, acc.LocalEndpoint())
			}
			if cl.Addr() != listen.Addr() {
				t.Errorf("client local address %v, want %v", cl.Addr(), listen.Addr())
			}
			if server.Executor() != ctx.Executor() || !server.IsOpen() {
				t.Error("accepted socket not open on the acceptor's executor")
			}
		})
	}
}

func TestConnectErrors(t *testing.T) {
	ctx := newTestContext(t)
	cases := []struct {
		name string
		ep   netip.AddrPort
		want error // nil: any error
	}{
		{"refused", closedPort(t, ctx), syscall.ECONNREFUSED},
		{"invalid endpoint", netip.AddrPort{}, nil},
		{"port 0", netip.MustParseAddrPort("127.0.0.1:0"), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewTCPSocket(ctx.Executor())
			defer s.Close()
			h, ch := errChan()
			s.AsyncConnect(c.ep, h)
			err := runFor1(t, ctx, ch)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("AsyncConnect(%v): %v, want %v", c.ep, err, c.want)
			}
			// The blocking form agrees.
			s2 := NewTCPSocket(ctx.Executor())
			defer s2.Close()
			if err := s2.Connect(c.ep); err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("Connect(%v): %v, want %v", c.ep, err, c.want)
			}
		})
	}
	if _, err := ListenTCP(ctx.Executor(), netip.AddrPort{}); err == nil {
		t.Error("ListenTCP on an invalid endpoint succeeded")
	}

	// An IPv4 socket to an IPv6 endpoint: an error through the handler.
	h, ch := errChan()
	s4 := NewTCPSocket(ctx.Executor())
	defer s4.Close()
	if err := s4.Open(IPv4); err != nil {
		t.Fatal(err)
	}
	s4.AsyncConnect(netip.MustParseAddrPort("[2001:db8::1]:80"), h)
	if err := runFor1(t, ctx, ch); err == nil {
		t.Error("AsyncConnect of an IPv4 socket to an IPv6 endpoint succeeded")
	}
}

// TestDescriptorReuse: sockets closed while their reads wait, and new ones
// opened at once (taking the same descriptor numbers) while two goroutines
// run the loop: a read never completes with another socket's bytes, every
// handler runs once.
func TestDescriptorReuse(t *testing.T) {
	ctx := newTestContext(t)
	_, stop := runInBackground(t, ctx, 2)
	defer stop()
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	for i := 0; i < 200; i++ {
		c := NewTCPSocket(ctx.Executor())
		if err := c.Connect(acc.LocalEndpoint()); err != nil {
			t.Fatal(err)
		}
		s, err := acc.Accept()
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan result, 2)
		buf := make([]byte, 4)
		s.AsyncReadSome([][]byte{buf}, func(n int, err error) { ch <- result{n: n, err: err} })
		tag := []byte{byte(i), byte(i >> 8), 'x', 'y'}
		if i%2 == 0 {
			c.WriteSome([][]byte{tag}) // an event may be on its way
		}
		s.Close()
		c.Close()
		r := waitChan(t, ch, "read on a closed socket")
		switch {
		case isAborted(r.err) && r.n == 0:
		case r.err == nil && r.n > 0 && bytes.Equal(buf[:r.n], tag[:r.n]) && i%2 == 0:
		default:
			t.Fatalf("round %d: (%d, %v) %q", i, r.n, r.err, buf[:r.n])
		}
		select {
		case r := <-ch:
			t.Fatalf("round %d: handler ran twice (%v)", i, r.err)
		default:
		}
	}
}

// TestBadDescriptor: every op on a never-opened or closed socket completes
// with ErrBadDescriptor through its handler, empty buffers included (the
// descriptor check comes first); the blocking forms and Cancel/Close say
// the same.
func TestBadDescriptor(t *testing.T) {
	type opFn func(s *TCPSocket, h func(int, error))
	buf := make([]byte, 8)
	ops := []struct {
		name string
		op   opFn
	}{
		{"AsyncWriteSome", func(s *TCPSocket, h func(int, error)) { s.AsyncWriteSome([][]byte{buf}, h) }},
		{"AsyncWriteSome empty", func(s *TCPSocket, h func(int, error)) { s.AsyncWriteSome(nil, h) }},
		{"AsyncSend", func(s *TCPSocket, h func(int, error)) { s.AsyncSend([][]byte{buf}, 0, h) }},
		{"AsyncSend OOB", func(s *TCPSocket, h func(int, error)) { s.AsyncSend([][]byte{buf}, MsgOutOfBand, h) }},
		{"AsyncReadSome", func(s *TCPSocket, h func(int, error)) { s.AsyncReadSome([][]byte{buf}, h) }},
		{"AsyncReadSome empty", func(s *TCPSocket, h func(int, error)) { s.AsyncReadSome([][]byte{nil}, h) }},
		{"AsyncReceive", func(s *TCPSocket, h func(int, error)) { s.AsyncReceive([][]byte{buf}, MsgPeek, h) }},
		{"AsyncReceive OOB", func(s *TCPSocket, h func(int, error)) { s.AsyncReceive([][]byte{buf}, MsgOutOfBand, h) }},
		{"AsyncWait read", func(s *TCPSocket, h func(int, error)) { s.AsyncWait(WaitRead, errH(h)) }},
		{"AsyncWait write", func(s *TCPSocket, h func(int, error)) { s.AsyncWait(WaitWrite, errH(h)) }},
		{"AsyncWait error", func(s *TCPSocket, h func(int, error)) { s.AsyncWait(WaitError, errH(h)) }},
		{"AsyncWrite", func(s *TCPSocket, h func(int, error)) { AsyncWrite(s, [][]byte{buf}, h) }},
		{"AsyncRead", func(s *TCPSocket, h func(int, error)) { AsyncRead(s, [][]byte{buf}, h) }},
		{"AsyncReadUntil", func(s *TCPSocket, h func(int, error)) {
			AsyncReadUntil(s, NewDynamicBuffer(0), []byte("\n"), h)
		}},
		{"WriteSome", func(s *TCPSocket, h func(int, error)) { h(s.WriteSome([][]byte{buf})) }},
		{"ReadSome", func(s *TCPSocket, h func(int, error)) { h(s.ReadSome([][]byte{buf})) }},
		{"Send", func(s *TCPSocket, h func(int, error)) { h(s.Send([][]byte{buf}, 0)) }},
		{"Receive", func(s *TCPSocket, h func(int, error)) { h(s.Receive([][]byte{buf}, 0)) }},
		{"Cancel", func(s *TCPSocket, h func(int, error)) { h(0, s.Cancel()) }},
		{"Close", func(s *TCPSocket, h func(int, error)) { h(0, s.Close()) }},
		{"Shutdown", func(s *TCPSocket, h func(int, error)) { h(0, s.Shutdown(ShutdownBoth)) }},
		{"SetNoDelay", func(s *TCPSocket, h func(int, error)) { h(0, s.SetNoDelay(true)) }},
		{"LocalEndpoint", func(s *TCPSocket, h func(int, error)) { _, err := s.LocalEndpoint(); h(0, err) }},
		{"RemoteEndpoint", func(s *TCPSocket, h func(int, error)) { _, err := s.RemoteEndpoint(); h(0, err) }},
	}
	sockets := []struct {
		name string
		make func(t *testing.T, ctx *IOContext) *TCPSocket
	}{
		{"never opened", func(t *testing.T, ctx *IOContext) *TCPSocket { return neverOpened(ctx) }},
		{"closed", closedSocket},
	}
	for _, so := range sockets {
		for _, o := range ops {
			t.Run(so.name+"/"+o.name, func(t *testing.T) {
				ctx := newTestContext(t)
				s := so.make(t, ctx)
				h, ch := resultChan()
				o.op(s, h)
				r := runFor1(t, ctx, ch)
				if !errors.Is(r.err, ErrBadDescriptor) || r.n != 0 {
					t.Fatalf("got (%d, %v), want (0, ErrBadDescriptor)", r.n, r.err)
				}
				if s.IsOpen() {
					t.Fatal("IsOpen on a socket that is not open")
				}
			})
		}
	}
}

// TestEmptyBuffers: zero-size ops on an open stream socket complete with
// (0, nil) without touching the stream, whatever form the empty sequence
// takes.
func TestEmptyBuffers(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	empties := map[string]Buffers{"nil": nil, "no buffers": {}, "one empty": {{}}, "three empty": {nil, {}, make([]byte, 0, 8)}}
	for name, b := range empties {
		for _, op := range []struct {
			name string
			f    func(h func(int, error))
		}{
			{"AsyncWriteSome", func(h func(int, error)) { c.AsyncWriteSome(b, h) }},
			{"AsyncSend", func(h func(int, error)) { c.AsyncSend(b, 0, h) }},
			{"AsyncReadSome", func(h func(int, error)) { s.AsyncReadSome(b, h) }},
			{"AsyncReceive", func(h func(int, error)) { s.AsyncReceive(b, 0, h) }},
			{"AsyncWrite", func(h func(int, error)) { AsyncWrite(c, b, h) }},
			{"AsyncRead", func(h func(int, error)) { AsyncRead(s, b, h) }},
			{"WriteSome", func(h func(int, error)) { h(c.WriteSome(b)) }},
			{"ReadSome", func(h func(int, error)) { h(s.ReadSome(b)) }},
		} {
			h, ch := resultChan()
			op.f(h)
			if r := runFor1(t, ctx, ch); r.n != 0 || r.err != nil {
				t.Errorf("%s(%s): (%d, %v), want (0, nil)", op.name, name, r.n, r.err)
			}
		}
	}
	// Nothing was written: the peer has nothing to read.
	if rev, _ := pollFD(fdOf(t, s), pollIn, 0); rev != 0 {
		t.Errorf("empty writes made the peer readable (revents %#x)", rev)
	}
	// A read with an empty buffer among non-empty ones is a real read.
	if _, err := c.WriteSome([][]byte{[]byte("ab")}); err != nil {
		t.Fatal(err)
	}
	one, two := make([]byte, 1), make([]byte, 1)
	h, ch := resultChan()
	s.AsyncReadSome([][]byte{nil, one, {}, two}, h)
	if r := runFor1(t, ctx, ch); r.n != 2 || r.err != nil || one[0] != 'a' || two[0] != 'b' {
		t.Errorf("read into sparse buffers: (%d, %v) %q %q", r.n, r.err, one, two)
	}
}

func fdOf(t *testing.T, s *TCPSocket) int {
	fd, err := osFD(&s.d)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

// TestReadAfterPeerClose: io.EOF every time, for a pending read and for
// reads started after, and for the blocking form.
func TestReadAfterPeerClose(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	buf := make([]byte, 16)
	h, ch := resultChan()
	s.AsyncReadSome([][]byte{buf}, h) // pending when the peer closes
	c.WriteSome([][]byte{[]byte("last")})
	if r := runFor1(t, ctx, ch); r.n != 4 || r.err != nil {
		t.Fatalf("read of the last data: (%d, %v)", r.n, r.err)
	}
	s.AsyncReadSome([][]byte{buf}, h)
	c.Close()
	for i := 0; i < 3; i++ {
		if r := runFor1(t, ctx, ch); r.n != 0 || r.err != io.EOF {
			t.Fatalf("read %d after peer close: (%d, %v), want (0, io.EOF)", i+1, r.n, r.err)
		}
		s.AsyncReceive([][]byte{buf}, 0, h)
	}
	if r := runFor1(t, ctx, ch); r.err != io.EOF {
		t.Fatalf("AsyncReceive after peer close: %v", r.err)
	}
	for i := 0; i < 2; i++ {
		if n, err := s.ReadSome([][]byte{buf}); n != 0 || err != io.EOF {
			t.Fatalf("ReadSome after peer close: (%d, %v)", n, err)
		}
	}
	AsyncRead(s, [][]byte{buf}, h)
	if r := runFor1(t, ctx, ch); r.err != io.EOF {
		t.Fatalf("AsyncRead after peer close: %v", r.err)
	}
}

// TestWriteSomeShortWhenPeerDoesNotRead: 8 MiB offered to a peer that does
// not read: AsyncWriteSome moves some, not all, and the bytes arrive intact.
func TestWriteSomeShortWhenPeerDoesNotRead(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	data := pattern(0, 8<<20)
	h, ch := resultChan()
	c.AsyncWriteSome([][]byte{data}, h)
	r := runFor1(t, ctx, ch)
	if r.err != nil || r.n <= 0 || r.n >= len(data) {
		t.Fatalf("AsyncWriteSome(8 MiB): (%d, %v), want 0 < n < 8 MiB", r.n, r.err)
	}
	got := readFull(t, s, r.n)
	if !bytes.Equal(got, data[:r.n]) {
		t.Fatal("peer read other bytes than the ones written")
	}
}

// TestOpsCompleteInInitiationOrder: ten 1-byte reads queued at once get the
// ten bytes written one at a time, in order; queued writes complete in
// order and the stream holds their bytes in that order.
func TestOpsCompleteInInitiationOrder(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	const n = 10
	var order []int
	bufs := make([][]byte, n)
	for i := 0; i < n; i++ {
		i := i
		bufs[i] = make([]byte, 1)
		s.AsyncReadSome([][]byte{bufs[i]}, func(m int, err error) {
			if err != nil || m != 1 {
				t.Errorf("read %d: (%d, %v)", i, m, err)
			}
			order = append(order, i)
		})
	}
	for i := 0; i < n; i++ {
		if _, err := c.WriteSome([][]byte{{byte('0' + i)}}); err != nil {
			t.Fatal(err)
		}
		// One byte at a time: let the reactor see each one alone.
		ctx.Restart()
		ctx.RunOne()
	}
	ctx.Restart()
	ctx.Run()
	if len(order) != n {
		t.Fatalf("%d reads completed, want %d", len(order), n)
	}
	for i := 0; i < n; i++ {
		if order[i] != i || bufs[i][0] != byte('0'+i) {
			t.Fatalf("reads completed in order %v with bytes %q", order, bufs)
		}
	}

	// Writes: the first one waits (clogged), the rest queue behind it.
	_, pending := clog(t, ctx, c, s)
	var worder []int
	var sizes []int
	chunks := make([][]byte, n)
	for i := 0; i < n; i++ {
		i := i
		chunks[i] = bytes.Repeat([]byte{byte('a' + i)}, 3000)
		c.AsyncWriteSome([][]byte{chunks[i]}, func(m int, err error) {
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
			worder = append(worder, i)
			sizes = append(sizes, m)
		})
	}
	all := drainAsync(s)
	first := runFor1(t, ctx, pending)
	ctx.Restart()
	ctx.Run()
	c.Shutdown(ShutdownSend)
	got := waitChan(t, all, "the peer's reads")
	if len(worder) != n {
		t.Fatalf("%d writes completed", len(worder))
	}
	var want []byte
	for i := 0; i < n; i++ {
		if worder[i] != i {
			t.Fatalf("writes completed in order %v", worder)
		}
		want = append(want, chunks[i][:sizes[i]]...)
	}
	if !bytes.HasSuffix(got, want) || len(got)-len(want) < first.n {
		t.Fatalf("the stream does not hold the queued writes' bytes in order")
	}
}

func TestAsyncWait(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	h, ch := errChan()
	s.AsyncWait(WaitRead, h)
	if ctx.Poll(); len(ch) != 0 {
		t.Fatalf("WaitRead completed with nothing to read: %v", <-ch)
	}
	c.WriteSome([][]byte{[]byte("xyz")})
	if err := runFor1(t, ctx, ch); err != nil {
		t.Fatalf("WaitRead: %v", err)
	}
	// The wait consumed nothing.
	if n, err := s.ReadSome([][]byte{make([]byte, 8)}); n != 3 || err != nil {
		t.Fatalf("read after WaitRead: (%d, %v)", n, err)
	}
	c.AsyncWait(WaitWrite, h)
	if err := runFor1(t, ctx, ch); err != nil {
		t.Fatalf("WaitWrite: %v", err)
	}
	// A wait then a read queued behind it, both satisfied by one edge.
	rh, rch := resultChan()
	s.AsyncWait(WaitRead, h)
	s.AsyncReadSome([][]byte{make([]byte, 8)}, rh)
	c.WriteSome([][]byte{[]byte("12")})
	if err := runFor1(t, ctx, ch); err != nil {
		t.Fatalf("WaitRead: %v", err)
	}
	if r := runFor1(t, ctx, rch); r.n != 2 || r.err != nil {
		t.Fatalf("read after wait: (%d, %v)", r.n, r.err)
	}
	// Cancel a pending wait.
	s.AsyncWait(WaitRead, h)
	if err := s.Cancel(); err != nil {
		t.Fatal(err)
	}
	if err := runFor1(t, ctx, ch); !isAborted(err) {
		t.Fatalf("cancelled wait: %v", err)
	}
}

// An AsyncWait of a WaitType that is none of the three completes with
// ErrInvalidArgument through its handler, never inline, and waits for
// nothing.
func TestAsyncWaitInvalidType(t *testing.T) {
	ctx := newTestContext(t)
	_, s := connectedPair(t, ctx)
	for _, w := range []WaitType{-1, 3, 256 + WaitWrite} {
		h, ch := errChan()
		s.AsyncWait(w, h)
		if len(ch) != 0 {
			t.Fatalf("AsyncWait(%d): the handler ran inside the initiating call", w)
		}
		if err := runFor1(t, ctx, ch); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("AsyncWait(%d): %v, want ErrInvalidArgument", w, err)
		}
	}
}

func TestShutdownSend(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	if err := c.Shutdown(ShutdownSend); err != nil {
		t.Fatal(err)
	}
	h, ch := resultChan()
	s.AsyncReadSome([][]byte{make([]byte, 8)}, h)
	if r := runFor1(t, ctx, ch); r.err != io.EOF {
		t.Fatalf("peer read after ShutdownSend: (%d, %v), want io.EOF", r.n, r.err)
	}
	// The other direction still works.
	s.AsyncWriteSome([][]byte{[]byte("back")}, h)
	if r := runFor1(t, ctx, ch); r.n != 4 || r.err != nil {
		t.Fatalf("peer write: (%d, %v)", r.n, r.err)
	}
	buf := make([]byte, 8)
	c.AsyncReadSome([][]byte{buf}, h)
	if r := runFor1(t, ctx, ch); r.n != 4 || string(buf[:4]) != "back" {
		t.Fatalf("read on the shut-down side: (%d, %v) %q", r.n, r.err, buf)
	}
	// Writing after ShutdownSend is an error (EPIPE), not a signal.
	c.AsyncWriteSome([][]byte{[]byte("x")}, h)
	if r := runFor1(t, ctx, ch); !errors.Is(r.err, syscall.EPIPE) {
		t.Fatalf("write after ShutdownSend: (%d, %v), want EPIPE", r.n, r.err)
	}
}

// TestPeerReset: a peer that resets (SO_LINGER 0 then Close) gives
// ECONNRESET to a pending read, EPIPE or ECONNRESET to writes, and never
// raises SIGPIPE.
func TestPeerReset(t *testing.T) {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGPIPE)
	defer signal.Stop(sigs)

	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	h, ch := resultChan()
	c.AsyncReadSome([][]byte{make([]byte, 8)}, h)
	if err := s.SetLinger(true, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if r := runFor1(t, ctx, ch); !errors.Is(r.err, syscall.ECONNRESET) || r.n != 0 {
		t.Fatalf("pending read on a reset connection: (%d, %v), want ECONNRESET", r.n, r.err)
	}
	for i := 0; i < 3; i++ {
		c.AsyncWriteSome([][]byte{make([]byte, 1024)}, h)
		r := runFor1(t, ctx, ch)
		if !errors.Is(r.err, syscall.EPIPE) && !errors.Is(r.err, syscall.ECONNRESET) {
			t.Fatalf("write %d on a reset connection: (%d, %v), want EPIPE or ECONNRESET", i, r.n, r.err)
		}
	}
	AsyncWrite(c, [][]byte{make([]byte, 100<<10)}, h)
	if r := runFor1(t, ctx, ch); !errors.Is(r.err, syscall.EPIPE) && !errors.Is(r.err, syscall.ECONNRESET) {
		t.Fatalf("AsyncWrite on a reset connection: (%d, %v)", r.n, r.err)
	}
	if _, err := c.WriteSome([][]byte{[]byte("x")}); !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("WriteSome on a reset connection: %v", err)
	}
	// A signal is delivered at the end of the syscall that raised it; the
	// notification goroutine needs a moment to pass it on.
	select {
	case sig := <-sigs:
		t.Fatalf("got %v writing to a reset connection", sig)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestPeerResetWhileWriting: the reset arrives while a write waits in the
// queue: it completes with EPIPE or ECONNRESET, exactly once.
func TestPeerResetWhileWriting(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	_, pending := clog(t, ctx, c, s)
	h, ch := resultChan()
	c.AsyncWriteSome([][]byte{make([]byte, 1000)}, h)
	s.SetLinger(true, 0)
	s.Close()
	for _, w := range []chan result{pending, ch} {
		r := runFor1(t, ctx, w)
		if !errors.Is(r.err, syscall.EPIPE) && !errors.Is(r.err, syscall.ECONNRESET) {
			t.Fatalf("queued write on a reset connection: (%d, %v)", r.n, r.err)
		}
	}
	ctx.Restart()
	ctx.Poll()
	if len(ch) != 0 || len(pending) != 0 {
		t.Fatal("a handler ran twice")
	}
}

// TestCancelAndCloseAbortPending: Cancel and Close abort pending ops of
// every direction exactly once; Cancel leaves the socket usable.
func TestCancelAndCloseAbortPending(t *testing.T) {
	for _, how := range []string{"Cancel", "Close"} {
		t.Run(how, func(t *testing.T) {
			ctx := newTestContext(t)
			c, s := connectedPair(t, ctx)
			_, pending := clog(t, ctx, c, s)
			results := make(chan result, 16)
			h := func(n int, err error) { results <- result{n: n, err: err} }
			c.AsyncWriteSome([][]byte{make([]byte, 100)}, h)
			c.AsyncSend([][]byte{make([]byte, 100)}, 0, h)
			c.AsyncReadSome([][]byte{make([]byte, 100)}, h)
			c.AsyncReceive([][]byte{make([]byte, 100)}, 0, h)
			c.AsyncWait(WaitRead, errH(h))
			c.AsyncWait(WaitWrite, errH(h))
			c.AsyncWait(WaitError, errH(h))
			var err error
			if how == "Cancel" {
				err = c.Cancel()
			} else {
				err = c.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			ctx.Restart()
			ctx.Run()
			if len(results) != 7 {
				t.Fatalf("%d handlers ran, want 7", len(results))
			}
			for len(results) > 0 {
				r := <-results
				if !isAborted(r.err) || r.n != 0 {
					t.Errorf("pending op after %s: (%d, %v), want (0, ErrOperationAborted)", how, r.n, r.err)
				}
			}
			if r := <-pending; !isAborted(r.err) {
				t.Errorf("clogging write after %s: (%d, %v)", how, r.n, r.err)
			}
			if how == "Cancel" {
				if !c.IsOpen() {
					t.Fatal("Cancel closed the socket")
				}
				// Still usable.
				got := drainAsync(s)
				hh, ch := resultChan()
				AsyncWrite(c, [][]byte{[]byte("after cancel")}, hh)
				if r := runFor1(t, ctx, ch); r.err != nil {
					t.Fatalf("write after Cancel: %v", r.err)
				}
				c.Shutdown(ShutdownSend)
				if b := waitChan(t, got, "peer"); !bytes.HasSuffix(b, []byte("after cancel")) {
					t.Fatal("peer did not get the write made after Cancel")
				}
			} else if c.IsOpen() {
				t.Fatal("open after Close")
			}
		})
	}
}

// TestCancelKeepsCompletedResult: an op whose syscall already ran keeps its
// result when Cancel comes before its handler.
func TestCancelKeepsCompletedResult(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	h, ch := resultChan()
	c.AsyncWriteSome([][]byte{[]byte("done")}, h) // speculative: done now
	c.Cancel()
	c.Close()
	if r := runFor1(t, ctx, ch); r.n != 4 || r.err != nil {
		t.Fatalf("a write that already ran: (%d, %v) after Cancel, want (4, nil)", r.n, r.err)
	}
	if got := readFull(t, s, 4); string(got) != "done" {
		t.Fatalf("peer got %q", got)
	}
}

// TestCloseRacesOps: ops started from several goroutines while others
// close the sockets: every handler runs exactly once, and nothing panics
// (run with -race).
func TestCloseRacesOps(t *testing.T) {
	ctx := newTestContext(t)
	_, stop := runInBackground(t, ctx, 2)
	const pairs, opsPer = 20, 50
	var started, finished atomic.Int64
	var calls sync.Map
	var wg sync.WaitGroup
	for p := 0; p < pairs; p++ {
		c, s := connectedPair(t, ctx)
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				buf := make([]byte, 32)
				for i := 0; i < opsPer; i++ {
					key := new(int)
					started.Add(1)
					h := func(n int, err error) {
						if _, dup := calls.LoadOrStore(key, true); dup {
							t.Errorf("handler called twice")
						}
						finished.Add(1)
					}
					switch (g + i) % 4 {
					case 0:
						c.AsyncWriteSome([][]byte{buf}, h)
					case 1:
						s.AsyncReadSome([][]byte{buf}, h)
					case 2:
						c.AsyncReadSome([][]byte{buf}, h)
					case 3:
						AsyncWrite(s, [][]byte{buf}, func(n int, err error) {
							if err != nil && !errors.Is(err, ErrWriteInProgress) && !errors.Is(err, ErrBadDescriptor) &&
								!isAborted(err) && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
								t.Errorf("AsyncWrite racing Close: %v", err)
							}
							h(n, err)
						})
					}
				}
			}(g)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.Gosched()
			c.Close()
			s.Close()
		}()
	}
	wg.Wait()
	stop()
	if s, f := started.Load(), finished.Load(); s != f {
		t.Fatalf("%d ops started, %d handlers ran", s, f)
	}
}

// TestNoGoroutinePerSocket: 1000 sockets each with a pending AsyncReadSome
// (and a pending accept and timer) add no goroutine.
func TestNoGoroutinePerSocket(t *testing.T) {
	const n = 1000
	ctx := newTestContext(t)
	onlyBackends(t, ctx, "the portable backend serves a pending read with a goroutine parked in the runtime's poller (TestPortableGoroutinePerPendingOp)", BackendEpoll, BackendIOUring)
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	clients := make([]*TCPSocket, 0, n)
	servers := make([]*TCPSocket, 0, n)
	defer func() {
		for _, s := range append(clients, servers...) {
			s.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c := NewTCPSocket(ctx.Executor())
		if err := c.Connect(acc.LocalEndpoint()); err != nil {
			t.Fatalf("connect %d: %v", i, err)
		}
		s, err := acc.Accept()
		if err != nil {
			t.Fatalf("accept %d: %v", i, err)
		}
		clients = append(clients, c)
		servers = append(servers, s)
	}
	runtime.GC()
	before := runtime.NumGoroutine()
	var aborted atomic.Int32
	buf := make([]byte, 1)
	for _, s := range servers {
		s.AsyncReadSome([][]byte{buf}, func(n int, err error) {
			if isAborted(err) {
				aborted.Add(1)
			}
		})
	}
	ctx.Poll()
	after := runtime.NumGoroutine()
	if after > before+3 {
		t.Fatalf("goroutines: %d before, %d with %d pending reads", before, after, n)
	}
	for _, s := range servers {
		s.Cancel()
	}
	ctx.Restart()
	ctx.Run()
	if aborted.Load() != n {
		t.Fatalf("%d reads aborted, want %d", aborted.Load(), n)
	}
}

func TestSocketOptions(t *testing.T) {
	ctx := newTestContext(t)
	c, _ := connectedPair(t, ctx)
	for name, err := range map[string]error{
		"SetNoDelay":           c.SetNoDelay(true),
		"SetKeepAlive":         c.SetKeepAlive(true),
		"SetLinger":            c.SetLinger(true, 1),
		"SetSendBufferSize":    c.SetSendBufferSize(64 << 10),
		"SetReceiveBufferSize": c.SetReceiveBufferSize(64 << 10),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if on, err := c.NoDelay(); err != nil || !on {
		t.Errorf("NoDelay after SetNoDelay(true): %v, %v", on, err)
	}
}

// TestReconnectAfterClose: AsyncConnect opens a closed socket again, as
// Asio's async_connect opens a socket that is not open.
func TestReconnectAfterClose(t *testing.T) {
	ctx := newTestContext(t)
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	s := NewTCPSocket(ctx.Executor())
	defer s.Close()
	for i := 0; i < 3; i++ {
		h, ch := errChan()
		s.AsyncConnect(acc.LocalEndpoint(), h)
		if err := runFor1(t, ctx, ch); err != nil {
			t.Fatalf("connect %d: %v", i, err)
		}
		peer, err := acc.Accept()
		if err != nil {
			t.Fatal(err)
		}
		rh, rch := resultChan()
		s.AsyncWriteSome([][]byte{{byte(i)}}, rh)
		if r := runFor1(t, ctx, rch); r.err != nil {
			t.Fatal(r.err)
		}
		if b := readFull(t, peer, 1); b[0] != byte(i) {
			t.Fatalf("peer %d read %d", i, b[0])
		}
		peer.Close()
		s.Close()
	}
}

// TestOutOfBand: AsyncReceive with MsgOutOfBand waits on the exceptional
// condition queue for urgent data (it is not tried at once: with no urgent
// data the kernel answers EINVAL, not EAGAIN), and then reads the urgent
// byte; AsyncWait(WaitError) sees it coming.
func TestOutOfBand(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	h, ch := resultChan()
	buf := make([]byte, 1)
	s.AsyncReceive([][]byte{buf}, MsgOutOfBand, h)
	wh, wch := errChan()
	s.AsyncWait(WaitError, wh)
	ctx.Poll()
	if len(ch) != 0 {
		r := <-ch
		t.Fatalf("AsyncReceive(MsgOutOfBand) with no urgent data completed with (%d, %v); want it to wait", r.n, r.err)
	}
	if len(wch) != 0 {
		t.Fatalf("AsyncWait(WaitError) completed with no urgent data: %v", <-wch)
	}
	if _, err := c.Send([][]byte{[]byte("!")}, MsgOutOfBand); err != nil {
		t.Fatal(err)
	}
	if r := runFor1(t, ctx, ch); r.n != 1 || r.err != nil || buf[0] != '!' {
		t.Fatalf("urgent read: (%d, %v) %q", r.n, r.err, buf)
	}
	if err := runFor1(t, ctx, wch); err != nil {
		t.Fatalf("AsyncWait(WaitError): %v", err)
	}
}

// TestOutOfBandEndsWithConnection: a pending AsyncReceive(MsgOutOfBand)
// completes once the connection is gone, with the error a read gets (io.EOF
// for an orderly close, ECONNRESET for a reset). Linux answers EINVAL to
// MSG_OOB both when no urgent data is there yet and after the connection
// ended; the second used to leave the receive waiting until Cancel or Close.
func TestOutOfBandEndsWithConnection(t *testing.T) {
	cases := []struct {
		name  string
		end   func(t *testing.T, peer, s *TCPSocket)
		want  error
		start bool // end the connection before the receive starts
	}{
		{"peer closes", func(t *testing.T, peer, _ *TCPSocket) { peer.Close() }, io.EOF, false},
		{"peer resets", func(t *testing.T, peer, _ *TCPSocket) {
			if err := peer.SetLinger(true, 0); err != nil {
				t.Fatal(err)
			}
			peer.Close()
		}, syscall.ECONNRESET, false},
		{"local shutdown", func(t *testing.T, _, s *TCPSocket) {
			if err := s.Shutdown(ShutdownBoth); err != nil {
				t.Fatal(err)
			}
		}, io.EOF, false},
		{"peer closed before", func(t *testing.T, peer, _ *TCPSocket) { peer.Close() }, io.EOF, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := newTestContext(t)
			peer, s := connectedPair(t, ctx)
			ctx.Poll() // consume the registration's edges
			if c.start {
				c.end(t, peer, s)
			}
			h, ch := resultChan()
			s.AsyncReceive([][]byte{make([]byte, 1)}, MsgOutOfBand, h)
			if !c.start {
				ctx.Poll()
				if len(ch) != 0 {
					r := <-ch
					t.Fatalf("completed with (%d, %v) while the connection was up", r.n, r.err)
				}
				c.end(t, peer, s)
			}
			r := runFor1(t, ctx, ch)
			if !errors.Is(r.err, c.want) || r.n != 0 {
				t.Fatalf("(%d, %v), want (0, %v)", r.n, r.err, c.want)
			}
			if len(ch) != 0 {
				t.Fatal("handler called twice")
			}
		})
	}
}

// FIFO completion order: a speculative op overtakes an earlier op that the
// poller has already performed (popped from d.q in fdState.ready) but not yet
// moved to c.q (queueBatchLocked runs only after be.wait returns).

func TestSpeculativeOpDoesNotOvertakePolledOp(t *testing.T) {
	const others = 120
	reorders := 0
	const rounds = 20
	for round := 0; round < rounds; round++ {
		if reviewFIFORound(t, others) {
			reorders++
		}
	}
	if reorders > 0 {
		t.Errorf("in %d of %d rounds the handler of read B (initiated after read A) ran before A's", reorders, rounds)
	}
}

func reviewFIFORound(t *testing.T, others int) (reordered bool) {
	ctx, err := NewIOContext()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	pair := func() (client, server *TCPSocket) {
		client = NewTCPSocket(ctx.Executor())
		if err := client.Connect(acc.LocalEndpoint()); err != nil {
			t.Fatal(err)
		}
		server, err := acc.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return client, server
	}
	peer, s := pair()
	defer peer.Close()
	defer s.Close()
	var peers, servers []*TCPSocket
	for i := 0; i < others; i++ {
		c, sv := pair()
		peers, servers = append(peers, c), append(servers, sv)
		defer c.Close()
		defer sv.Close()
	}
	g := NewWorkGuard(ctx.Executor())
	ctx.Poll() // consume the edges every registration reported

	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	wg.Add(2 + others)
	bufA, bufB := make([]byte, 4), make([]byte, 4)
	s.AsyncReadSome(Buffers{bufA}, func(n int, err error) {
		mu.Lock()
		order = append(order, "A")
		mu.Unlock()
		wg.Done()
	})
	for _, sv := range servers {
		b := make([]byte, 4)
		sv.AsyncReadSome(Buffers{b}, func(int, error) { wg.Done() })
	}
	// s becomes readable first: its event heads the epoll ready list.
	if _, err := peer.WriteSome(Buffers{[]byte("12345678")}); err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		p.WriteSome(Buffers{[]byte("x")}) // on loopback the bytes are there when it returns
	}

	// G: as soon as the poller has taken A off s's queue, initiate B.
	started := make(chan struct{})
	go func() {
		close(started)
		for {
			s.d.mu.Lock()
			empty := s.d.q[dirRead].empty()
			s.d.mu.Unlock()
			if empty {
				break
			}
		}
		s.AsyncReadSome(Buffers{bufB}, func(n int, err error) {
			mu.Lock()
			order = append(order, "B")
			mu.Unlock()
			wg.Done()
		})
	}()
	<-started
	runDone := make(chan struct{})
	go func() { ctx.Run(); close(runDone) }()
	wg.Wait()
	g.Reset()
	<-runDone
	mu.Lock()
	defer mu.Unlock()
	t.Logf("order %v", order)
	return len(order) == 2 && order[0] == "B"
}

// Immediate completions skip the queue: a zero-size read (or one whose
// WithContext is already done) initiated after a pending read completes
// first, although ops of one direction should complete in initiation order.

func TestZeroSizeCompletesAheadOfQueuedOp(t *testing.T) {
	ctx := newTestContext(t)
	client, server := connectedPair(t, ctx)
	var order []string
	server.AsyncReadSome(Buffers{make([]byte, 4)}, func(int, error) { order = append(order, "A") })
	server.AsyncReadSome(nil, func(int, error) { order = append(order, "B(empty)") })
	client.WriteSome(Buffers{[]byte("abcd")})
	deadline := time.Now().Add(2 * time.Second)
	for len(order) < 2 && time.Now().Before(deadline) {
		ctx.Restart()
		ctx.RunFor(20 * time.Millisecond)
	}
	// DESIGN.md: a zero-size op completes at once, with no syscall, even
	// while an op of its direction waits (Asio and Beast rely on it).
	if fmt.Sprint(order) != "[B(empty) A]" {
		t.Errorf("completion order %v, want [B(empty) A]", order)
	}
}
