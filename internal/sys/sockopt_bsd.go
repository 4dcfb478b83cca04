//go:build unix && !linux

package sys

import (
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// membership4 uses ip_mreq, which names the interface by an address of
// its own: the first IPv4 address of interface ifindex, or INADDR_ANY.
func membership4(fd int, g netip.Addr, ifindex int, join bool) error {
	opt := unix.IP_ADD_MEMBERSHIP
	if !join {
		opt = unix.IP_DROP_MEMBERSHIP
	}
	mreq := unix.IPMreq{Multiaddr: g.As4()}
	if ifindex != 0 {
		a, err := interfaceAddr4(ifindex)
		if err != nil {
			return err
		}
		mreq.Interface = a
	}
	return errnoOf(unix.SetsockoptIPMreq(fd, unix.IPPROTO_IP, opt, &mreq))
}

// SetMulticastInterface4 selects the interface, by index, that IPv4
// multicast datagrams leave from (IP_MULTICAST_IF, by its address).
func SetMulticastInterface4(fd uintptr, ifindex int) error {
	a, err := interfaceAddr4(ifindex)
	if err != nil {
		return err
	}
	return errnoOf(unix.SetsockoptInet4Addr(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_IF, a))
}

func interfaceAddr4(ifindex int) ([4]byte, error) {
	var out [4]byte
	ifi, err := net.InterfaceByIndex(ifindex)
	if err != nil {
		return out, err
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return out, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if v4 := n.IP.To4(); v4 != nil {
				copy(out[:], v4)
				return out, nil
			}
		}
	}
	return out, unix.EADDRNOTAVAIL
}
