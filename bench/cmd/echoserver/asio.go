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
// Reads are pooled (AsyncReadPooled): a connection holds no read buffer
// while it waits; it borrows a 64 KiB one from a shared BufferPool when
// bytes arrive and gives it back once they are written out.
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
	startConn(s)
	srv.accept()
}

func (srv *asioServer) onRetry(error) { srv.accept() }

// pool lends every connection its read buffers: a connection holds none
// while it waits for data.
var pool = asio.NewBufferPool(readBufSize, 0)

// asioConn is one connection: its socket, the pool buffer between a read
// and the write that echoes it, and its handler method values, made once.
type asioConn struct {
	s       *asio.TCPSocket
	buf     []byte
	onReadH func(b []byte, err error)
	onWrH   func(n int, err error)
}

func startConn(s *asio.TCPSocket) {
	c := &asioConn{s: s}
	c.onReadH = c.onRead
	c.onWrH = c.onWrite
	s.AsyncReadPooled(pool, c.onReadH)
}

func (c *asioConn) onRead(b []byte, err error) {
	if err != nil {
		c.s.Close()
		return
	}
	c.buf = b
	asio.AsyncWrite(c.s, asio.Buffers{b}, c.onWrH)
}

func (c *asioConn) onWrite(_ int, err error) {
	pool.Put(c.buf)
	c.buf = nil
	if err != nil {
		c.s.Close()
		return
	}
	c.s.AsyncReadPooled(pool, c.onReadH)
}
