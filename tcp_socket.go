package asio

import (
	"net/netip"

	"github.com/goasio/asio/internal/sys"
)

// TCPSocket is a stream socket. Its asynchronous operations follow the five
// rules of the package; ops of one direction are performed and completed in
// the order they were initiated. Every method is safe from any goroutine.
type TCPSocket struct {
	d fdState
}

// NewTCPSocket returns a socket, not yet open, whose handlers run on ex.
// AsyncConnect and Connect open it.
func NewTCPSocket(ex Executor) *TCPSocket {
	s := new(TCPSocket)
	s.d.init(ex, false)
	return s
}

// Executor returns the executor the socket's handlers run on by default.
func (s *TCPSocket) Executor() Executor { return s.d.exec() }

// IsOpen reports whether the socket is open.
func (s *TCPSocket) IsOpen() bool { return s.d.be().isOpen(&s.d) }

// Open opens the socket for the given family without connecting it; an
// open socket gives syscall.EISCONN.
func (s *TCPSocket) Open(family AddressFamily) error { return s.d.be().open(&s.d, family) }

// AsyncConnect connects to ep, opening the socket first if needed (for ep's
// family). It supports terminal, partial and total cancellation.
func (s *TCPSocket) AsyncConnect(ep netip.AddrPort, h func(err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	o := newOp(opConnect, &s.d, opts)
	o.setE(h)
	o.ext().addr = ep
	s.d.start(o)
}

// Connect connects to ep and blocks until done; it needs no Run.
func (s *TCPSocket) Connect(ep netip.AddrPort) error {
	o := blockingOp(opConnect, 0, nil)
	o.x.addr = ep
	return s.d.be().do(&s.d, &o)
}

// AsyncWriteSome writes some of b (at least one byte unless b is empty or an
// error occurs) and passes the count to h. An empty b completes with (0, nil)
// and no syscall. It supports terminal, partial and total cancellation.
func (s *TCPSocket) AsyncWriteSome(b Buffers, h func(n int, err error), opts ...OpOption) {
	s.async(opWrite, b, 0, h, opts)
}

// AsyncSend is AsyncWriteSome with message flags.
func (s *TCPSocket) AsyncSend(b Buffers, flags MessageFlags, h func(n int, err error), opts ...OpOption) {
	s.async(opWrite, b, flags, h, opts)
}

// AsyncReadSome reads some bytes into b and passes the count to h; an
// orderly close by the peer gives io.EOF, every time. An empty b completes
// with (0, nil) and no syscall. It supports terminal, partial and total
// cancellation.
func (s *TCPSocket) AsyncReadSome(b Buffers, h func(n int, err error), opts ...OpOption) {
	s.async(opRead, b, 0, h, opts)
}

// AsyncReceive is AsyncReadSome with message flags; MsgOutOfBand reads
// urgent data and waits for it apart from ordinary reads. A receive of
// urgent data completes with the connection's error (io.EOF for an orderly
// close) once the connection ends.
func (s *TCPSocket) AsyncReceive(b Buffers, flags MessageFlags, h func(n int, err error), opts ...OpOption) {
	s.async(opRead, b, flags, h, opts)
}

func (s *TCPSocket) async(kind opKind, b Buffers, flags MessageFlags, h func(int, error), opts []OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	o := newOp(kind, &s.d, opts)
	o.setN(h)
	o.flags = packFlags(flags)
	o.setBuffers(b)
	s.d.start(o)
}

// AsyncReadPooled waits for data without holding a buffer, then reads into
// a buffer of p and passes it to h, which owns it until it calls p.Put. b
// holds the bytes read (len(b) > 0); an orderly close by the peer gives
// (nil, io.EOF), every time, and any other error comes with b == nil. When
// p's max buffers are all out, the read waits for a Put. It supports
// terminal, partial and total cancellation; a nil p completes with
// ErrInvalidArgument.
func (s *TCPSocket) AsyncReadPooled(p *BufferPool, h func(b []byte, err error), opts ...OpOption) {
	s.readPooled(p, 0, h, opts)
}

// readPooled is AsyncReadPooled reading at most limit bytes (0: a whole
// buffer).
func (s *TCPSocket) readPooled(p *BufferPool, limit int, h func([]byte, error), opts []OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	o := newOp(opReadPooled, &s.d, opts)
	o.setP(h)
	if p == nil {
		o.err = ErrInvalidArgument // start completes it at once
	}
	o.pool = p
	o.n = int32(limit)
	s.d.start(o)
}

// AsyncWait waits until the socket is ready to read, to write, or has an
// error or urgent data pending, without moving any byte. The portable
// backend cannot wait for WaitError (nor for WaitWrite on Windows): such a
// wait completes with ErrOperationNotSupported. A WaitType other than
// these three completes with ErrInvalidArgument.
func (s *TCPSocket) AsyncWait(w WaitType, h func(err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	o := newOp(opWait, &s.d, opts)
	o.setE(h)
	if w < WaitRead || w > WaitError {
		o.err = ErrInvalidArgument // start completes it at once
	}
	o.flags = uint8(w)
	s.d.start(o)
}

// WriteSome writes some of b, blocking until it can; it needs no Run.
func (s *TCPSocket) WriteSome(b Buffers) (int, error) { return s.Send(b, 0) }

// Send is WriteSome with message flags.
func (s *TCPSocket) Send(b Buffers, flags MessageFlags) (int, error) {
	o := blockingOp(opWrite, flags, b)
	err := s.d.be().do(&s.d, &o)
	return int(o.n), err
}

// ReadSome reads some bytes into b, blocking until it can.
func (s *TCPSocket) ReadSome(b Buffers) (int, error) { return s.Receive(b, 0) }

// Receive is ReadSome with message flags.
func (s *TCPSocket) Receive(b Buffers, flags MessageFlags) (int, error) {
	o := blockingOp(opRead, flags, b)
	err := s.d.be().do(&s.d, &o)
	return int(o.n), err
}

// Cancel completes every pending operation with ErrOperationAborted. An
// operation whose syscall already ran keeps its result.
func (s *TCPSocket) Cancel() error { return s.d.be().cancelAll(&s.d) }

// Close cancels like Cancel, then closes the descriptor.
func (s *TCPSocket) Close() error { return s.d.be().close(&s.d) }

// Shutdown disables sends, receives or both.
func (s *TCPSocket) Shutdown(how ShutdownType) error {
	return s.d.be().shutdownConn(&s.d, how != ShutdownSend, how != ShutdownReceive)
}

// LocalEndpoint returns the socket's local address.
func (s *TCPSocket) LocalEndpoint() (netip.AddrPort, error) { return s.d.localEndpoint() }

// RemoteEndpoint returns the peer's address.
func (s *TCPSocket) RemoteEndpoint() (netip.AddrPort, error) { return s.d.remoteEndpoint() }

// SetNoDelay sets TCP_NODELAY (Nagle's algorithm off).
func (s *TCPSocket) SetNoDelay(on bool) error { return s.d.setOption(sys.OptNoDelay, boolInt(on)) }

// NoDelay reports whether TCP_NODELAY is set.
func (s *TCPSocket) NoDelay() (bool, error) {
	v, err := s.d.getOption(sys.OptNoDelay)
	return v != 0, err
}

// SetKeepAlive sets SO_KEEPALIVE.
func (s *TCPSocket) SetKeepAlive(on bool) error {
	return s.d.setOption(sys.OptKeepAlive, boolInt(on))
}

// SetLinger sets SO_LINGER: on with 0 seconds makes Close reset the
// connection.
func (s *TCPSocket) SetLinger(on bool, seconds int) error {
	return s.d.be().control(&s.d, true, func(fd uintptr) error { return sys.SetLinger(fd, on, seconds) })
}

// SetSendBufferSize sets SO_SNDBUF.
func (s *TCPSocket) SetSendBufferSize(n int) error { return s.d.setOption(sys.OptSendBuffer, n) }

// SetReceiveBufferSize sets SO_RCVBUF.
func (s *TCPSocket) SetReceiveBufferSize(n int) error {
	return s.d.setOption(sys.OptReceiveBuffer, n)
}

// SetReuseAddress sets SO_REUSEADDR (before Connect binds the socket).
func (s *TCPSocket) SetReuseAddress(on bool) error {
	return s.d.setOption(sys.OptReuseAddr, boolInt(on))
}

// Bind binds the socket to a local endpoint, opening it first for ep's
// family if it is not open.
func (s *TCPSocket) Bind(ep netip.AddrPort) error { return s.d.be().bind(&s.d, ep) }

// writeAll is AsyncWrite without options: one op (opWriteAll) that the
// backend performs until every byte of b is written, as internal/poll's
// FD.Write loops, instead of a composed op of AsyncWriteSome steps. It
// does nothing and reports false when lockWriteAll fails: AsyncWrite's
// composed op then takes the write.
func (s *TCPSocket) writeAll(b Buffers, h func(int, error)) bool {
	if _, ok := s.lockWriteAll(b); !ok {
		return false
	}
	s.d.start(s.newWriteAll(b, h))
	return true
}

// lockWriteAll takes the socket's composed-write lock for one opWriteAll
// of b, which holds it until its handler is about to run (op.run), and
// returns b's length. It fails when b is more than one op holds (more
// than IOV_MAX buffers, or more bytes than one op counts) or when a
// composed write already runs (the composed op reports
// ErrWriteInProgress).
func (s *TCPSocket) lockWriteAll(b Buffers) (total int, ok bool) {
	if len(b) > sys.MaxIovecs {
		return 0, false
	}
	total = b.Len()
	return total, total <= maxSingleBuffer && s.d.tryLockWrite()
}

// newWriteAll makes the opWriteAll of b for h (the lock taken).
func (s *TCPSocket) newWriteAll(b Buffers, h func(int, error)) *op {
	o := newOp(opWriteAll, &s.d, nil)
	o.setN(h)
	o.setBuffers(b)
	return o
}

// writeNow is AsyncWrite(s, b, h) for a caller on s's executor that is
// not an initiating function (the WriteQueue's flush task): when the
// backend sends every byte at once (sendNow), or an error ends the write
// first, it returns the result, finished, and h is not called; otherwise
// the write goes on as AsyncWrite's, which calls h. The write counts as an
// op in Stats either way. Its fast path makes no op: ops are for what
// waits.
func (s *TCPSocket) writeNow(b Buffers, h func(int, error)) (n int, err error, finished bool) {
	total, ok := s.lockWriteAll(b)
	if !ok {
		AsyncWrite(s, b, h)
		return 0, nil, false
	}
	var tried bool
	if total > 0 {
		n, err, tried = s.d.sendNow(b)
	}
	if tried && (n == total || err != nil) {
		s.d.unlockWrite()
		st := &s.d.ctx().stats
		st.started.Add(1)
		st.finished.Add(1)
		return n, err, true
	}
	o := s.newWriteAll(b, h)
	if n > 0 {
		o.n = int32(n) // what went; the op sends the rest
		o.advance(n)
	}
	s.d.start(o)
	return 0, nil, false
}

// tryLockWrite marks a composed write in progress; false if one already is.
func (s *TCPSocket) tryLockWrite() bool { return s.d.tryLockWrite() }
func (s *TCPSocket) unlockWrite()       { s.d.unlockWrite() }
