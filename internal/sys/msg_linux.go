package sys

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SendTo sends the buffers as one datagram to sa with one sendto/sendmsg
// call. A nil sa sends on a connected socket. An empty sequence sends a
// zero-length datagram.
func SendTo(fd int, buf []byte, bufs [][]byte, sa *Sockaddr, flags int) (int, error) {
	var name unsafe.Pointer
	var nlen uint32
	if sa != nil {
		name, nlen = sa.Ptr(), sa.Len
	}
	flags |= unix.MSG_NOSIGNAL
	if bufs == nil {
		var p unsafe.Pointer
		if len(buf) > 0 {
			p = unsafe.Pointer(&buf[0])
		}
		r, _, e := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(p), uintptr(len(buf)), uintptr(flags), uintptr(name), uintptr(nlen))
		return errnoResult(r, e)
	}
	var stack [stackIovecs]unix.Iovec
	iov := stack[:]
	if c := countIovecs(bufs); c > stackIovecs {
		if c > MaxIovecs {
			return 0, syscall.EMSGSIZE
		}
		iov = make([]unix.Iovec, c)
	}
	n := fillIovecs(iov, bufs, maxInt)
	var msg unix.Msghdr
	if n > 0 {
		msg.Iov = &iov[0]
		msg.SetIovlen(n)
	}
	msg.Name = (*byte)(name)
	msg.Namelen = nlen
	return sendmsg(fd, &msg, flags)
}

// RecvFrom receives one datagram into the buffers and returns its size as
// delivered, the sender, and whether the kernel truncated it (MSG_TRUNC).
func RecvFrom(fd int, buf []byte, bufs [][]byte, from *Sockaddr, flags int) (n int, truncated bool, err error) {
	var stack [stackIovecs]unix.Iovec
	iov := stack[:1]
	cnt := 1
	if bufs == nil {
		if len(buf) > 0 {
			iov[0].Base = &buf[0]
			iov[0].SetLen(len(buf))
		} else {
			cnt = 0
		}
	} else {
		iov = stack[:]
		if c := countIovecs(bufs); c > stackIovecs {
			iov = make([]unix.Iovec, min(c, MaxIovecs))
		}
		cnt = fillIovecs(iov, bufs, maxInt)
	}
	var msg unix.Msghdr
	if cnt > 0 {
		msg.Iov = &iov[0]
		msg.SetIovlen(cnt)
	}
	if from != nil {
		msg.Name = (*byte)(from.Ptr())
		msg.Namelen = uint32(unsafe.Sizeof(from.raw))
	}
	n, err = recvmsg(fd, &msg, flags)
	if err != nil {
		return 0, false, err
	}
	if from != nil {
		from.Len = msg.Namelen
	}
	return n, msg.Flags&unix.MSG_TRUNC != 0, nil
}
