package sys

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// stackIovecs is the size of the iovec array kept on the stack; longer
// sequences (rare) take a heap array.
const stackIovecs = 16

// fillIovecs writes at most len(iov) non-empty buffers of bufs into iov, at
// most max bytes in total, and returns how many entries it used.
func fillIovecs(iov []unix.Iovec, bufs [][]byte, max int) int {
	n := 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		if n == len(iov) || max <= 0 {
			break
		}
		if len(b) > max {
			b = b[:max]
		}
		iov[n].Base = &b[0]
		iov[n].SetLen(len(b))
		max -= len(b)
		n++
	}
	return n
}

func countIovecs(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		if len(b) != 0 {
			n++
		}
	}
	return n
}

const maxInt = int(^uint(0) >> 1)

// Writev and Readv repeat their iovec set-up instead of sharing a helper on
// purpose: passing the stack array to a helper that stores its address in
// the Msghdr makes the compiler move it to the heap, one allocation per call.

// Writev sends the non-empty buffers of bufs with one sendmsg call (at most
// MaxIovecs of them), with MSG_NOSIGNAL so that a reset peer gives EPIPE and
// never SIGPIPE. flags are extra MSG_* flags.
func Writev(fd int, bufs [][]byte, flags int) (int, error) {
	var stack [stackIovecs]unix.Iovec
	iov := stack[:]
	if c := countIovecs(bufs); c > stackIovecs {
		iov = make([]unix.Iovec, min(c, MaxIovecs))
	}
	n := fillIovecs(iov, bufs, maxInt)
	if n == 0 {
		return 0, nil
	}
	var msg unix.Msghdr
	msg.Iov = &iov[0]
	msg.SetIovlen(n)
	return sendmsg(fd, &msg, flags|unix.MSG_NOSIGNAL)
}

// Readv receives into the non-empty buffers of bufs with one recvmsg call.
func Readv(fd int, bufs [][]byte, flags int) (int, error) {
	var stack [stackIovecs]unix.Iovec
	iov := stack[:]
	if c := countIovecs(bufs); c > stackIovecs {
		iov = make([]unix.Iovec, min(c, MaxIovecs))
	}
	n := fillIovecs(iov, bufs, maxInt)
	if n == 0 {
		return 0, nil
	}
	var msg unix.Msghdr
	msg.Iov = &iov[0]
	msg.SetIovlen(n)
	return recvmsg(fd, &msg, flags)
}

// Send writes one buffer with send(2) and MSG_NOSIGNAL.
func Send(fd int, b []byte, flags int) (int, error) {
	if len(b) == 0 {
		r, _, e := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), 0, 0, uintptr(flags|unix.MSG_NOSIGNAL), 0, 0)
		return errnoResult(r, e)
	}
	r, _, e := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(flags|unix.MSG_NOSIGNAL), 0, 0)
	return errnoResult(r, e)
}

// Recv reads into one buffer with recvfrom(2).
func Recv(fd int, b []byte, flags int) (int, error) {
	var p uintptr
	if len(b) > 0 {
		p = uintptr(unsafe.Pointer(&b[0]))
	}
	// recvfrom, not read: a socket read through the VFS also pays for the
	// file position lock and fsnotify, which recvfrom skips.
	r, _, e := syscall.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), p, uintptr(len(b)), uintptr(flags), 0, 0)
	return errnoResult(r, e)
}

func sendmsg(fd int, msg *unix.Msghdr, flags int) (int, error) {
	r, _, e := syscall.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(msg)), uintptr(flags))
	return errnoResult(r, e)
}

func recvmsg(fd int, msg *unix.Msghdr, flags int) (int, error) {
	r, _, e := syscall.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(msg)), uintptr(flags))
	return errnoResult(r, e)
}

func errnoResult(r uintptr, e syscall.Errno) (int, error) {
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
