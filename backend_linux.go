package asio

// newBackend returns the backend b names on Linux. BackendAuto is epoll
// (see the README's measured figures).
func newBackend(c *IOContext, b Backend, cfg *contextConfig) (backend, error) {
	switch b {
	case BackendAuto, BackendEpoll:
		return newEpollBackend(c, cfg.runtimePoller)
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
