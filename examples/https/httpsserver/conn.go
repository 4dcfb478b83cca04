package httpsserver

import (
	"crypto/tls"
	"errors"
	"io"

	"github.com/goasio/asio"
)

// conn serves one connection: a TLSStream over a TCPStream, whose deadline
// bounds the handshake, then each wait for a request head. Its handlers are
// method values made once; the reply buffer is reused.
//
// A quiet connection holds no request buffer: it waits for the first byte
// of the next request in a one-byte buffer of its own (the rest of the
// record stays decrypted inside crypto/tls), and takes a DynamicBuffer from
// the server's pool only then, giving it back once the buffer is empty.
type conn struct {
	srv    *Server
	tcp    *asio.TCPStream
	s      *asio.TLSStream
	buf    *asio.DynamicBuffer // nil while waiting for a request
	first  [1]byte
	fbufs  asio.Buffers // first[:]
	req    request
	reply  []byte
	wbufs  asio.Buffers
	closed bool

	onHandshake, onShutdown          func(error)
	onFirst, onHead, onBody, onWrite func(int, error)
}

func newConn(srv *Server, sock *asio.TCPSocket) *conn {
	sock.SetNoDelay(true)
	c := &conn{srv: srv, tcp: asio.WrapTCPStream(sock), wbufs: make(asio.Buffers, 1)}
	c.fbufs = asio.Buffers{c.first[:]}
	c.s = asio.NewTLSStream(c.tcp, srv.cfg.TLS)
	c.onHandshake, c.onShutdown = c.handshaken, c.shutdown
	c.onFirst, c.onHead, c.onBody, c.onWrite = c.firstRead, c.headRead, c.bodyRead, c.written
	return c
}

func (c *conn) start() {
	c.tcp.ExpiresAfter(c.srv.cfg.HandshakeTimeout)
	c.s.AsyncHandshake(asio.HandshakeServer, c.onHandshake)
}

func (c *conn) handshaken(err error) {
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
	c.tcp.ExpiresAfter(c.srv.cfg.IdleTimeout)
	if c.buf != nil && c.buf.Len() > 0 { // pipelined: the next head is (partly) here
		asio.AsyncReadUntil(c.s, c.buf, headEnd, c.onHead)
		return
	}
	c.putBuffer()
	c.s.AsyncReadSome(c.fbufs, c.onFirst)
}

// firstRead has the first byte of a request: on to its head, in a buffer
// from the pool.
func (c *conn) firstRead(n int, err error) {
	if err != nil {
		c.close()
		return
	}
	c.buf = c.srv.bufs.Get().(*asio.DynamicBuffer)
	c.buf.Write(c.first[:n])
	asio.AsyncReadUntil(c.s, c.buf, headEnd, c.onHead)
}

func (c *conn) putBuffer() {
	if c.buf != nil {
		c.buf.Consume(c.buf.Len())
		c.srv.bufs.Put(c.buf)
		c.buf = nil
	}
}

func (c *conn) headRead(n int, err error) {
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
	if need := req.length - c.buf.Len(); need > 0 {
		asio.AsyncRead(c.s, asio.Buffers{c.buf.Prepare(need)}, c.onBody)
		return
	}
	c.serve()
}

func (c *conn) bodyRead(n int, err error) {
	c.buf.Commit(n)
	if err != nil {
		c.close()
		return
	}
	c.serve()
}

func (c *conn) serve() {
	body := c.buf.Bytes()[:c.req.length]
	c.reply = appendReply(c.reply[:0], &c.req, body)
	c.buf.Consume(c.req.length)
	c.send(c.reply, c.req.close)
}

func (c *conn) send(b []byte, last bool) {
	c.req.close = last
	c.wbufs[0] = b
	asio.AsyncWrite(c.s, c.wbufs, c.onWrite)
}

func (c *conn) written(_ int, err error) {
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
		c.srv.conns.Add(-1)
	}
}
