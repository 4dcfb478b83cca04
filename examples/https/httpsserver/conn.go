package httpsserver

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"time"

	"github.com/goasio/asio"
)

// conn serves one connection: a TLSStream over a TCPStream, whose deadline
// bounds the handshake (over the TCPSocket itself without a handshake
// timeout); the idle timeout is its loop's sweep. Its handlers are method
// values made once; the reply buffer is reused.
//
// A quiet connection holds a small buffer only: it waits for the next
// request in 256 bytes of its own, where a usual request head fits whole
// and is answered from there. A larger head, a body or pipelined requests
// go on in a DynamicBuffer from the server's pool, given back once empty.
type conn struct {
	srv     *Server
	l       *loop
	slot    int             // index in l.conns
	waiting bool            // an operation is pending: the idle timeout applies
	since   time.Time       // when it started, on l's coarse clock
	tcp     *asio.TCPStream // nil without a handshake timeout
	s       *asio.TLSStream
	buf     *asio.DynamicBuffer // nil unless a request needs more than small
	small   [256]byte
	sbufs   asio.Buffers // small[:]
	req     request
	reply   []byte
	wbufs   asio.Buffers
	closed  bool

	onHandshake, onShutdown          func(error)
	body                             []byte // a body larger than what buf holds
	onSmall, onHead, onBody, onWrite func(int, error)
}

func newConn(srv *Server, l *loop, sock *asio.TCPSocket) *conn {
	sock.SetNoDelay(true)
	c := &conn{srv: srv, l: l, wbufs: make(asio.Buffers, 1)}
	c.sbufs = asio.Buffers{c.small[:]}
	var next asio.AsyncStream = sock
	if srv.cfg.HandshakeTimeout > 0 {
		c.tcp = asio.WrapTCPStream(sock)
		next = c.tcp
	}
	c.s = asio.NewTLSStream(next, srv.cfg.TLS)
	c.onHandshake, c.onShutdown = c.handshaken, c.shutdown
	c.onSmall, c.onHead, c.onBody, c.onWrite = c.smallRead, c.headRead, c.bodyRead, c.written
	return c
}

// wait marks an operation pending, for the idle sweep; done clears it.
func (c *conn) wait() { c.waiting, c.since = true, c.l.now }
func (c *conn) done() { c.waiting = false }

func (c *conn) start() {
	c.l.add(c)
	if c.tcp != nil {
		c.tcp.ExpiresAfter(c.srv.cfg.HandshakeTimeout)
	}
	c.s.AsyncHandshake(asio.HandshakeServer, c.onHandshake)
}

func (c *conn) handshaken(err error) {
	if c.tcp != nil {
		c.tcp.ExpiresNever()
	}
	var re tls.RecordHeaderError
	if errors.As(err, &re) && re.Conn != nil {
		// A client that speaks plain HTTP to the TLS port, as net/http
		// answers it: written in the clear, then the connection closes.
		io.WriteString(re.Conn, plainToTLSAnswer)
		re.Conn.Close()
		c.finish()
		return
	}
	if err != nil {
		c.close()
		return
	}
	c.readHead()
}

func (c *conn) readHead() {
	c.wait()
	if c.buf != nil && c.buf.Len() > 0 { // pipelined: the next head is (partly) here
		asio.AsyncReadUntil(c.s, c.buf, headEnd, c.onHead)
		return
	}
	c.putBuffer()
	c.s.AsyncReadSome(c.sbufs, c.onSmall)
}

// smallRead has the start of a request in small: a whole head with nothing
// after it is served from there; anything else goes on in a buffer from the
// pool.
func (c *conn) smallRead(n int, err error) {
	c.done()
	if err != nil {
		c.close()
		return
	}
	data := c.small[:n]
	i := bytes.Index(data, headEnd)
	if i < 0 || i+len(headEnd) < n {
		c.buf = c.srv.bufs.Get().(*asio.DynamicBuffer)
		c.buf.Write(data)
		if i < 0 {
			asio.AsyncReadUntil(c.s, c.buf, headEnd, c.onHead)
		} else {
			c.headRead(i+len(headEnd), nil)
		}
		return
	}
	req, perr := parseRequest(data)
	if perr != nil || req.length > 0 {
		c.buf = c.srv.bufs.Get().(*asio.DynamicBuffer)
		c.buf.Write(data)
		c.headRead(n, nil)
		return
	}
	c.req = req
	c.reply = appendReply(c.reply[:0], &c.req, nil)
	c.send(c.reply, c.req.close)
}

func (c *conn) putBuffer() {
	if c.buf != nil {
		c.buf.Consume(c.buf.Len())
		c.srv.bufs.Put(c.buf)
		c.buf = nil
	}
}

func (c *conn) headRead(n int, err error) {
	c.done()
	switch {
	case errors.Is(err, asio.ErrMessageTooLong):
		c.send(tooLargeReply, true)
		return
	case err != nil: // io.EOF, a timeout, a reset
		c.close()
		return
	}
	req, perr := parseRequest(c.buf.Bytes()[:n])
	switch {
	case errors.Is(perr, errNotChunked):
		c.send(notImplemented, true)
		return
	case perr != nil || req.length > c.srv.cfg.MaxBody:
		c.send(badRequestReply, true)
		return
	}
	c.buf.Consume(n)
	c.req = req
	if req.length > c.buf.Len() {
		// The body goes into a slice of its own: the head's buffer is
		// bounded by MaxHeader, and never grows past it.
		c.body = append(c.body[:0], c.buf.Bytes()...)
		c.buf.Consume(len(c.body))
		have := len(c.body)
		c.body = append(c.body, make([]byte, req.length-have)...)
		c.wait()
		asio.AsyncRead(c.s, asio.Buffers{c.body[have:]}, c.onBody)
		return
	}
	body := c.buf.Bytes()[:req.length]
	c.serve(body)
	c.buf.Consume(req.length)
}

func (c *conn) bodyRead(n int, err error) {
	c.done()
	if err != nil {
		c.close()
		return
	}
	c.serve(c.body)
	c.body = c.body[:0]
}

// serve answers the request in c.req, whose body is body.
func (c *conn) serve(body []byte) {
	c.reply = appendReply(c.reply[:0], &c.req, body)
	c.send(c.reply, c.req.close)
}

func (c *conn) send(b []byte, last bool) {
	c.req.close = last
	c.wbufs[0] = b
	c.wait()
	asio.AsyncWrite(c.s, c.wbufs, c.onWrite)
}

func (c *conn) written(_ int, err error) {
	c.done()
	switch {
	case err != nil:
		c.close()
	case c.req.close:
		c.s.AsyncShutdown(c.onShutdown) // close_notify, then close
	default:
		c.readHead()
	}
}

func (c *conn) shutdown(error) { c.close() }

func (c *conn) close() {
	c.s.Close()
	c.putBuffer()
	c.finish()
}

func (c *conn) finish() {
	if !c.closed {
		c.closed = true
		c.l.remove(c)
		c.srv.conns.Add(-1)
	}
}
