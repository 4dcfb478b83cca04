//go:build unix && !linux

package sys

import (
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// SendToFD sends one datagram (buf, or bufs gathered) to to, or to the
// connected peer when to is not valid, on a runtime-poller descriptor of
// the given family (v6: AF_INET6).
func SendToFD(fd uintptr, buf []byte, bufs [][]byte, to netip.AddrPort, v6 bool, flags int) (int, error) {
	var sa unix.Sockaddr
	if to.IsValid() {
		if !v6 && !to.Addr().Unmap().Is4() {
			return 0, syscall.EAFNOSUPPORT
		}
		sa = toUnixSockaddr(to, v6)
	}
	if bufs == nil {
		bufs = [][]byte{buf}
	}
	n, err := unix.SendmsgBuffers(int(fd), bufs, nil, sa, MsgFlags(flags)|noSignal)
	return clampErr(n, err)
}

// RecvFromFD receives one datagram into buf or bufs and returns its size,
// its sender and whether it was truncated.
func RecvFromFD(fd uintptr, buf []byte, bufs [][]byte, flags int) (int, netip.AddrPort, bool, error) {
	if bufs == nil {
		bufs = [][]byte{buf}
	}
	n, _, rflags, from, err := unix.RecvmsgBuffers(int(fd), bufs, nil, MsgFlags(flags))
	if err != nil {
		return 0, netip.AddrPort{}, false, errnoOf(err)
	}
	var ap netip.AddrPort
	switch sa := from.(type) {
	case *unix.SockaddrInet4:
		ap = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		ap = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return n, ap, rflags&unix.MSG_TRUNC != 0, nil
}
