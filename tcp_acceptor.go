package asio

import (
	"net/netip"
	"syscall"
)

// TCPAcceptor listens on an endpoint and accepts connections. Every method
// is safe from any goroutine.
type TCPAcceptor struct {
	d     fdState
	local netip.AddrPort
}

// ListenTCP opens, binds and listens on ep, with SO_REUSEADDR set by
// default as in Asio's acceptor constructor. An unspecified IPv6 address
// ([::]) also accepts IPv4 unless V6Only(true) is given. An invalid ep is
// syscall.EINVAL; an address in use is an error that names it and matches
// syscall.EADDRINUSE with errors.Is.
func ListenTCP(ex Executor, ep netip.AddrPort, opts ...ListenOption) (*TCPAcceptor, error) {
	cfg := listenConfig{reuseAddr: true, backlog: -1}
	for _, o := range opts {
		o(&cfg)
	}
	if !ep.IsValid() {
		return nil, syscall.EINVAL
	}
	a := new(TCPAcceptor)
	a.d.init(ex, false)
	local, err := a.d.be().listen(&a.d, ep, &cfg)
	if err != nil {
		return nil, &ListenError{Addr: ep, Err: err}
	}
	a.local = local
	return a, nil
}

// ListenError is the error of a ListenTCP that failed: it names the
// address, and unwraps to the cause (syscall.EADDRINUSE, say).
type ListenError struct {
	Addr netip.AddrPort
	Err  error
}

func (e *ListenError) Error() string {
	return "asio: listen on " + e.Addr.String() + ": " + e.Err.Error()
}
func (e *ListenError) Unwrap() error { return e.Err }

// LocalEndpoint returns the address the acceptor listens on (with the port
// the system chose for port 0).
func (a *TCPAcceptor) LocalEndpoint() netip.AddrPort { return a.local }

// Executor returns the acceptor's executor.
func (a *TCPAcceptor) Executor() Executor { return a.d.exec() }

// AsyncAccept accepts one connection; the new socket's handlers run on the
// acceptor's executor. Errors such as EMFILE reach the handler, and the
// acceptor stays usable. Linux reports EMFILE even when no connection is
// waiting, so a handler should not re-arm at once on it but back off (with
// a Timer) until descriptors are free. It supports terminal, partial and
// total cancellation.
func (a *TCPAcceptor) AsyncAccept(h func(s *TCPSocket, err error), opts ...OpOption) {
	a.AsyncAcceptOn(a.d.exec(), h, opts...)
}

// AsyncAcceptOn is AsyncAccept with the new socket bound to ex, which may
// belong to another IOContext: the way to spread connections over one
// context per core. Both contexts must use the same kind of backend (or two
// raw-descriptor ones, epoll and io_uring); otherwise the accept completes
// with ErrOperationNotSupported.
func (a *TCPAcceptor) AsyncAcceptOn(ex Executor, h func(s *TCPSocket, err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	o := newOp(opAccept, &a.d, opts)
	x := o.ext()
	o.setA(h)
	x.aex = ex
	a.d.start(o)
}

// Accept blocks until a connection arrives; it needs no Run.
func (a *TCPAcceptor) Accept() (*TCPSocket, error) {
	o := op{kind: opAccept, x: &opExt{aex: a.d.exec()}}
	if err := a.d.be().do(&a.d, &o); err != nil {
		return nil, err
	}
	return o.acceptedSocket()
}

// Cancel completes every pending accept with ErrOperationAborted.
func (a *TCPAcceptor) Cancel() error { return a.d.be().cancelAll(&a.d) }

// Close cancels like Cancel and stops listening.
func (a *TCPAcceptor) Close() error { return a.d.be().close(&a.d) }

// acceptedSocket wraps the connection an accept op took into a TCPSocket
// on o.x.aex, adopted by that executor's context.
func (o *op) acceptedSocket() (*TCPSocket, error) {
	if o.err != nil {
		return nil, o.err
	}
	x := o.x
	s := new(TCPSocket)
	s.d.init(x.aex, false)
	if err := s.d.be().adopt(&s.d, &x.acc); err != nil {
		x.acc.discard()
		return nil, err
	}
	return s, nil
}
