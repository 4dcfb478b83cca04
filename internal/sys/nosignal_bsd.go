//go:build freebsd || netbsd || openbsd || dragonfly

package sys

import "golang.org/x/sys/unix"

const noSignal = unix.MSG_NOSIGNAL
