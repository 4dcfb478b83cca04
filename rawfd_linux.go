package asio

import (
	"net/netip"
	"syscall"
	"time"

	"github.com/goasio/asio/internal/sys"
	"golang.org/x/sys/unix"
)

// rawSockets is what the raw-descriptor backends (epoll, io_uring) share:
// sockets set up with socket(2), bind, listen and setsockopt through
// internal/sys, endpoints, shutdown, and the blocking forms, which wait
// with poll(2) on the descriptor itself. The backend that embeds it makes
// each new descriptor known to its own machinery through reg and forgets it
// through unreg, both with d.mu held.
type rawSockets struct {
	c     *IOContext
	reg   func(d *fdState) error
	unreg func(d *fdState)
	// keepState keeps d.state across connect(2): the io_uring backend's
	// flags say what the kernel holds, which a connect does not change.
	keepState bool
}

func afOf(f AddressFamily) int {
	if f == IPv6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

func sotypeOf(d *fdState) int {
	if d.dgram {
		return unix.SOCK_DGRAM
	}
	return unix.SOCK_STREAM
}

// openLocked makes d a new socket of the given family (d.mu held).
func (r *rawSockets) openLocked(d *fdState, family AddressFamily) error {
	fd, err := sys.Socket(afOf(family), sotypeOf(d), 0)
	if err != nil {
		return err
	}
	return r.adoptLocked(d, fd, family)
}

// adoptLocked makes fd (open, non-blocking) the descriptor of d.
func (r *rawSockets) adoptLocked(d *fdState, fd int, family AddressFamily) error {
	if r.c.closed.Load() {
		sys.Close(fd)
		return ErrContextClosed
	}
	d.sysfd, d.fam, d.state = int32(fd), uint8(family), 0
	if err := r.reg(d); err != nil {
		sys.Close(fd)
		d.sysfd = -1
		return err
	}
	return nil
}

// closeLocked forgets and closes d's descriptor, which has no op queued.
func (r *rawSockets) closeLocked(d *fdState) error {
	r.unreg(d)
	err := sys.Close(int(d.sysfd))
	d.sysfd = -1
	return err
}

func (r *rawSockets) open(d *fdState, family AddressFamily) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sysfd >= 0 {
		return syscall.EISCONN
	}
	return r.openLocked(d, family)
}

func (r *rawSockets) adopt(d *fdState, a *accepted) error {
	if a.conn != nil {
		return ErrOperationNotSupported // taken by the portable backend
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return r.adoptLocked(d, a.fd, a.family)
}

// openForLocked opens d for ep's family unless it is open.
func (r *rawSockets) openForLocked(d *fdState, ep netip.AddrPort) error {
	if !ep.IsValid() {
		return syscall.EINVAL
	}
	if d.sysfd >= 0 {
		return nil
	}
	return r.openLocked(d, familyOf(ep))
}

func (r *rawSockets) listen(d *fdState, ep netip.AddrPort, cfg *listenConfig) (netip.AddrPort, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := r.openForLocked(d, ep); err != nil {
		return netip.AddrPort{}, err
	}
	local, err := r.listenLocked(d, ep, cfg)
	if err != nil {
		r.closeLocked(d)
	}
	return local, err
}

func (r *rawSockets) listenLocked(d *fdState, ep netip.AddrPort, cfg *listenConfig) (netip.AddrPort, error) {
	fd := uintptr(d.sysfd)
	for _, o := range cfg.options(ep) {
		if err := sys.SetOption(fd, o.opt, o.v); err != nil {
			return netip.AddrPort{}, err
		}
	}
	if err := r.bindLocked(d, ep); err != nil {
		return netip.AddrPort{}, err
	}
	if err := sys.Listen(int(fd), cfg.backlog); err != nil {
		return netip.AddrPort{}, err
	}
	return sys.Getsockname(int(fd))
}

func (r *rawSockets) bind(d *fdState, ep netip.AddrPort) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := r.openForLocked(d, ep); err != nil {
		return err
	}
	return r.bindLocked(d, ep)
}

func (r *rawSockets) bindLocked(d *fdState, ep netip.AddrPort) error {
	sa, err := sys.MakeSockaddr(ep, afOf(d.family()))
	if err != nil {
		return err
	}
	return sys.Bind(int(d.sysfd), &sa)
}

func (r *rawSockets) connectDgram(d *fdState, ep netip.AddrPort) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := r.openForLocked(d, ep); err != nil {
		return err
	}
	return r.connectLocked(d, ep)
}

// connectLocked issues connect(2). The backend's flags start afresh: a
// hang-up reported for the socket before it was connected says nothing of
// the connection.
func (r *rawSockets) connectLocked(d *fdState, ep netip.AddrPort) error {
	sa, err := sys.MakeSockaddr(ep, afOf(d.family()))
	if err != nil {
		return err
	}
	if !r.keepState {
		d.state = 0
	}
	return sys.Connect(int(d.sysfd), &sa)
}

// connectStartLocked opens d for ep if needed and starts a stream connect:
// nil means connected at once, EINPROGRESS that the handshake goes on.
func (r *rawSockets) connectStartLocked(d *fdState, ep netip.AddrPort) error {
	if !ep.IsValid() {
		return syscall.EINVAL
	}
	if d.sysfd < 0 {
		if err := r.openLocked(d, familyOf(ep)); err != nil {
			return err
		}
	} else if _, err := sys.Getpeername(int(d.sysfd)); err == nil {
		// Linux answers 0, not EISCONN, to the first connect(2) after a
		// non-blocking one completed; say what is true.
		return syscall.EISCONN
	}
	return r.connectLocked(d, ep)
}

func (r *rawSockets) control(d *fdState, _ bool, f func(fd uintptr) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sysfd < 0 {
		return ErrBadDescriptor
	}
	return f(uintptr(d.sysfd))
}

func (r *rawSockets) setOption(d *fdState, o sys.Option, v int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sysfd < 0 {
		return ErrBadDescriptor
	}
	return sys.SetOption(uintptr(d.sysfd), o, v)
}

func (r *rawSockets) endpoint(d *fdState, remote bool) (netip.AddrPort, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sysfd < 0 {
		return netip.AddrPort{}, ErrBadDescriptor
	}
	if remote {
		return sys.Getpeername(int(d.sysfd))
	}
	return sys.Getsockname(int(d.sysfd))
}

func (r *rawSockets) shutdownConn(d *fdState, read, write bool) error {
	return r.control(d, false, func(fd uintptr) error { return sys.Shutdown(fd, read, write) })
}

func (r *rawSockets) isOpen(d *fdState) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sysfd >= 0
}

// blockingPollSlice bounds each poll(2) of a blocking form, so that a
// descriptor closed by another goroutine is noticed.
const blockingPollSlice = 100 * time.Millisecond

// do runs o to completion on the calling goroutine: the blocking forms.
// They need no Run: they wait with poll(2) on the descriptor.
func (r *rawSockets) do(d *fdState, o *op) error {
	if o.kind == opConnect {
		d.mu.Lock()
		err := r.connectStartLocked(d, o.x.addr)
		d.mu.Unlock()
		if err != syscall.EINPROGRESS {
			return err
		}
	}
	polled := false
	for {
		d.mu.Lock()
		if d.sysfd < 0 {
			d.mu.Unlock()
			return ErrBadDescriptor
		}
		if o.isNoop(d.dgram) {
			d.mu.Unlock()
			return nil
		}
		res := performRaw(d, o, polled)
		fd := int(d.sysfd)
		d.mu.Unlock()
		if res != wouldBlock {
			return o.err
		}
		rev, err := sys.Poll(fd, pollEvents(o), int(blockingPollSlice/time.Millisecond))
		if err != nil {
			return err
		}
		polled = rev != 0
	}
}

// pollEvents is what a blocking form of o waits for with poll(2).
func pollEvents(o *op) int16 {
	switch o.direction() {
	case dirWrite:
		return unix.POLLOUT
	case dirExcept:
		return unix.POLLPRI
	}
	return unix.POLLIN
}

func closeRaw(fd int) { sys.Close(fd) }
