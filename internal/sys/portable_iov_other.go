//go:build unix && !darwin && !linux && !openbsd

package sys

import "golang.org/x/sys/unix"

// ReadvFD receives into the first non-empty buffer of bufs: this platform
// has no readv in golang.org/x/sys.
func ReadvFD(fd uintptr, bufs [][]byte) (int, error) {
	for _, b := range bufs {
		if len(b) > 0 {
			n, err := unix.Read(int(fd), b)
			return clampErr(n, err)
		}
	}
	return 0, nil
}

// WritevFD sends the first non-empty buffer of bufs (a short write).
func WritevFD(fd uintptr, bufs [][]byte) (int, error) {
	for _, b := range bufs {
		if len(b) > 0 {
			return SendFlags(fd, b, 0)
		}
	}
	return 0, nil
}
