package asio

import "syscall"

// sent records one non-blocking send of an opWriteAll, n bytes or err, and
// reports what the op is when it stops here (res: done when every byte is
// written or an error ends it, with o.n bytes written before; wouldBlock on
// EAGAIN, o.n keeping the count), or again when the caller should send the
// rest now (EINTR, or bytes written and more left). The raw descriptor path
// (rawSendAll) and the portable one (attemptWriteAll) differ only in their
// syscalls and in when a short write means the socket is full.
func (o *op) sent(n int, err error) (res rawResult, again bool) {
	switch {
	case err == syscall.EINTR:
		return wouldBlock, true
	case err == syscall.EAGAIN:
		return wouldBlock, false
	case err != nil:
		o.err = err
		return done, false
	}
	o.n += int32(n)
	o.advance(n)
	if o.size() == 0 {
		return done, false
	}
	return wouldBlock, true
}
