//go:build unix && !linux && !freebsd && !netbsd && !openbsd && !dragonfly

package sys

// noSignal: MSG_NOSIGNAL is not defined here; the Go runtime ignores
// SIGPIPE on sockets that are not stdout/stderr, so EPIPE comes back.
const noSignal = 0
