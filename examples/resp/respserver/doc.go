// Package respserver is the RESP2 (Redis protocol) server of examples/resp,
// importable so that the bench module can measure it: PING, ECHO, SET,
// GET, DEL and QUIT, as multibulk arrays or inline commands, pipelined or
// not, on an asio.Server with one IOContext per core and one Store shared by
// all of them.
//
// A connection reads each protocol line (*N, $len, or an inline command)
// with one asio.AsyncReadUntil of "\r\n" into an asio.DynamicBuffer whose
// maximum is Config.MaxInline, takes each bulk string from the buffer as
// far as it is there and reads the rest with one asio.AsyncRead straight
// into the command's argument arena, and writes each reply with one
// asio.WriteQueue.AsyncWrite. A connection with 64 replies queued stops
// reading until half of them are written.
//
// Errors: a wrong arity or an unknown command gets -ERR and the connection
// goes on; a protocol error (a multibulk length over Config.MaxArgs, a bulk
// length over Config.MaxBulk or negative, a line over the maximum, a
// missing '$' or CRLF) gets "-ERR Protocol error: ..." and the connection
// closes after it, as Redis does.
//
// Store.Exec is the command set apart from the I/O, so that a server on
// another I/O model can share it.
package respserver
