// Package asio brings the Asio asynchronous I/O model (C++ Asio and
// Boost.Asio, with Beast's timed stream and TLS stream) to Go, on an event
// loop of its own.
//
// # The model
//
// An initiating function (AsyncReadSome, AsyncWrite, AsyncAccept,
// Timer.AsyncWait, ...) starts an operation and returns at once; its
// completion handler runs later on an Executor, inside IOContext.Run (or
// RunOne, RunFor, Poll, PollOne) of the context that owns the I/O object.
// Five rules hold for every operation:
//
//  1. Initiation returns at once: no initiating function blocks.
//  2. A handler is never called from inside its initiating function, even
//     when the result is known at once (an empty buffer, a write the
//     socket took at once, a closed socket). Such an immediate completion
//     is posted to the handler's executor, or dispatched to the immediate
//     executor bound with BindImmediateExecutor.
//  3. Every initiated operation calls its handler exactly once: on
//     success, error, cancellation, Close, timeout, or IOContext.Close.
//  4. A handler runs on its executor (BindExecutor, by default the I/O
//     object's), inside Run of that executor's context, never on a
//     goroutine of the library's own.
//  5. Buffers stay the caller's: an operation references the caller's
//     byte slices until its handler runs and never copies payload to hold
//     it.
//
// Unlike Asio, every exported method of every type is safe to call from
// any goroutine, handlers included, unless its documentation says
// otherwise. Operations of one direction (reads, writes) of one object are
// performed and completed in the order they were initiated, whatever
// executor their handlers are bound to.
//
// Work is counted as in Asio: a pending operation, a queued handler and a
// WorkGuard each count one, and Run returns when the count reaches zero,
// leaving the context stopped until Restart. A context that waits for work
// from outside needs a WorkGuard (see IOContext.Run); Server runs a pool of
// contexts for a TCP server.
//
// Handlers are plain funcs: func(n int, err error) for reads and writes,
// func(err error) for connects, waits and timers, func(s *TCPSocket, err
// error) for accepts, func(n int, from netip.AddrPort, err error) for
// datagram receives, func(b []byte, err error) for pooled reads. A Future
// turns any of them into a value a goroutine can wait for, and every socket
// operation has a blocking form (Connect, WriteSome, ReadSome, Accept, ...)
// that needs no Run.
//
// # Cancellation and errors
//
// Each operation may be cancelled on its own: bind a CancellationSignal's
// Slot with BindCancellationSlot and Emit, or tie it to a context.Context
// with WithContext. Socket operations support terminal, partial and total
// cancellation and end with ErrOperationAborted and the bytes they had
// moved; the composed AsyncWrite and AsyncRead support terminal and partial
// (Asio's rules). Cancel and Close abort every operation still waiting; an
// operation whose system call already ran keeps its result. The package's
// own conditions are sentinel errors (ErrOperationAborted, ErrTimeout,
// ErrBadDescriptor, ErrMessageTooLong, ErrOperationNotSupported, ...); the
// system's are syscall.Errno values, so errors.Is(err, syscall.ECONNRESET)
// works; an orderly close by the peer reads as io.EOF, every time. Writes
// never raise SIGPIPE. No operation panics on bad input, only on a nil
// handler.
//
// # Composed operations and buffers
//
// AsyncWrite, AsyncRead and AsyncReadUntil are Asio's composed operations,
// made of AsyncWriteSome/AsyncReadSome steps, over any AsyncWriteStream or
// AsyncReadStream (TCPSocket, TCPStream, TLSStream, a user's type). On the
// package's own sockets a step offers the whole rest of the buffers (the
// kernel takes what fits; a 1 MiB write is one or two sends); on a user's
// stream it offers what the completion condition allows, as Asio does.
// WriteQueue lets many writers share one stream and coalesces: the
// messages queued while a write is in flight, or by the handlers ready at
// once, go out together in one gather write. DynamicBuffer is the growable
// buffer of AsyncReadUntil, bounded by its maximum, and gives its memory
// back when emptied.
//
// Pooled reads (AsyncReadPooled with a BufferPool) hold no buffer while
// they wait: a buffer is taken from the pool when bytes arrive, and the
// handler owns it until BufferPool.Put. A quiet connection then costs a
// socket and a pending operation, some 250 bytes.
//
// # Timed and TLS streams
//
// TCPStream is Beast's basic_stream: a TCPSocket whose operations obey a
// deadline (ExpiresAfter, ErrTimeout) and a RatePolicy. TLSStream is Asio's
// ssl::stream over any AsyncStream, on the standard library's crypto/tls:
// no goroutine per established connection, a pending read holds none.
//
// # Backends
//
// An IOContext runs on one backend, chosen with WithBackend or the
// ASIO_BACKEND environment variable (epoll, iouring, portable; an unknown
// name is an error): BackendEpoll, an edge-triggered reactor over raw
// non-blocking descriptors with speculative I/O (Linux: the default);
// BackendIOUring, a proactor on io_uring (Linux 6.0 and later; opt-in, and
// ErrBackendUnavailable where the kernel refuses io_uring, under a
// container's seccomp profile or kernel.io_uring_disabled, say);
// BackendPortable, on the Go runtime's own poller through package net, on
// every system Go runs on (the default elsewhere).
// IOContext.Backend names the one in use; WithBackend(BackendIOUring) on a
// kernel that refuses it is ErrBackendUnavailable. What the portable
// backend cannot do on a platform completes with ErrOperationNotSupported
// (see the README's notes on the backends).
//
// # Observing
//
// WithHandlerTracking (or ASIO_HANDLER_TRACKING=1) records every operation
// as a runtime/trace task, from initiation to the end of its handler, so
// that `go tool trace` shows which socket's operation waited how long and
// which handler ran long; IOContext.Stats counts operations, handlers and
// polls.
package asio
