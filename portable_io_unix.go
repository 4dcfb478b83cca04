//go:build unix

package asio

import (
	"io"
	"net/netip"
	"syscall"

	"github.com/goasio/asio/internal/sys"
)

// On unix the portable backend performs stream ops as the epoll backend
// does, through package net's syscall.RawConn: a speculative attempt in the
// initiating call (RawConn.Control, which never waits), and on EAGAIN a
// wait in the Go runtime's poller (RawConn.Read or Write on the serving
// goroutine) followed by the same non-blocking attempt. So AsyncWriteSome
// moves what the socket takes and reports it (a short write), a gather
// read fills several buffers with one readv, and message flags work.

// streamIO holds the prebuilt RawConn callbacks of a socket's reads and
// writes (stream or datagram), so that an attempt allocates nothing.
type streamIO struct {
	rc      syscall.RawConn
	specOp  *op  // the op tried by spec, under fdState.mu
	specOK  bool // spec's result
	spec    func(fd uintptr)
	readFn  func(fd uintptr) bool // attempts p.inflight[dirRead]
	writeFn func(fd uintptr) bool // attempts p.inflight[dirWrite]
	firstW  bool                  // writeFn's next call is its first for this op
	firstR  bool                  // readFn's next call is its first for this pooled read's wait
	v6      bool                  // the socket is AF_INET6
}

// rawDgram says that datagram ops go through the RawConn too.
const rawDgram = true

// portableSpeculates says that an op can be tried once on the caller's
// goroutine (speculate, and the WriteQueue's sendNow): here the runtime's
// descriptor takes a non-blocking syscall.
const portableSpeculates = true

// streamIO returns p's callbacks, made on first use with d.mu held (by
// startLocked and do, before any goroutine performs an op with them).
func (p *portableFD) streamIO() *streamIO {
	if p.sio != nil {
		return p.sio
	}
	sc, ok := p.conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	s := &streamIO{rc: rc, v6: p.family == IPv6}
	s.spec = func(fd uintptr) { s.specOK = s.attempt(fd, s.specOp) != wouldBlock }
	s.readFn = func(fd uintptr) bool {
		o := p.inflight[dirRead]
		if s.firstR {
			// The first call comes before any wait, just after an attempt
			// found nothing: a pooled read takes a buffer from its pool
			// only if poll(2) says there is data (or an end or error) to
			// read, so that a read that waits holds none, even for the
			// length of a failed recv.
			s.firstR = false
			if o.kind == opReadPooled && !sys.Ready(fd, false, false) {
				return false
			}
		}
		return s.attempt(fd, o) != wouldBlock
	}
	s.writeFn = func(fd uintptr) bool {
		// The first call comes before any wait: a socket that poll(2)
		// (and epoll) does not call writable yet may still take a byte or
		// two, but a write waits for real room, as on the epoll backend.
		if s.firstW {
			s.firstW = false
			if !sys.Ready(fd, true, false) {
				return false
			}
		}
		return s.attempt(fd, p.inflight[dirWrite]) != wouldBlock
	}
	p.sio = s
	return s
}

// speculative reports whether o is an op the unix portable backend tries
// at once.
func speculative(d *fdState, o *op) bool {
	switch o.kind {
	case opRead, opWrite, opWriteAll, opReadPooled, opWait:
		return !needsPoll(o)
	case opSendDgram, opSendTo, opRecvFrom:
		return true
	}
	return false
}

// speculate tries o once, inside the initiating call (d.mu held); it
// reports whether o has its result.
func (b *portableBackend) speculate(d *fdState, p *portableFD, o *op) bool {
	if p.conn == nil || !speculative(d, o) {
		return false
	}
	s := p.streamIO()
	if s == nil {
		return false
	}
	s.specOp, s.specOK = o, false
	if err := s.rc.Control(s.spec); err != nil {
		o.err = portableError(err)
		s.specOp = nil
		return true
	}
	s.specOp = nil
	if o.err == errNeedBuffer {
		o.err = nil // the serving goroutine waits for the pool
		return false
	}
	return s.specOK
}

// performStream performs a stream read, write or pooled read, waiting in
// the runtime's poller for readiness. An op in service is attempted through
// the prebuilt callbacks; a blocking form (blocking) through a closure of
// its own.
func (b *portableBackend) performStream(d *fdState, p *portableFD, o *op, blocking bool) error {
	if p.conn == nil {
		return syscall.ENOTCONN
	}
	s := p.streamIO()
	if s == nil {
		return syscall.ENOTCONN
	}
	if o.kind == opReadPooled {
		return b.readPooled(d, p, o)
	}
	var err error
	switch {
	case blocking:
		f := func(fd uintptr) bool { return s.attempt(fd, o) != wouldBlock }
		if o.direction() == dirWrite {
			err = s.rc.Write(f)
		} else {
			err = s.rc.Read(f)
		}
	case o.direction() == dirWrite:
		s.firstW = true
		err = s.rc.Write(s.writeFn)
	default:
		err = s.rc.Read(s.readFn)
	}
	if err != nil {
		return err
	}
	return o.err
}

// readPooled waits for data without a buffer, then takes one from the
// pool (waiting for a Put when max are out) and reads into it.
func (b *portableBackend) readPooled(d *fdState, p *portableFD, o *op) error {
	s := p.streamIO()
	for {
		s.firstR = true
		err := s.rc.Read(s.readFn)
		if err != nil {
			return err
		}
		if o.err != errNeedBuffer {
			return o.err
		}
		o.err = nil
		d.mu.Lock()
		if p.abort[dirRead] || b.rec(d) != p {
			d.mu.Unlock()
			return ErrOperationAborted
		}
		p.poolWait = o.pool.waitIfEmpty(d)
		wait := p.poolWait
		d.mu.Unlock()
		if wait {
			<-p.poolWake
		}
	}
}

// errNeedBuffer marks a pooled read whose pool has no buffer free: it
// waits for a Put, then tries again.
var errNeedBuffer = syscall.ENOBUFS

// attempt performs o's syscall once on fd, without waiting.
func (s *streamIO) attempt(fd uintptr, o *op) rawResult {
	var n int
	var err error
	switch o.kind {
	case opRead:
		switch {
		case o.flags != 0:
			n, err = sys.RecvFlags(fd, firstBuffer(o), int(o.flags))
		case o.bufs() != nil:
			n, err = sys.ReadvFD(fd, o.bufs())
		default:
			n, err = sys.ReadFD(fd, o.buffer())
		}
		if err == nil && n == 0 && len(firstBuffer(o)) > 0 {
			err = io.EOF
		}
	case opWrite:
		switch {
		case o.flags != 0:
			n, err = sys.SendFlags(fd, firstBuffer(o), int(o.flags))
		case o.bufs() != nil:
			n, err = sys.WritevFD(fd, o.bufs())
		default:
			n, err = sys.WriteFD(fd, o.buffer())
		}
	case opWriteAll:
		return attemptWriteAll(fd, o)
	case opReadPooled:
		return attemptPooled(fd, o)
	case opWait:
		if !sys.Ready(fd, WaitType(o.flags) == WaitWrite, false) {
			return wouldBlock
		}
		return done
	case opSendDgram:
		n, err = sys.SendToFD(fd, o.buffer(), o.bufs(), netip.AddrPort{}, s.v6, int(o.flags))
	case opSendTo:
		n, err = sys.SendToFD(fd, o.buffer(), o.bufs(), o.x.addr, s.v6, int(o.flags))
	case opRecvFrom:
		var from netip.AddrPort
		var trunc bool
		n, from, trunc, err = sys.RecvFromFD(fd, o.buffer(), o.bufs(), int(o.flags))
		if err == nil {
			o.ext().addr = from
			if trunc {
				err = ErrMessageTooLong
			}
		}
	default:
		panic("asio: internal error: the portable backend attempts only stream reads and writes")
	}
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return wouldBlock
	}
	o.n, o.err = int32(n), err
	return done
}

// attemptWriteAll writes what is left of an opWriteAll's buffers until all
// of it is written or the socket would block (the op then waits, keeping in
// o.n what it wrote); an error ends it with o.n bytes written before it.
// A short write is not a full socket here (WritevFD may take one buffer a
// call on some systems): only EAGAIN, or a write that took nothing, waits.
func attemptWriteAll(fd uintptr, o *op) rawResult {
	for {
		var n int
		var err error
		if bufs := o.bufs(); bufs != nil {
			n, err = sys.WritevFD(fd, bufs)
		} else {
			n, err = sys.WriteFD(fd, o.buffer())
		}
		if res, again := o.sent(n, err); !again {
			return res
		}
		if err == nil && n == 0 {
			return wouldBlock // nothing taken: wait for room
		}
	}
}

// attemptPooled takes a buffer from o's pool and reads into it; with no
// buffer free it ends with errNeedBuffer, which readPooled waits on.
func attemptPooled(fd uintptr, o *op) rawResult {
	b := o.pool.tryGet()
	if b == nil {
		o.err = errNeedBuffer
		return done
	}
	b = o.limitPooled(b)
	n, err := sys.ReadFD(fd, b)
	if err == syscall.EAGAIN || err == syscall.EINTR {
		o.pool.unget(b)
		return wouldBlock
	}
	if err != nil || n == 0 {
		o.pool.unget(b)
		if err == nil {
			err = io.EOF
		}
		o.err = err
		return done
	}
	o.setPooled(b[:n])
	return done
}

// portableSupports reports whether the portable backend can perform o
// here: on unix, everything.
func portableSupports(o *op) bool { return true }

// needsPoll reports whether o waits for what the runtime poller does not
// report (urgent data, an exceptional condition): such an op waits in
// poll(2) on its goroutine, in slices, so that a cancellation is seen.
func needsPoll(o *op) bool {
	switch o.kind {
	case opRead:
		return MessageFlags(o.flags)&MsgOutOfBand != 0
	case opWait:
		return WaitType(o.flags) == WaitError
	}
	return false
}

// pollSlice bounds each poll(2) of an op that needsPoll.
const pollSlice = 50 // ms

// performPoll waits for urgent data (or the connection's end) in poll(2),
// then receives it (MsgOutOfBand) or completes (WaitError).
func (b *portableBackend) performPoll(d *fdState, p *portableFD, o *op) error {
	s := p.streamIO()
	if s == nil {
		return syscall.ENOTCONN
	}
	dir := o.direction()
	for {
		d.mu.Lock()
		stop := p.abort[dir] || b.rec(d) != p
		seen := o.kind == opWait && p.urgent
		p.urgent = p.urgent && !seen
		d.mu.Unlock()
		if stop {
			return ErrOperationAborted
		}
		if seen {
			return nil // the urgent data a receive just took
		}
		var rev int16
		var perr error
		if err := s.rc.Control(func(fd uintptr) { rev, perr = sys.PollUrgent(fd, pollSlice) }); err != nil {
			return err
		}
		if perr != nil {
			return perr
		}
		if rev == 0 {
			continue
		}
		if o.kind == opWait {
			return nil
		}
		d.mu.Lock()
		p.urgent = true // an AsyncWait(WaitError) queued behind sees this edge
		d.mu.Unlock()
		var n int
		var rerr error
		if err := s.rc.Control(func(fd uintptr) { n, rerr = sys.RecvFlags(fd, firstBuffer(o), int(o.flags)) }); err != nil {
			return err
		}
		if rerr == syscall.EINVAL {
			rerr = nil
			if rev&sys.UrgentGone != 0 {
				rerr = endError(s)
			}
			if rerr == nil {
				continue // not urgent data after all
			}
		}
		if rerr == syscall.EAGAIN {
			continue
		}
		o.n = int32(n)
		return rerr
	}
}

// endError is the error that ended a connection: SO_ERROR, or io.EOF.
func endError(s *streamIO) error {
	var v int
	var err error
	s.rc.Control(func(fd uintptr) { v, err = sys.GetOption(fd, sys.OptError) })
	if err == nil && v != 0 {
		return syscall.Errno(v)
	}
	return io.EOF
}
