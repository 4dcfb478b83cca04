package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/goasio/asio/internal/uring"
	"golang.org/x/sys/unix"
)

// user_data of the echo server's SQEs: kind in the low byte, connection
// index above it (connections are never reused in a run).
const (
	kindAccept = iota
	kindRecv
	kindSend
)

func ud(kind int, conn int) uint64 { return uint64(conn)<<8 | uint64(kind) }

// ringConn is one echoed connection.
type ringConn struct {
	fd      int
	buf     []byte   // single mode: the receive buffer
	pending int      // single mode: bytes of buf still to send
	sent    int      // single mode: bytes of buf already sent
	queue   []uint16 // multishot mode: received buffers waiting to be sent, oldest first
	lens    []int32
	sending bool // multishot mode: a send is in flight (sends on a socket are kept in order)
	off     int32
	rearm   bool // multishot mode: the receive ended with ENOBUFS
	closed  bool
}

type ringServer struct {
	r         *uring.Ring
	br        *uring.BufRing
	multishot bool
	ln        int
	conns     []*ringConn
	starved   []int // multishot: connections waiting for buffers
	sends     int   // sends prepared this turn
}

// serveRing runs an echo server on a ring with the given setup flags,
// multishot receives into a buffer ring or single receives, until the
// process exits. It owns its OS thread for the ring's life, which
// SINGLE_ISSUER requires and which costs nothing here: the goroutine only
// ever blocks in io_uring_enter.
func serveRing(ln int, cfg uring.Config, multishot bool, batch uint32, minWait time.Duration) error {
	runtime.LockOSThread()
	r, err := uring.New(cfg)
	if err != nil {
		return err
	}
	s := &ringServer{r: r, ln: ln, multishot: multishot}
	if multishot {
		if s.br, err = r.NewBufRing(0, 1024, 4096); err != nil {
			return err
		}
	}
	s.sqe().PrepAcceptMultishot(ln, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, ud(kindAccept, 0))
	var cqes [256]uring.CQE
	for {
		want := batch
		switch batch {
		case 0: // adaptive: a quarter of the connections, 1 to 32
			want = uint32(max(1, min(32, len(s.conns)/4)))
		case ^uint32(0): // the sends of this turn, which complete at once, and one more
			want = uint32(min(32, 1+s.sends))
		}
		s.sends = 0
		if _, err := r.SubmitAndWaitMin(want, minWait, -1); err != nil {
			return err
		}
		for {
			n := r.Reap(cqes[:])
			if n == 0 {
				break
			}
			for i := range cqes[:n] {
				s.complete(&cqes[i])
			}
		}
	}
}

func (s *ringServer) send(fd int, b []byte, idx int) {
	s.sends++
	s.sqe().PrepSend(fd, b, 0, ud(kindSend, idx))
}

func (s *ringServer) sqe() *uring.SQE {
	q, err := s.r.NextSQE()
	if err != nil {
		fmt.Fprintln(os.Stderr, "uringecho:", err)
		os.Exit(1)
	}
	return q
}

func (s *ringServer) complete(c *uring.CQE) {
	kind, idx := int(c.UserData&0xff), int(c.UserData>>8)
	switch kind {
	case kindAccept:
		s.accepted(c)
		return
	}
	conn := s.conns[idx]
	if conn.closed {
		return
	}
	switch {
	case kind == kindRecv && s.multishot:
		s.receivedPooled(idx, conn, c)
	case kind == kindRecv:
		if c.Res <= 0 {
			s.close(conn)
			return
		}
		conn.pending, conn.sent = int(c.Res), 0
		s.send(conn.fd, conn.buf[:conn.pending], idx)
	case kind == kindSend && s.multishot:
		s.sentPooled(idx, conn, c)
	case kind == kindSend:
		if c.Res < 0 {
			s.close(conn)
			return
		}
		conn.sent += int(c.Res)
		if conn.sent < conn.pending {
			s.send(conn.fd, conn.buf[conn.sent:conn.pending], idx)
			return
		}
		s.sqe().PrepRecv(conn.fd, conn.buf, 0, ud(kindRecv, idx))
	}
}

func (s *ringServer) accepted(c *uring.CQE) {
	if c.Res < 0 {
		fmt.Fprintln(os.Stderr, "uringecho: accept:", c.Err())
		os.Exit(1)
	}
	if !c.More() {
		s.sqe().PrepAcceptMultishot(s.ln, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, ud(kindAccept, 0))
	}
	fd := int(c.Res)
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	conn := &ringConn{fd: fd}
	idx := len(s.conns)
	s.conns = append(s.conns, conn)
	if s.multishot {
		s.sqe().PrepRecvMultishot(fd, s.br.Group(), 0, ud(kindRecv, idx))
		return
	}
	conn.buf = make([]byte, 4096)
	s.sqe().PrepRecv(fd, conn.buf, 0, ud(kindRecv, idx))
}

func (s *ringServer) receivedPooled(idx int, conn *ringConn, c *uring.CQE) {
	if id, ok := c.Buffer(); ok && c.Res > 0 {
		conn.queue = append(conn.queue, id)
		conn.lens = append(conn.lens, c.Res)
		if !conn.sending {
			s.sendNext(idx, conn)
		}
		if !c.More() {
			s.sqe().PrepRecvMultishot(conn.fd, s.br.Group(), 0, ud(kindRecv, idx))
		}
		return
	}
	if c.Err() == syscall.ENOBUFS {
		conn.rearm = true
		s.starved = append(s.starved, idx)
		return
	}
	if !c.More() {
		s.close(conn)
	}
}

func (s *ringServer) sendNext(idx int, conn *ringConn) {
	id, n := conn.queue[0], conn.lens[0]
	conn.sending = true
	s.send(conn.fd, s.br.Buffer(id, int(n))[conn.off:], idx)
}

func (s *ringServer) sentPooled(idx int, conn *ringConn, c *uring.CQE) {
	if c.Res < 0 {
		s.close(conn)
		return
	}
	conn.off += c.Res
	if conn.off < conn.lens[0] {
		s.sendNext(idx, conn)
		return
	}
	s.br.Recycle(conn.queue[0])
	n := copy(conn.queue, conn.queue[1:])
	copy(conn.lens, conn.lens[1:])
	conn.queue, conn.lens, conn.off = conn.queue[:n], conn.lens[:n], 0
	conn.sending = false
	if len(conn.queue) > 0 {
		s.sendNext(idx, conn)
	}
	for _, w := range s.starved {
		if wc := s.conns[w]; wc.rearm && !wc.closed {
			wc.rearm = false
			s.sqe().PrepRecvMultishot(wc.fd, s.br.Group(), 0, ud(kindRecv, w))
		}
	}
	s.starved = s.starved[:0]
}

func (s *ringServer) close(conn *ringConn) {
	conn.closed = true
	for _, id := range conn.queue {
		s.br.Recycle(id)
	}
	conn.queue = nil
	unix.Close(conn.fd)
}
