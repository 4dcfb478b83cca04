package sys

// The portable backend's stream I/O on Linux: the raw calls of the epoll
// backend (MSG_NOSIGNAL, iovecs on the stack, at most IOV_MAX buffers).

func ReadFD(fd uintptr, b []byte) (int, error)        { return Recv(int(fd), b, 0) }
func WriteFD(fd uintptr, b []byte) (int, error)       { return Send(int(fd), b, 0) }
func ReadvFD(fd uintptr, bufs [][]byte) (int, error)  { return Readv(int(fd), bufs, 0) }
func WritevFD(fd uintptr, bufs [][]byte) (int, error) { return Writev(int(fd), bufs, 0) }
