package asio

import (
	"errors"
	"os"
)

// Backend names the machinery under an IOContext.
type Backend int

const (
	// BackendAuto picks the platform's best backend; the ASIO_BACKEND
	// environment variable (epoll, iouring, portable) overrides it.
	BackendAuto Backend = iota
	// BackendEpoll is the Linux edge-triggered epoll reactor.
	BackendEpoll
	// BackendIOUring is the Linux io_uring proactor.
	BackendIOUring
	// BackendPortable runs on the Go runtime poller, on every GOOS.
	BackendPortable
)

// String returns "auto", "epoll", "iouring" or "portable".
func (b Backend) String() string {
	switch b {
	case BackendEpoll:
		return "epoll"
	case BackendIOUring:
		return "iouring"
	case BackendPortable:
		return "portable"
	}
	return "auto"
}

// ErrBackendUnavailable is returned by NewIOContext for a backend this
// build or this kernel cannot provide.
var ErrBackendUnavailable = errors.New("asio: backend not available")

// backend is the boundary between the public types and the machinery that
// performs I/O: the epoll reactor today, an io_uring proactor or the Go
// runtime poller beside it. The IOContext drives it from Run; sockets hand
// it their operations. Every method is safe from any goroutine, and only one
// goroutine is inside wait at a time.
type backend interface {
	kind() Backend
	// register makes d's descriptor (d.fd, already open) known to the backend.
	register(d *fdState) error
	// deregister forgets d and aborts its queued operations into out.
	deregister(d *fdState, out *opList)
	// start performs o on d at once if it can (then it completes it as an
	// immediate completion), or queues it on direction dir.
	start(d *fdState, o *op, dir int)
	// wait blocks up to timeoutMs (-1: no limit) for readiness, performs the
	// operations it unblocks and appends the completed ones to out.
	wait(timeoutMs int, out *opList)
	// wake makes a wait in progress, or the next one, return at once.
	wake()
	// shutdown aborts every queued operation into out, deregisters and
	// closes every descriptor, and releases the backend.
	shutdown(out *opList) error
}

func backendFromEnv(b Backend) Backend {
	if b != BackendAuto {
		return b
	}
	switch os.Getenv("ASIO_BACKEND") {
	case "epoll":
		return BackendEpoll
	case "iouring":
		return BackendIOUring
	case "portable":
		return BackendPortable
	}
	return BackendAuto
}
