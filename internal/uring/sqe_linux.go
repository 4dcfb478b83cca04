package uring

import (
	"encoding/binary"
	"unsafe"

	"github.com/goasio/asio/internal/sys"
	"golang.org/x/sys/unix"
)

// SQE is struct io_uring_sqe (64 bytes), one submission queue entry, in the
// ring's shared memory. GetSQE hands it out zeroed; a Prep method fills it;
// the caller may then add SQE flags (Flags |= SQEIOLink, …).
type SQE struct {
	Opcode      uint8
	Flags       uint8  // SQE* flags
	Ioprio      uint16 // per-opcode flags (multishot, poll first)
	Fd          int32
	Off         uint64 // offset, addr2, or a count
	Addr        uint64 // buffer, msghdr, sockaddr, timespec, or a user_data to cancel
	Len         uint32
	OpFlags     uint32 // msg_flags, poll32_events, timeout_flags, accept_flags, cancel_flags…
	UserData    uint64 // returned in the CQE; never a Go pointer
	BufIndex    uint16 // buffer group for SQEBufferSelect
	Personality uint16
	FileIndex   uint32 // splice_fd_in, file_index, optlen, addr_len
	Addr3       uint64
	_           uint64
}

// sink and escapes make the memory an SQE names escape to the heap in every
// caller of a Prep method. The kernel reads or writes it after the method
// returns, and a goroutine stack moves when it grows, so it must not live on
// one; the heap does not move objects. The store never runs (sink.on stays
// false); what keeps the object alive meanwhile is the caller's reference.
var sink struct {
	on bool
	p  unsafe.Pointer
}

func escapes(p unsafe.Pointer) {
	if sink.on {
		sink.p = p
	}
}

// addr converts an address for the kernel. The conversion to an integer is
// what the SQE format demands; it is sound because the object escaped to the
// heap (escapes), where Go does not move it, and the caller keeps it
// referenced as the package documentation says.
func addr(p unsafe.Pointer) uint64 { return uint64(uintptr(p)) }

func bufAddr(b []byte) uint64 {
	p := unsafe.Pointer(unsafe.SliceData(b))
	escapes(p)
	return addr(p)
}

func (s *SQE) prep(op uint8, fd int, userData uint64) {
	s.Opcode = op
	s.Fd = int32(fd)
	s.UserData = userData
}

// PrepNop prepares a NOP, which completes with 0.
func (s *SQE) PrepNop(userData uint64) { s.prep(OpNop, -1, userData) }

// PrepPollAdd prepares a readiness wait for the poll(2) events on fd; the
// CQE's Res is the events that became ready. A multishot poll posts a CQE
// (with CQEFMore) each time fd becomes ready, until it is cancelled or fails.
func (s *SQE) PrepPollAdd(fd int, events uint32, multishot bool, userData uint64) {
	s.prep(OpPollAdd, fd, userData)
	s.OpFlags = pollEvents(events)
	if multishot {
		s.Len = pollAddMulti
	}
}

// pollEvents lays out a 32-bit poll mask as sqe->poll32_events wants it:
// as is on little-endian machines, half-words swapped on big-endian ones.
func pollEvents(e uint32) uint32 {
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		return e
	}
	return e<<16 | e>>16
}

// PrepRecv prepares a recv(2) into b; b stays referenced and unmoved until
// the CQE, whose Res is the byte count (0 at end of stream). A stream socket
// with MSG_WAITALL in msgFlags receives until b is full, and if that op is
// cancelled or fails part way its Res is the bytes already received.
func (s *SQE) PrepRecv(fd int, b []byte, msgFlags int, userData uint64) {
	s.prep(OpRecv, fd, userData)
	s.Addr = bufAddr(b)
	s.Len = uint32(len(b))
	s.OpFlags = uint32(msgFlags)
}

// PollFirst makes a prepared send or receive wait for readiness before
// its first attempt (IORING_RECVSEND_POLL_FIRST, Linux 5.19), for a socket
// known to have nothing to give (or no room) right now: the kernel then
// skips the attempt that would fail and arms its poll at once.
func (s *SQE) PollFirst() { s.Ioprio |= recvsendPollFirst }

// PrepRecvMultishot prepares a multishot receive into the buffers of a
// provided buffer ring (BufRing.Group): each CQE carries one buffer (Res
// bytes, CQE.Buffer gives its id) and CQEFMore while the receive stays
// armed. It ends with a CQE without CQEFMore: end of stream (Res 0), an
// error, or ENOBUFS when the ring had no buffer (recycle, then prepare
// another).
func (s *SQE) PrepRecvMultishot(fd int, group uint16, msgFlags int, userData uint64) {
	s.prep(OpRecv, fd, userData)
	s.Ioprio = recvMultishot
	s.Flags = SQEBufferSelect
	s.BufIndex = group
	s.OpFlags = uint32(msgFlags)
}

// PrepRecvSelect prepares one receive of at most maxLen bytes (0: a whole
// buffer) into a buffer the kernel picks from group when data is there:
// the CQE carries CQEFBuffer and the buffer's id with Res bytes.
func (s *SQE) PrepRecvSelect(fd int, group uint16, maxLen uint32, msgFlags int, userData uint64) {
	s.prep(OpRecv, fd, userData)
	s.Flags = SQEBufferSelect
	s.BufIndex = group
	s.Len = maxLen
	s.OpFlags = uint32(msgFlags)
}

// PrepRecvmsg prepares a recvmsg(2) with msg. The kernel writes msg's
// msg_namelen, msg_controllen and msg_flags, its name and control buffers
// and the buffers its iovecs name when the receive completes, so msg and all
// it points to stay referenced and unmoved until the CQE.
func (s *SQE) PrepRecvmsg(fd int, msg *unix.Msghdr, msgFlags int, userData uint64) {
	p := unsafe.Pointer(msg)
	escapes(p)
	s.prep(OpRecvmsg, fd, userData)
	s.Addr = addr(p)
	s.Len = 1
	s.OpFlags = uint32(msgFlags)
}

// PrepSend prepares a send(2) of b with MSG_NOSIGNAL added to msgFlags (a
// reset peer gives EPIPE, never SIGPIPE). b stays referenced until the CQE;
// Res is the bytes sent, which may be short.
func (s *SQE) PrepSend(fd int, b []byte, msgFlags int, userData uint64) {
	s.prep(OpSend, fd, userData)
	s.Addr = bufAddr(b)
	s.Len = uint32(len(b))
	s.OpFlags = uint32(msgFlags | unix.MSG_NOSIGNAL)
}

// PrepSendmsg prepares a sendmsg(2) of msg with MSG_NOSIGNAL added: a gather
// write (at most sys.MaxIovecs iovecs; a longer sequence is split by the
// caller), or a datagram to msg_name (sendto). msg, its iovec array and its
// name are copied when the SQE is consumed; the payload buffers and
// msg_control are read when the send runs and stay until the CQE.
func (s *SQE) PrepSendmsg(fd int, msg *unix.Msghdr, msgFlags int, userData uint64) {
	p := unsafe.Pointer(msg)
	escapes(p)
	s.prep(OpSendmsg, fd, userData)
	s.Addr = addr(p)
	s.Len = 1
	s.OpFlags = uint32(msgFlags | unix.MSG_NOSIGNAL)
}

// sockaddrCap is the room in a sys.Sockaddr, the largest address accept
// may write.
const sockaddrCap = uint32(unsafe.Sizeof(unix.RawSockaddrInet6{}))

// PrepAccept prepares one accept4(2) on the listening fd with flags
// (SOCK_NONBLOCK, SOCK_CLOEXEC); Res is the new descriptor. If sa is not nil
// the kernel writes the peer's address into it on completion, so it stays
// referenced until the CQE.
func (s *SQE) PrepAccept(fd int, sa *sys.Sockaddr, flags int, userData uint64) {
	s.prep(OpAccept, fd, userData)
	s.OpFlags = uint32(flags)
	if sa != nil {
		escapes(unsafe.Pointer(sa))
		sa.Len = sockaddrCap
		s.Addr = addr(sa.Ptr())
		s.Off = addr(unsafe.Pointer(&sa.Len)) // addr2: the socklen_t
	}
}

// PrepAcceptMultishot prepares a multishot accept: one CQE per accepted
// connection (Res the descriptor, CQEFMore while it stays armed). Peer
// addresses are not reported; getpeername gives them.
func (s *SQE) PrepAcceptMultishot(fd int, flags int, userData uint64) {
	s.prep(OpAccept, fd, userData)
	s.Ioprio = acceptMultishot
	s.OpFlags = uint32(flags)
}

// PrepConnect prepares a connect(2) of fd to sa; Res is 0 or the error. sa
// is copied when the SQE is consumed.
func (s *SQE) PrepConnect(fd int, sa *sys.Sockaddr, userData uint64) {
	escapes(unsafe.Pointer(sa))
	s.prep(OpConnect, fd, userData)
	s.Addr = addr(sa.Ptr())
	s.Off = uint64(sa.Len)
}

// PrepCancel prepares the cancellation of the request whose user_data is
// target (every such request with CancelAll). The cancelled request
// completes with -ECANCELED, or with its partial result if it had moved data
// (a MSG_WAITALL receive or send); this CQE's Res is 0 (with CancelAll, the
// count), -ENOENT when nothing matched, or -EALREADY when the request was
// already running and may still complete normally. CancelAny matches the
// ring's own wakeup read too; the ring re-arms it at its next wait, so the
// only trace is a larger count.
func (s *SQE) PrepCancel(target uint64, flags uint32, userData uint64) {
	s.prep(OpAsyncCancel, -1, userData)
	s.Addr = target
	s.OpFlags = flags
}

// PrepCancelFD prepares the cancellation of requests on fd (CancelFD is
// added; add CancelAll for every one of them).
func (s *SQE) PrepCancelFD(fd int, flags uint32, userData uint64) {
	s.prep(OpAsyncCancel, fd, userData)
	s.OpFlags = flags | CancelFD
}

// PrepTimeout prepares a timeout that completes with -ETIME when ts passes
// (relative, or absolute with TimeoutAbs), or with 0 once count other
// completions were posted (count 0: time only). ts is copied when the SQE is
// consumed.
func (s *SQE) PrepTimeout(ts *Timespec, count uint32, flags uint32, userData uint64) {
	p := unsafe.Pointer(ts)
	escapes(p)
	s.prepTimeout(p, count, flags, userData)
}

func (s *SQE) prepTimeout(ts unsafe.Pointer, count uint32, flags uint32, userData uint64) {
	s.prep(OpTimeout, -1, userData)
	s.Addr = addr(ts)
	s.Len = 1
	s.Off = uint64(count)
	s.OpFlags = flags
}

// PrepLinkTimeout prepares a timeout for the SQE before it, which must
// carry SQEIOLink: if that request has not completed when ts passes it is
// cancelled (its CQE -ECANCELED, this one -ETIME); if it completes first,
// this one completes with -ECANCELED. ts is copied when the SQE is consumed.
func (s *SQE) PrepLinkTimeout(ts *Timespec, flags uint32, userData uint64) {
	p := unsafe.Pointer(ts)
	escapes(p)
	s.prep(OpLinkTimeout, -1, userData)
	s.Addr = addr(p)
	s.Len = 1
	s.OpFlags = flags
}

// PrepClose prepares a close(2) of fd.
func (s *SQE) PrepClose(fd int, userData uint64) { s.prep(OpClose, fd, userData) }

// PrepShutdown prepares a shutdown(2) of fd (how is SHUT_RD, SHUT_WR or
// SHUT_RDWR).
func (s *SQE) PrepShutdown(fd int, how int, userData uint64) {
	s.prep(OpShutdown, fd, userData)
	s.Len = uint32(how)
}

// PrepMsgRing prepares a message to the ring whose descriptor is ringFd: it
// posts a CQE there with user_data data and Res res (IORING_MSG_DATA), and
// this SQE completes with 0 here.
func (s *SQE) PrepMsgRing(ringFd int, res int32, data uint64, userData uint64) {
	s.prep(OpMsgRing, ringFd, userData)
	s.Addr = ioringMsgData
	s.Len = uint32(res)
	s.Off = data
}

// prepRead prepares a read(2) into package memory (outside the Go heap).
func (s *SQE) prepRead(fd int, p unsafe.Pointer, n uint32, userData uint64) {
	s.prep(OpRead, fd, userData)
	s.Addr = addr(p)
	s.Len = n
}

// SetIovecs points msg at iov filled with the non-empty buffers of bufs, at
// most len(iov) of them, and returns how many buffers of bufs it covered
// (empty ones included), so that a caller splitting past sys.MaxIovecs
// knows where the next sendmsg starts. iov and bufs stay referenced until
// the SQE that uses msg is consumed (bufs until its CQE).
func SetIovecs(msg *unix.Msghdr, iov []unix.Iovec, bufs [][]byte) int {
	n, used := 0, 0
	for _, b := range bufs {
		if len(b) != 0 {
			if n == len(iov) {
				break
			}
			iov[n].Base = &b[0]
			iov[n].SetLen(len(b))
			n++
		}
		used++
	}
	msg.Iov = nil
	if n > 0 {
		msg.Iov = &iov[0]
	}
	msg.SetIovlen(n)
	return used
}
