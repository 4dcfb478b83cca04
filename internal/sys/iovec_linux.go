package sys

import (
	"sync"
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
// never SIGPIPE; flags are extra MSG_* flags. Runs of adjacent small
// buffers are copied, for the call only, into a pooled scratch array and
// sent as one iovec each (packIovecs): the bytes sent and the count
// returned are those of bufs, and nothing of the copy outlives the call.
func Writev(fd int, bufs [][]byte, flags int) (int, error) {
	var stack [stackIovecs]unix.Iovec
	iov := stack[:]
	np, c := packIovecs(nil, bufs, nil) // the iovecs it takes, of c buffers
	if np > stackIovecs {
		iov = make([]unix.Iovec, np)
	}
	var sp *[]byte
	var n int
	if np < c {
		sp = packPool.Get().(*[]byte)
		n, _ = packIovecs(iov, bufs, *sp)
	} else {
		n = fillIovecs(iov, bufs, maxInt)
	}
	if n == 0 {
		return 0, nil
	}
	var msg unix.Msghdr
	msg.Iov = &iov[0]
	msg.SetIovlen(n)
	r, err := sendmsg(fd, &msg, flags|unix.MSG_NOSIGNAL)
	if sp != nil {
		packPool.Put(sp)
	}
	return r, err
}

// PackMax is the largest buffer Writev copies into its scratch array; 0
// turns packing off (for the benchmarks that measure it). The kernel's copy
// into a socket costs per iovec: under wrk with 16 pipelined requests, the
// HTTP example's server, writing each batch of replies (about 80 bytes
// each) as one iovec per reply, spent 5.3 % of its CPU samples in
// _copy_from_iter, 1.25 % with the replies packed (net and bufio's one
// buffer: 1.1 %), while packing took 2.1 % (the layout, the copy, the
// pool). In the package's BenchmarkWritevPack (rounds of 16 messages to a
// draining peer, three runs) packing is within noise at 128 B and 1 KiB
// (0.95–1.02×), gains at 512 B (0.79–0.91×) and loses from 2 KiB on (up to
// 1.23×); so buffers up to 1 KiB are packed.
var PackMax = 1 << 10

// packScratch is the most bytes one Writev copies.
const packScratch = 16 << 10

var packPool = sync.Pool{New: func() any { b := make([]byte, packScratch); return &b }}

// packIovecs lays out the first MaxIovecs non-empty buffers of bufs as
// iovecs, a run of adjacent buffers of at most PackMax bytes each copied
// into scratch as one iovec while scratch has room, and returns how many
// iovecs that takes and how many buffers it laid out (fewer iovecs than
// buffers: something was packed). With iov nil it only counts (scratch
// taken as packScratch long), for a call with an iov that has room for the
// count.
func packIovecs(iov []unix.Iovec, bufs [][]byte, scratch []byte) (iovecs, buffers int) {
	n, used, k, run := 0, 0, 0, false
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		if k == MaxIovecs {
			break
		}
		k++
		if len(b) <= PackMax && used+len(b) <= packScratch {
			if iov != nil {
				copy(scratch[used:], b)
				if run {
					iov[n-1].SetLen(int(iov[n-1].Len) + len(b))
				} else {
					iov[n].Base = &scratch[used]
					iov[n].SetLen(len(b))
				}
			}
			if !run {
				n++
				run = true
			}
			used += len(b)
			continue
		}
		if iov != nil {
			iov[n].Base = &b[0]
			iov[n].SetLen(len(b))
		}
		n++
		run = false
	}
	return n, k
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
