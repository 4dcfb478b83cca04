package sys

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Socket opens a non-blocking, close-on-exec socket.
func Socket(family, typ, proto int) (int, error) {
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, errnoOf(err)
	}
	return fd, nil
}

// Bind binds fd to sa.
func Bind(fd int, sa *Sockaddr) error {
	_, _, e := syscall.RawSyscall(unix.SYS_BIND, uintptr(fd), uintptr(sa.Ptr()), uintptr(sa.Len))
	return errOrNil(e)
}

// Connect starts a connection; a non-blocking socket answers EINPROGRESS.
func Connect(fd int, sa *Sockaddr) error {
	_, _, e := syscall.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(sa.Ptr()), uintptr(sa.Len))
	return errOrNil(e)
}

// Accept takes a connection off fd's queue as a non-blocking, close-on-exec
// descriptor, with the peer's address.
func Accept(fd int) (int, Sockaddr, error) {
	var sa Sockaddr
	l := uint32(unsafe.Sizeof(sa.raw))
	r, _, e := syscall.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(sa.Ptr()), uintptr(unsafe.Pointer(&l)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, sa, e
	}
	sa.Len = l
	return int(r), sa, nil
}

// SocketError returns the pending error of fd (SO_ERROR), nil if none.
func SocketError(fd int) error {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return errnoOf(err)
	}
	if v != 0 {
		return syscall.Errno(v)
	}
	return nil
}

// Poll waits up to timeoutMs (-1: forever) for events on fd with poll(2) and
// returns the revents.
func Poll(fd int, events int16, timeoutMs int) (int16, error) {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: events}}
	for {
		n, err := unix.Poll(fds[:], timeoutMs)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, errnoOf(err)
		}
		if n == 0 {
			return 0, nil
		}
		return fds[0].Revents, nil
	}
}

// PollNow reports fd's current readiness without waiting.
func PollNow(fd int, events int16) int16 {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: events}}
	var ts unix.Timespec // zero: do not wait (ppoll exists on every Linux arch, poll not)
	r, _, e := syscall.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if e != 0 || r == 0 {
		return 0
	}
	return fds[0].Revents
}

// Close closes fd.
func Close(fd int) error { return errnoOf(unix.Close(fd)) }

func errOrNil(e syscall.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

// Listen makes fd listen, with a queue of backlog connections (less than
// 0: the system's maximum).
func Listen(fd, backlog int) error {
	if backlog < 0 {
		backlog = unix.SOMAXCONN
	}
	return errnoOf(unix.Listen(fd, backlog))
}

// Poll events, for the blocking forms and readiness checks.
const (
	PollIn    = unix.POLLIN
	PollOut   = unix.POLLOUT
	PollPri   = unix.POLLPRI
	PollRDHup = unix.POLLRDHUP
	PollHup   = unix.POLLHUP
	PollErr   = unix.POLLERR
)
