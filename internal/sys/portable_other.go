//go:build !unix && !windows

package sys

import "net/netip"

// Without raw socket calls (Windows: package net's RawConn cannot wait for
// writability and offers no flagged receive; js, wasip1, plan9), message
// flags are not supported by the portable backend.

func RecvFlags(fd uintptr, b []byte, flags int) (int, error) { return 0, ErrNotSupported }
func SendFlags(fd uintptr, b []byte, flags int) (int, error) { return 0, ErrNotSupported }

// Ready cannot poll here: it reports false on a RawConn callback's first
// call, so that the runtime waits (on Windows a zero-byte read, which
// completes at once when data is there), and true after.
func Ready(fd uintptr, write, first bool) bool { return !first }

func IsWouldBlock(err error) bool { return false }

func ConnectDgram(fd uintptr, ep netip.AddrPort, v6 bool) error { return ErrNotSupported }
func PeerName(fd uintptr) (netip.AddrPort, error)               { return netip.AddrPort{}, ErrNotSupported }
func Truncated(flags int, err error) (bool, error)              { return false, err }

func WaitUnsupported(err error) bool { return false }
