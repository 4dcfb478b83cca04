package sys

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sockaddr is a kernel socket address big enough for AF_INET and AF_INET6,
// kept by value so that converting one costs no allocation.
type Sockaddr struct {
	raw unix.RawSockaddrInet6
	Len uint32
}

// Ptr is the address to pass to the kernel.
func (s *Sockaddr) Ptr() unsafe.Pointer { return unsafe.Pointer(&s.raw) }

// Family returns the address family to open a socket with for ap.
func Family(ap netip.AddrPort) int {
	if ap.Addr().Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// MakeSockaddr converts ap into an address for a socket of the given family.
// An IPv4 address given to an AF_INET6 socket is mapped (::ffff:a.b.c.d); an
// IPv6 address given to an AF_INET socket is EAFNOSUPPORT, an invalid one
// EINVAL.
func MakeSockaddr(ap netip.AddrPort, family int) (Sockaddr, error) {
	var s Sockaddr
	a := ap.Addr()
	if !a.IsValid() {
		return s, syscall.EINVAL
	}
	switch family {
	case unix.AF_INET:
		a = a.Unmap()
		if !a.Is4() {
			return s, syscall.EAFNOSUPPORT
		}
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.raw))
		p.Family = unix.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&p.Port))[:], ap.Port())
		p.Addr = a.As4()
		s.Len = unix.SizeofSockaddrInet4
	case unix.AF_INET6:
		s.raw.Family = unix.AF_INET6
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s.raw.Port))[:], ap.Port())
		s.raw.Addr = a.As16()
		if z := a.Zone(); z != "" {
			if ifi, err := zoneIndex(z); err == nil {
				s.raw.Scope_id = ifi
			}
		}
		s.Len = unix.SizeofSockaddrInet6
	default:
		return s, syscall.EAFNOSUPPORT
	}
	return s, nil
}

// AddrPort converts a kernel address back; IPv4-mapped IPv6 addresses are
// unmapped so that a dual-stack socket reports 127.0.0.1, not ::ffff:127.0.0.1.
func (s *Sockaddr) AddrPort() netip.AddrPort {
	switch s.raw.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.raw))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&p.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), port)
	case unix.AF_INET6:
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&s.raw.Port))[:])
		a := netip.AddrFrom16(s.raw.Addr).Unmap()
		return netip.AddrPortFrom(a, port)
	}
	return netip.AddrPort{}
}

func zoneIndex(z string) (uint32, error) {
	n := uint32(0)
	for i := 0; i < len(z); i++ {
		if z[i] < '0' || z[i] > '9' {
			return 0, syscall.EINVAL
		}
		n = n*10 + uint32(z[i]-'0')
	}
	return n, nil
}

// Getsockname returns the local address of fd.
func Getsockname(fd int) (netip.AddrPort, error) {
	var s Sockaddr
	l := uint32(unsafe.Sizeof(s.raw))
	_, _, e := syscall.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(s.Ptr()), uintptr(unsafe.Pointer(&l)))
	if e != 0 {
		return netip.AddrPort{}, e
	}
	return s.AddrPort(), nil
}

// Getpeername returns the remote address of fd.
func Getpeername(fd int) (netip.AddrPort, error) {
	var s Sockaddr
	l := uint32(unsafe.Sizeof(s.raw))
	_, _, e := syscall.RawSyscall(unix.SYS_GETPEERNAME, uintptr(fd), uintptr(s.Ptr()), uintptr(unsafe.Pointer(&l)))
	if e != 0 {
		return netip.AddrPort{}, e
	}
	return s.AddrPort(), nil
}
