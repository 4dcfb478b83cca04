//go:build unix

package asio

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Test helpers that look at a socket's OS descriptor, whichever backend
// holds it.

const pollIn = unix.POLLIN

// osFD returns the OS descriptor of d.
func osFD(d *fdState) (int, error) {
	fd := -1
	err := d.be().control(d, false, func(f uintptr) error { fd = int(f); return nil })
	return fd, err
}

// pollFD waits up to timeoutMs for events on fd.
func pollFD(fd int, events int16, timeoutMs int) (int16, error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
	for {
		_, err := unix.Poll(fds, timeoutMs)
		if err == unix.EINTR {
			continue
		}
		return fds[0].Revents, err
	}
}

// writeUntilFull writes to fd until the kernel refuses more.
func writeUntilFull(fd int) error {
	buf := make([]byte, 64<<10)
	for {
		_, err := unix.Write(fd, buf)
		if err == unix.EAGAIN {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// tsRaiseFileLimit raises RLIMIT_NOFILE to its hard limit.
func tsRaiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// setLimit sets an rlimit field, whose type differs between systems.
func setLimit[T int64 | uint64](p *T, v int) { *p = T(v) }

// tsCPUTime is the process's CPU time.
func tsCPUTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
