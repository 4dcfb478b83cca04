package sys

import (
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxBatch is the most messages one sendmmsg/recvmmsg call takes: the
// kernel clamps vlen to UIO_MAXIOV (1024).
const MaxBatch = 1024

// MsgBatch is the scratch memory of one sendmmsg or recvmmsg call: a header,
// a socket address and a run of iovecs per message. It holds no state
// between calls, so callers pool it; reused, it allocates nothing.
//
// Fill it with Reset and then AddSend or AddRecv once per message, make the
// call with Send or Recv, read the results with Len, From and Truncated, and
// Clear it, which drops its references to the caller's buffers.
type MsgBatch struct {
	hdrs  []unix.Mmsghdr
	names []Sockaddr
	iovs  []unix.Iovec
	first []int // index in iovs of each message's first iovec
}

// Reset empties b for a batch of up to n messages.
func (b *MsgBatch) Reset(n int) {
	if cap(b.hdrs) < n {
		b.hdrs = make([]unix.Mmsghdr, 0, n)
		b.names = make([]Sockaddr, n)
		b.first = make([]int, 0, n)
	}
	b.hdrs = b.hdrs[:0]
	b.first = b.first[:0]
	b.iovs = b.iovs[:0]
}

// add appends a message over the non-empty buffers of bufs. Its iovecs are
// linked to the header only by finish, as iovs may still grow.
func (b *MsgBatch) add(bufs [][]byte) *unix.Mmsghdr {
	start := len(b.iovs)
	need := start + countIovecs(bufs)
	if need > cap(b.iovs) {
		b.iovs = append(b.iovs[:cap(b.iovs)], make([]unix.Iovec, need-cap(b.iovs))...)
	}
	b.iovs = b.iovs[:need]
	fillIovecs(b.iovs[start:], bufs, maxInt)
	b.first = append(b.first, start)
	b.hdrs = append(b.hdrs, unix.Mmsghdr{})
	return &b.hdrs[len(b.hdrs)-1]
}

// AddSend appends one datagram made of bufs (an empty sequence is a
// zero-length datagram), sent to to on a socket of the given family, or to
// the connected peer when to is the zero AddrPort.
func (b *MsgBatch) AddSend(bufs [][]byte, to netip.AddrPort, family int) error {
	var sa Sockaddr
	if to.IsValid() {
		var err error
		if sa, err = MakeSockaddr(to, family); err != nil {
			return err
		}
	}
	h := b.add(bufs)
	if sa.Len != 0 {
		i := len(b.hdrs) - 1
		b.names[i] = sa
		h.Hdr.Name = (*byte)(b.names[i].Ptr())
		h.Hdr.Namelen = sa.Len
	}
	return nil
}

// AddRecv appends room for one datagram in bufs and for its sender.
func (b *MsgBatch) AddRecv(bufs [][]byte) {
	h := b.add(bufs)
	i := len(b.hdrs) - 1
	h.Hdr.Name = (*byte)(b.names[i].Ptr())
	h.Hdr.Namelen = uint32(unsafe.Sizeof(b.names[i].raw))
}

// finish links each header to its iovecs, now that iovs is final.
func (b *MsgBatch) finish() {
	for i := range b.hdrs {
		h := &b.hdrs[i].Hdr
		start := b.first[i]
		end := len(b.iovs)
		if i+1 < len(b.first) {
			end = b.first[i+1]
		}
		if end > start {
			h.Iov = &b.iovs[start]
			h.SetIovlen(end - start)
		}
	}
}

// Send sends the batch with one sendmmsg call and returns how many messages
// went out. The kernel stops at the first message it cannot send: that
// error is returned only when no message was sent, as sendmmsg(2) does.
func (b *MsgBatch) Send(fd, flags int) (int, error) {
	if len(b.hdrs) == 0 {
		return 0, nil
	}
	b.finish()
	for {
		r, _, e := syscall.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)), uintptr(flags|unix.MSG_NOSIGNAL), 0, 0)
		if e != syscall.EINTR {
			return errnoResult(r, e)
		}
	}
}

// Recv receives up to the batch's size of datagrams with one recvmmsg call,
// without waiting, and returns how many arrived.
func (b *MsgBatch) Recv(fd, flags int) (int, error) {
	if len(b.hdrs) == 0 {
		return 0, nil
	}
	b.finish()
	for {
		r, _, e := syscall.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)), uintptr(flags|unix.MSG_DONTWAIT), 0, 0)
		if e != syscall.EINTR {
			n, err := errnoResult(r, e)
			for i := 0; i < n; i++ {
				b.names[i].Len = b.hdrs[i].Hdr.Namelen
			}
			return n, err
		}
	}
}

// Len is the number of bytes message i carried (as delivered, for a
// receive).
func (b *MsgBatch) Len(i int) int { return int(b.hdrs[i].Len) }

// From is the sender of received message i, IPv4-mapped addresses unmapped.
func (b *MsgBatch) From(i int) netip.AddrPort { return b.names[i].AddrPort() }

// Truncated reports whether received message i was larger than its buffers.
func (b *MsgBatch) Truncated(i int) bool { return b.hdrs[i].Hdr.Flags&unix.MSG_TRUNC != 0 }

// Clear drops b's references to the caller's buffers, so that a pooled
// batch keeps no memory of theirs alive.
func (b *MsgBatch) Clear() {
	clear(b.iovs)
	clear(b.hdrs)
	b.iovs = b.iovs[:0]
	b.hdrs = b.hdrs[:0]
	b.first = b.first[:0]
}
