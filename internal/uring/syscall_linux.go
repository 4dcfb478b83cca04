package uring

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The three io_uring system calls. Pointers are converted to uintptr in the
// call expression itself (rule 4 of package unsafe), so what they point to
// stays alive and in place for the call.

func setup(entries uint32, p *ioURingParams) (int, error) {
	r, _, e := syscall.RawSyscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// enter calls io_uring_enter. A call that may block (GETEVENTS with
// minComplete > 0) goes through syscall.Syscall6 so that the Go scheduler
// can hand this thread's P to other goroutines meanwhile, unless keepP
// says otherwise; one that cannot block skips that bookkeeping.
func enter(fd int, toSubmit, minComplete, flags uint32, arg unsafe.Pointer, argSize uintptr, keepP bool) (int, syscall.Errno) {
	var r uintptr
	var e syscall.Errno
	if minComplete > 0 && !keepP {
		r, _, e = syscall.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(fd), uintptr(toSubmit), uintptr(minComplete), uintptr(flags), uintptr(arg), argSize)
	} else {
		r, _, e = syscall.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(fd), uintptr(toSubmit), uintptr(minComplete), uintptr(flags), uintptr(arg), argSize)
	}
	return int(r), e
}

func register(fd int, op uint32, arg unsafe.Pointer, nargs uint32) (int, error) {
	r, _, e := syscall.RawSyscall6(unix.SYS_IO_URING_REGISTER, uintptr(fd), uintptr(op), uintptr(arg), uintptr(nargs), 0, 0)
	if e != 0 {
		return -1, os.NewSyscallError("io_uring_register", e)
	}
	return int(r), nil
}
