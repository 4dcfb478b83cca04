// Package httpserver is the HTTP/1.1 server of examples/http, importable so
// that the bench module can measure it: keep-alive connections, pipelined
// requests answered in order, on an asio.Server with one IOContext per
// core.
//
// A connection reads each request head with one asio.AsyncReadUntil of
// "\r\n\r\n" into an asio.DynamicBuffer whose maximum is the largest head
// allowed, a body (Content-Length only) with one asio.AsyncRead into a slice
// of its own, and writes each reply with one asio.WriteQueue.AsyncWrite;
// requests pipelined behind a head wait in the buffer, where the next
// AsyncReadUntil finds them without a system call. A connection with 64
// replies queued stops reading until half of them are written.
//
// Limits and errors: a head over Config.MaxHeader gets 431, a body over
// Config.MaxBody 413, a malformed request 400, Transfer-Encoding 501, a
// version other than HTTP/1.0 and 1.1 505; after each of them the
// connection closes (a lingering close: the server shuts its sending side
// and drops what the client still sends for up to a second, so that the
// client reads the reply rather than a reset).
//
// Request.Parse, Lookup and Respond are the protocol and the application,
// apart from the I/O, so that a server on another I/O model can share
// them.
package httpserver
