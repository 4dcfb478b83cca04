package sys

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// SendToFD sends one datagram (buf, or bufs gathered) to to, or to the
// connected peer when to is not valid, on a runtime-poller descriptor of
// the given family (v6: AF_INET6).
func SendToFD(fd uintptr, buf []byte, bufs [][]byte, to netip.AddrPort, v6 bool, flags int) (int, error) {
	if !to.IsValid() {
		return SendTo(int(fd), buf, bufs, nil, MsgFlags(flags))
	}
	af := unix.AF_INET
	if v6 {
		af = unix.AF_INET6
	}
	sa, err := MakeSockaddr(to, af)
	if err != nil {
		return 0, err
	}
	return SendTo(int(fd), buf, bufs, &sa, MsgFlags(flags))
}

// RecvFromFD receives one datagram into buf or bufs and returns its size,
// its sender and whether it was truncated.
func RecvFromFD(fd uintptr, buf []byte, bufs [][]byte, flags int) (int, netip.AddrPort, bool, error) {
	var from Sockaddr
	n, trunc, err := RecvFrom(int(fd), buf, bufs, &from, MsgFlags(flags))
	if err != nil {
		return 0, netip.AddrPort{}, false, err
	}
	return n, from.AddrPort(), trunc, nil
}
