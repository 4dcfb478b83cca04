package main

import (
	"github.com/goasio/asio/internal/reactor"
	"github.com/goasio/asio/internal/sys"
	"golang.org/x/sys/unix"
)

// serveEpoll is the baseline: the epoll backend's own machinery
// (internal/reactor, internal/sys) in a bare loop. Edge-triggered; a read
// shorter than the buffer means the socket is drained (no read that fails
// with EAGAIN), as the asio epoll backend does.
func serveEpoll(ln int) error {
	p, err := reactor.Open()
	if err != nil {
		return err
	}
	if err := p.Add(ln, 0); err != nil {
		return err
	}
	conns := map[uint64]int{}
	buf := make([]byte, 4096)
	events := make([]reactor.Event, 128)
	next := uint64(1)
	for {
		n := p.Wait(events, -1)
		for i := range events[:n] {
			tok := reactor.Token(&events[i])
			if tok == 0 {
				for {
					fd, _, err := sys.Accept(ln)
					if err != nil {
						break
					}
					unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
					conns[next] = fd
					p.Add(fd, next)
					next++
				}
				continue
			}
			fd, ok := conns[tok]
			if !ok || events[i].Events&unix.EPOLLIN == 0 {
				continue
			}
			for {
				k, err := sys.Recv(fd, buf, 0)
				if err != nil || k == 0 {
					if err != unix.EAGAIN {
						p.Del(fd)
						unix.Close(fd)
						delete(conns, tok)
					}
					break
				}
				for off := 0; off < k; {
					w, err := sys.Send(fd, buf[off:k], 0)
					if err == unix.EAGAIN {
						sys.Poll(fd, unix.POLLOUT, -1) // rare on loopback with 64 B messages
						continue
					}
					if err != nil {
						break
					}
					off += w
				}
				if k < len(buf) {
					break
				}
			}
		}
	}
}
