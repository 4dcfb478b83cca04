package asio

import (
	"net/netip"
	"unsafe"
)

// handler is an op's completion handler: one func value, of the signature
// its initiating function takes, kept in one word (op.h) beside a tag that
// says which signature it is (op.hsig), as Asio's reactor_op keeps a
// function pointer instead of a virtual table. An op is the largest part of
// what a pending read costs (80 bytes), so the five signatures share a word
// instead of taking a field each; handlers are set only by the typed
// setters below and called only by call, which panics on a tag it does not
// know.
//
// A Go func value is one pointer, to its closure; it is kept as an
// unsafe.Pointer, which the garbage collector traces like any pointer.
type handler = unsafe.Pointer

// handlerSig says which signature a handler has.
type handlerSig uint8

const (
	sigNone handlerSig = iota
	sigN               // func(n int, err error): reads, writes, sends, receives, batches
	sigE               // func(err error): connect, waits, timers
	sigP               // func(b []byte, err error): pooled reads
	sigA               // func(s *TCPSocket, err error): accepts
	sigF               // func(n int, from netip.AddrPort, err error): receive-from
)

func funcPtr[F any](f *F) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(f)) }

func (o *op) setN(f func(int, error))                 { o.h, o.hsig = funcPtr(&f), sigN }
func (o *op) setE(f func(error))                      { o.h, o.hsig = funcPtr(&f), sigE }
func (o *op) setP(f func([]byte, error))              { o.h, o.hsig = funcPtr(&f), sigP }
func (o *op) setA(f func(*TCPSocket, error))          { o.h, o.hsig = funcPtr(&f), sigA }
func (o *op) setF(f func(int, netip.AddrPort, error)) { o.h, o.hsig = funcPtr(&f), sigF }

// opResult is what an op hands its handler.
type opResult struct {
	n    int
	err  error
	buf  []byte         // a pooled read's buffer
	sock *TCPSocket     // an accepted socket
	addr netip.AddrPort // a datagram's sender
}

// call calls handler h of signature sig with the part of r it takes.
func call(h handler, sig handlerSig, r *opResult) {
	p := unsafe.Pointer(&h)
	switch sig {
	case sigN:
		(*(*func(int, error))(p))(r.n, r.err)
	case sigE:
		(*(*func(error))(p))(r.err)
	case sigP:
		b := r.buf
		if r.err != nil {
			b = nil // errors come with no buffer
		}
		(*(*func([]byte, error))(p))(b, r.err)
	case sigA:
		(*(*func(*TCPSocket, error))(p))(r.sock, r.err)
	case sigF:
		(*(*func(int, netip.AddrPort, error))(p))(r.n, r.addr, r.err)
	default:
		panic("asio: internal error: an operation without a handler")
	}
}
