package uring

import "syscall"

// CQE is struct io_uring_cqe (16 bytes), one completion, as Reap copies it
// out of the completion queue.
type CQE struct {
	UserData uint64 // the SQE's user_data
	Res      int32  // the result: a count or descriptor, or -errno
	Flags    uint32 // CQEF* flags; the upper 16 bits a buffer id with CQEFBuffer
}

// More reports whether the SQE stays armed and will post more CQEs
// (multishot accept, receive and poll).
func (c CQE) More() bool { return c.Flags&CQEFMore != 0 }

// Buffer returns the id of the provided buffer the completion used, if any.
func (c CQE) Buffer() (id uint16, ok bool) {
	return uint16(c.Flags >> cqeBufferShift), c.Flags&CQEFBuffer != 0
}

// Err returns the error a negative Res stands for, as a syscall.Errno (so
// errors.Is(err, syscall.ECANCELED) works), or nil.
func (c CQE) Err() error {
	if c.Res >= 0 {
		return nil
	}
	return syscall.Errno(-c.Res)
}
