package httpserver

import (
	"errors"

	"github.com/goasio/asio"
	"github.com/goasio/asio/examples/internal/connserver"
)

var headEnd = []byte("\r\n\r\n")

// conn is the HTTP side of one connection; its Conn holds the socket, the
// reply queue and the lingering close. Every handler runs on the socket's
// context, one at a time, so its fields need no lock. The steps:
//
//	readHead → headRead → readBody (→ bodyRead) → serve → Reply → readHead …
//
// Each request head is one AsyncReadUntil into the Conn's DynamicBuffer,
// whose maximum is MaxHeader; requests pipelined behind it stay in the
// buffer and the next AsyncReadUntil finds them without a read. A body is
// read into a slice of its own (the buffer holds heads only, so its maximum
// is the head limit). Each reply is one WriteQueue.AsyncWrite (Conn.Reply),
// so replies go out in request order while the next requests are parsed.
type conn struct {
	*connserver.Conn
	maxBody int // Config.MaxBody

	req   Request // the request being read; Method and Target cleared once routed
	route Route
	head  int    // length of its head in Buf
	body  []byte // its body, while it is read

	onHead, onBody func(int, error)
}

func newConn(cc *connserver.Conn, maxBody int) *conn {
	c := &conn{Conn: cc, maxBody: maxBody}
	c.onHead, c.onBody = c.headRead, c.bodyRead
	return c
}

// ReadNext implements connserver.Protocol: the next request starts with
// its head.
func (c *conn) ReadNext() { c.readHead() }

// InRequest implements connserver.Protocol: past the head, the request is
// in the buffer or being read into body.
func (c *conn) InRequest() bool { return c.body != nil }

// readHead reads up to the end of the next request head; once the server
// shuts down, a connection with no request buffered closes instead.
func (c *conn) readHead() {
	if c.EndIfShuttingDown() {
		return
	}
	asio.AsyncReadUntil(c.Sock, c.Buf, headEnd, c.onHead)
}

func (c *conn) headRead(n int, err error) {
	if c.Closed() {
		return
	}
	if errors.Is(err, asio.ErrMessageTooLong) {
		c.fail(ErrHeaderTooLarge)
		return
	}
	if err != nil { // io.EOF: the client is done (mid-request or not)
		c.Finish(err)
		return
	}
	if b := c.Buf.Bytes(); b[0] == '\r' && b[1] == '\n' {
		// An empty line before a request (some clients send one after a
		// body): ignored, as RFC 9112 asks.
		c.Buf.Consume(2)
		c.readHead()
		return
	}
	if err := c.req.Parse(c.Buf.Bytes()[:n]); err != nil {
		c.fail(err)
		return
	}
	c.route = Lookup(&c.req)
	c.req.Method, c.req.Target = nil, nil // they point into Buf
	c.head = n
	if c.req.ContentLength > int64(c.maxBody) {
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
	c.Buf.Consume(c.head)
	if c.req.ContentLength == 0 {
		c.serve(nil)
		return
	}
	c.body = make([]byte, c.req.ContentLength)
	n := copy(c.body, c.Buf.Bytes())
	c.Buf.Consume(n)
	if n == len(c.body) {
		c.serve(c.body)
		return
	}
	if c.req.Continue && n == 0 {
		c.Send(Continue) // the client waits for it before sending the body
	}
	asio.AsyncRead(c.Sock, asio.Buffers{c.body[n:]}, c.onBody)
}

func (c *conn) bodyRead(_ int, err error) {
	if c.Closed() {
		return
	}
	if err != nil { // io.EOF: the client closed mid-body
		c.Finish(err)
		return
	}
	c.serve(c.body)
}

// serve replies to the request and goes on to the next.
func (c *conn) serve(body []byte) {
	c.body = nil
	if c.ShuttingDown() {
		c.req.KeepAlive = false // this reply is the last: Connection: close
	}
	if c.Reply(Respond(c.route, &c.req, body), !c.req.KeepAlive) {
		c.readHead()
	}
}

// fail answers a request the server cannot serve and closes after it.
func (c *conn) fail(err error) { c.Reply(ErrorReply(err), true) }
