package sys

import (
	"net/netip"
	"syscall"
)

// Package net's RawConn on Windows cannot wait for writability, and
// WSARecv's flags are not reachable through it: message flags are not
// supported by the portable backend here.

func RecvFlags(fd uintptr, b []byte, flags int) (int, error) { return 0, ErrNotSupported }
func SendFlags(fd uintptr, b []byte, flags int) (int, error) { return 0, ErrNotSupported }

// Ready cannot poll: it reports false on a RawConn callback's first call,
// so that the runtime waits (a zero-byte read, which completes at once when
// data is there), and true after.
func Ready(fd uintptr, write, first bool) bool { return !first }

func IsWouldBlock(err error) bool { return false }

// ConnectDgram connects datagram socket fd to ep.
func ConnectDgram(fd uintptr, ep netip.AddrPort, v6 bool) error {
	var sa syscall.Sockaddr = &syscall.SockaddrInet4{Port: int(ep.Port()), Addr: ep.Addr().Unmap().As4()}
	if v6 {
		sa = &syscall.SockaddrInet6{Port: int(ep.Port()), Addr: ep.Addr().As16()}
	}
	return syscall.Connect(syscall.Handle(fd), sa)
}

// PeerName returns the remote address of fd.
func PeerName(fd uintptr) (netip.AddrPort, error) {
	sa, err := syscall.Getpeername(syscall.Handle(fd))
	if err != nil {
		return netip.AddrPort{}, err
	}
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)), nil
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port)), nil
	}
	return netip.AddrPort{}, syscall.EAFNOSUPPORT
}

// Truncated reports a received datagram cut to fit the buffer: Windows
// says so with WSAEMSGSIZE, the bytes that fit delivered.
func Truncated(flags int, err error) (bool, error) {
	if err == syscall.Errno(10040) { // WSAEMSGSIZE
		return true, nil
	}
	return false, err
}

// WaitUnsupported reports whether a RawConn wait failed because the
// platform cannot wait that way: Windows' RawConn.Write cannot wait for
// writability.
func WaitUnsupported(err error) bool { return err == syscall.EWINDOWS }
