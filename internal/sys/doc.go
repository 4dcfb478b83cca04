// Package sys holds the raw system calls the asio backends make: socket
// set-up, gather/scatter I/O with iovecs built on the caller's stack, and the
// conversions between netip.AddrPort and kernel socket addresses.
//
// Every function here is non-blocking and allocation-free on success; errors
// come back as syscall.Errno values so that errors.Is works on them.
package sys
