package asio

import (
	"net/netip"
	"syscall"

	"github.com/goasio/asio/internal/sys"
)

// UDPSocket is a datagram socket. Its asynchronous operations follow the
// five rules of the package; ops of one direction are performed and
// completed in the order they were initiated. Every method is safe from any
// goroutine.
//
// A datagram is sent whole or not at all (syscall.EMSGSIZE for one too
// large), a buffer sequence of several slices is one datagram, and an empty
// sequence is a real zero-length datagram. A received datagram larger than
// the buffers is truncated: the operation completes with n = the bytes
// delivered and an error for which errors.Is(err, ErrMessageTooLong) holds.
type UDPSocket struct {
	d fdState
}

// NewUDPSocket returns a socket, not yet open, whose handlers run on ex.
// Open, Bind and Connect open it.
func NewUDPSocket(ex Executor) *UDPSocket {
	s := new(UDPSocket)
	s.d.init(ex, true)
	return s
}

// Executor returns the executor the socket's handlers run on by default.
func (s *UDPSocket) Executor() Executor { return s.d.exec() }

// IsOpen reports whether the socket is open.
func (s *UDPSocket) IsOpen() bool { return s.d.be().isOpen(&s.d) }

// Open opens the socket for the given family (IPv4 or IPv6) without binding
// or connecting it; an open socket gives syscall.EISCONN.
func (s *UDPSocket) Open(family AddressFamily) error { return s.d.be().open(&s.d, family) }

// Bind binds the socket to a local endpoint, opening it first for ep's
// family if it is not open.
func (s *UDPSocket) Bind(ep netip.AddrPort) error { return s.d.be().bind(&s.d, ep) }

// Connect sets the socket's default peer: Send and Receive then talk to ep
// only. It opens the socket first for ep's family if it is not open. A UDP
// connect exchanges no packet, so it never blocks.
func (s *UDPSocket) Connect(ep netip.AddrPort) error { return s.d.be().connectDgram(&s.d, ep) }

// AsyncConnect is Connect with its result passed to h, which runs on the
// handler's executor as for every other operation.
func (s *UDPSocket) AsyncConnect(ep netip.AddrPort, h func(err error), opts ...OpOption) {
	o := s.newOp(opConnect, h != nil, opts)
	o.setE(h)
	s.d.ctx().workStarted()
	o.err = s.Connect(ep)
	o.completeNow()
}

// AsyncSend sends b as one datagram to the connected peer and passes its
// size to h. On a socket that is not connected it completes with
// syscall.EDESTADDRREQ. It supports terminal, partial and total
// cancellation.
func (s *UDPSocket) AsyncSend(b Buffers, flags MessageFlags, h func(n int, err error), opts ...OpOption) {
	s.async(opSendDgram, b, flags, h, opts)
}

// AsyncSendTo sends b as one datagram to to and passes its size to h. An
// IPv4 address given to an IPv6 socket is sent IPv4-mapped. It supports
// terminal, partial and total cancellation.
func (s *UDPSocket) AsyncSendTo(b Buffers, to netip.AddrPort, flags MessageFlags, h func(n int, err error), opts ...OpOption) {
	o := s.newOp(opSendTo, h != nil, opts)
	o.setN(h)
	o.ext().addr = to
	s.start(o, b, flags)
}

// AsyncReceive receives one datagram into b and passes its size to h; a
// zero-length datagram gives (0, nil). It supports terminal, partial and
// total cancellation.
func (s *UDPSocket) AsyncReceive(b Buffers, flags MessageFlags, h func(n int, err error), opts ...OpOption) {
	// opRecvFrom rather than a plain recv: recvmsg reports MSG_TRUNC.
	s.async(opRecvFrom, b, flags, h, opts)
}

// AsyncReceiveFrom receives one datagram into b and passes h its size and
// its sender, IPv4-mapped addresses unmapped. It supports terminal, partial
// and total cancellation.
func (s *UDPSocket) AsyncReceiveFrom(b Buffers, flags MessageFlags, h func(n int, from netip.AddrPort, err error), opts ...OpOption) {
	o := s.newOp(opRecvFrom, h != nil, opts)
	o.setF(h)
	s.start(o, b, flags)
}

func (s *UDPSocket) async(kind opKind, b Buffers, flags MessageFlags, h func(int, error), opts []OpOption) {
	o := s.newOp(kind, h != nil, opts)
	o.setN(h)
	s.start(o, b, flags)
}

// start hands o, with its buffers and flags, to the backend.
func (s *UDPSocket) start(o *op, b Buffers, flags MessageFlags) {
	o.flags = packFlags(flags)
	o.setBuffers(b)
	s.d.start(o)
}

// newOp takes an op for one of s's initiations; a nil handler panics, as
// on every I/O object of the package.
func (s *UDPSocket) newOp(kind opKind, hasHandler bool, opts []OpOption) *op {
	if !hasHandler {
		panic("asio: nil handler")
	}
	return newOp(kind, &s.d, opts)
}

// Send sends b as one datagram to the connected peer, blocking until the
// socket takes it; it needs no Run.
func (s *UDPSocket) Send(b Buffers, flags MessageFlags) (int, error) {
	o := blockingOp(opSendDgram, flags, b)
	err := s.d.be().do(&s.d, &o)
	return int(o.n), err
}

// SendTo sends b as one datagram to to, blocking until the socket takes it.
func (s *UDPSocket) SendTo(b Buffers, to netip.AddrPort, flags MessageFlags) (int, error) {
	o := blockingOp(opSendTo, flags, b)
	o.x.addr = to
	err := s.d.be().do(&s.d, &o)
	return int(o.n), err
}

// Receive receives one datagram into b, blocking until one arrives.
func (s *UDPSocket) Receive(b Buffers, flags MessageFlags) (int, error) {
	n, _, err := s.ReceiveFrom(b, flags)
	return n, err
}

// ReceiveFrom receives one datagram into b and returns its sender, blocking
// until one arrives.
func (s *UDPSocket) ReceiveFrom(b Buffers, flags MessageFlags) (int, netip.AddrPort, error) {
	o := blockingOp(opRecvFrom, flags, b)
	err := s.d.be().do(&s.d, &o)
	return int(o.n), o.x.addr, err
}

// Cancel completes every pending operation with ErrOperationAborted. An
// operation whose syscall already ran keeps its result.
func (s *UDPSocket) Cancel() error { return s.d.be().cancelAll(&s.d) }

// Close cancels like Cancel, then closes the descriptor. The socket may be
// opened again.
func (s *UDPSocket) Close() error { return s.d.be().close(&s.d) }

// LocalEndpoint returns the socket's local address.
func (s *UDPSocket) LocalEndpoint() (netip.AddrPort, error) { return s.d.localEndpoint() }

// RemoteEndpoint returns the connected peer's address; syscall.ENOTCONN if
// the socket is not connected.
func (s *UDPSocket) RemoteEndpoint() (netip.AddrPort, error) { return s.d.remoteEndpoint() }

// SetBroadcast sets SO_BROADCAST, needed to send to a broadcast address.
func (s *UDPSocket) SetBroadcast(on bool) error {
	return s.d.setOption(sys.OptBroadcast, boolInt(on))
}

// SetReuseAddress sets SO_REUSEADDR (before Bind).
func (s *UDPSocket) SetReuseAddress(on bool) error {
	return s.d.setOption(sys.OptReuseAddr, boolInt(on))
}

// SetReusePort sets SO_REUSEPORT (before Bind): several sockets bound to
// one endpoint, the kernel spreading the datagrams among them. Where the
// platform has none (Windows), it is ErrOperationNotSupported.
func (s *UDPSocket) SetReusePort(on bool) error {
	return s.d.setOption(sys.OptReusePort, boolInt(on))
}

// SetSendBufferSize sets SO_SNDBUF.
func (s *UDPSocket) SetSendBufferSize(n int) error { return s.d.setOption(sys.OptSendBuffer, n) }

// SetReceiveBufferSize sets SO_RCVBUF.
func (s *UDPSocket) SetReceiveBufferSize(n int) error {
	return s.d.setOption(sys.OptReceiveBuffer, n)
}

// SetV6Only sets IPV6_V6ONLY on an IPv6 socket (before Bind); off, the
// socket also sends to and receives from IPv4 peers.
func (s *UDPSocket) SetV6Only(on bool) error { return s.d.setOption(sys.OptV6Only, boolInt(on)) }

// JoinGroup joins the multicast group on the interface with index ifindex
// (0: the one the kernel picks). An IPv4 group uses IP_ADD_MEMBERSHIP,
// which an IPv6 socket accepts too, an IPv6 group IPV6_JOIN_GROUP.
func (s *UDPSocket) JoinGroup(group netip.Addr, ifindex int) error {
	return s.membership(group, ifindex, true)
}

// LeaveGroup leaves a group joined with JoinGroup.
func (s *UDPSocket) LeaveGroup(group netip.Addr, ifindex int) error {
	return s.membership(group, ifindex, false)
}

func (s *UDPSocket) membership(group netip.Addr, ifindex int, join bool) error {
	if !group.IsMulticast() && !group.Unmap().IsMulticast() {
		return syscall.EINVAL
	}
	return s.d.be().control(&s.d, false, func(fd uintptr) error {
		return sys.Membership(fd, group, ifindex, join)
	})
}

// SetMulticastLoopback sets whether multicast datagrams the socket sends
// are looped back to the host's own members (IP_MULTICAST_LOOP, or
// IPV6_MULTICAST_LOOP on an IPv6 socket).
func (s *UDPSocket) SetMulticastLoopback(on bool) error {
	return s.setFamilyOption(sys.OptMulticastLoop4, sys.OptMulticastLoop6, boolInt(on))
}

// SetMulticastHops sets the hop limit of multicast datagrams the socket
// sends: the TTL (IP_MULTICAST_TTL) on an IPv4 socket, IPV6_MULTICAST_HOPS
// on an IPv6 one.
func (s *UDPSocket) SetMulticastHops(n int) error {
	return s.setFamilyOption(sys.OptMulticastHops4, sys.OptMulticastHops6, n)
}

// SetMulticastInterface selects the interface, by index, that multicast
// datagrams leave from (IP_MULTICAST_IF, IPV6_MULTICAST_IF).
func (s *UDPSocket) SetMulticastInterface(ifindex int) error {
	if s.d.family() == IPv6 {
		return s.d.setOption(sys.OptMulticastIf6, ifindex)
	}
	return s.d.be().control(&s.d, true, func(fd uintptr) error {
		return sys.SetMulticastInterface4(fd, ifindex)
	})
}

// setFamilyOption sets opt4 on an IPv4 socket, opt6 on an IPv6 one.
func (s *UDPSocket) setFamilyOption(opt4, opt6 sys.Option, v int) error {
	if s.d.family() == IPv6 {
		return s.d.setOption(opt6, v)
	}
	return s.d.setOption(opt4, v)
}
