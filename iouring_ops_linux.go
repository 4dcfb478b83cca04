package asio

import (
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/goasio/asio/internal/sys"
	"github.com/goasio/asio/internal/uring"
	"golang.org/x/sys/unix"
)

// extTable holds what the io_uring backend keeps per descriptor beyond
// fdState, by table slot (the descriptor number), in chunks made on first
// use: the buffer group of an armed multishot receive (a byte per slot, for
// every descriptor that reads pooled), and the rarer state (a pointer per
// slot, in chunks made only where a descriptor needs one). An entry is used
// under the lock of the descriptor that holds the slot (a zombie takes its
// slot, and so its entry, over).
type extTable struct {
	xs     [tableChunks]atomic.Pointer[[chunkSize]*uext]
	groups [tableChunks]atomic.Pointer[[chunkSize]uint8]
}

// chunkOf returns the chunk of slot in cs, making it if make is set (nil
// otherwise when it was never made).
func chunkOf[T any](cs *[tableChunks]atomic.Pointer[[chunkSize]T], slot uint32, make bool) *[chunkSize]T {
	c := &cs[slot/chunkSize]
	ch := c.Load()
	if ch == nil && make {
		ch = new([chunkSize]T)
		if !c.CompareAndSwap(nil, ch) {
			ch = c.Load()
		}
	}
	return ch
}

func tokenSlot(token uint64) uint32 { return uint32(token) & udSlotMask }

// ext returns token's rarer state, or nil.
func (t *extTable) ext(token uint64) *uext {
	slot := tokenSlot(token)
	if ch := chunkOf(&t.xs, slot, false); ch != nil {
		return ch[slot%chunkSize]
	}
	return nil
}

func (t *extTable) setExt(token uint64, x *uext) {
	slot := tokenSlot(token)
	if ch := chunkOf(&t.xs, slot, x != nil); ch != nil {
		ch[slot%chunkSize] = x
	}
}

// group returns the buffer group of token's armed multishot receive (0: an
// accept, or none).
func (t *extTable) group(token uint64) int {
	slot := tokenSlot(token)
	if ch := chunkOf(&t.groups, slot, false); ch != nil {
		return int(ch[slot%chunkSize])
	}
	return 0
}

func (t *extTable) setGroup(token uint64, g int) {
	slot := tokenSlot(token)
	if ch := chunkOf(&t.groups, slot, g != 0); ch != nil {
		ch[slot%chunkSize] = uint8(g)
	}
}

// uext is a descriptor's rarer state: the kernel-visible headers of the
// ops in flight that need them, and what a multishot receive or accept
// brought that no op has taken yet.
type uext struct {
	scratch [3]*uscratch // by direction
	stash   []stashed    // oldest first
	err     error        // how a multishot receive or accept ended, for the next op
}

// stashed is data a multishot receive put in a pool's buffer, or a
// connection a multishot accept took, before an op asked for it.
type stashed struct {
	b  []byte
	p  *BufferPool
	fd int
}

// maxStash bounds what a multishot receive or accept takes ahead of the
// ops: past it the multishot is cancelled, so that a connection nobody
// reads keeps its data in the socket (flow control), not in the pool.
const maxStash = 4

var uextPool = sync.Pool{New: func() any { return new(uext) }}

// uscratch is the msghdr, iovec array and socket address of one op in
// flight: the kernel reads them when it issues the op, and a receive
// writes the header and address back when it completes, so they live until
// the CQE.
type uscratch struct {
	msg unix.Msghdr
	sa  sys.Sockaddr
	iov []unix.Iovec
}

var uscratchPool = sync.Pool{New: func() any { return new(uscratch) }}

// iovs returns room for n iovecs.
func (s *uscratch) iovs(n int) []unix.Iovec {
	if cap(s.iov) < n {
		s.iov = make([]unix.Iovec, n)
	}
	return s.iov[:n]
}

func (s *uscratch) release() {
	clear(s.iov[:cap(s.iov)])
	s.msg = unix.Msghdr{}
	uscratchPool.Put(s)
}

// ext returns d's rarer state, or nil (d.mu held).
func (b *uringBackend) ext(d *fdState) *uext {
	return b.slots.ext(d.token())
}

// makeExt returns d's rarer state, making it if needed (d.mu held).
func (b *uringBackend) makeExt(d *fdState) *uext {
	x := b.slots.ext(d.token())
	if x == nil {
		x = uextPool.Get().(*uext)
		b.slots.setExt(d.token(), x)
	}
	return x
}

// scratch returns the headers for d's op in flight in direction dir.
func (b *uringBackend) scratch(d *fdState, dir int) *uscratch {
	x := b.makeExt(d)
	if x.scratch[dir] == nil {
		x.scratch[dir] = uscratchPool.Get().(*uscratch)
	}
	return x.scratch[dir]
}

// takeScratch detaches the headers of d's op that completed in direction
// dir, or returns nil if it had none; the caller releases them.
func (b *uringBackend) takeScratch(d *fdState, dir int) *uscratch {
	x := b.ext(d)
	if x == nil {
		return nil
	}
	s := x.scratch[dir]
	x.scratch[dir] = nil
	return s
}

// dropSlot releases d's slot entry when its descriptor is forgotten: stashed
// buffers go back to their pools, stashed connections are closed (d.mu
// held).
func (b *uringBackend) dropSlot(d *fdState) {
	b.slots.setGroup(d.token(), 0)
	if x := b.slots.ext(d.token()); x != nil {
		b.slots.setExt(d.token(), nil)
		for _, e := range x.stash {
			if e.b != nil {
				e.p.unget(e.b)
			} else {
				sys.Close(e.fd)
			}
		}
		for i, s := range x.scratch {
			if s != nil {
				s.release()
				x.scratch[i] = nil
			}
		}
		clear(x.stash)
		x.stash, x.err = x.stash[:0], nil
		uextPool.Put(x)
	}
}

// errOf is the error of a negative CQE result.
func errOf(res int32) error {
	if res == -int32(syscall.ECANCELED) {
		return ErrOperationAborted
	}
	return syscall.Errno(-res)
}

const errAgain = -int32(syscall.EAGAIN)

// issue starts o, the head of d's queue dir with nothing of that direction
// in the kernel: it prepares its SQE (or arms or joins a multishot), or
// finishes it at once; it reports whether o finished (d.mu held).
func (b *uringBackend) issue(d *fdState, o *op, dir int) bool {
	switch o.kind {
	case opRead:
		if b.fromStash(d, o) {
			return true
		}
		if d.state&uMulti != 0 {
			b.cancelMultiLocked(d) // the op goes to the kernel once it has ended
			return false
		}
		if MessageFlags(o.flags)&MsgOutOfBand != 0 {
			return b.pollRaw(d, o, dir)
		}
		b.prepRecv(d, o, dir)
	case opReadPooled:
		return b.issuePooled(d, o)
	case opWrite, opWriteAll, opSendDgram:
		return b.prepSend(d, o, dir, false)
	case opSendTo:
		return b.prepSend(d, o, dir, true)
	case opRecvFrom:
		b.prepRecvFrom(d, o, dir)
	case opAccept:
		return b.issueAccept(d, o)
	case opConnect:
		return b.prepConnect(d, o, dir)
	case opWait:
		if WaitType(o.flags) == WaitRead {
			if x := b.ext(d); x != nil && (len(x.stash) > 0 || x.err != nil) {
				return true // what a multishot took is there to read
			}
			if d.state&uMulti != 0 {
				b.cancelMultiLocked(d) // it would take the data the wait waits for
				return false
			}
		}
		b.prepPoll(d, dir, waitEvents(o))
	case opSendBatch, opRecvBatch:
		return b.pollRaw(d, o, dir)
	default:
		panic("asio: internal error: an op of kind " + strconv.Itoa(int(o.kind)) + " reached the io_uring backend")
	}
	return false
}

// isPollRaw reports whether o is performed by a raw syscall once a poll SQE
// says its direction is ready: the batched datagram ops (io_uring has no
// sendmmsg or recvmmsg) and receives of urgent data.
func isPollRaw(o *op) bool {
	switch o.kind {
	case opSendBatch, opRecvBatch:
		return true
	case opRead:
		return MessageFlags(o.flags)&MsgOutOfBand != 0
	}
	return false
}

// pollRaw tries o's syscall now and, if it would block, waits for its
// direction with a poll SQE.
func (b *uringBackend) pollRaw(d *fdState, o *op, dir int) bool {
	switch performRaw(d, o, false) {
	case done, doneExhausted:
		return true
	}
	b.prepPoll(d, dir, dirEvents(dir))
	return false
}

func dirEvents(dir int) uint32 {
	switch dir {
	case dirWrite:
		return unix.POLLOUT
	case dirExcept:
		return pollUrgent
	}
	return unix.POLLIN
}

// pollUrgent is what a poll SQE waits for to see urgent data: POLLPRI alone
// is seen when the poll is armed, but TCP's wakeup for urgent data arriving
// later does not carry it (measured on Linux 6.18); POLLRDBAND does, and
// in-band data alone does not keep it ready. The op looks at POLLPRI in
// the result.
const pollUrgent = unix.POLLPRI | 0x80 // POLLRDBAND

// urgentReady is what a poll's result must hold to end a wait for urgent
// data or an error.
const urgentReady = unix.POLLPRI | unix.POLLERR | unix.POLLHUP

// waitEvents is what an AsyncWait waits for: as on epoll, a read wait also
// ends when the peer shuts its side down, and every wait on an error or
// hang-up (which poll reports always).
func waitEvents(o *op) uint32 {
	switch WaitType(o.flags) {
	case WaitWrite:
		return unix.POLLOUT
	case WaitError:
		return pollUrgent
	}
	return unix.POLLIN | unix.POLLRDHUP
}

func (b *uringBackend) prepPoll(d *fdState, dir int, events uint32) {
	b.sq.Lock()
	b.sqeLocked().PrepPollAdd(int(d.sysfd), events, false, userData(d.token(), dir, 0))
	b.inflightLocked(d, dir)
	b.sq.Unlock()
}

// prepRecv prepares a receive into the caller's buffers: recv for one,
// recvmsg for several (at most IOV_MAX of them).
func (b *uringBackend) prepRecv(d *fdState, o *op, dir int) {
	fd, ud, flags := int(d.sysfd), userData(d.token(), dir, 0), sys.MsgFlags(int(o.flags))
	bufs := o.bufs()
	var sc *uscratch
	if bufs != nil {
		sc = b.scratch(d, dir)
		uring.SetIovecs(&sc.msg, sc.iovs(min(len(bufs), sys.MaxIovecs)), bufs)
	}
	b.sq.Lock()
	s := b.sqeLocked()
	if sc == nil {
		s.PrepRecv(fd, o.buffer(), flags, ud)
	} else {
		s.PrepRecvmsg(fd, &sc.msg, flags, ud)
	}
	if d.state&uReadEmpty != 0 && !d.dgram {
		s.PollFirst() // the last receive took all there was
	}
	b.inflightLocked(d, dir)
	b.sq.Unlock()
}

// prepSend prepares a send: send for one buffer, sendmsg for several (a
// stream takes the first IOV_MAX; a datagram of more is EMSGSIZE) or for a
// destination address.
func (b *uringBackend) prepSend(d *fdState, o *op, dir int, to bool) bool {
	fd, ud, flags := int(d.sysfd), userData(d.token(), dir, 0), sys.MsgFlags(int(o.flags))
	bufs := o.bufs()
	var sc *uscratch
	if to || bufs != nil {
		var sa sys.Sockaddr
		if to {
			var err error
			if sa, err = sys.MakeSockaddr(o.x.addr, afOf(d.family())); err != nil {
				o.err = err
				return true
			}
		}
		n := 0
		if bufs == nil {
			if len(o.buffer()) > 0 {
				n = 1
			}
		} else if n = nonEmpty(bufs); n > sys.MaxIovecs {
			if d.dgram {
				o.err = syscall.EMSGSIZE
				return true
			}
			n = sys.MaxIovecs
		}
		sc = b.scratch(d, dir)
		iov := sc.iovs(n)
		if bufs == nil {
			uring.SetIovecs(&sc.msg, iov, [][]byte{o.buffer()})
		} else {
			uring.SetIovecs(&sc.msg, iov, bufs)
		}
		if to {
			sc.sa = sa
			sc.msg.Name = (*byte)(sc.sa.Ptr())
			sc.msg.Namelen = sa.Len
		}
	}
	b.sq.Lock()
	s := b.sqeLocked()
	if sc == nil {
		s.PrepSend(fd, o.buffer(), flags, ud)
	} else {
		s.PrepSendmsg(fd, &sc.msg, flags, ud)
	}
	b.inflightLocked(d, dir)
	b.sq.Unlock()
	return false
}

func nonEmpty(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		if len(b) > 0 {
			n++
		}
	}
	return n
}

// prepRecvFrom prepares a recvmsg that reports the sender and truncation.
func (b *uringBackend) prepRecvFrom(d *fdState, o *op, dir int) {
	sc := b.scratch(d, dir)
	if bufs := o.bufs(); bufs != nil {
		uring.SetIovecs(&sc.msg, sc.iovs(min(len(bufs), sys.MaxIovecs)), bufs)
	} else if len(o.buffer()) > 0 {
		uring.SetIovecs(&sc.msg, sc.iovs(1), [][]byte{o.buffer()})
	}
	sc.msg.Name = (*byte)(sc.sa.Ptr())
	sc.msg.Namelen = unix.SizeofSockaddrInet6
	b.sq.Lock()
	b.sqeLocked().PrepRecvmsg(int(d.sysfd), &sc.msg, sys.MsgFlags(int(o.flags)), userData(d.token(), dir, 0))
	b.inflightLocked(d, dir)
	b.sq.Unlock()
}

// prepConnect prepares a CONNECT of d (open, not connected) to o's peer.
func (b *uringBackend) prepConnect(d *fdState, o *op, dir int) bool {
	sa, err := sys.MakeSockaddr(o.x.addr, afOf(d.family()))
	if err != nil {
		o.err = err
		return true
	}
	sc := b.scratch(d, dir)
	sc.sa = sa
	b.sq.Lock()
	b.sqeLocked().PrepConnect(int(d.sysfd), &sc.sa, userData(d.token(), dir, 0))
	b.inflightLocked(d, dir)
	b.sq.Unlock()
	return false
}

// finish records what the CQE of o's SQE says, and reports whether o is
// finished; if not, advance gives it another SQE (d.mu held).
func (b *uringBackend) finish(d *fdState, o *op, dir int, c *uring.CQE) bool {
	sc := b.takeScratch(d, dir)
	if sc != nil {
		defer sc.release()
	}
	res := c.Res
	if isPollRaw(o) {
		if res < 0 {
			o.err = errOf(res)
			return true
		}
		switch performRaw(d, o, true) {
		case done, doneExhausted:
			return true
		}
		return false
	}
	if res == errAgain {
		return false
	}
	switch o.kind {
	case opRead:
		switch {
		case res > 0:
			o.n = res
		case res == 0:
			if !d.dgram {
				o.err = io.EOF
			}
		default:
			o.err = errOf(res)
		}
	case opReadPooled:
		return b.finishPooled(d, o, c)
	case opRecvFrom:
		if res < 0 {
			o.err = errOf(res)
			break
		}
		o.n = res
		sc.sa.Len = sc.msg.Namelen
		o.ext().addr = sc.sa.AddrPort()
		if sc.msg.Flags&unix.MSG_TRUNC != 0 {
			o.err = ErrMessageTooLong
		}
	case opWait:
		if res < 0 {
			o.err = errOf(res)
		} else if dir == dirExcept && uint32(res)&urgentReady == 0 {
			return false // woken by in-band data: wait again
		}
	case opConnect:
		if res < 0 {
			o.err = errOf(res)
		}
	case opWriteAll:
		if res < 0 {
			o.err = errOf(res) // o.n keeps what the earlier sends wrote
			break
		}
		o.n += res
		o.advance(int(res))
		if res > 0 && o.size() > 0 {
			return false // the rest goes in another send
		}
	default: // the sends
		if res < 0 {
			o.err = errOf(res)
		} else {
			o.n = res
		}
	}
	return true
}
