//go:build linux

package asio

import (
	"io"
	"syscall"

	"github.com/goasio/asio/internal/sys"
	"golang.org/x/sys/unix"
)

// perform tries o's syscall on d (d.mu held). It reports false when the
// syscall would block (the op stays or gets queued) and true when o has its
// result in o.n/o.err. onEvent says readiness was just reported for o's
// direction, which is what completes a readiness-only wait.
func (o *op) perform(d *fdState, onEvent bool) bool {
	var n int
	var err error
	switch o.kind {
	case opRead, opRecvDgram:
		n, err = o.recv(int(d.fd))
		if err == syscall.EINVAL && o.flags&unix.MSG_OOB != 0 {
			// Linux answers EINVAL both when no urgent data has come yet
			// and when the connection is gone (FIN, RST, shutdown).
			if err = connectionEnd(int(d.fd)); err == nil {
				return false // no urgent data yet: wait for EPOLLPRI
			}
		}
		if err == nil && o.kind == opRead {
			if n == 0 {
				err = io.EOF
			} else if o.flags&(unix.MSG_PEEK|unix.MSG_OOB) == 0 && n < o.iovSize() {
				d.rEmpty = true
			}
		}
	case opWrite:
		n, err = o.send(int(d.fd))
		if err == nil && n < o.iovSize() {
			d.wFull = true
		}
	case opSendDgram: // one datagram, even of empty or too many buffers
		n, err = sys.SendTo(int(d.fd), o.buf, o.bufs(), nil, int(o.flags))
	case opSendBatch, opRecvBatch:
		return o.performBatch(d)
	case opRecvFrom:
		var from sys.Sockaddr
		var trunc bool
		n, trunc, err = sys.RecvFrom(int(d.fd), o.buf, o.bufs(), &from, int(o.flags))
		if err == nil {
			o.ext().addr = from.AddrPort()
			if trunc {
				err = ErrMessageTooLong
			}
		}
	case opSendTo:
		var to sys.Sockaddr
		to, err = sys.MakeSockaddr(o.x.addr, d.family())
		if err == nil {
			n, err = sys.SendTo(int(d.fd), o.buf, o.bufs(), &to, int(o.flags))
		}
	case opAccept:
		for {
			o.x.fd, _, err = sys.Accept(int(d.fd))
			if err != syscall.ECONNABORTED {
				break // ECONNABORTED: the peer gave up first; take the next one
			}
		}
		o.flags = int32(d.fam)
	case opConnect:
		if !onEvent {
			return false
		}
		if err = sys.SocketError(int(d.fd)); err == nil {
			if _, perr := sys.Getpeername(int(d.fd)); perr == syscall.ENOTCONN {
				return false // the edge came before the handshake ended
			}
		}
	case opWait:
		if !onEvent {
			ev := int16(unix.POLLIN)
			switch o.flags {
			case int32(WaitWrite):
				ev = unix.POLLOUT
			case int32(WaitError):
				ev = unix.POLLPRI
			}
			if sys.PollNow(int(d.fd), ev) == 0 {
				return false
			}
		}
	}
	if err == syscall.EAGAIN {
		if o.kind != opWait && o.kind != opConnect {
			d.markEmpty(o)
		}
		return false
	}
	o.n, o.err = int32(n), err // a syscall moves at most 0x7ffff000 bytes
	return true
}

// connectionEnd returns the error that ends fd's connection (io.EOF for
// an orderly end), or nil while it can still receive.
func connectionEnd(fd int) error {
	if sys.PollNow(fd, unix.POLLRDHUP)&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) == 0 {
		return nil
	}
	if err := sys.SocketError(fd); err != nil {
		return err
	}
	return io.EOF
}

// markEmpty records that o's direction has no readiness left.
func (d *fdState) markEmpty(o *op) {
	switch o.kind {
	case opRead, opRecvDgram, opRecvFrom, opAccept, opRecvBatch:
		if o.flags&unix.MSG_OOB == 0 {
			d.rEmpty = true
		}
	case opWrite, opSendDgram, opSendTo, opSendBatch:
		d.wFull = true
	}
}

// recv reads into o's buffers: read(2) for one, recvmsg for several.
func (o *op) recv(fd int) (int, error) {
	for {
		var n int
		var err error
		if bufs := o.bufs(); bufs == nil {
			n, err = sys.Recv(fd, o.buf, int(o.flags))
		} else {
			n, err = sys.Readv(fd, bufs, int(o.flags))
		}
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// send writes o's buffers: send(2) for one, sendmsg for several (at most
// IOV_MAX of them: a longer sequence is a short write).
func (o *op) send(fd int) (int, error) {
	for {
		var n int
		var err error
		if bufs := o.bufs(); bufs == nil {
			n, err = sys.Send(fd, o.buf, int(o.flags))
		} else {
			n, err = sys.Writev(fd, bufs, int(o.flags))
		}
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// iovSize is the number of bytes one syscall was offered: all of o's
// buffers, or the first IOV_MAX non-empty ones of a longer sequence. A
// transfer shorter than that consumed the readiness edge.
func (o *op) iovSize() int {
	bufs := o.bufs()
	if bufs == nil {
		return len(o.buf)
	}
	n, k := 0, 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		if k == sys.MaxIovecs {
			break
		}
		n += len(b)
		k++
	}
	return n
}
