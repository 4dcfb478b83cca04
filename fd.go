package asio

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/goasio/asio/internal/sys"
)

// fdState is one socket as the package's I/O objects hold it: embedded in
// the TCPSocket, TCPAcceptor or UDPSocket that owns it and reused when that
// object is opened again. The I/O objects never touch the descriptor
// themselves: every call goes to the context's backend (backend.go), which
// owns everything below mu.
//
// Lock order: fdState.mu, then IOContext.mu, then the deferred list's mu
// (deliver.go). A backend takes mu in its own methods and releases it
// before they return; completions found under it are handed to the
// scheduler (op.handOff) before it is released, and the deferred list is
// flushed after.
type fdState struct {
	c     *IOContext  // the context whose backend holds the descriptor
	write atomic.Bool // a composed write (AsyncWrite) runs on this stream
	dgram bool        // datagram socket: empty ops are real, 0 bytes is no EOF
	fam   uint8       // the AddressFamily while open (4 or 6)

	// Owned by the backend, under mu.
	mu    sync.Mutex
	sysfd int32       // the OS descriptor (epoll, io_uring); -1 when not open
	state uint8       // the backend's flags for this descriptor
	q     [3]opQueue  // waiting ops: dirRead, dirWrite, dirExcept
	token uint64      // the backend's handle for the descriptor
	p     *portableFD // the portable backend's state, nil for the others
}

func (d *fdState) init(c *IOContext, dgram bool) {
	d.c, d.dgram, d.sysfd = c, dgram, -1
}

func (d *fdState) be() backend { return d.c.be }

func (d *fdState) family() AddressFamily { return AddressFamily(d.fam) }

// tryLockWrite marks a composed write in progress; false if one already is.
func (d *fdState) tryLockWrite() bool { return d.write.CompareAndSwap(false, true) }

func (d *fdState) unlockWrite() { d.write.Store(false) }

// cancelOp is the canceller an op of d installs in its cancellation slot.
func (d *fdState) cancelOp(o *op, key uint64, t CancellationType) {
	if t&CancelAll == 0 {
		return
	}
	d.be().cancelOp(d, o, key)
}

// start counts o as work and hands it to the backend.
func (d *fdState) start(o *op) {
	d.c.workStarted()
	d.be().start(d, o)
}

func (d *fdState) setOption(o sys.Option, v int) error {
	return d.be().control(d, true, func(fd uintptr) error { return sys.SetOption(fd, o, v) })
}

func (d *fdState) getOption(o sys.Option) (int, error) {
	var v int
	err := d.be().control(d, false, func(fd uintptr) (err error) {
		v, err = sys.GetOption(fd, o)
		return err
	})
	return v, err
}

func (d *fdState) localEndpoint() (netip.AddrPort, error)  { return d.be().endpoint(d, false) }
func (d *fdState) remoteEndpoint() (netip.AddrPort, error) { return d.be().endpoint(d, true) }

// unqueue removes o from whichever queue of d holds it (d.mu held).
func unqueue(d *fdState, o *op) bool {
	for i := range d.q {
		if d.q[i].remove(o) {
			return true
		}
	}
	return false
}

// familyOf returns the family a socket must be opened with for ep.
func familyOf(ep netip.AddrPort) AddressFamily {
	if ep.Addr().Is4() {
		return IPv4
	}
	return IPv6
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
