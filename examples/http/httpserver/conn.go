package httpserver

import (
	"errors"
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

var headEnd = []byte("\r\n\r\n")

// conn serves one connection. Every handler runs on the socket's context,
// one at a time, so its fields need no lock. The steps:
//
//	readHead → headRead → readBody (→ bodyRead) → serve → send → readHead …
//
// Each request head is one AsyncReadUntil into a DynamicBuffer whose maximum
// is MaxHeader; requests pipelined behind it stay in the buffer and the next
// AsyncReadUntil finds them without a read. A body is read into a slice of
// its own (the buffer holds heads only, so its maximum is the head limit). Each reply is one
// WriteQueue.AsyncWrite, so replies go out in request order while the next
// requests are parsed.
type conn struct {
	srv  *Server
	set  *connSet // the connections of its context
	sock *asio.TCPSocket
	buf  *asio.DynamicBuffer
	wq   *asio.WriteQueue

	req    Request // the request being read; Method and Target cleared once routed
	route  Route
	head   int    // length of its head in buf
	body   []byte // its body, while it is read
	queued int    // replies queued and not yet written

	paused  bool        // reading stopped until the replies drain
	closing bool        // no more requests: close once the replies are out
	done    bool        // the socket is closed
	linger  *asio.Timer // bounds the lingering close

	onHead, onBody, onWrite, onDrain func(int, error)
	onLinger                         func(error)
}

func newConn(srv *Server, sock *asio.TCPSocket) *conn {
	c := &conn{srv: srv, sock: sock, buf: asio.NewDynamicBuffer(srv.cfg.MaxHeader), wq: asio.NewWriteQueue(sock)}
	c.onHead, c.onBody, c.onWrite, c.onDrain = c.headRead, c.bodyRead, c.written, c.drained
	c.onLinger = c.lingered
	return c
}

// readHead reads up to the end of the next request head; once the server
// shuts down, a connection with no request buffered closes instead.
func (c *conn) readHead() {
	if c.srv.shuttingDown() && c.buf.Len() == 0 {
		c.closing = true
		if c.queued == 0 {
			c.lingerClose()
		}
		return
	}
	asio.AsyncReadUntil(c.sock, c.buf, headEnd, c.onHead)
}

func (c *conn) headRead(n int, err error) {
	if c.done {
		return
	}
	if errors.Is(err, asio.ErrMessageTooLong) {
		c.fail(ErrHeaderTooLarge)
		return
	}
	if err != nil { // io.EOF: the client is done (mid-request or not)
		c.finish(err)
		return
	}
	if b := c.buf.Bytes(); b[0] == '\r' && b[1] == '\n' {
		// An empty line before a request (some clients send one after a
		// body): ignored, as RFC 9112 asks.
		c.buf.Consume(2)
		c.readHead()
		return
	}
	req, err := ParseRequest(c.buf.Bytes()[:n])
	if err != nil {
		c.fail(err)
		return
	}
	c.route = Lookup(&req)
	req.Method, req.Target = nil, nil // they point into buf
	c.req, c.head = req, n
	if req.ContentLength > int64(c.srv.cfg.MaxBody) {
		c.fail(ErrBodyTooLarge)
		return
	}
	c.readBody()
}

// readBody takes the body: what of it the head's reads brought is in the
// buffer, the rest is read straight into the body with one AsyncRead. A
// body on a route that does not use it is read all the same, to find the
// next request.
func (c *conn) readBody() {
	c.buf.Consume(c.head)
	if c.req.ContentLength == 0 {
		c.serve(nil)
		return
	}
	c.body = make([]byte, c.req.ContentLength)
	n := copy(c.body, c.buf.Bytes())
	c.buf.Consume(n)
	if n == len(c.body) {
		c.serve(c.body)
		return
	}
	if c.req.Continue && n == 0 {
		c.send(Continue) // the client waits for it before sending the body
	}
	asio.AsyncRead(c.sock, asio.Buffers{c.body[n:]}, c.onBody)
}

func (c *conn) bodyRead(_ int, err error) {
	if c.done {
		return
	}
	if err != nil { // io.EOF: the client closed mid-body
		c.finish(err)
		return
	}
	c.serve(c.body)
}

// serve replies to the request and goes on to the next.
func (c *conn) serve(body []byte) {
	c.body = nil
	if c.srv.shuttingDown() {
		c.req.KeepAlive = false // this reply is the last: Connection: close
	}
	c.send(Respond(c.route, &c.req, body))
	switch {
	case !c.req.KeepAlive:
		c.closing = true
	case c.queued >= maxQueued:
		c.paused = true
	default:
		c.readHead()
	}
}

func (c *conn) send(reply []byte) {
	c.queued++
	c.wq.AsyncWrite(asio.Buffers{reply}, c.onWrite)
}

func (c *conn) written(_ int, err error) {
	c.queued--
	if c.done {
		return
	}
	switch {
	case err != nil: // the client reset or went away: the replies behind fail too
		c.finish(err)
	case c.closing && c.queued == 0:
		c.lingerClose()
	case c.srv.shuttingDown() && c.idle():
		// Shutdown's OnShutdown found this reply in flight and left the
		// connection open: it is idle now, waiting for a request.
		c.finish(nil)
	case c.paused && c.queued <= maxQueued/2:
		c.paused = false
		c.readHead()
	}
}

// idle reports whether the connection waits for a request with nothing
// buffered or queued: the one Shutdown closes at once.
func (c *conn) idle() bool {
	return !c.done && !c.closing && c.queued == 0 && c.buf.Len() == 0 && c.body == nil
}

// fail answers a request the server cannot serve and closes after it.
func (c *conn) fail(err error) {
	c.send(ErrorReply(err))
	c.closing = true
}

// lingerClose ends the connection once its last reply is written: it shuts
// the sending side (the client reads EOF after the reply), then reads and
// drops what the client still sends until it closes too, or lingerTime
// passes. Closing at once with unread bytes would send a reset, which can
// destroy the reply before the client reads it.
func (c *conn) lingerClose() {
	if err := c.sock.Shutdown(asio.ShutdownSend); err != nil {
		c.finish(err)
		return
	}
	c.linger = asio.NewTimer(c.sock.Executor())
	c.linger.ExpiresAfter(lingerTime)
	c.linger.AsyncWait(c.onLinger)
	c.buf.Consume(c.buf.Len())
	c.drain()
}

func (c *conn) drain() { c.sock.AsyncReadSome(asio.Buffers{c.buf.Prepare(4096)}, c.onDrain) }

func (c *conn) drained(_ int, err error) {
	if c.done {
		return
	}
	if err != nil { // io.EOF: the client has closed as well
		c.finish(nil)
		return
	}
	c.drain()
}

func (c *conn) lingered(err error) {
	if err == nil { // the time is up
		c.finish(nil)
	}
}

// finish closes the socket, which completes whatever is still pending on
// it (the handlers above then see done), and reports the end once.
func (c *conn) finish(err error) {
	if c.done {
		return
	}
	c.done = true
	if c.linger != nil {
		c.linger.Cancel()
	}
	c.sock.Close()
	c.srv.connDone(c, err)
}
