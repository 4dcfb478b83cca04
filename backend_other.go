//go:build !linux

package asio

// newBackend returns the backend b names off Linux: the portable one,
// which BackendAuto selects. epoll and io_uring are Linux's.
func newBackend(c *IOContext, b Backend, cfg *contextConfig) (backend, error) {
	switch b {
	case BackendAuto, BackendPortable:
		return newPortableBackend(c), nil
	}
	return nil, ErrBackendUnavailable
}

// discard closes a connection an accept took that no socket adopted.
func (a *accepted) discard() {
	if a.conn != nil {
		a.conn.Close()
	}
}
