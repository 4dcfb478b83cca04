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
//	readHead → onHead → (readBody → onBody →) serve → send → readHead …
//
// Each request head is one AsyncReadUntil into a DynamicBuffer whose maximum
// is MaxHeader; requests pipelined behind it stay in the buffer and the next
// AsyncReadUntil finds them without a read. Each reply is one
// WriteQueue.AsyncWrite, so replies go out in request order while the next
// requests are parsed.
type conn struct {
	srv  *Server
	sock *asio.TCPSocket
	buf  *asio.DynamicBuffer
	wq   *asio.WriteQueue

	req    Request // the request being read; Method and Target cleared once routed
	route  Route
	head   int // length of its head in buf
	queued int // replies queued and not yet written

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

// readHead reads up to the end of the next request head.
func (c *conn) readHead() { asio.AsyncReadUntil(c.sock, c.buf, headEnd, c.onHead) }

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
	req, err := ParseRequest(c.buf.Bytes()[:n])
	if err != nil {
		c.fail(err)
		return
	}
	c.route = Lookup(&req)
	req.Method, req.Target = nil, nil // they point into buf, which the body read may move
	c.req, c.head = req, n
	if req.ContentLength > int64(c.srv.cfg.MaxBody) {
		c.fail(ErrBodyTooLarge)
		return
	}
	c.readBody()
}

// readBody reads until the buffer holds the whole body, then serves. A body
// on a route that does not use it is read past all the same.
func (c *conn) readBody() {
	missing := c.head + int(c.req.ContentLength) - c.buf.Len()
	if missing <= 0 {
		c.serve()
		return
	}
	// One read may bring requests pipelined behind the body too.
	asio.AsyncReadCond(c.sock, asio.Buffers{c.buf.Prepare(max(missing, 4096))},
		asio.TransferAtLeast(missing), c.onBody)
}

func (c *conn) bodyRead(n int, err error) {
	c.buf.Commit(n)
	if c.done {
		return
	}
	if err != nil {
		c.finish(err)
		return
	}
	c.serve()
}

// serve replies to the request whose head and body are in the buffer, and
// goes on to the next.
func (c *conn) serve() {
	total := c.head + int(c.req.ContentLength)
	reply := Respond(c.route, &c.req, c.buf.Bytes()[c.head:total])
	c.buf.Consume(total)
	c.send(reply)
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
	case c.paused && c.queued <= maxQueued/2:
		c.paused = false
		c.readHead()
	}
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
	c.srv.connDone(err)
}
