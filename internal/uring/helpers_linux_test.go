package uring

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newRing sets up a ring for a test, and skips the test, saying why, only
// where the kernel refuses io_uring.
func newRing(t testing.TB, cfg Config) *Ring {
	t.Helper()
	r, err := New(cfg)
	if errors.Is(err, ErrUnavailable) && forced.Load() == nil {
		t.Skipf("io_uring refused by this kernel: %v", err)
	}
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	t.Cleanup(func() {
		if r.fd >= 0 {
			r.Close()
		}
	})
	return r
}

// sqe returns a free SQE or fails the test.
func sqe(t testing.TB, r *Ring) *SQE {
	t.Helper()
	s, err := r.NextSQE()
	if err != nil {
		t.Fatalf("NextSQE: %v", err)
	}
	return s
}

// collect submits what is prepared and reaps until n completions have come
// (or fails after 5 s), and returns them in order.
func collect(t testing.TB, r *Ring, n int) []CQE {
	t.Helper()
	out := make([]CQE, 0, n)
	var buf [64]CQE
	deadline := time.Now().Add(5 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d completions: %+v", len(out), n, out)
		}
		if _, err := r.SubmitAndWait(100 * time.Millisecond); err != nil {
			t.Fatalf("SubmitAndWait: %v", err)
		}
		k := r.Reap(buf[:min(len(buf), n-len(out))])
		out = append(out, buf[:k]...)
	}
	return out
}

// byUserData indexes completions by user_data, failing on a duplicate
// final completion.
func byUserData(t testing.TB, cs []CQE) map[uint64]CQE {
	t.Helper()
	m := make(map[uint64]CQE, len(cs))
	for _, c := range cs {
		if _, dup := m[c.UserData]; dup && !c.More() {
			t.Fatalf("two completions for user_data %d: %+v", c.UserData, cs)
		}
		m[c.UserData] = c
	}
	return m
}

// socketpair returns a connected pair of stream sockets, non-blocking as
// the asio backends open them.
func socketpair(t testing.TB, typ int) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

// tcpListener returns a listening non-blocking TCP socket on loopback and
// its address.
func tcpListener(t testing.TB) (int, *net.TCPAddr) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 64); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	in := sa.(*unix.SockaddrInet4)
	return fd, &net.TCPAddr{IP: net.IP(in.Addr[:]), Port: in.Port}
}

// readAll reads exactly n bytes from a non-blocking fd, polling for it.
func readAll(t testing.TB, fd, n int) []byte {
	t.Helper()
	out := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(out) < n {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, 5000); err != nil && err != unix.EINTR {
			t.Fatalf("poll: %v", err)
		}
		k, err := unix.Read(fd, buf[:n-len(out)])
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil || k == 0 {
			t.Fatalf("read: %d, %v", k, err)
		}
		out = append(out, buf[:k]...)
	}
	return out
}

func closeFD(t testing.TB, fd int) {
	t.Helper()
	if err := unix.Close(fd); err != nil && !errors.Is(err, os.ErrClosed) {
		t.Errorf("close(%d): %v", fd, err)
	}
}
