//go:build unix && !linux

package sys

import "golang.org/x/sys/unix"

// ReadFD is read(2) on a runtime-poller descriptor (non-blocking).
func ReadFD(fd uintptr, b []byte) (int, error) {
	n, err := unix.Read(int(fd), b)
	return clampErr(n, err)
}

// WriteFD sends b, without SIGPIPE where the platform allows it.
func WriteFD(fd uintptr, b []byte) (int, error) { return SendFlags(fd, b, 0) }

// iovMax returns the first IOV_MAX non-empty buffers of bufs, or bufs.
func iovMax(bufs [][]byte) [][]byte {
	k := 0
	for i, b := range bufs {
		if len(b) > 0 {
			if k == 1024 {
				return bufs[:i]
			}
			k++
		}
	}
	return bufs
}
