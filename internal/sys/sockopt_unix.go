//go:build unix

package sys

import (
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// optionNames maps an Option to its level and name on this platform.
func optionNames(o Option) (level, name int, ok bool) {
	switch o {
	case OptNoDelay:
		return unix.IPPROTO_TCP, unix.TCP_NODELAY, true
	case OptKeepAlive:
		return unix.SOL_SOCKET, unix.SO_KEEPALIVE, true
	case OptSendBuffer:
		return unix.SOL_SOCKET, unix.SO_SNDBUF, true
	case OptReceiveBuffer:
		return unix.SOL_SOCKET, unix.SO_RCVBUF, true
	case OptReuseAddr:
		return unix.SOL_SOCKET, unix.SO_REUSEADDR, true
	case OptReusePort:
		return reusePort()
	case OptBroadcast:
		return unix.SOL_SOCKET, unix.SO_BROADCAST, true
	case OptV6Only:
		return unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, true
	case OptMulticastLoop4:
		return unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, true
	case OptMulticastLoop6:
		return unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, true
	case OptMulticastHops4:
		return unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, true
	case OptMulticastHops6:
		return unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, true
	case OptMulticastIf6:
		return unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, true
	case OptError:
		return unix.SOL_SOCKET, unix.SO_ERROR, true
	}
	return 0, 0, false
}

// SetOption sets an integer socket option on fd.
func SetOption(fd uintptr, o Option, v int) error {
	level, name, ok := optionNames(o)
	if !ok {
		return ErrNotSupported
	}
	return errnoOf(unix.SetsockoptInt(int(fd), level, name, v))
}

// GetOption reads an integer socket option of fd.
func GetOption(fd uintptr, o Option) (int, error) {
	level, name, ok := optionNames(o)
	if !ok {
		return 0, ErrNotSupported
	}
	v, err := unix.GetsockoptInt(int(fd), level, name)
	return v, errnoOf(err)
}

// SetLinger sets SO_LINGER.
func SetLinger(fd uintptr, on bool, seconds int) error {
	l := unix.Linger{Linger: int32(seconds)}
	if on {
		l.Onoff = 1
	}
	return errnoOf(unix.SetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER, &l))
}

// Membership joins (or leaves) the multicast group on the interface with
// index ifindex (0: the kernel's choice): IP_ADD_MEMBERSHIP for an IPv4
// group, which an IPv6 socket takes too, IPV6_JOIN_GROUP for an IPv6 one.
func Membership(fd uintptr, group netip.Addr, ifindex int, join bool) error {
	if g := group.Unmap(); g.Is4() {
		return membership4(int(fd), g, ifindex, join)
	}
	opt := unix.IPV6_JOIN_GROUP
	if !join {
		opt = unix.IPV6_LEAVE_GROUP
	}
	mreq := unix.IPv6Mreq{Multiaddr: group.As16(), Interface: uint32(ifindex)}
	return errnoOf(unix.SetsockoptIPv6Mreq(int(fd), unix.IPPROTO_IPV6, opt, &mreq))
}

// Shutdown shuts down the read side, the write side or both of fd.
func Shutdown(fd uintptr, read, write bool) error {
	how := unix.SHUT_RDWR
	switch {
	case read && !write:
		how = unix.SHUT_RD
	case write && !read:
		how = unix.SHUT_WR
	}
	return errnoOf(unix.Shutdown(int(fd), how))
}

func errnoOf(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := err.(unix.Errno); ok {
		return syscall.Errno(e)
	}
	return err
}
