// Package asio brings the Asio asynchronous I/O model to Go.
//
// An initiating function (AsyncReadSome, AsyncWrite, AsyncAccept, ...)
// starts an operation and returns at once; its completion handler runs later
// on an Executor, inside IOContext.Run of the context that owns it. Five
// rules hold for every operation:
//
//  1. Initiation returns at once.
//  2. A handler is never invoked from inside its initiating function, even
//     when the result is known at once; such an immediate completion is
//     posted (or dispatched to a bound immediate executor).
//  3. Every initiated operation calls its handler exactly once.
//  4. A handler runs on its bound executor (default: the I/O object's),
//     never on a goroutine of the library's own.
//  5. Buffers stay the caller's: an operation keeps references to the
//     caller's byte slices until its handler runs and never copies payload.
//
// Unlike Asio, every exported method is safe to call from any goroutine.
// Ops of one direction on one object are performed and completed in the
// order they were initiated.
//
// On Linux the default backend is an edge-triggered epoll reactor over raw
// non-blocking descriptors, with speculative I/O in the initiating function
// and no goroutine per socket or per pending operation.
package asio
