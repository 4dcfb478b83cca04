package main

import (
	"errors"
	"fmt"
	"log"
	"net/netip"
	"runtime"
	"sync"

	"github.com/goasio/asio"
)

// asioServer is an echo server on package asio: one IOContext per Run
// goroutine, the acceptor on the first context, and accepted sockets spread
// round robin over all of them with AsyncAcceptOn.
type asioServer struct {
	ctxs     []*asio.IOContext
	guards   []*asio.WorkGuard // a context without sockets yet must not stop
	acc      *asio.TCPAcceptor
	next     int // context for the next accepted socket; used by the accept handler only
	onAccept func(*asio.TCPSocket, error)
	running  sync.WaitGroup
	poller   string // ", runtime poller" when the contexts wait in the Go runtime's poller
}

func startAsioServer(addr string, contexts int) (*asioServer, error) {
	ep, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	s := &asioServer{}
	s.onAccept = s.handleAccept
	// Sharing the process's Ps with the load generator's goroutines, the
	// contexts wait in the Go runtime's poller (asio.WithRuntimePoller);
	// alone on a core (the pinned child, GOMAXPROCS=1) they block in
	// epoll_wait directly, which saves a syscall per wakeup.
	var opts []asio.ContextOption
	if runtime.GOMAXPROCS(0) > 1 {
		opts = append(opts, asio.WithRuntimePoller())
		s.poller = ", runtime poller"
	}
	for range max(contexts, 1) {
		ctx, err := asio.NewIOContext(opts...)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.ctxs = append(s.ctxs, ctx)
		s.guards = append(s.guards, asio.NewWorkGuard(ctx.Executor()))
	}
	if s.acc, err = asio.ListenTCP(s.ctxs[0].Executor(), ep); err != nil {
		s.Close()
		return nil, err
	}
	s.accept()
	for _, ctx := range s.ctxs {
		s.running.Add(1)
		go func() {
			defer s.running.Done()
			ctx.Run()
		}()
	}
	return s, nil
}

func (s *asioServer) Addr() string { return s.acc.LocalEndpoint().String() }

func (s *asioServer) Info() string {
	return fmt.Sprintf("%s backend%s, %d IOContext(s)", s.ctxs[0].Backend(), s.poller, len(s.ctxs))
}

// Close stops accepting, stops every context and closes it, which aborts
// the pending reads and so closes every connection.
func (s *asioServer) Close() error {
	if s.acc != nil {
		s.acc.Close()
	}
	for _, g := range s.guards {
		g.Reset()
	}
	for _, ctx := range s.ctxs {
		ctx.Stop()
	}
	s.running.Wait()
	var errs []error
	for _, ctx := range s.ctxs {
		errs = append(errs, ctx.Close())
	}
	return errors.Join(errs...)
}

func (s *asioServer) accept() {
	ex := s.ctxs[s.next%len(s.ctxs)].Executor()
	s.next++
	s.acc.AsyncAcceptOn(ex, s.onAccept)
}

func (s *asioServer) handleAccept(sock *asio.TCPSocket, err error) {
	switch {
	case errors.Is(err, asio.ErrOperationAborted), errors.Is(err, asio.ErrBadDescriptor):
		return // the server is closing
	case err != nil:
		log.Printf("asio server: accept: %v", err)
	default:
		sock.SetNoDelay(true)
		c := newEchoConn(sock)
		sock.Executor().Post(c.read) // start it on its own context
	}
	s.accept()
}

// echoConn echoes one connection: each read handler writes back what was
// read, each write handler starts the next read. The buffer sequences and
// the handler method values are made once, so the steady state does not
// allocate.
type echoConn struct {
	sock    *asio.TCPSocket
	buf     []byte
	rbufs   asio.Buffers // {buf}
	wbufs   asio.Buffers // {buf[:n]}, refilled before each write
	onRead  func(n int, err error)
	onWrite func(n int, err error)
}

func newEchoConn(sock *asio.TCPSocket) *echoConn {
	c := &echoConn{sock: sock, buf: make([]byte, echoBufSize)}
	c.rbufs = asio.Buffers{c.buf}
	c.wbufs = make(asio.Buffers, 1)
	c.onRead, c.onWrite = c.handleRead, c.handleWrite
	return c
}

func (c *echoConn) read() { c.sock.AsyncReadSome(c.rbufs, c.onRead) }

func (c *echoConn) handleRead(n int, err error) {
	if err != nil { // io.EOF when the client is done
		c.sock.Close()
		return
	}
	c.wbufs[0] = c.buf[:n]
	asio.AsyncWrite(c.sock, c.wbufs, c.onWrite)
}

func (c *echoConn) handleWrite(_ int, err error) {
	if err != nil {
		c.sock.Close()
		return
	}
	c.read()
}
