package asio

import (
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// TCPAcceptor listens on an endpoint and accepts connections. Every method
// is safe from any goroutine.
type TCPAcceptor struct {
	d     fdState
	ex    Executor
	local netip.AddrPort
}

// ListenTCP opens, binds and listens on ep, with SO_REUSEADDR set by
// default as in Asio's acceptor constructor. An unspecified IPv6 address
// ([::]) also accepts IPv4 unless V6Only(true) is given.
func ListenTCP(ex Executor, ep netip.AddrPort, opts ...ListenOption) (*TCPAcceptor, error) {
	cfg := listenConfig{reuseAddr: true, backlog: unix.SOMAXCONN}
	for _, o := range opts {
		o(&cfg)
	}
	if !ep.IsValid() {
		return nil, syscall.EINVAL
	}
	a := &TCPAcceptor{ex: ex}
	a.d.init(ex.Context())
	a.d.mu.Lock()
	defer a.d.mu.Unlock()
	if err := a.d.openLocked(sysFamily(ep), unix.SOCK_STREAM); err != nil {
		return nil, err
	}
	fail := func(err error) (*TCPAcceptor, error) {
		var out opList
		a.d.c.be.deregister(&a.d, &out)
		closeFD(int(a.d.fd))
		a.d.fd = -1
		return nil, err
	}
	fd := int(a.d.fd)
	if cfg.reuseAddr {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	}
	if cfg.reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail(err)
		}
	}
	if cfg.v6Only != 0 && ep.Addr().Is6() {
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, boolInt(cfg.v6Only > 0))
	}
	if err := a.d.bindLocked(ep); err != nil {
		return fail(err)
	}
	if err := unix.Listen(fd, cfg.backlog); err != nil {
		return fail(err)
	}
	local, err := a.d.localEndpointLocked()
	if err != nil {
		return fail(err)
	}
	a.local = local
	return a, nil
}

// LocalEndpoint returns the address the acceptor listens on (with the port
// the system chose for port 0).
func (a *TCPAcceptor) LocalEndpoint() netip.AddrPort { return a.local }

// Executor returns the acceptor's executor.
func (a *TCPAcceptor) Executor() Executor { return a.ex }

// AsyncAccept accepts one connection; the new socket's handlers run on the
// acceptor's executor. Errors such as EMFILE reach the handler, and the
// acceptor stays usable. Linux reports EMFILE even when no connection is
// waiting, so a handler should not re-arm at once on it but back off (with
// a Timer) until descriptors are free. It supports terminal, partial and
// total cancellation.
func (a *TCPAcceptor) AsyncAccept(h func(s *TCPSocket, err error), opts ...OpOption) {
	a.AsyncAcceptOn(a.ex, h, opts...)
}

// AsyncAcceptOn is AsyncAccept with the new socket bound to ex, which may
// belong to another IOContext: the way to spread connections over one
// context per core.
func (a *TCPAcceptor) AsyncAcceptOn(ex Executor, h func(s *TCPSocket, err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	c := a.d.c
	o := newOp(opAccept, c, a.ex, opts)
	o.h = h
	o.ext().aex = ex
	c.workStarted()
	c.be.start(&a.d, o, dirRead)
}

// Accept blocks until a connection arrives; it needs no Run.
func (a *TCPAcceptor) Accept() (*TCPSocket, error) {
	o := op{kind: opAccept, x: &opExt{aex: a.ex}}
	if err := a.d.performBlocking(&o, pollIn); err != nil {
		return nil, err
	}
	return o.acceptedSocket()
}

// Cancel completes every pending accept with ErrOperationAborted.
func (a *TCPAcceptor) Cancel() error { return a.d.cancel() }

// Close cancels like Cancel and stops listening.
func (a *TCPAcceptor) Close() error { return a.d.close() }

// acceptedSocket wraps the descriptor an accept op took into a TCPSocket on
// o.aex, registered with that executor's context.
func (o *op) acceptedSocket() (*TCPSocket, error) {
	if o.err != nil {
		return nil, o.err
	}
	x := o.x
	s := &TCPSocket{ex: x.aex}
	s.d.init(x.aex.Context())
	s.d.mu.Lock()
	err := s.d.adoptLocked(x.fd, o.familyOfAccepted())
	s.d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s, nil
}
