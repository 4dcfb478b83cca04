package main

import (
	"errors"
	"net"
	"time"
)

// serveNet is the standard library's way: one goroutine per connection,
// blocking Read then Write on a 64 KiB buffer. Go sets TCP_NODELAY on every
// TCP connection by default.
func serveNet(addr string, _ int) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	announce(ln.Addr().String())
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			time.Sleep(5 * time.Millisecond) // EMFILE and the like
			continue
		}
		go echoConn(c)
	}
}

func echoConn(c net.Conn) {
	defer c.Close()
	buf := make([]byte, readBufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
