package asio

import (
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// TCPSocket is a stream socket. Its asynchronous operations follow the five
// rules of the package; ops of one direction are performed and completed in
// the order they were initiated. Every method is safe from any goroutine.
type TCPSocket struct {
	d  fdState
	ex Executor
}

// NewTCPSocket returns a socket, not yet open, whose handlers run on ex.
// AsyncConnect and Connect open it.
func NewTCPSocket(ex Executor) *TCPSocket {
	s := &TCPSocket{ex: ex}
	s.d.init(ex.Context())
	return s
}

// Executor returns the executor the socket's handlers run on by default.
func (s *TCPSocket) Executor() Executor { return s.ex }

// IsOpen reports whether the socket has a descriptor.
func (s *TCPSocket) IsOpen() bool { return s.d.isOpen() }

// Open opens the socket for the given family without connecting it.
func (s *TCPSocket) Open(family AddressFamily) error {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	if s.d.fd >= 0 {
		return syscall.EISCONN
	}
	return s.d.openLocked(familyOf(family), unix.SOCK_STREAM)
}

// AsyncConnect connects to ep, opening the socket first if needed (for ep's
// family). It supports terminal, partial and total cancellation.
func (s *TCPSocket) AsyncConnect(ep netip.AddrPort, h func(err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	c := s.d.c
	o := newOp(opConnect, c, s.ex, opts)
	o.h = h
	c.workStarted()
	d := &s.d
	d.mu.Lock()
	err := s.connectLocked(ep)
	if err == syscall.EINPROGRESS {
		d.startLocked(o, dirWrite)
		return
	}
	d.mu.Unlock()
	o.err = err
	o.completeNow()
}

func (s *TCPSocket) connectLocked(ep netip.AddrPort) error {
	if !ep.IsValid() {
		return syscall.EINVAL
	}
	d := &s.d
	if d.fd < 0 {
		if err := d.openLocked(sysFamily(ep), unix.SOCK_STREAM); err != nil {
			return err
		}
	} else if d.connected() {
		// Linux answers 0, not EISCONN, to the first connect(2) after a
		// non-blocking one completed; say what is true.
		return syscall.EISCONN
	}
	return d.connectStart(ep)
}

// Connect connects to ep and blocks until done; it needs no Run.
func (s *TCPSocket) Connect(ep netip.AddrPort) error {
	d := &s.d
	d.mu.Lock()
	err := s.connectLocked(ep)
	d.mu.Unlock()
	if err != syscall.EINPROGRESS {
		return err
	}
	o := op{kind: opConnect}
	return d.performBlocking(&o, pollOut)
}

// AsyncWriteSome writes some of b (at least one byte unless b is empty or an
// error occurs) and passes the count to h. An empty b completes with (0, nil)
// and no syscall. It supports terminal, partial and total cancellation.
func (s *TCPSocket) AsyncWriteSome(b Buffers, h func(n int, err error), opts ...OpOption) {
	s.async(opWrite, dirWrite, b, 0, h, opts)
}

// AsyncSend is AsyncWriteSome with message flags.
func (s *TCPSocket) AsyncSend(b Buffers, flags MessageFlags, h func(n int, err error), opts ...OpOption) {
	s.async(opWrite, dirWrite, b, flags, h, opts)
}

// AsyncReadSome reads some bytes into b and passes the count to h; an
// orderly close by the peer gives io.EOF, every time. An empty b completes
// with (0, nil) and no syscall.
func (s *TCPSocket) AsyncReadSome(b Buffers, h func(n int, err error), opts ...OpOption) {
	s.async(opRead, dirRead, b, 0, h, opts)
}

// AsyncReceive is AsyncReadSome with message flags; MsgOutOfBand reads
// urgent data and waits on the exceptional-condition queue.
func (s *TCPSocket) AsyncReceive(b Buffers, flags MessageFlags, h func(n int, err error), opts ...OpOption) {
	dir := dirRead
	if flags&MsgOutOfBand != 0 {
		dir = dirExcept
	}
	s.async(opRead, dir, b, flags, h, opts)
}

func (s *TCPSocket) async(kind opKind, dir int, b Buffers, flags MessageFlags, h func(int, error), opts []OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	c := s.d.c
	o := newOp(kind, c, s.ex, opts)
	o.h = h
	o.flags = int32(flags)
	o.setBuffers(b)
	c.workStarted()
	c.be.start(&s.d, o, dir)
}

// AsyncWait waits until the socket is ready to read, to write, or has an
// error or urgent data pending, without moving any byte.
func (s *TCPSocket) AsyncWait(w WaitType, h func(err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	c := s.d.c
	o := newOp(opWait, c, s.ex, opts)
	o.h = h
	o.flags = int32(w)
	c.workStarted()
	dir := dirRead
	switch w {
	case WaitWrite:
		dir = dirWrite
	case WaitError:
		dir = dirExcept
	}
	c.be.start(&s.d, o, dir)
}

// WriteSome writes some of b, blocking until it can; it needs no Run.
func (s *TCPSocket) WriteSome(b Buffers) (int, error) { return s.Send(b, 0) }

// Send is WriteSome with message flags.
func (s *TCPSocket) Send(b Buffers, flags MessageFlags) (int, error) {
	o := blockingOp(opWrite, flags, b)
	err := s.d.performBlocking(&o, pollOut)
	return int(o.n), err
}

// ReadSome reads some bytes into b, blocking until it can.
func (s *TCPSocket) ReadSome(b Buffers) (int, error) { return s.Receive(b, 0) }

// Receive is ReadSome with message flags.
func (s *TCPSocket) Receive(b Buffers, flags MessageFlags) (int, error) {
	o := blockingOp(opRead, flags, b)
	ev := int16(pollIn)
	if flags&MsgOutOfBand != 0 {
		ev = pollPri
	}
	err := s.d.performBlocking(&o, ev)
	return int(o.n), err
}

// Cancel completes every pending operation with ErrOperationAborted. An
// operation whose syscall already ran keeps its result.
func (s *TCPSocket) Cancel() error { return s.d.cancel() }

// Close cancels like Cancel, then closes the descriptor.
func (s *TCPSocket) Close() error { return s.d.close() }

// Shutdown disables sends, receives or both.
func (s *TCPSocket) Shutdown(how ShutdownType) error {
	return s.d.withFD(func(fd int) error {
		if err := unix.Shutdown(fd, shutdownHow(how)); err != nil {
			return err.(unix.Errno)
		}
		return nil
	})
}

// LocalEndpoint returns the socket's local address.
func (s *TCPSocket) LocalEndpoint() (netip.AddrPort, error) { return s.d.localEndpoint() }

// RemoteEndpoint returns the peer's address.
func (s *TCPSocket) RemoteEndpoint() (netip.AddrPort, error) { return s.d.remoteEndpoint() }

// SetNoDelay sets TCP_NODELAY (Nagle's algorithm off).
func (s *TCPSocket) SetNoDelay(on bool) error {
	return s.d.setInt(unix.IPPROTO_TCP, unix.TCP_NODELAY, boolInt(on))
}

// SetKeepAlive sets SO_KEEPALIVE.
func (s *TCPSocket) SetKeepAlive(on bool) error {
	return s.d.setInt(unix.SOL_SOCKET, unix.SO_KEEPALIVE, boolInt(on))
}

// SetLinger sets SO_LINGER: on with 0 seconds makes Close reset the
// connection.
func (s *TCPSocket) SetLinger(on bool, seconds int) error {
	return s.d.withFD(func(fd int) error {
		l := unix.Linger{Onoff: int32(boolInt(on)), Linger: int32(seconds)}
		if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &l); err != nil {
			return err.(unix.Errno)
		}
		return nil
	})
}

// SetSendBufferSize sets SO_SNDBUF.
func (s *TCPSocket) SetSendBufferSize(n int) error {
	return s.d.setInt(unix.SOL_SOCKET, unix.SO_SNDBUF, n)
}

// SetReceiveBufferSize sets SO_RCVBUF.
func (s *TCPSocket) SetReceiveBufferSize(n int) error {
	return s.d.setInt(unix.SOL_SOCKET, unix.SO_RCVBUF, n)
}

// SetReuseAddress sets SO_REUSEADDR (before Connect binds the socket).
func (s *TCPSocket) SetReuseAddress(on bool) error {
	return s.d.setInt(unix.SOL_SOCKET, unix.SO_REUSEADDR, boolInt(on))
}

// Bind binds the opened socket to a local endpoint.
func (s *TCPSocket) Bind(ep netip.AddrPort) error {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	if s.d.fd < 0 {
		if err := s.d.openLocked(sysFamily(ep), unix.SOCK_STREAM); err != nil {
			return err
		}
	}
	return s.d.bindLocked(ep)
}

// tryLockWrite marks a composed write in progress; false if one already is.
func (s *TCPSocket) tryLockWrite() bool { return s.d.tryLockWrite() }
func (s *TCPSocket) unlockWrite()       { s.d.unlockWrite() }
