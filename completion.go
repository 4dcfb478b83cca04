package asio

import "math"

// CompletionCondition decides, after each step of a composed read or write,
// how many bytes the next *Some call may move at most; 0 means done. It is
// called with the step's error and the total moved so far (Asio's contract).
//
// math.MaxInt means the condition sets no bound of its own: the step is then
// offered the stream's default. On the package's own sockets (TCPSocket,
// TCPStream) that is the whole rest of the buffers (at most IOV_MAX = 1024
// buffers per step); on any other stream it is 64 KiB, Asio's
// default_max_transfer_size, so a user's stream sees Asio's offers. Any
// other value bounds the step on every stream.
type CompletionCondition func(err error, transferred int) int

// noBound is what a condition returns when it sets no bound of its own.
const noBound = math.MaxInt

// defaultMaxTransfer is the step a user's stream is offered when the
// condition sets no bound, as Asio's default_max_transfer_size; it also caps
// TransferExactly's steps on every stream, as in Asio.
const defaultMaxTransfer = 64 << 10

// TransferAll continues until the buffers are full (or empty, for a write)
// or an error occurs. It sets no bound per step (it returns math.MaxInt): on
// the package's own sockets a step is offered the whole rest, on other
// streams 64 KiB, as in Asio.
func TransferAll() CompletionCondition { return transferAll }

// TransferAtLeast continues until at least n bytes moved or an error
// occurs; one step may overshoot n, as in Asio. Like TransferAll it sets no
// bound per step.
func TransferAtLeast(n int) CompletionCondition {
	return func(err error, total int) int {
		if err != nil || total >= n {
			return 0
		}
		return noBound
	}
}

// TransferExactly continues until exactly n bytes moved or an error occurs;
// no step is offered more than what is left, nor more than 64 KiB (Asio's
// bound, kept on every stream: to move n bytes in whole steps, pass buffers
// of n bytes to AsyncWrite or AsyncRead).
func TransferExactly(n int) CompletionCondition {
	return func(err error, total int) int {
		if err != nil || total >= n {
			return 0
		}
		return min(n-total, defaultMaxTransfer)
	}
}

var transferAll CompletionCondition = func(err error, _ int) int {
	if err != nil {
		return 0
	}
	return noBound
}
