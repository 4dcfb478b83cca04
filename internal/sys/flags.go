package sys

// Message flags, in the asio package's own bits (its MessageFlags), which
// MsgFlags translates to the platform's MSG_* values at the syscall.
const (
	FlagPeek        = 1 << iota // MSG_PEEK
	FlagOutOfBand               // MSG_OOB
	FlagDoNotRoute              // MSG_DONTROUTE
	FlagEndOfRecord             // MSG_EOR
)
