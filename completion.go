package asio

// CompletionCondition decides, after each step of a composed read or write,
// how many bytes the next *Some call may move at most; 0 means done. It is
// called with the step's error and the total moved so far (Asio's contract).
type CompletionCondition func(err error, transferred int) int

// defaultMaxTransfer caps one step, as Asio's default_max_transfer_size.
const defaultMaxTransfer = 64 << 10

// TransferAll continues until the buffers are full (or empty, for a write)
// or an error occurs, offering at most 64 KiB per step.
func TransferAll() CompletionCondition {
	return func(err error, _ int) int {
		if err != nil {
			return 0
		}
		return defaultMaxTransfer
	}
}

// TransferAtLeast continues until at least n bytes moved or an error
// occurs; one step may overshoot n, as in Asio.
func TransferAtLeast(n int) CompletionCondition {
	return func(err error, total int) int {
		if err != nil || total >= n {
			return 0
		}
		return defaultMaxTransfer
	}
}

// TransferExactly continues until exactly n bytes moved or an error occurs;
// no step is offered more than what is left.
func TransferExactly(n int) CompletionCondition {
	return func(err error, total int) int {
		if err != nil || total >= n {
			return 0
		}
		return min(n-total, defaultMaxTransfer)
	}
}

var transferAll = TransferAll()
