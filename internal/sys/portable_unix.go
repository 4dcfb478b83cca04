//go:build unix

package sys

import (
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// The helpers of the portable backend for what package net does not
// offer: they run on a descriptor the Go runtime's poller owns, inside a
// syscall.RawConn callback, and never block.

// RecvFlags receives into b with message flags (the package's bits); fd
// is non-blocking, as every descriptor of the runtime's poller.
func RecvFlags(fd uintptr, b []byte, flags int) (int, error) {
	n, _, err := unix.Recvfrom(int(fd), b, MsgFlags(flags))
	return clampErr(n, err)
}

// SendFlags sends b with message flags (the package's bits), without
// SIGPIPE where the platform allows it.
func SendFlags(fd uintptr, b []byte, flags int) (int, error) {
	n, err := unix.SendmsgN(int(fd), b, nil, nil, MsgFlags(flags)|noSignal)
	return clampErr(n, err)
}

// Ready reports whether fd is readable (or writable), without waiting.
// first is true on a RawConn callback's first call, before the runtime
// has waited.
func Ready(fd uintptr, write, first bool) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if write {
		fds[0].Events = unix.POLLOUT
	}
	for {
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}

// IsWouldBlock reports whether err is EAGAIN.
func IsWouldBlock(err error) bool { return err == syscall.EAGAIN }

// ConnectDgram connects datagram socket fd to ep (connect(2) on a socket
// package net made, which has no call for it).
func ConnectDgram(fd uintptr, ep netip.AddrPort, v6 bool) error {
	return errnoOf(unix.Connect(int(fd), toUnixSockaddr(ep, v6)))
}

// PeerName returns the remote address of fd.
func PeerName(fd uintptr) (netip.AddrPort, error) {
	sa, err := unix.Getpeername(int(fd))
	if err != nil {
		return netip.AddrPort{}, errnoOf(err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)), nil
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port)), nil
	}
	return netip.AddrPort{}, syscall.EAFNOSUPPORT
}

func toUnixSockaddr(ep netip.AddrPort, v6 bool) unix.Sockaddr {
	if !v6 {
		return &unix.SockaddrInet4{Port: int(ep.Port()), Addr: ep.Addr().Unmap().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ep.Port()), Addr: ep.Addr().As16()}
}

// Truncated reports whether the flags of a received message say it was
// cut to fit the buffer (MSG_TRUNC).
func Truncated(flags int, err error) (bool, error) {
	return flags&unix.MSG_TRUNC != 0, err
}

// WaitUnsupported reports whether a RawConn wait failed because the
// platform cannot wait that way.
func WaitUnsupported(err error) bool { return false }

// clampErr makes a failed call's count 0 (golang.org/x/sys/unix returns
// -1 with an error).
func clampErr(n int, err error) (int, error) {
	if err != nil {
		return 0, errnoOf(err)
	}
	return n, nil
}

// UrgentGone is the part of PollUrgent's result that says the connection
// ended.
const UrgentGone = unix.POLLHUP | unix.POLLERR | pollRDHup

// PollUrgent waits up to timeoutMs for urgent data or the end of the
// connection on fd.
func PollUrgent(fd uintptr, timeoutMs int) (int16, error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI | pollRDHup}}
	for {
		_, err := unix.Poll(fds, timeoutMs)
		if err == unix.EINTR {
			continue
		}
		return int16(fds[0].Revents), errnoOf(err)
	}
}
