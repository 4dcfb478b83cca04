//go:build !unix

package asio

import (
	"io"
	"net"
)

// Off unix (Windows: a socket of package net is overlapped, not
// non-blocking; js, wasip1, plan9) the portable backend performs stream
// ops with package net's blocking Read and Write on the serving goroutine:
// no speculative attempt, a read fills the first non-empty buffer, a write
// goes on until all of it is written (or the op is cancelled, with the
// bytes moved), and message flags are not supported.

type streamIO struct{}

// rawDgram says that datagram ops go through package net's UDPConn.
const rawDgram = false

// portableSpeculates says that no op is tried on the caller's goroutine:
// without unix calls only the serving goroutine performs (speculate
// reports false).
const portableSpeculates = false

func (b *portableBackend) speculate(d *fdState, p *portableFD, o *op) bool { return false }

func (b *portableBackend) performStream(d *fdState, p *portableFD, o *op, blocking bool) error {
	c, err := p.connOrErr()
	if err != nil {
		return err
	}
	if o.flags != 0 {
		return ErrOperationNotSupported
	}
	var n int
	switch o.kind {
	case opReadPooled:
		return b.readPooled(d, p, c, o)
	case opRead:
		n, err = c.Read(firstBuffer(o))
		if n > 0 {
			err = nil // an error with data comes again on the next read
		}
	case opWrite, opWriteAll: // net.Conn's Write writes all, or fails
		if bufs := o.bufs(); bufs != nil {
			nb := net.Buffers(bufs) // a copy of the headers: WriteTo consumes it
			var m int64
			m, err = nb.WriteTo(c)
			n = int(m)
		} else {
			n, err = c.Write(o.buffer())
		}
	}
	o.n = int32(n)
	return err
}

// readPooled waits for data without a buffer, then takes one from the
// pool (waiting for a Put when max are out) and reads into it.
func (b *portableBackend) readPooled(d *fdState, p *portableFD, c net.Conn, o *op) error {
	w := op{flags: uint8(WaitRead)}
	if err := p.wait(&w); err != nil {
		return err
	}
	var buf []byte
	for {
		d.mu.Lock()
		if p.abort[dirRead] || b.rec(d) != p {
			d.mu.Unlock()
			return ErrOperationAborted
		}
		buf = o.pool.getOrWait(d)
		p.poolWait = buf == nil
		d.mu.Unlock()
		if buf != nil {
			break
		}
		<-p.poolWake
	}
	buf = o.limitPooled(buf)
	n, err := c.Read(buf)
	if n == 0 {
		o.pool.unget(buf)
		if err == nil {
			err = io.EOF
		}
		return err
	}
	o.setPooled(buf[:n])
	return nil
}

// portableSupports reports whether the portable backend can perform o
// here: no message flags, no wait for urgent data or for writability.
func portableSupports(o *op) bool {
	switch o.kind {
	case opRead, opWrite, opWriteAll, opSendDgram, opSendTo, opRecvFrom:
		return o.flags == 0
	case opWait:
		return WaitType(o.flags) == WaitRead
	}
	return true
}

func needsPoll(o *op) bool { return false }

func (b *portableBackend) performPoll(d *fdState, p *portableFD, o *op) error {
	return ErrOperationNotSupported
}

func (p *portableFD) streamIO() *streamIO { return nil }
