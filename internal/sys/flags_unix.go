//go:build unix

package sys

import "golang.org/x/sys/unix"

// MsgFlags translates the package's flag bits to MSG_* flags.
func MsgFlags(f int) int {
	m := 0
	if f&FlagPeek != 0 {
		m |= unix.MSG_PEEK
	}
	if f&FlagOutOfBand != 0 {
		m |= unix.MSG_OOB
	}
	if f&FlagDoNotRoute != 0 {
		m |= unix.MSG_DONTROUTE
	}
	if f&FlagEndOfRecord != 0 {
		m |= unix.MSG_EOR
	}
	return m
}
