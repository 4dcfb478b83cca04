//go:build linux

package asio

import (
	"net/netip"
	"time"

	"github.com/goasio/asio/internal/sys"
	"golang.org/x/sys/unix"
)

// This file holds what stream and datagram sockets share: opening and
// closing the descriptor, the blocking forms, endpoints and options.

func closeFD(fd int) { sys.Close(fd) }

func familyOf(f AddressFamily) int {
	if f == IPv6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// openLocked opens a socket of the given family and type and registers it
// with the context's backend (d.mu held).
func (d *fdState) openLocked(family, typ int) error {
	fd, err := sys.Socket(family, typ, 0)
	if err != nil {
		return err
	}
	return d.adoptLocked(fd, family)
}

// adoptLocked makes fd (open, non-blocking) the descriptor of d.
func (d *fdState) adoptLocked(fd, family int) error {
	if d.c.closed.Load() {
		sys.Close(fd)
		return ErrContextClosed
	}
	d.fd, d.fam = int32(fd), uint8(family)
	d.wFull, d.rEmpty, d.hup = false, false, false
	if err := d.c.be.register(d); err != nil {
		sys.Close(fd)
		d.fd = -1
		return err
	}
	return nil
}

// close deregisters and closes the descriptor; queued ops complete with
// ErrOperationAborted. An op whose syscall already ran keeps its result.
func (d *fdState) close() error {
	var out opList
	d.mu.Lock()
	if d.fd < 0 {
		d.mu.Unlock()
		return ErrBadDescriptor
	}
	d.c.be.deregister(d, &out)
	err := sys.Close(int(d.fd))
	d.fd = -1
	handOffAll(&out)
	c := d.c
	d.mu.Unlock()
	c.deferred.flush()
	return err
}

func (d *fdState) cancel() error {
	d.mu.Lock()
	open := d.fd >= 0
	d.mu.Unlock()
	if !open {
		return ErrBadDescriptor
	}
	d.cancelAll()
	return nil
}

func (d *fdState) isOpen() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fd >= 0
}

// withFD runs f on the open descriptor, with d.mu held so that it cannot be
// closed (and its number reused) meanwhile.
func (d *fdState) withFD(f func(fd int) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fd < 0 {
		return ErrBadDescriptor
	}
	return f(int(d.fd))
}

// blockingPollSlice bounds each poll(2) of a blocking form, so that a
// descriptor closed by another goroutine is noticed.
const blockingPollSlice = 100 * time.Millisecond

// perform runs o to completion on the calling goroutine: the blocking forms.
// They need no Run: they wait with poll(2) on the descriptor.
func (d *fdState) performBlocking(o *op, events int16) error {
	polled := false
	for {
		d.mu.Lock()
		if d.fd < 0 {
			d.mu.Unlock()
			return ErrBadDescriptor
		}
		if o.isNoop(d) {
			d.mu.Unlock()
			return nil
		}
		done := o.perform(d, polled)
		fd := int(d.fd)
		d.mu.Unlock()
		if done {
			return o.err
		}
		rev, err := sys.Poll(fd, events, int(blockingPollSlice/time.Millisecond))
		if err != nil {
			return err
		}
		polled = rev != 0
	}
}

func (d *fdState) localEndpoint() (netip.AddrPort, error) {
	var ap netip.AddrPort
	err := d.withFD(func(fd int) (err error) {
		ap, err = sys.Getsockname(fd)
		return err
	})
	return ap, err
}

func (d *fdState) remoteEndpoint() (netip.AddrPort, error) {
	var ap netip.AddrPort
	err := d.withFD(func(fd int) (err error) {
		ap, err = sys.Getpeername(fd)
		return err
	})
	return ap, err
}

func (d *fdState) setInt(level, opt, v int) error {
	return d.withFD(func(fd int) error {
		if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
			return err.(unix.Errno)
		}
		return nil
	})
}

func (d *fdState) getInt(level, opt int) (int, error) {
	var v int
	err := d.withFD(func(fd int) (err error) {
		v, err = unix.GetsockoptInt(fd, level, opt)
		return err
	})
	return v, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// bindLocked binds d to ep (d.mu held).
func (d *fdState) bindLocked(ep netip.AddrPort) error {
	sa, err := sys.MakeSockaddr(ep, d.family())
	if err != nil {
		return err
	}
	return sys.Bind(int(d.fd), &sa)
}

// connectStart issues connect(2) for an async connect (d.mu held). The
// edge flags start afresh: a hang-up reported for the socket before it was
// connected says nothing of the connection.
func (d *fdState) connectStart(ep netip.AddrPort) error {
	sa, err := sys.MakeSockaddr(ep, d.family())
	if err != nil {
		return err
	}
	d.wFull, d.rEmpty, d.hup = false, false, false
	return sys.Connect(int(d.fd), &sa)
}

func shutdownHow(how ShutdownType) int {
	switch how {
	case ShutdownReceive:
		return unix.SHUT_RD
	case ShutdownSend:
		return unix.SHUT_WR
	}
	return unix.SHUT_RDWR
}

// Poll events for the blocking forms.
const (
	pollIn  = unix.POLLIN
	pollOut = unix.POLLOUT
	pollPri = unix.POLLPRI
)

// sysFamily is the family to open a socket with for ep.
func sysFamily(ep netip.AddrPort) int { return sys.Family(ep) }

func (d *fdState) localEndpointLocked() (netip.AddrPort, error) { return sys.Getsockname(int(d.fd)) }

// familyOfAccepted is the family of the descriptor an accept op took: the
// listener's, which perform recorded in o.flags.
func (o *op) familyOfAccepted() int { return int(o.flags) }

// connected reports whether the open descriptor has a peer (d.mu held).
func (d *fdState) connected() bool {
	_, err := sys.Getpeername(int(d.fd))
	return err == nil
}
