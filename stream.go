package asio

// AsyncWriteStream is what the composed writes need: a stream that can
// write some bytes asynchronously, and the executor its handlers run on.
// TCPSocket and TCPStream satisfy it; so may a user's type.
type AsyncWriteStream interface {
	AsyncWriteSome(b Buffers, h func(n int, err error), opts ...OpOption)
	Executor() Executor
}

// AsyncReadStream is the read side of AsyncWriteStream.
type AsyncReadStream interface {
	AsyncReadSome(b Buffers, h func(n int, err error), opts ...OpOption)
	Executor() Executor
}

// AsyncStream is a stream that reads and writes asynchronously: what a
// TLSStream runs over and is itself. TCPSocket, TCPStream and TLSStream
// satisfy it; so may a user's type, which must keep the package's five
// rules and honour the per-op options (ReadOpOptions).
type AsyncStream interface {
	AsyncReadStream
	AsyncWriteStream
}
