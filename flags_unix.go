//go:build unix

package asio

import "golang.org/x/sys/unix"

// The message flags, as in Asio's socket_base.
const (
	MsgPeek        MessageFlags = unix.MSG_PEEK
	MsgOutOfBand   MessageFlags = unix.MSG_OOB
	MsgDoNotRoute  MessageFlags = unix.MSG_DONTROUTE
	MsgEndOfRecord MessageFlags = unix.MSG_EOR
)
