//go:build darwin || openbsd

package sys

import "golang.org/x/sys/unix"

// ReadvFD receives into bufs (at most IOV_MAX non-empty ones) with one
// readv(2) on a runtime-poller descriptor.
func ReadvFD(fd uintptr, bufs [][]byte) (int, error) {
	n, err := unix.Readv(int(fd), iovMax(bufs))
	return clampErr(n, err)
}

// WritevFD sends bufs (at most IOV_MAX non-empty ones: a longer sequence
// is a short write) with one writev(2).
func WritevFD(fd uintptr, bufs [][]byte) (int, error) {
	n, err := unix.Writev(int(fd), iovMax(bufs))
	return clampErr(n, err)
}
