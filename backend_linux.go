package asio

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// newBackend returns the backend b names on Linux. BackendAuto is epoll:
// measured in six interleaved runs (the README's "Choosing the default"),
// io_uring's server CPU per message was 0.83–1.07× epoll's for small
// messages, 0.99–1.5× in bulk, and it holds more memory per quiet
// connection, so it is not yet clearly the better default; io_uring is
// BackendIOUring (or ASIO_BACKEND=iouring), which a kernel that refuses it
// answers with ErrBackendUnavailable.
func newBackend(c *IOContext, b Backend, cfg *contextConfig) (backend, error) {
	switch b {
	case BackendAuto, BackendEpoll:
		return newEpollBackend(c, cfg.runtimePoller)
	case BackendIOUring:
		return newIOUringBackend(c)
	case BackendPortable:
		return newPortableBackend(c), nil
	}
	return nil, ErrBackendUnavailable
}

// discard closes a connection an accept took that no socket adopted.
func (a *accepted) discard() {
	switch {
	case a.conn != nil:
		a.conn.Close()
	case a.fd >= 0:
		closeRaw(a.fd)
	}
}

// tuneFromEnv calls set for each key=value of the comma-separated
// measurement overrides in the environment variable name (the backends'
// tuning knobs, ASIO_EPOLL_TUNE and ASIO_IOURING_TUNE), with the value
// parsed as a duration and as an integer (zero where it is not one).
func tuneFromEnv(name string, set func(key string, d time.Duration, n int)) {
	for _, kv := range strings.Split(os.Getenv(name), ",") {
		k, v, _ := strings.Cut(kv, "=")
		d, _ := time.ParseDuration(v)
		n, _ := strconv.Atoi(v)
		set(k, d, n)
	}
}

// yieldBeforeKeepingP lets the goroutines that are ready to run have the P
// before the poller's blocking wait keeps it (for its first millisecond,
// on both Linux backends): with GOMAXPROCS=1, or every P running a
// context's loop, a goroutine the handlers just readied — a TLS handshake
// fed by the loop, a worker handed a request — would otherwise wait for
// that wait to end. Measured (tlsbench -what hs, 3 rounds): new TLS
// connections per second went to 0.95x (epoll) and 0.92x (io_uring) of
// net's, from 0.71x and 0.59x with yields at most every millisecond. A yield with nothing else to run costs
// far less than the blocking wait it precedes.
func yieldBeforeKeepingP() { runtime.Gosched() }
