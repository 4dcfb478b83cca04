package asio

import "github.com/goasio/asio/internal/sys"

// wholeOfferer is implemented by the package's own stream sockets: a step of
// a composed read or write whose condition sets no bound (TransferAll,
// TransferAtLeast) is offered the whole rest of the buffers, because their
// *Some ops hand the kernel everything at once and take back what it did
// not accept. Asio's 64 KiB per step (default_max_transfer_size) cost a
// 1 MiB write 16 syscalls where net's Write makes one or two; on a user's
// stream, which may copy or encrypt what it is offered, the 64 KiB stays.
type wholeOfferer interface {
	offersWhole()
}

func (s *TCPSocket) offersWhole() {}
func (s *TCPStream) offersWhole() {}

// offersWhole reports whether s is one of the package's own sockets.
func offersWhole(s any) bool {
	_, own := s.(wholeOfferer)
	return own
}

// stepBound maps a condition's return to what one step may be offered:
// bytes, and buffers (the first IOV_MAX non-empty ones on an own socket:
// the kernel takes no more per call, and offering more would only copy
// more slice headers into each step's op).
func stepBound(own bool, max int) (bytes, bufs int) {
	if own {
		return max, sys.MaxIovecs
	}
	if max == noBound {
		max = defaultMaxTransfer
	}
	return max, noBound
}

var (
	_ wholeOfferer = (*TCPSocket)(nil)
	_ wholeOfferer = (*TCPStream)(nil)
)
