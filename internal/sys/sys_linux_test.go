package sys

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSockaddrRoundTrip: addresses convert to kernel socket addresses and
// back, IPv4 into an AF_INET6 socket as mapped, and the wrong family is an
// error, never a panic.
func TestSockaddrRoundTrip(t *testing.T) {
	cases := []struct {
		ap     string
		family int
		want   string // "" = the same
		err    error
	}{
		{"127.0.0.1:80", unix.AF_INET, "", nil},
		{"[::1]:443", unix.AF_INET6, "", nil},
		{"10.1.2.3:7", unix.AF_INET6, "10.1.2.3:7", nil}, // mapped, unmapped back
		{"[::ffff:10.1.2.3]:7", unix.AF_INET, "10.1.2.3:7", nil},
		{"[fe80::1%2]:9", unix.AF_INET6, "[fe80::1]:9", nil},
		{"[::1]:1", unix.AF_INET, "", syscall.EAFNOSUPPORT},
		{"1.2.3.4:5", 99, "", syscall.EAFNOSUPPORT},
	}
	for _, c := range cases {
		ap := netip.MustParseAddrPort(c.ap)
		sa, err := MakeSockaddr(ap, c.family)
		if !errors.Is(err, c.err) {
			t.Errorf("MakeSockaddr(%v, %d): %v, want %v", ap, c.family, err, c.err)
			continue
		}
		if err != nil {
			continue
		}
		want := c.want
		if want == "" {
			want = c.ap
		}
		if got := sa.AddrPort().String(); got != want {
			t.Errorf("%v back: %s, want %s", ap, got, want)
		}
	}
	if _, err := MakeSockaddr(netip.AddrPort{}, unix.AF_INET); err != syscall.EINVAL {
		t.Errorf("the zero AddrPort: %v, want EINVAL", err)
	}
}

// TestMsgFlags: the package's bits become the platform's MSG_* values.
func TestMsgFlags(t *testing.T) {
	cases := []struct{ in, want int }{
		{0, 0},
		{FlagPeek, unix.MSG_PEEK},
		{FlagOutOfBand, unix.MSG_OOB},
		{FlagDoNotRoute, unix.MSG_DONTROUTE},
		{FlagEndOfRecord, unix.MSG_EOR},
		{FlagPeek | FlagOutOfBand, unix.MSG_PEEK | unix.MSG_OOB},
	}
	for _, c := range cases {
		if got := MsgFlags(c.in); got != c.want {
			t.Errorf("MsgFlags(%#x) = %#x, want %#x", c.in, got, c.want)
		}
	}
}

func socketPair(t *testing.T) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

// TestWritevReadv: gather and scatter move the non-empty buffers in
// order; more than IOV_MAX of them is a short write of the first IOV_MAX,
// and none allocates for a few buffers.
func TestWritevReadv(t *testing.T) {
	a, b := socketPair(t)
	n, err := Writev(a, [][]byte{[]byte("ab"), nil, []byte("cd")}, 0)
	if err != nil || n != 4 {
		t.Fatalf("Writev: %d, %v", n, err)
	}
	x, y := make([]byte, 1), make([]byte, 8)
	if n, err := Readv(b, [][]byte{x, {}, y}, 0); err != nil || n != 4 || string(x)+string(y[:3]) != "abcd" {
		t.Fatalf("Readv: %d, %v, %q %q", n, err, x, y[:3])
	}
	many := make([][]byte, MaxIovecs+10)
	for i := range many {
		many[i] = []byte{'z'}
	}
	if n, err := Writev(a, many, 0); err != nil || n != MaxIovecs {
		t.Fatalf("Writev of %d buffers: %d, %v, want a short write of %d", len(many), n, err, MaxIovecs)
	}
	bufs := [][]byte{[]byte("p"), []byte("q")}
	if allocs := testing.AllocsPerRun(100, func() {
		Writev(a, bufs, 0)
		Readv(b, [][]byte{x, y}, 0)
	}); allocs != 0 {
		t.Errorf("%.1f allocs per Writev+Readv of 2 buffers", allocs)
	}
}

// TestWritevPacks: Writev sends runs of adjacent small buffers as one
// iovec each, copied into its scratch array, large buffers as they are, and
// small buffers past the scratch's room as they are too; the bytes that
// arrive are the buffers', in order. Buffers that have no small neighbour
// are sent without a copy, and with PackMax 0 nothing is packed.
func TestWritevPacks(t *testing.T) {
	big := make([]int, 40)
	for i := range big {
		big[i] = 1000
	}
	cases := []struct {
		name    string
		sizes   []int
		packMax int
		iovecs  []int // the iovecs' lengths; nil: sent as the buffers are
	}{
		{"runs around a large buffer", []int{10, 10, 2000, 10, 0, 10, 10}, 1 << 10, []int{20, 2000, 30}},
		{"past the scratch's room", big, 1 << 10, append([]int{16000}, big[16:]...)},
		{"no small neighbours", []int{10, 2000, 10, 2000}, 1 << 10, nil},
		{"packing off", []int{10, 10, 10}, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			old := PackMax
			PackMax = c.packMax
			defer func() { PackMax = old }()
			var bufs [][]byte
			var want []byte
			for i, n := range c.sizes {
				b := make([]byte, n)
				for j := range b {
					b[j] = byte(i*7 + j)
				}
				bufs = append(bufs, b)
				want = append(want, b...)
			}
			np, nb := packIovecs(nil, bufs, nil)
			if nb != countIovecs(bufs) {
				t.Fatalf("laid out %d buffers of %d", nb, countIovecs(bufs))
			}
			if c.iovecs == nil {
				if np != countIovecs(bufs) {
					t.Fatalf("%d iovecs, want the %d buffers", np, countIovecs(bufs))
				}
			} else {
				iov := make([]unix.Iovec, np)
				packIovecs(iov, bufs, make([]byte, packScratch))
				var lens []int
				for _, v := range iov {
					lens = append(lens, int(v.Len))
				}
				if fmt.Sprint(lens) != fmt.Sprint(c.iovecs) {
					t.Fatalf("iovecs of %v bytes, want %v", lens, c.iovecs)
				}
			}
			a, b := socketPair(t)
			n, err := Writev(a, bufs, 0)
			if err != nil || n != len(want) {
				t.Fatalf("Writev: %d, %v, want %d", n, err, len(want))
			}
			got := make([]byte, len(want)+1)
			m, err := unix.Read(b, got)
			if err != nil || !bytes.Equal(got[:m], want) {
				t.Fatalf("read %d bytes (%v), not the buffers' %d in order", m, err, len(want))
			}
		})
	}
}

// TestSendOnClosedPeer: a send to a peer that went away is EPIPE, never
// SIGPIPE (MSG_NOSIGNAL), and EAGAIN when the buffer is full.
func TestSendOnClosedPeer(t *testing.T) {
	a, b := socketPair(t)
	unix.Close(b)
	if _, err := Send(a, []byte("x"), 0); err != syscall.EPIPE {
		t.Fatalf("Send to a closed peer: %v, want EPIPE", err)
	}
}

// TestOptions: options set are read back; an option the platform lacks
// is ErrNotSupported.
func TestOptions(t *testing.T) {
	fd, err := Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer Close(fd)
	for _, o := range []Option{OptNoDelay, OptKeepAlive, OptReuseAddr, OptReusePort} {
		if err := SetOption(uintptr(fd), o, 1); err != nil {
			t.Fatalf("SetOption(%d): %v", o, err)
		}
		if v, err := GetOption(uintptr(fd), o); err != nil || v == 0 {
			t.Fatalf("GetOption(%d): %d, %v", o, v, err)
		}
	}
	if err := SetOption(uintptr(fd), Option(999), 1); err != ErrNotSupported {
		t.Fatalf("an unknown option: %v, want ErrNotSupported", err)
	}
	if v, err := GetOption(uintptr(fd), OptError); err != nil || v != 0 {
		t.Fatalf("SO_ERROR: %d, %v", v, err)
	}
}
