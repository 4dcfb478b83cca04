package asio

import (
	"errors"
	"os"

	"github.com/goasio/asio/internal/sys"
)

// The library's own conditions. OS errors are returned as syscall.Errno
// values, so errors.Is(err, syscall.ECONNRESET) works on them.
var (
	// ErrOperationAborted completes an operation that was cancelled, or whose
	// object or context was closed, before it could run.
	ErrOperationAborted = errors.New("asio: operation aborted")
	// ErrTimeout completes an operation of a TCPStream whose deadline passed.
	ErrTimeout error = timeoutError{}
	// ErrMessageTooLong reports a DynamicBuffer that reached its maximum
	// before the delimiter was found, or a truncated datagram.
	ErrMessageTooLong = errors.New("asio: message too long")
	// ErrBadDescriptor completes an operation on an object that is not open.
	ErrBadDescriptor = errors.New("asio: bad descriptor (object not open)")
	// ErrWriteInProgress completes a composed write started on a stream that
	// already runs one; use a WriteQueue for many writers.
	ErrWriteInProgress = errors.New("asio: a composed write is already in progress on this stream")
	// ErrInvalidArgument completes an operation given an argument it
	// cannot use, such as a nil *DynamicBuffer.
	ErrInvalidArgument = errors.New("asio: invalid argument")
	// ErrContextClosed is returned by operations on an IOContext after Close,
	// and by Close called from one of the context's own handlers.
	ErrContextClosed = errors.New("asio: io context closed")
	// ErrOperationNotSupported completes an operation that this backend or
	// platform cannot perform (a message flag or a readiness wait the
	// portable backend cannot express, a socket option the platform lacks).
	ErrOperationNotSupported = sys.ErrNotSupported
	// ErrBackendUnavailable is returned by NewIOContext for a backend this
	// build or this kernel cannot provide.
	ErrBackendUnavailable = errors.New("asio: backend not available")
)

// timeoutError is ErrTimeout: it satisfies net.Error's Timeout and matches
// os.ErrDeadlineExceeded, like the errors of Go's own deadlines.
type timeoutError struct{}

func (timeoutError) Error() string   { return "asio: operation timed out" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Is(target error) bool {
	return target == os.ErrDeadlineExceeded
}
