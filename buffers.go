package asio

// Buffers is a buffer sequence: the byte slices an operation reads into or
// writes from, in order. A [][]byte{b} literal is accepted as it is and stays
// on the caller's stack: operations copy the slice headers, never the bytes.
type Buffers [][]byte

// Len returns the total number of bytes in the sequence.
func (b Buffers) Len() int {
	n := 0
	for _, s := range b {
		n += len(s)
	}
	return n
}

// MessageFlags are the flags of send and receive operations, as in Asio's
// socket_base. They are the package's own bits, translated to the
// platform's at the system call; the portable backend on Windows supports
// none of them (the operation completes with ErrOperationNotSupported),
// and on other systems all but a receive of MsgOutOfBand.
type MessageFlags int

// The message flags.
const (
	MsgPeek        MessageFlags = 1 << iota // look at the data without consuming it
	MsgOutOfBand                            // send or receive TCP urgent data
	MsgDoNotRoute                           // send without routing (directly connected hosts only)
	MsgEndOfRecord                          // end a record (SOCK_SEQPACKET; ignored by TCP)
)

// WaitType selects the readiness AsyncWait waits for.
type WaitType int

const (
	// WaitRead waits until the socket is readable.
	WaitRead WaitType = iota
	// WaitWrite waits until the socket is writable.
	WaitWrite
	// WaitError waits until the socket has an error or out-of-band data.
	WaitError
)

// ShutdownType selects the direction Shutdown closes.
type ShutdownType int

const (
	// ShutdownReceive disables further receives.
	ShutdownReceive ShutdownType = iota
	// ShutdownSend disables further sends; the peer reads EOF.
	ShutdownSend
	// ShutdownBoth disables both.
	ShutdownBoth
)

// AddressFamily selects IPv4 or IPv6 when a socket is opened explicitly.
type AddressFamily int

const (
	// IPv4 is AF_INET.
	IPv4 AddressFamily = 4
	// IPv6 is AF_INET6.
	IPv6 AddressFamily = 6
)
