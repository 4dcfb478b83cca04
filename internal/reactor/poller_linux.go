// Package reactor is the Linux epoll poller under the asio epoll backend.
//
// Every descriptor is added once, edge-triggered, for input, output and peer
// hang-up (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET), and never modified again:
// readiness edges are consumed by the ops queued on the descriptor, and an
// op that starts when no edge is pending simply tries its syscall first.
//
// The 64-bit epoll_data of each registration is a token chosen by the caller
// (slot and generation, see the asio package's descriptor table), never a Go
// pointer, so a stale event for a closed and reused descriptor number is
// recognised and dropped.
package reactor

import (
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// WakeToken is the epoll_data of the poller's own eventfd.
const WakeToken = ^uint64(0)

// Event is one readiness report: the token given to Add and the epoll mask.
type Event = unix.EpollEvent

// Poller owns an epoll instance and an eventfd used to interrupt Wait.
type Poller struct {
	epfd int
	evfd int
	file *os.File        // epfd as seen by the Go runtime poller, or nil
	rc   syscall.RawConn // file's raw connection

	// KeepPMs is how long, in milliseconds, a blocking Wait (without
	// UseRuntime) keeps the calling goroutine's P: it waits that long in a
	// raw system call, then hands the P back for the rest of its timeout.
	// A Go program pays, for a blocking system call that lasts more than
	// about 20 µs while no other P is idle (always, with GOMAXPROCS=1), a
	// wakeup of the runtime's monitor thread and a handoff of the P to
	// another thread, which the waiter must then get back: a loop that
	// waits often moves between threads at every wait. Keeping the P
	// avoids that; the price is that the P runs nothing else for that long
	// (so the caller lets the goroutines ready to run go first), and a stop
	// of the world waits for the wait to end. 0: the P is handed back at
	// once. UseRuntime's waits ignore it.
	KeepPMs int

	// KeptTimeouts counts the waits whose kept part ended with no event
	// (they went on handing the P back): a figure for tests, read by the
	// goroutine that waits or after it.
	KeptTimeouts uint64
}

// UseRuntime makes Wait park the calling goroutine in the Go runtime's
// poller (epfd is itself pollable: readable when it has events) instead of
// blocking its thread in epoll_wait. In a process whose other goroutines keep
// every P busy, a thread blocked in a syscall loses its P and must queue for
// one when it returns; a parked goroutine is woken like any network one.
func (p *Poller) UseRuntime() error {
	if err := unix.SetNonblock(p.epfd, true); err != nil {
		return err
	}
	f := os.NewFile(uintptr(p.epfd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	p.file, p.rc = f, rc
	return nil
}

// Open creates the epoll instance and its wakeup eventfd.
func Open() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	p := &Poller{epfd: epfd, evfd: evfd}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET}
	setToken(&ev, WakeToken)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Add registers fd for the whole of its life, edge-triggered.
func (p *Poller) Add(fd int, token uint64) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLPRI | unix.EPOLLET}
	setToken(&ev, token)
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return err.(syscall.Errno)
	}
	return nil
}

// Del removes fd; closing fd removes it too, Del only makes it prompt when
// the descriptor may have been duplicated.
func (p *Poller) Del(fd int) {
	unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
}

// Wait waits up to timeoutMs (-1: forever, 0: not at all) and fills events.
// EINTR is reported as zero events.
func (p *Poller) Wait(events []Event, timeoutMs int) int {
	if p.rc == nil || timeoutMs == 0 {
		if timeoutMs != 0 && p.KeepPMs > 0 {
			keep := p.KeepPMs
			if timeoutMs > 0 {
				keep = min(keep, timeoutMs)
			}
			r, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(keep), 0, 0)
			if e != 0 {
				return 0 // EINTR: zero events
			}
			if r > 0 || keep == timeoutMs {
				return int(r)
			}
			p.KeptTimeouts++
			if timeoutMs > 0 {
				timeoutMs -= keep
			}
		}
		n, err := unix.EpollWait(p.epfd, events, timeoutMs)
		if err != nil {
			return 0
		}
		return n
	}
	if timeoutMs > 0 {
		p.file.SetReadDeadline(time.Now().Add(time.Duration(timeoutMs) * time.Millisecond))
	} else {
		p.file.SetReadDeadline(time.Time{})
	}
	n := 0
	p.rc.Read(func(fd uintptr) bool {
		r, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
		if e == 0 {
			n = int(r)
		}
		return n > 0 || (e != 0 && e != syscall.EINTR)
	})
	return n
}

// Wake interrupts a Wait in progress, or makes the next one return at once.
func (p *Poller) Wake() {
	one := uint64(1)
	syscall.RawSyscall(unix.SYS_WRITE, uintptr(p.evfd), uintptr(unsafe.Pointer(&one)), 8)
}

// Drain resets the eventfd counter after a wakeup was seen.
func (p *Poller) Drain() {
	var v uint64
	syscall.RawSyscall(unix.SYS_READ, uintptr(p.evfd), uintptr(unsafe.Pointer(&v)), 8)
}

// Close releases the epoll instance and the eventfd.
func (p *Poller) Close() error {
	unix.Close(p.evfd)
	if p.file != nil {
		return p.file.Close()
	}
	return unix.Close(p.epfd)
}

// Token returns the epoll_data of ev.
func Token(ev *Event) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

func setToken(ev *Event, t uint64) {
	ev.Fd = int32(uint32(t))
	ev.Pad = int32(uint32(t >> 32))
}
