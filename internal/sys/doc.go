// Package sys holds the system calls the asio backends make, split by
// platform as Go's internal/poll and net are: socket set-up and options,
// message-flag translation, gather/scatter I/O with iovecs built on the
// caller's stack (Linux), and the conversions between netip.AddrPort and
// kernel socket addresses.
//
// The raw-descriptor functions (Linux) are non-blocking and
// allocation-free on success. Errors come back as syscall.Errno values, so
// that errors.Is works on them, or as ErrNotSupported for what a platform
// cannot do.
package sys

import "errors"

// ErrNotSupported reports an operation, option or flag that this platform
// or backend cannot provide. The asio package exports it as
// ErrOperationNotSupported.
var ErrNotSupported = errors.New("asio: operation not supported by this backend or platform")
