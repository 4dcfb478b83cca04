package asio

import "runtime"

// goid returns the current goroutine's id. Go has no goroutine-local storage;
// Dispatch and Close need to know whether the caller is one of a context's
// Run goroutines, so they (and only they, never the per-operation path) read
// the id from the first line of runtime.Stack: "goroutine 123 [running]:".
func goid() uint64 {
	var buf [64]byte
	return goidInto(&buf)
}

// goidInto is goid with a caller-provided buffer (runtime.Stack makes any
// buffer escape, so hot callers keep one in a pooled struct).
func goidInto(buf *[64]byte) uint64 {
	b := buf[:runtime.Stack(buf[:], false)]
	const prefix = len("goroutine ")
	var id uint64
	for i := prefix; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		id = id*10 + uint64(b[i]-'0')
	}
	return id
}
