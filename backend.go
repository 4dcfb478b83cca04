package asio

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/goasio/asio/internal/sys"
)

// Backend names the machinery under an IOContext.
type Backend int

const (
	// BackendAuto picks the platform's best backend: epoll on Linux, the
	// portable backend elsewhere. The ASIO_BACKEND environment variable
	// (epoll, iouring, portable) overrides it.
	BackendAuto Backend = iota
	// BackendEpoll is the Linux edge-triggered epoll reactor.
	BackendEpoll
	// BackendIOUring is the Linux io_uring proactor.
	BackendIOUring
	// BackendPortable runs on the Go runtime's poller through package net,
	// on every GOOS.
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

// backend is the boundary between the package's I/O objects and the
// machinery that performs I/O: the epoll reactor, the io_uring proactor,
// the portable backend on the Go runtime's poller. The scheduler
// (IOContext, the op pool, executors, strands, timers) and everything
// built on the I/O objects (composed operations, TCPStream) sit above it
// and are shared by every backend.
//
// A backend receives operations: an op says what to do (its kind and
// message flags), with whose buffers, and whose handler to call; start
// gives it to the backend with the descriptor it concerns. The backend
// performs it its own way (a speculative syscall and a readiness queue; an
// SQE in a ring; a goroutine blocked in package net) and hands it, finished,
// to the scheduler with op.handOff under the lock that owned it, then
// flushes the context's deferred list (deliver.go) once that lock is
// released. An initiating function never sees its op again.
//
// A backend owns a descriptor's state below fdState.mu: its queues, its
// speculative flags, its handle. It owns the cancellation of one op
// (cancelOp), of all (cancelAll), and the close of a descriptor with ops in
// flight (close): it may finish closing later, once the kernel no longer
// holds anything of it (io_uring), but completes every op exactly once.
//
// Every method is safe from any goroutine; wait is called by one goroutine
// at a time, the context's poller.
type backend interface {
	kind() Backend

	// wait waits up to timeoutMs (-1: no limit, 0: not at all) for
	// completions, and hands to the scheduler the ops they finish.
	wait(timeoutMs int)
	// wake makes a wait in progress, or the next one, return at once.
	wake()
	// shutdown closes every descriptor still open, completing its ops
	// with ErrOperationAborted, and releases the backend. The context
	// calls it once, after every Run has returned.
	shutdown() error

	// open makes d a new socket of the given family, not yet bound or
	// connected (a backend may create the OS socket later, when it
	// knows how: the portable backend does at Bind, Connect or listen).
	open(d *fdState, family AddressFamily) error
	// adopt makes d the connection an accept op took.
	adopt(d *fdState, a *accepted) error
	// listen opens, binds and listens on ep, with cfg's options, and
	// returns the address it listens on.
	listen(d *fdState, ep netip.AddrPort, cfg *listenConfig) (netip.AddrPort, error)
	// bind binds d (opened for ep's family if it is not open) to ep.
	bind(d *fdState, ep netip.AddrPort) error
	// connectDgram sets the default peer of a datagram socket (opened for
	// ep's family if it is not open); it never blocks.
	connectDgram(d *fdState, ep netip.AddrPort) error
	// control runs f on the open OS descriptor, with d's lock held so that
	// it cannot be closed meanwhile: socket options, shutdown. If the OS
	// socket does not exist yet (portable, before Bind or Connect) and
	// deferrable is true, f is kept and run when it is made.
	control(d *fdState, deferrable bool, f func(fd uintptr) error) error
	// setOption sets an integer socket option (kept for later, as control
	// keeps a deferrable f, when the OS socket does not exist yet). It
	// allocates nothing: every accepted socket sets TCP_NODELAY.
	setOption(d *fdState, o sys.Option, v int) error
	// endpoint returns d's local or remote address.
	endpoint(d *fdState, remote bool) (netip.AddrPort, error)
	// shutdownConn shuts down the read or write side of d, or both.
	shutdownConn(d *fdState, read, write bool) error
	// isOpen reports whether d is open.
	isOpen(d *fdState) bool
	// cancelAll completes every op of d still waiting with
	// ErrOperationAborted (ErrBadDescriptor if d is not open).
	cancelAll(d *fdState) error
	// close cancels like cancelAll and closes the descriptor.
	close(d *fdState) error

	// start performs o, counted as work, on d, and hands it to the
	// scheduler when it is finished: at once (an immediate completion,
	// never run inside start) or later.
	start(d *fdState, o *op)
	// sendNow writes b on d from the calling goroutine, with one
	// non-blocking attempt (the speculative one start makes for a write),
	// when nothing waits to write on d and the socket may have room. It
	// reports whether it tried; if so, n bytes went and err is an error
	// that ends the write (never EAGAIN: a full socket is n short, with
	// err nil). It makes no op: it is for a caller that completes the
	// write itself outside any initiating function (the WriteQueue's
	// flush task, on the stream's executor) and starts an op only for
	// what is left. b holds at least one byte and at most IOV_MAX
	// buffers, and the caller holds d's composed-write lock. A backend
	// that performs elsewhere (a ring) never tries.
	sendNow(d *fdState, b Buffers) (n int, err error, tried bool)
	// cancelOp completes o with ErrOperationAborted if it is still
	// waiting on d under key (see op.key); it does nothing otherwise.
	cancelOp(d *fdState, o *op, key uint64)
	// bufferFree tells d's backend that the BufferPool its pooled read
	// waits for has a buffer free, and reports whether a pooled read of d
	// was waiting for one. No lock is held.
	bufferFree(d *fdState) bool
	// do performs o on the calling goroutine, waiting as long as it takes:
	// the blocking forms, which need no Run.
	do(d *fdState, o *op) error
}

// selectBackend returns the backend b asks for, after the ASIO_BACKEND
// environment variable has had its say on BackendAuto. A value that names
// no backend is an error, never a silent fallback.
func selectBackend(b Backend) (Backend, error) {
	if b != BackendAuto {
		return b, nil
	}
	switch v := os.Getenv("ASIO_BACKEND"); v {
	case "", "auto":
		return BackendAuto, nil
	case "epoll":
		return BackendEpoll, nil
	case "iouring":
		return BackendIOUring, nil
	case "portable":
		return BackendPortable, nil
	default:
		return 0, fmt.Errorf("asio: ASIO_BACKEND=%q names no backend (epoll, iouring, portable): %w", v, ErrBackendUnavailable)
	}
}
