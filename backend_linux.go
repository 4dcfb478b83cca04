package asio

import "errors"

// autoIOUring says whether BackendAuto prefers io_uring, where the kernel
// allows it, to epoll; a kernel that refuses io_uring would then get epoll.
// It is off: measured in six interleaved runs (the README's "Choosing the
// default"), io_uring's server CPU per message was 0.83–1.07× epoll's for
// small messages, 0.99–1.5× in bulk, and it holds more memory per quiet
// connection, so it is not yet clearly the better default.
const autoIOUring = false

// newBackend returns the backend b names on Linux.
func newBackend(c *IOContext, b Backend, cfg *contextConfig) (backend, error) {
	switch b {
	case BackendAuto:
		if autoIOUring && !cfg.runtimePoller {
			b, err := newIOUringBackend(c)
			if err == nil {
				return b, nil
			}
			if !errors.Is(err, ErrBackendUnavailable) {
				return nil, err
			}
		}
		return newEpollBackend(c, cfg.runtimePoller)
	case BackendEpoll:
		return newEpollBackend(c, cfg.runtimePoller)
	case BackendIOUring:
		b, err := newIOUringBackend(c)
		if err != nil {
			return nil, err
		}
		return b, nil
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
