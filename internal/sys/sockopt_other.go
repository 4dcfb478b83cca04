//go:build !unix && !windows

package sys

import "net/netip"

// On platforms without socket options (js, wasip1, plan9) every option
// is unsupported.

func SetOption(fd uintptr, o Option, v int) error                    { return ErrNotSupported }
func GetOption(fd uintptr, o Option) (int, error)                    { return 0, ErrNotSupported }
func SetLinger(fd uintptr, on bool, seconds int) error               { return ErrNotSupported }
func SetMulticastInterface4(fd uintptr, ifindex int) error           { return ErrNotSupported }
func Membership(fd uintptr, g netip.Addr, ifindex int, j bool) error { return ErrNotSupported }
