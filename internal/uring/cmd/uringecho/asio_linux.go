package main

import (
	"fmt"
	"net/netip"

	"github.com/goasio/asio"
)

// serveAsio runs the asio echo server of the bench module (bench/cmd/
// echoserver) on one IOContext with the backend ASIO_BACKEND names: a new
// connection waits with AsyncWait(WaitRead), then reads into its own buffer
// and writes the bytes back with AsyncWrite, or, with pooled, reads with
// AsyncReadPooled and gives each buffer back once it is written.
func serveAsio(pooled bool) error {
	ctx, err := asio.NewIOContext()
	if err != nil {
		return err
	}
	acc, err := asio.ListenTCP(ctx.Executor(), netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		return err
	}
	fmt.Println(acc.LocalEndpoint().String())
	pool := asio.NewBufferPool(4096, 0)
	var onAccept func(*asio.TCPSocket, error)
	onAccept = func(s *asio.TCPSocket, err error) {
		if err != nil {
			return
		}
		_ = s.SetNoDelay(true)
		if pooled {
			c := &pooledConn{s: s, pool: pool}
			c.onReadH, c.onWrH = c.onRead, c.onWrite
			s.AsyncReadPooled(pool, c.onReadH)
		} else {
			s.AsyncWait(asio.WaitRead, func(err error) { startAsioConn(s, err) })
		}
		acc.AsyncAccept(onAccept)
	}
	acc.AsyncAccept(onAccept)
	asio.NewWorkGuard(ctx.Executor())
	ctx.Run()
	return fmt.Errorf("the IOContext stopped")
}

type asioConn struct {
	s       *asio.TCPSocket
	buf     []byte
	onReadH func(n int, err error)
	onWrH   func(n int, err error)
}

func startAsioConn(s *asio.TCPSocket, err error) {
	if err != nil {
		s.Close()
		return
	}
	c := &asioConn{s: s, buf: make([]byte, 64<<10)}
	c.onReadH, c.onWrH = c.onRead, c.onWrite
	s.AsyncReadSome(asio.Buffers{c.buf}, c.onReadH)
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
	c.s.AsyncReadSome(asio.Buffers{c.buf}, c.onReadH)
}

type pooledConn struct {
	s       *asio.TCPSocket
	pool    *asio.BufferPool
	b       []byte
	onReadH func(b []byte, err error)
	onWrH   func(n int, err error)
}

func (c *pooledConn) onRead(b []byte, err error) {
	if err != nil {
		c.s.Close()
		return
	}
	c.b = b
	asio.AsyncWrite(c.s, asio.Buffers{b}, c.onWrH)
}

func (c *pooledConn) onWrite(_ int, err error) {
	c.pool.Put(c.b)
	c.b = nil
	if err != nil {
		c.s.Close()
		return
	}
	c.s.AsyncReadPooled(c.pool, c.onReadH)
}
