package asio

import (
	"io"
	"strconv"
	"sync"
	"syscall"

	"github.com/goasio/asio/internal/sys"
)

// performRaw tries o's syscall on d (d.mu held). onEvent says readiness
// was just reported for o's direction, which is what completes a readiness
// wait. It is one function per op kind.
func performRaw(d *fdState, o *op, onEvent bool) rawResult {
	fd := int(d.sysfd)
	switch o.kind {
	case opRead:
		return rawRecv(fd, o)
	case opReadPooled:
		return rawRecvPooled(d, o)
	case opWrite:
		return rawSend(fd, o)
	case opWriteAll:
		return rawSendAll(fd, o)
	case opSendDgram:
		// One datagram, even of an empty or too long sequence.
		n, err := sys.SendTo(fd, o.buffer(), o.bufs(), nil, sys.MsgFlags(int(o.flags)))
		return rawDone(o, n, err)
	case opSendTo:
		to, err := sys.MakeSockaddr(o.x.addr, afOf(d.family()))
		if err != nil {
			return rawDone(o, 0, err)
		}
		n, err := sys.SendTo(fd, o.buffer(), o.bufs(), &to, sys.MsgFlags(int(o.flags)))
		return rawDone(o, n, err)
	case opRecvFrom:
		return rawRecvFrom(fd, o)
	case opAccept:
		return rawAccept(d, o)
	case opConnect:
		return rawConnected(fd, o, onEvent)
	case opWait:
		return rawWait(fd, o, onEvent)
	case opSendBatch, opRecvBatch:
		return rawBatch(d, o)
	}
	panic("asio: internal error: an op of kind " + strconv.Itoa(int(o.kind)) + " reached a raw descriptor")
}

// rawDone records a syscall's result; EAGAIN leaves the op waiting.
func rawDone(o *op, n int, err error) rawResult {
	if err == syscall.EAGAIN {
		return wouldBlock
	}
	o.n, o.err = int32(n), err // a syscall moves at most 0x7ffff000 bytes
	return done
}

// rawRecv reads into o's buffers: recvfrom(2) for one, recvmsg for several.
// A short read consumes the edge (Asio's reset_edge_on_partial_read), as
// does the end of the stream.
func rawRecv(fd int, o *op) rawResult {
	flags := sys.MsgFlags(int(o.flags))
	var n int
	var err error
	for {
		if bufs := o.bufs(); bufs == nil {
			n, err = sys.Recv(fd, o.buffer(), flags)
		} else {
			n, err = sys.Readv(fd, bufs, flags)
		}
		if err != syscall.EINTR {
			break
		}
	}
	oob := MessageFlags(o.flags)&MsgOutOfBand != 0
	if err == syscall.EINVAL && oob {
		// Linux answers EINVAL both when no urgent data has come yet and
		// when the connection is gone (FIN, RST, shutdown).
		if err = connectionEnd(fd); err == nil {
			return wouldBlock
		}
	}
	if res := rawDone(o, n, err); res != done || err != nil {
		return res
	}
	if n == 0 {
		o.err = io.EOF
		return doneExhausted
	}
	if MessageFlags(o.flags)&(MsgPeek|MsgOutOfBand) == 0 && n < iovSize(o.buffer(), o.bufs()) {
		return doneExhausted
	}
	return done
}

// rawRecvPooled takes a buffer from o's pool and reads into it; the buffer
// goes back to the pool unless data came.
func rawRecvPooled(d *fdState, o *op) rawResult {
	fd := int(d.sysfd)
	p := o.pool
	b := p.getOrWait(d)
	if b == nil {
		return needBuffer
	}
	b = o.limitPooled(b)
	var n int
	var err error
	for {
		n, err = sys.Recv(fd, b, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil || n == 0 {
		p.unget(b)
		if err == syscall.EAGAIN {
			return wouldBlock
		}
		if err == nil {
			err = io.EOF
		}
		o.err = err
		return doneExhausted
	}
	o.setPooled(b[:n])
	if n < len(b) {
		return doneExhausted
	}
	return done
}

// connectionEnd returns the error that ends fd's connection (io.EOF for an
// orderly end), or nil while it can still receive.
func connectionEnd(fd int) error {
	if sys.PollNow(fd, sys.PollRDHup)&(sys.PollRDHup|sys.PollHup|sys.PollErr) == 0 {
		return nil
	}
	if err := sys.SocketError(fd); err != nil {
		return err
	}
	return io.EOF
}

// rawSend writes o's buffers: send(2) for one, sendmsg for several (at most
// IOV_MAX of them: a longer sequence is a short write). A short write
// consumes the edge.
func rawSend(fd int, o *op) rawResult {
	flags := sys.MsgFlags(int(o.flags))
	var n int
	var err error
	for {
		if bufs := o.bufs(); bufs == nil {
			n, err = sys.Send(fd, o.buffer(), flags)
		} else {
			n, err = sys.Writev(fd, bufs, flags)
		}
		if err != syscall.EINTR {
			break
		}
	}
	if res := rawDone(o, n, err); res != done || err != nil {
		return res
	}
	if n < iovSize(o.buffer(), o.bufs()) {
		return doneExhausted
	}
	return done
}

// sendBuffers makes one send of b (send(2) for one buffer, sendmsg for
// several), again after EINTR.
func sendBuffers(fd int, b Buffers) (n int, err error) {
	for {
		if len(b) == 1 {
			n, err = sys.Send(fd, b[0], 0)
		} else {
			n, err = sys.Writev(fd, b, 0)
		}
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// rawSendAll sends what is left of an opWriteAll's buffers until all of it
// is written (done), or the socket is full (a short write, which consumes
// the edge, or EAGAIN: the op waits, keeping in o.n what it wrote), or an
// error ends it (done, with o.n bytes written before it).
func rawSendAll(fd int, o *op) rawResult {
	flags := sys.MsgFlags(int(o.flags))
	for {
		var n int
		var err error
		bufs := o.bufs()
		offered := iovSize(o.buffer(), bufs)
		if bufs == nil {
			n, err = sys.Send(fd, o.buffer(), flags)
		} else {
			n, err = sys.Writev(fd, bufs, flags)
		}
		if res, again := o.sent(n, err); !again {
			return res
		}
		if err == nil && n < offered {
			return wouldBlock // the socket took what fit
		}
		// EINTR, or more than IOV_MAX buffers: the next call takes the rest.
	}
}

func rawRecvFrom(fd int, o *op) rawResult {
	var from sys.Sockaddr
	n, trunc, err := sys.RecvFrom(fd, o.buffer(), o.bufs(), &from, sys.MsgFlags(int(o.flags)))
	if err == nil {
		o.ext().addr = from.AddrPort()
		if trunc {
			err = ErrMessageTooLong
		}
	}
	return rawDone(o, n, err)
}

func rawAccept(d *fdState, o *op) rawResult {
	for {
		fd, _, err := sys.Accept(int(d.sysfd))
		if err == syscall.ECONNABORTED {
			continue // the peer gave up first: take the next one
		}
		if err == nil {
			o.x.acc = accepted{fd: fd, family: d.family()}
		}
		return rawDone(o, 0, err)
	}
}

// rawConnected completes a non-blocking connect once the descriptor is
// writable and the handshake has ended.
func rawConnected(fd int, o *op, onEvent bool) rawResult {
	if !onEvent {
		return wouldBlock
	}
	err := sys.SocketError(fd)
	if err == nil {
		if _, perr := sys.Getpeername(fd); perr == syscall.ENOTCONN {
			return wouldBlock // the edge came before the handshake ended
		}
	}
	o.err = err
	return done
}

func rawWait(fd int, o *op, onEvent bool) rawResult {
	if onEvent {
		return done
	}
	if sys.PollNow(fd, pollEvents(o)) == 0 {
		return wouldBlock
	}
	return done
}

// iovSize is the number of bytes one syscall was offered: all of the
// buffers, or the first IOV_MAX non-empty ones of a longer sequence. A
// transfer shorter than that consumed the readiness edge.
func iovSize(buf []byte, bufs [][]byte) int {
	if bufs == nil {
		return len(buf)
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

// batchScratch pools the headers, addresses and iovecs of sendmmsg/recvmmsg
// calls. They are needed only during the call, so one pool serves every
// socket and an idle socket holds none.
var batchScratch = sync.Pool{New: func() any { return new(sys.MsgBatch) }}

// rawBatch is one sendmmsg or recvmmsg over o's messages.
func rawBatch(d *fdState, o *op) rawResult {
	msgs := o.x.batch
	if len(msgs) > sys.MaxBatch {
		msgs = msgs[:sys.MaxBatch]
	}
	if len(msgs) == 0 {
		o.n, o.err = 0, nil
		return done
	}
	b := batchScratch.Get().(*sys.MsgBatch)
	var n int
	var err error
	if o.kind == opSendBatch {
		n, err = sendBatch(b, d, msgs)
	} else {
		n, err = recvBatch(b, int(d.sysfd), msgs)
	}
	b.Clear()
	batchScratch.Put(b)
	return rawDone(o, n, err)
}

func sendBatch(b *sys.MsgBatch, d *fdState, msgs []Message) (int, error) {
	b.Reset(len(msgs))
	for i := range msgs {
		if err := b.AddSend(msgs[i].Buffers, msgs[i].Addr, afOf(d.family())); err != nil {
			if i == 0 {
				return 0, err
			}
			break // send what comes before; the next call reports the error
		}
	}
	n, err := b.Send(int(d.sysfd), 0)
	for i := 0; i < n; i++ {
		msgs[i].N = b.Len(i)
		msgs[i].Truncated = false
	}
	return n, err
}

func recvBatch(b *sys.MsgBatch, fd int, msgs []Message) (int, error) {
	b.Reset(len(msgs))
	for i := range msgs {
		b.AddRecv(msgs[i].Buffers)
	}
	n, err := b.Recv(fd, 0)
	for i := 0; i < n; i++ {
		msgs[i].N = b.Len(i)
		msgs[i].Addr = b.From(i)
		msgs[i].Truncated = b.Truncated(i)
	}
	return n, err
}
