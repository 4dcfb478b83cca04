package sys

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

func reusePort() (int, int, bool) { return unix.SOL_SOCKET, unix.SO_REUSEPORT, true }

func membership4(fd int, g netip.Addr, ifindex int, join bool) error {
	opt := unix.IP_ADD_MEMBERSHIP
	if !join {
		opt = unix.IP_DROP_MEMBERSHIP
	}
	mreq := unix.IPMreqn{Multiaddr: g.As4(), Ifindex: int32(ifindex)}
	return errnoOf(unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, opt, &mreq))
}

// SetMulticastInterface4 selects the interface, by index, that IPv4
// multicast datagrams leave from (IP_MULTICAST_IF).
func SetMulticastInterface4(fd uintptr, ifindex int) error {
	mreq := unix.IPMreqn{Ifindex: int32(ifindex)}
	return errnoOf(unix.SetsockoptIPMreqn(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &mreq))
}
