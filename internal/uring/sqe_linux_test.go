package uring

import (
	"bytes"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/goasio/asio/internal/sys"
	"golang.org/x/sys/unix"
)

func TestSendRecv(t *testing.T) {
	r := newRing(t, Config{Entries: 8})
	a, b := socketpair(t, unix.SOCK_STREAM)
	in := make([]byte, 64)
	out := []byte("hello, ring")
	sqe(t, r).PrepRecv(a, in, 0, 1) // waits: nothing sent yet
	sqe(t, r).PrepSend(b, out, 0, 2)
	m := byUserData(t, collect(t, r, 2))
	if m[2].Res != int32(len(out)) {
		t.Errorf("send: %+v, want %d bytes", m[2], len(out))
	}
	if got := in[:max(m[1].Res, 0)]; !bytes.Equal(got, out) {
		t.Errorf("recv: %+v %q, want %q", m[1], got, out)
	}
	// End of stream is a 0-byte receive.
	if err := unix.Shutdown(b, unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	sqe(t, r).PrepRecv(a, in, 0, 3)
	if c := collect(t, r, 1)[0]; c.Res != 0 || c.Err() != nil {
		t.Errorf("recv at end of stream: %+v, want 0", c)
	}
}

func TestSendmsgGather(t *testing.T) {
	r := newRing(t, Config{Entries: 8})
	a, b := socketpair(t, unix.SOCK_STREAM)
	bufs := [][]byte{[]byte("gather "), nil, []byte("write "), {}, []byte("of four")}
	msg := new(unix.Msghdr)
	iov := make([]unix.Iovec, 4)
	if used := SetIovecs(msg, iov, bufs); used != len(bufs) || msg.Iovlen != 3 {
		t.Fatalf("SetIovecs used %d buffers, %d iovecs", used, msg.Iovlen)
	}
	sqe(t, r).PrepSendmsg(a, msg, 0, 1)
	const want = "gather write of four"
	if c := collect(t, r, 1)[0]; c.Res != int32(len(want)) {
		t.Fatalf("sendmsg: %+v, want %d", c, len(want))
	}
	if got := readAll(t, b, len(want)); string(got) != want {
		t.Errorf("peer read %q, want %q", got, want)
	}
}

func TestSetIovecs(t *testing.T) {
	tests := []struct {
		name     string
		bufs     [][]byte
		room     int
		used, n  int
		firstLen int
	}{
		{"empty", nil, 4, 0, 0, 0},
		{"only empty buffers", [][]byte{nil, {}}, 4, 2, 0, 0},
		{"fits", [][]byte{[]byte("ab"), []byte("c")}, 4, 2, 2, 2},
		{"split", [][]byte{[]byte("a"), nil, []byte("b"), []byte("c")}, 2, 3, 2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var msg unix.Msghdr
			iov := make([]unix.Iovec, tc.room)
			used := SetIovecs(&msg, iov, tc.bufs)
			if used != tc.used || int(msg.Iovlen) != tc.n {
				t.Fatalf("used %d, iovlen %d; want %d, %d", used, msg.Iovlen, tc.used, tc.n)
			}
			if tc.n > 0 && (msg.Iov != &iov[0] || int(iov[0].Len) != tc.firstLen) {
				t.Errorf("msg does not point at iov, or first len %d", iov[0].Len)
			}
			if tc.n == 0 && msg.Iov != nil {
				t.Error("no buffers but msg.Iov is set")
			}
		})
	}
}

// TestSendmsgToRecvmsgFrom is sendto/recvfrom on UDP: SENDMSG with a
// msg_name, RECVMSG that reports the sender.
func TestSendmsgToRecvmsgFrom(t *testing.T) {
	r := newRing(t, Config{Entries: 8})
	rx, rxAddr := udpSocket(t)
	tx, txAddr := udpSocket(t)

	var from sys.Sockaddr
	in := make([]byte, 32)
	rmsg := new(unix.Msghdr)
	riov := make([]unix.Iovec, 1)
	SetIovecs(rmsg, riov, [][]byte{in})
	rmsg.Name = (*byte)(from.Ptr())
	rmsg.Namelen = sockaddrCap
	sqe(t, r).PrepRecvmsg(rx, rmsg, 0, 1)

	to, err := sys.MakeSockaddr(rxAddr, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	smsg := new(unix.Msghdr)
	siov := make([]unix.Iovec, 2)
	SetIovecs(smsg, siov, [][]byte{[]byte("data"), []byte("gram")})
	smsg.Name = (*byte)(to.Ptr())
	smsg.Namelen = to.Len
	sqe(t, r).PrepSendmsg(tx, smsg, 0, 2)

	m := byUserData(t, collect(t, r, 2))
	if m[2].Res != 8 {
		t.Fatalf("sendmsg to %v: %+v", rxAddr, m[2])
	}
	if m[1].Res != 8 || string(in[:8]) != "datagram" {
		t.Fatalf("recvmsg: %+v %q", m[1], in)
	}
	from.Len = rmsg.Namelen
	if got := from.AddrPort(); got != txAddr {
		t.Errorf("recvmsg reported sender %v, want %v", got, txAddr)
	}
}

func udpSocket(t *testing.T) (int, netip.AddrPort) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	ap, err := sys.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, ap
}

func TestAcceptAndConnect(t *testing.T) {
	r := newRing(t, Config{Entries: 8})
	ln, addr := tcpListener(t)
	peer := new(sys.Sockaddr)
	sqe(t, r).PrepAccept(ln, peer, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 1)

	c, err := sys.Socket(unix.AF_INET, unix.SOCK_STREAM, 0) // non-blocking, as asio opens it
	if err != nil {
		t.Fatal(err)
	}
	defer closeFD(t, c)
	to, err := sys.MakeSockaddr(addr.AddrPort(), unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	sa := &to
	sqe(t, r).PrepConnect(c, sa, 2)
	m := byUserData(t, collect(t, r, 2))
	if m[2].Res != 0 {
		t.Fatalf("connect: %+v (%v)", m[2], m[2].Err())
	}
	if m[1].Res < 0 {
		t.Fatalf("accept: %v", m[1].Err())
	}
	defer closeFD(t, int(m[1].Res))
	local, err := sys.Getsockname(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := peer.AddrPort(); got != local {
		t.Errorf("accept reported peer %v, want %v", got, local)
	}
	if fl, _ := unix.FcntlInt(uintptr(m[1].Res), unix.F_GETFL, 0); fl&unix.O_NONBLOCK == 0 {
		t.Error("accepted socket is blocking despite SOCK_NONBLOCK")
	}
}

func TestConnectRefused(t *testing.T) {
	r := newRing(t, Config{Entries: 4})
	// A bound socket that does not listen: connecting to its port is refused.
	bound, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFD(t, bound)
	if err := unix.Bind(bound, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	addr, err := sys.Getsockname(bound)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sys.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFD(t, c)
	to, _ := sys.MakeSockaddr(addr, unix.AF_INET)
	sqe(t, r).PrepConnect(c, &to, 1)
	if c := collect(t, r, 1)[0]; c.Err() != syscall.ECONNREFUSED {
		t.Fatalf("connect to a closed port: %+v (%v), want ECONNREFUSED", c, c.Err())
	}
}

func TestAcceptMultishot(t *testing.T) {
	r := newRing(t, Config{Entries: 8})
	ln, addr := tcpListener(t)
	sqe(t, r).PrepAcceptMultishot(ln, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 9)
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	const conns = 3
	for range conns {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	for i, c := range collect(t, r, conns) {
		if c.UserData != 9 || c.Res < 0 || !c.More() {
			t.Errorf("accept %d: %+v (%v), want a descriptor with CQEFMore", i, c, c.Err())
		}
		if c.Res >= 0 {
			closeFD(t, int(c.Res))
		}
	}
	// Still armed: cancelling it ends it with a final CQE.
	sqe(t, r).PrepCancel(9, 0, 10)
	m := byUserData(t, collect(t, r, 2))
	if m[9].Err() != syscall.ECANCELED || m[9].More() {
		t.Errorf("cancelled multishot accept: %+v", m[9])
	}
	if m[10].Res != 0 {
		t.Errorf("cancel: %+v", m[10])
	}
}

func TestCancelInFlightRecv(t *testing.T) {
	r := newRing(t, Config{Entries: 8})
	a, _ := socketpair(t, unix.SOCK_STREAM)
	buf := make([]byte, 16)
	sqe(t, r).PrepRecv(a, buf, 0, 1)
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	sqe(t, r).PrepCancel(1, 0, 2)
	m := byUserData(t, collect(t, r, 2))
	if m[1].Err() != syscall.ECANCELED {
		t.Errorf("cancelled recv: %+v (%v), want ECANCELED", m[1], m[1].Err())
	}
	if m[2].Res != 0 {
		t.Errorf("cancel: %+v (%v), want 0", m[2], m[2].Err())
	}
	// Nothing left to cancel.
	sqe(t, r).PrepCancel(1, 0, 3)
	if c := collect(t, r, 1)[0]; c.Err() != syscall.ENOENT {
		t.Errorf("cancel of a completed request: %+v, want ENOENT", c)
	}
}

// TestCancelPartialRecv: a MSG_WAITALL receive that got 3 of its 10 bytes
// reports 3 when cancelled, not ECANCELED: no received byte is lost.
func TestCancelPartialRecv(t *testing.T) {
	r := newRing(t, Config{Entries: 8})
	a, b := socketpair(t, unix.SOCK_STREAM)
	buf := make([]byte, 10)
	sqe(t, r).PrepRecv(a, buf, unix.MSG_WAITALL, 1)
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(b, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	waitQueue(t, a, unix.SIOCINQ, func(n int) bool { return n == 0 }) // the receive took them
	sqe(t, r).PrepCancel(1, 0, 2)
	m := byUserData(t, collect(t, r, 2))
	if m[1].Res != 3 || string(buf[:3]) != "abc" {
		t.Errorf("cancelled partial recv: %+v %q, want 3 bytes", m[1], buf[:3])
	}
}

// TestCancelPartialSend: a MSG_WAITALL send larger than the socket buffers,
// cancelled while the peer does not read, reports the bytes that left, and
// the peer receives exactly those.
func TestCancelPartialSend(t *testing.T) {
	r := newRing(t, Config{Entries: 8})
	a, b := socketpair(t, unix.SOCK_STREAM)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	sqe(t, r).PrepSend(a, big, unix.MSG_WAITALL, 1)
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	waitQueue(t, b, unix.SIOCINQ, func(n int) bool { return n > 0 })
	sqe(t, r).PrepCancel(1, 0, 2)
	m := byUserData(t, collect(t, r, 2))
	sent := int(m[1].Res)
	if sent <= 0 || sent >= len(big) {
		t.Fatalf("cancelled partial send: %+v, want 0 < res < %d", m[1], len(big))
	}
	if got := readAll(t, b, sent); !bytes.Equal(got, big[:sent]) {
		t.Error("the peer received other bytes than the send reported")
	}
	if n, _ := unix.IoctlGetInt(b, unix.SIOCINQ); n != 0 {
		t.Errorf("%d bytes beyond the reported count arrived", n)
	}
}

// waitQueue polls a socket queue ioctl until ok says so (the kernel state a
// test waits for has no completion of its own to tell it).
func waitQueue(t *testing.T, fd int, req uint, ok func(int) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := unix.IoctlGetInt(fd, req)
		if err != nil {
			t.Fatal(err)
		}
		if ok(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket queue stuck at %d", n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCancelFDAndAny(t *testing.T) {
	r := newRing(t, Config{Entries: 8})
	a, b := socketpair(t, unix.SOCK_STREAM)
	bufs := [3][]byte{make([]byte, 4), make([]byte, 4), make([]byte, 4)}
	sqe(t, r).PrepRecv(a, bufs[0], 0, 1)
	sqe(t, r).PrepPollAdd(a, unix.POLLIN, false, 2)
	sqe(t, r).PrepRecv(b, bufs[2], 0, 3)
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	sqe(t, r).PrepCancelFD(a, CancelAll, 4)
	m := byUserData(t, collect(t, r, 3))
	if m[4].Res != 2 {
		t.Errorf("cancel of fd %d: %+v, want 2 cancelled", a, m[4])
	}
	for _, ud := range []uint64{1, 2} {
		if m[ud].Err() != syscall.ECANCELED {
			t.Errorf("request %d on the cancelled fd: %+v", ud, m[ud])
		}
	}
	// CancelAny also cancels the ring's own wakeup read (which it re-arms
	// at the next wait): 1 or 2.
	sqe(t, r).PrepCancel(0, CancelAny|CancelAll, 5)
	m = byUserData(t, collect(t, r, 2))
	if m[5].Res < 1 || m[3].Err() != syscall.ECANCELED {
		t.Errorf("cancel any: %+v, request: %+v", m[5], m[3])
	}
}

func TestLinkTimeout(t *testing.T) {
	r := newRing(t, Config{Entries: 8})
	a, _ := socketpair(t, unix.SOCK_STREAM)
	buf := make([]byte, 4)
	s := sqe(t, r)
	s.PrepRecv(a, buf, 0, 1)
	s.Flags |= SQEIOLink
	ts := &Timespec{Nsec: int64(10 * time.Millisecond)}
	sqe(t, r).PrepLinkTimeout(ts, 0, 2)
	m := byUserData(t, collect(t, r, 2))
	if m[1].Err() != syscall.ECANCELED || m[2].Err() != syscall.ETIME {
		t.Errorf("recv %+v (want ECANCELED), link timeout %+v (want ETIME)", m[1], m[2])
	}
}

func TestTimeoutOp(t *testing.T) {
	r := newRing(t, Config{Entries: 8})
	ts := &Timespec{Nsec: int64(5 * time.Millisecond)}
	sqe(t, r).PrepTimeout(ts, 0, 0, 1)
	if c := collect(t, r, 1)[0]; c.Err() != syscall.ETIME {
		t.Errorf("timeout: %+v, want ETIME", c)
	}
	// count 1: completes with 0 as soon as another completion is posted.
	sqe(t, r).PrepTimeout(&Timespec{Sec: 60}, 1, 0, 2)
	sqe(t, r).PrepNop(3)
	m := byUserData(t, collect(t, r, 2))
	if m[2].Res != 0 {
		t.Errorf("counted timeout: %+v, want 0", m[2])
	}
}

func TestPollAdd(t *testing.T) {
	r := newRing(t, Config{Entries: 8})
	a, b := socketpair(t, unix.SOCK_STREAM)
	sqe(t, r).PrepPollAdd(a, unix.POLLIN, false, 1)
	sqe(t, r).PrepPollAdd(b, unix.POLLOUT, false, 2)
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	if c := collect(t, r, 1)[0]; c.UserData != 2 || c.Res&unix.POLLOUT == 0 {
		t.Fatalf("first completion %+v, want POLLOUT on b (a has nothing to read)", c)
	}
	unix.Write(b, []byte("x"))
	if c := collect(t, r, 1)[0]; c.UserData != 1 || c.Res&unix.POLLIN == 0 || c.More() {
		t.Fatalf("one-shot poll: %+v, want POLLIN, no CQEFMore", c)
	}
	readAll(t, a, 1)

	sqe(t, r).PrepPollAdd(a, unix.POLLIN, true, 3)
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		unix.Write(b, []byte("y"))
		if c := collect(t, r, 1)[0]; c.UserData != 3 || c.Res&unix.POLLIN == 0 || !c.More() {
			t.Fatalf("multishot poll event %d: %+v", i, c)
		}
		readAll(t, a, 1)
	}
	sqe(t, r).PrepCancel(3, 0, 4)
	if m := byUserData(t, collect(t, r, 2)); m[3].More() {
		t.Errorf("cancelled multishot poll still has CQEFMore: %+v", m[3])
	}
}

func TestCloseAndShutdownOps(t *testing.T) {
	r := newRing(t, Config{Entries: 8})
	a, b := socketpair(t, unix.SOCK_STREAM)
	sqe(t, r).PrepShutdown(b, unix.SHUT_WR, 1)
	if c := collect(t, r, 1)[0]; c.Res != 0 {
		t.Fatalf("shutdown: %+v", c)
	}
	buf := make([]byte, 4)
	sqe(t, r).PrepRecv(a, buf, 0, 2)
	if c := collect(t, r, 1)[0]; c.Res != 0 {
		t.Errorf("recv after the peer's SHUT_WR: %+v, want 0 (end of stream)", c)
	}
	fd, err := unix.Dup(a)
	if err != nil {
		t.Fatal(err)
	}
	sqe(t, r).PrepClose(fd, 3)
	if c := collect(t, r, 1)[0]; c.Res != 0 {
		t.Fatalf("close: %+v", c)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("descriptor still open after the CLOSE op: %v", err)
	}
}

func TestMsgRing(t *testing.T) {
	from := newRing(t, Config{Entries: 4})
	to := newRing(t, Config{Entries: 4})
	sqe(t, from).PrepMsgRing(to.Fd(), 42, 77, 1)
	if c := collect(t, from, 1)[0]; c.Res != 0 {
		t.Fatalf("msg_ring: %+v (%v)", c, c.Err())
	}
	if c := collect(t, to, 1)[0]; c.UserData != 77 || c.Res != 42 {
		t.Fatalf("target ring got %+v, want user_data 77, res 42", c)
	}
}
