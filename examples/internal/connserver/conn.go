package connserver

import (
	"time"

	"github.com/goasio/asio"
)

// maxQueued is how many replies a connection may have queued before it
// stops reading requests: a client that pipelines without reading its
// replies cannot make the server buffer without bound. Reading resumes when
// half of them are written.
const maxQueued = 64

// lingerTime bounds how long a connection that the server ends reads (and
// drops) what the client still sends, so that the client reads the last
// reply rather than a reset.
const lingerTime = time.Second

// Protocol is the part of a connection that knows its protocol, built by
// Config.Open. Its methods run on the connection's context.
type Protocol interface {
	// ReadNext starts reading the next request. The server calls it once
	// the connection is open, and when reading resumes after a pause
	// (Reply returned false with replies to drain); the protocol calls it
	// itself after each reply that Reply lets it read on from.
	ReadNext()

	// InRequest reports whether the protocol is inside a request whose
	// start is no longer in Buf (a body or a bulk string being read, a
	// command with arguments still to come): such a connection is busy
	// even with Buf empty, and Shutdown lets it finish.
	InRequest() bool
}

// Conn is one connection: its socket, its read buffer, and its replies,
// each one asio.WriteQueue.AsyncWrite so that they go out in order while
// the next requests are parsed. Its methods run on the connection's
// context, as do the completion handlers of the operations the protocol
// starts on Sock, so its state needs no lock.
//
// A connection ends in one of three ways: the protocol calls Finish (an
// I/O error, or the client closed); its last reply is written (Reply with
// last, or Shutdown), and it closes with a lingering close; or the server
// closes it (Shutdown while it waits for a request, Close). Either way
// Finish runs once and Config.ConnDone reports it.
//
// Sock and Buf are set before Config.Open and never change; the protocol
// reads from them, and must not close Sock itself (Finish does).
type Conn struct {
	Sock *asio.TCPSocket     // the connection's socket
	Buf  *asio.DynamicBuffer // the read buffer, whose maximum is Config.MaxBuffer

	srv   *Server
	set   *connSet // the connections of its context
	proto Protocol
	wq    *asio.WriteQueue

	queued  int         // replies queued and not yet written
	paused  bool        // reading stopped until the replies drain
	closing bool        // no more requests: close once the replies are out
	done    bool        // the socket is closed
	linger  *asio.Timer // bounds the lingering close

	onWrite, onDrain func(int, error)
	onLinger         func(error)
}

func newConn(srv *Server, sock *asio.TCPSocket) *Conn {
	c := &Conn{Sock: sock, Buf: asio.NewDynamicBuffer(srv.cfg.MaxBuffer), srv: srv, wq: asio.NewWriteQueue(sock)}
	c.onWrite, c.onDrain, c.onLinger = c.written, c.drained, c.lingered
	return c
}

// Closed reports whether the socket is closed: a completion handler of
// the protocol that sees it does nothing more (the server closed the
// connection, which completed the operation).
func (c *Conn) Closed() bool { return c.done }

// ShuttingDown reports whether the server is shutting down: the reply in
// progress should be the connection's last (HTTP says so with
// Connection: close).
func (c *Conn) ShuttingDown() bool { return c.srv.srv.ShuttingDown() }

// EndIfShuttingDown is what the protocol calls before it reads the next
// request. If the server is shutting down and the connection holds
// nothing of a request (Buf empty, not InRequest), it stops reading and
// closes once its queued replies are written, and EndIfShuttingDown
// returns true: the protocol then starts no read.
func (c *Conn) EndIfShuttingDown() bool {
	if c.Buf.Len() != 0 || c.proto.InRequest() || !c.ShuttingDown() {
		return false
	}
	c.closing = true
	if c.queued == 0 {
		c.lingerClose()
	}
	return true
}

// Send queues b for writing, after the replies queued before it, without
// ending the request: an interim reply such as HTTP's 100 Continue. b
// must stay unmodified until it is written.
func (c *Conn) Send(b []byte) {
	c.queued++
	c.wq.AsyncWrite(asio.Buffers{b}, c.onWrite)
}

// Reply queues the reply that ends a request, as Send does, and reports
// whether the protocol should read the next request now. It does not when
// last is set (the connection closes once its replies are written: a
// lingering close) or when maxQueued replies are waiting (the server calls
// ReadNext once half of them are written).
func (c *Conn) Reply(b []byte, last bool) bool {
	c.Send(b)
	switch {
	case last:
		c.closing = true
	case c.queued >= maxQueued:
		c.paused = true
	default:
		return true
	}
	return false
}

// written is the completion of each Send.
func (c *Conn) written(_ int, err error) {
	c.queued--
	if c.done {
		return
	}
	switch {
	case err != nil: // the client reset or went away: the replies behind fail too
		c.Finish(err)
	case c.closing && c.queued == 0:
		c.lingerClose()
	case c.ShuttingDown() && c.idle():
		// Shutdown's OnShutdown found this reply in flight and left the
		// connection open: it is idle now, waiting for a request.
		c.Finish(nil)
	case c.paused && c.queued <= maxQueued/2:
		c.paused = false
		c.proto.ReadNext()
	}
}

// idle reports whether the connection waits for a request with nothing
// buffered or queued: the one Shutdown closes at once.
func (c *Conn) idle() bool {
	return !c.done && !c.closing && c.queued == 0 && c.Buf.Len() == 0 && !c.proto.InRequest()
}

// lingerClose ends the connection once its last reply is written: it shuts
// the sending side (the client reads EOF after the reply), then reads and
// drops what the client still sends until it closes too, or lingerTime
// passes. Closing at once with unread bytes would send a reset, which can
// destroy the reply before the client reads it.
func (c *Conn) lingerClose() {
	if err := c.Sock.Shutdown(asio.ShutdownSend); err != nil {
		c.Finish(err)
		return
	}
	c.linger = asio.NewTimer(c.Sock.Executor())
	c.linger.ExpiresAfter(lingerTime)
	c.linger.AsyncWait(c.onLinger)
	c.Buf.Consume(c.Buf.Len())
	c.drain()
}

func (c *Conn) drain() { c.Sock.AsyncReadSome(asio.Buffers{c.Buf.Prepare(4096)}, c.onDrain) }

func (c *Conn) drained(_ int, err error) {
	if c.done {
		return
	}
	if err != nil { // io.EOF: the client has closed as well
		c.Finish(nil)
		return
	}
	c.drain()
}

func (c *Conn) lingered(err error) {
	if err == nil { // the time is up
		c.Finish(nil)
	}
}

// Finish closes the socket, which completes whatever is still pending on
// it (the handlers then see Closed), and reports the end, with err, to
// Config.ConnDone. Only the first call does anything.
func (c *Conn) Finish(err error) {
	if c.done {
		return
	}
	c.done = true
	if c.linger != nil {
		c.linger.Cancel()
	}
	c.Sock.Close()
	c.srv.connDone(c, err)
}
