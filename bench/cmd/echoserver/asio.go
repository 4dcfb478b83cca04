//go:build !noasio

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/goasio/asio"
)

func init() { servers["asio"] = serveAsio }

// serveAsio is this library's echo server, written as an Asio user would:
// one IOContext per -contexts, each run by its own goroutine, one acceptor
// on the first whose accepted sockets are bound round robin to the contexts
// (AsyncAcceptOn), and per connection a struct whose handler method values
// are made once, so the read/write loop allocates nothing.
//
// A new connection first waits for readability (AsyncWait(WaitRead)) and
// gets its struct and 64 KiB buffer only when its first bytes arrive: an
// idle connection holds nothing of the server's but the pending wait's
// closure.
func serveAsio(addr string, contexts int) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return err
	}
	ctxs := make([]*asio.IOContext, contexts)
	for i := range ctxs {
		if ctxs[i], err = asio.NewIOContext(); err != nil {
			return err
		}
	}
	acc, err := asio.ListenTCP(ctxs[0].Executor(), ap)
	if err != nil {
		return err
	}
	srv := &asioServer{acc: acc, ctxs: ctxs, retry: asio.NewTimer(ctxs[0].Executor())}
	srv.onAcceptH = srv.onAccept
	srv.onRetryH = srv.onRetry
	srv.accept()
	announce(acc.LocalEndpoint().String())

	done := make(chan int, len(ctxs))
	for _, c := range ctxs {
		asio.NewWorkGuard(c.Executor()) // serve until killed, even with no connection
		go func(c *asio.IOContext) { done <- c.Run() }(c)
	}
	<-done
	return errors.New("an IOContext stopped")
}

type asioServer struct {
	acc       *asio.TCPAcceptor
	ctxs      []*asio.IOContext
	next      int // round robin over ctxs; only the accept handler touches it
	retry     *asio.Timer
	onAcceptH func(*asio.TCPSocket, error)
	onRetryH  func(error)
}

func (srv *asioServer) accept() {
	ex := srv.ctxs[srv.next].Executor()
	srv.next = (srv.next + 1) % len(srv.ctxs)
	srv.acc.AsyncAcceptOn(ex, srv.onAcceptH)
}

func (srv *asioServer) onAccept(s *asio.TCPSocket, err error) {
	if err != nil {
		if errors.Is(err, asio.ErrOperationAborted) || errors.Is(err, asio.ErrBadDescriptor) {
			return // acceptor closed
		}
		// EMFILE and the like: back off instead of spinning.
		fmt.Fprintln(os.Stderr, "asio accept:", err)
		srv.retry.ExpiresAfter(10 * time.Millisecond)
		srv.retry.AsyncWait(srv.onRetryH)
		return
	}
	_ = s.SetNoDelay(true)
	// Until its first bytes arrive a connection is only this pending wait
	// and its 16-byte closure; the connection's state comes after.
	s.AsyncWait(asio.WaitRead, func(err error) { startConn(s, err) })
	srv.accept()
}

func (srv *asioServer) onRetry(error) { srv.accept() }

// asioConn is one active connection, made when its first bytes arrive,
// with its buffer and its handler method values made once.
type asioConn struct {
	s       *asio.TCPSocket
	buf     *[readBufSize]byte
	onReadH func(n int, err error)
	onWrH   func(n int, err error)
}

func startConn(s *asio.TCPSocket, err error) {
	if err != nil {
		s.Close()
		return
	}
	c := &asioConn{s: s, buf: new([readBufSize]byte)}
	c.onReadH = c.onRead
	c.onWrH = c.onWrite
	s.AsyncReadSome(asio.Buffers{c.buf[:]}, c.onReadH)
}

func (c *asioConn) onRead(n int, err error) {
	if err != nil {
		c.s.Close()
		return
	}
	asio.AsyncWrite(c.s, asio.Buffers{c.buf[:n]}, c.onWrH)
}

func (c *asioConn) onWrite(_ int, err error) {
	if err != nil {
		c.s.Close()
		return
	}
	// POOLED READS GO HERE. This read keeps the connection's own 64 KiB
	// buffer pending while the client is quiet, which is what the
	// idle-after-echo scenario measures. Once the package has
	// AsyncReadPooled, the read becomes a pooled one (the buffer taken from
	// the pool when data arrives, handed to the write, returned after it)
	// and asioConn loses its buf; startConn's first read the same.
	c.s.AsyncReadSome(asio.Buffers{c.buf[:]}, c.onReadH)
}
