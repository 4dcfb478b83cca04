package asio

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
)

// TestAcceptMany: several accepts queued at once are satisfied in order by
// connections made later, and the accepted sockets work.
func TestAcceptMany(t *testing.T) {
	ctx := newTestContext(t)
	acc, err := ListenTCP(ctx.Executor(), loopback4, Backlog(16))
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	const n = 5
	var order []int
	accepted := make([]*TCPSocket, n)
	for i := 0; i < n; i++ {
		i := i
		acc.AsyncAccept(func(s *TCPSocket, err error) {
			if err != nil {
				t.Errorf("accept %d: %v", i, err)
				return
			}
			order = append(order, i)
			accepted[i] = s
		})
	}
	clients := make([]*TCPSocket, n)
	for i := range clients {
		clients[i] = NewTCPSocket(ctx.Executor())
		defer clients[i].Close()
		h, ch := errChan()
		clients[i].AsyncConnect(acc.LocalEndpoint(), h)
		if err := runFor1(t, ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	ctx.Restart()
	ctx.Run()
	if len(order) != n {
		t.Fatalf("%d accepts completed", len(order))
	}
	for i := range order {
		if order[i] != i {
			t.Fatalf("accepts completed in order %v", order)
		}
	}
	// Each accepted socket is the peer of the client connected at its turn.
	for i := 0; i < n; i++ {
		defer accepted[i].Close()
		cl, _ := clients[i].LocalEndpoint()
		ar, _ := accepted[i].RemoteEndpoint()
		if cl != ar {
			t.Errorf("accept %d got the connection from %v, client %d is %v", i, ar, i, cl)
		}
	}
}

// TestAcceptOnSecondContext: AsyncAcceptOn binds the new socket to another
// context: its handlers run in that context's Run; the accept handler runs
// on the acceptor's.
func TestAcceptOnSecondContext(t *testing.T) {
	ctx := newTestContext(t)
	other := newTestContext(t)
	ids, stop := runInBackground(t, other, 1)
	defer stop()
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	me := curGoroutineID()
	got := make(chan *TCPSocket, 1)
	acc.AsyncAcceptOn(other.Executor(), func(s *TCPSocket, err error) {
		if err != nil {
			t.Errorf("accept: %v", err)
		}
		if curGoroutineID() != me {
			t.Error("accept handler did not run on the acceptor's context")
		}
		got <- s
	})
	c := NewTCPSocket(ctx.Executor())
	defer c.Close()
	if err := c.Connect(acc.LocalEndpoint()); err != nil {
		t.Fatal(err)
	}
	s := runFor1(t, ctx, got)
	if s == nil {
		t.Fatal("no socket")
	}
	defer s.Close()
	if s.Executor() != other.Executor() || s.Executor().Context() != other {
		t.Fatal("accepted socket not bound to the other context's executor")
	}
	read := make(chan result, 1)
	buf := make([]byte, 8)
	s.AsyncReadSome([][]byte{buf}, func(n int, err error) {
		read <- result{n, err, curGoroutineID()}
	})
	c.WriteSome([][]byte{[]byte("hi")})
	r := waitChan(t, read, "read on the other context")
	if r.n != 2 || r.err != nil || string(buf[:2]) != "hi" {
		t.Fatalf("read (%d, %v) %q", r.n, r.err, buf)
	}
	if !ids()[r.gid] {
		t.Errorf("read handler ran on goroutine %d, not the other context's Run", r.gid)
	}
}

// TestAcceptCancelClose: a pending accept is aborted once by Cancel (the
// acceptor still accepts after) and by Close.
func TestAcceptCancelClose(t *testing.T) {
	ctx := newTestContext(t)
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	type acceptResult struct {
		s   *TCPSocket
		err error
	}
	ch := make(chan acceptResult, 4)
	h := func(s *TCPSocket, err error) { ch <- acceptResult{s, err} }
	acc.AsyncAccept(h)
	if err := acc.Cancel(); err != nil {
		t.Fatal(err)
	}
	if r := runFor1(t, ctx, ch); !isAborted(r.err) || r.s != nil {
		t.Fatalf("cancelled accept: (%v, %v)", r.s, r.err)
	}
	acc.AsyncAccept(h)
	c := NewTCPSocket(ctx.Executor())
	defer c.Close()
	if err := c.Connect(acc.LocalEndpoint()); err != nil {
		t.Fatal(err)
	}
	r := runFor1(t, ctx, ch)
	if r.err != nil || r.s == nil {
		t.Fatalf("accept after Cancel: (%v, %v)", r.s, r.err)
	}
	r.s.Close()
	acc.AsyncAccept(h)
	if err := acc.Close(); err != nil {
		t.Fatal(err)
	}
	if r := runFor1(t, ctx, ch); !isAborted(r.err) {
		t.Fatalf("accept pending at Close: %v", r.err)
	}
	if err := acc.Close(); !errors.Is(err, ErrBadDescriptor) {
		t.Errorf("second Close: %v, want ErrBadDescriptor", err)
	}
	if err := acc.Cancel(); !errors.Is(err, ErrBadDescriptor) {
		t.Errorf("Cancel after Close: %v, want ErrBadDescriptor", err)
	}
	if _, err := acc.Accept(); !errors.Is(err, ErrBadDescriptor) {
		t.Errorf("Accept after Close: %v, want ErrBadDescriptor", err)
	}
	ctx.Restart()
	ctx.Poll()
	if len(ch) != 0 {
		t.Fatal("an accept handler ran twice")
	}
}

func TestListenOptions(t *testing.T) {
	ctx := newTestContext(t)
	a1, err := ListenTCP(ctx.Executor(), loopback4, ReusePort(), Backlog(8))
	if err != nil {
		t.Fatal(err)
	}
	defer a1.Close()
	// ReusePort: a second acceptor on the same endpoint.
	a2, err := ListenTCP(ctx.Executor(), a1.LocalEndpoint(), ReusePort())
	if err != nil {
		t.Fatalf("second ReusePort listener: %v", err)
	}
	defer a2.Close()
	// Without it, the endpoint is taken.
	if a3, err := ListenTCP(ctx.Executor(), a1.LocalEndpoint()); err == nil {
		a3.Close()
		t.Error("listening twice on one endpoint without ReusePort succeeded")
	} else if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("listening on a taken endpoint: %v, want EADDRINUSE", err)
	}
	// An IPv6 wildcard listener accepts IPv4 unless V6Only.
	a6, err := ListenTCP(ctx.Executor(), netip.MustParseAddrPort("[::]:0"))
	if err != nil {
		t.Skipf("no IPv6 on this host: %v", err)
	}
	defer a6.Close()
	c := NewTCPSocket(ctx.Executor())
	defer c.Close()
	if err := c.Connect(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), a6.LocalEndpoint().Port())); err != nil {
		t.Fatalf("IPv4 connect to a dual-stack listener: %v", err)
	}
	s, err := a6.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if r, _ := s.RemoteEndpoint(); !r.Addr().Is4() {
		t.Errorf("peer of a dual-stack accept is %v, want the unmapped IPv4 address", r)
	}
}

// TestAcceptOnClosedContext: the target context of AsyncAcceptOn is closed:
// the handler gets an error and no socket, and the connection is not
// leaked (the client sees it end).
func TestAcceptOnClosedContext(t *testing.T) {
	ctx := newTestContext(t)
	other, err := NewIOContext()
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	type acceptResult struct {
		s   *TCPSocket
		err error
	}
	ch := make(chan acceptResult, 2)
	acc.AsyncAcceptOn(other.Executor(), func(s *TCPSocket, err error) { ch <- acceptResult{s, err} })
	c := NewTCPSocket(ctx.Executor())
	defer c.Close()
	if err := c.Connect(acc.LocalEndpoint()); err != nil {
		t.Fatal(err)
	}
	r := runFor1(t, ctx, ch)
	if r.err == nil || r.s != nil {
		t.Fatalf("accept onto a closed context: (%v, %v), want an error and no socket", r.s, r.err)
	}
	h, rch := resultChan()
	c.AsyncReadSome([][]byte{make([]byte, 4)}, h)
	if rr := runFor1(t, ctx, rch); rr.err == nil {
		t.Fatalf("the client's connection is still up: (%d, %v)", rr.n, rr.err)
	}
}
