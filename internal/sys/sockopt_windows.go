package sys

import (
	"net/netip"
	"syscall"
)

// soError is SO_ERROR, which package syscall does not name on Windows.
const soError = 0x1007

func optionNames(o Option) (level, name int, ok bool) {
	switch o {
	case OptNoDelay:
		return syscall.IPPROTO_TCP, syscall.TCP_NODELAY, true
	case OptKeepAlive:
		return syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, true
	case OptSendBuffer:
		return syscall.SOL_SOCKET, syscall.SO_SNDBUF, true
	case OptReceiveBuffer:
		return syscall.SOL_SOCKET, syscall.SO_RCVBUF, true
	case OptReuseAddr:
		return syscall.SOL_SOCKET, syscall.SO_REUSEADDR, true
	case OptBroadcast:
		return syscall.SOL_SOCKET, syscall.SO_BROADCAST, true
	case OptV6Only:
		return syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, true
	case OptMulticastLoop4:
		return syscall.IPPROTO_IP, syscall.IP_MULTICAST_LOOP, true
	case OptMulticastLoop6:
		return syscall.IPPROTO_IPV6, syscall.IPV6_MULTICAST_LOOP, true
	case OptMulticastHops4:
		return syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL, true
	case OptMulticastHops6:
		return syscall.IPPROTO_IPV6, syscall.IPV6_MULTICAST_HOPS, true
	case OptMulticastIf6:
		return syscall.IPPROTO_IPV6, syscall.IPV6_MULTICAST_IF, true
	case OptError:
		return syscall.SOL_SOCKET, soError, true
	}
	return 0, 0, false // OptReusePort: Windows has no SO_REUSEPORT
}

// SetOption sets an integer socket option on fd.
func SetOption(fd uintptr, o Option, v int) error {
	level, name, ok := optionNames(o)
	if !ok {
		return ErrNotSupported
	}
	return syscall.SetsockoptInt(syscall.Handle(fd), level, name, v)
}

// GetOption reads an integer socket option of fd.
func GetOption(fd uintptr, o Option) (int, error) {
	level, name, ok := optionNames(o)
	if !ok {
		return 0, ErrNotSupported
	}
	return syscall.GetsockoptInt(syscall.Handle(fd), level, name)
}

// SetLinger sets SO_LINGER.
func SetLinger(fd uintptr, on bool, seconds int) error {
	l := syscall.Linger{Linger: int32(seconds)}
	if on {
		l.Onoff = 1
	}
	return syscall.SetsockoptLinger(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, &l)
}

// Membership joins (or leaves) a multicast group. Windows names the
// IPv4 interface by an address: only the default interface (ifindex 0)
// is supported for IPv4 groups.
func Membership(fd uintptr, group netip.Addr, ifindex int, join bool) error {
	h := syscall.Handle(fd)
	if g := group.Unmap(); g.Is4() {
		if ifindex != 0 {
			return ErrNotSupported
		}
		opt := syscall.IP_ADD_MEMBERSHIP
		if !join {
			opt = syscall.IP_DROP_MEMBERSHIP
		}
		mreq := syscall.IPMreq{Multiaddr: g.As4()}
		return syscall.SetsockoptIPMreq(h, syscall.IPPROTO_IP, opt, &mreq)
	}
	opt := syscall.IPV6_JOIN_GROUP
	if !join {
		opt = syscall.IPV6_LEAVE_GROUP
	}
	mreq := syscall.IPv6Mreq{Multiaddr: group.As16(), Interface: uint32(ifindex)}
	return syscall.SetsockoptIPv6Mreq(h, syscall.IPPROTO_IPV6, opt, &mreq)
}

// SetMulticastInterface4 is not supported on Windows (IP_MULTICAST_IF takes
// an interface address there).
func SetMulticastInterface4(fd uintptr, ifindex int) error { return ErrNotSupported }
