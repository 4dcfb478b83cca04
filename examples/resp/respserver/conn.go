package respserver

import (
	"bytes"
	"errors"
	"slices"
	"time"

	"github.com/goasio/asio"
)

// maxQueued is how many replies a connection may have queued before it
// stops reading commands; reading resumes when half of them are written.
const maxQueued = 64

// lingerTime bounds how long a connection that the server ends reads (and
// drops) what the client still sends, so that the client reads the last
// reply rather than a reset.
const lingerTime = time.Second

var crlf = []byte("\r\n")

// conn serves one connection. Every handler runs on the socket's context,
// one at a time, so its fields need no lock.
//
// A command is either a multibulk array (*N, then N times $len and the
// bytes) or an inline line of words. Each line is one AsyncReadUntil of
// CRLF into a DynamicBuffer whose maximum is MaxInline; a bulk string is
// taken from the buffer as far as it is there, and the rest is read
// straight into the command's argument arena with one AsyncRead. Commands pipelined behind one stay in
// the buffer, where the next AsyncReadUntil finds them without a read. Each
// reply is one WriteQueue.AsyncWrite, in command order.
type conn struct {
	srv  *Server
	set  *connSet // the connections of its context
	sock *asio.TCPSocket
	buf  *asio.DynamicBuffer
	wq   *asio.WriteQueue

	argc  int      // bulk strings the multibulk command still needs; 0 between commands
	bulk  int      // length of the bulk string being read
	arena []byte   // the command's arguments, back to back
	ends  []int    // where each argument ends in arena
	args  [][]byte // the arguments, sliced from arena for Exec

	queued  int  // replies queued and not yet written
	paused  bool // reading stopped until the replies drain
	closing bool // no more commands: close once the replies are out
	done    bool // the socket is closed
	linger  *asio.Timer

	onLine, onBulk, onWrite, onDrain func(int, error)
	onLinger                         func(error)
}

func newConn(srv *Server, sock *asio.TCPSocket) *conn {
	c := &conn{srv: srv, sock: sock, buf: asio.NewDynamicBuffer(srv.cfg.MaxInline), wq: asio.NewWriteQueue(sock)}
	c.onLine, c.onBulk, c.onWrite, c.onDrain = c.lineRead, c.bulkRead, c.written, c.drained
	c.onLinger = c.lingered
	return c
}

// readLine reads up to the next CRLF; once the server shuts down, a
// connection between commands with none buffered closes instead.
func (c *conn) readLine() {
	if c.argc == 0 && c.buf.Len() == 0 && c.srv.shuttingDown() {
		c.closing = true
		if c.queued == 0 {
			c.lingerClose()
		}
		return
	}
	asio.AsyncReadUntil(c.sock, c.buf, crlf, c.onLine)
}

func (c *conn) lineRead(n int, err error) {
	if c.done {
		return
	}
	if errors.Is(err, asio.ErrMessageTooLong) {
		if c.argc == 0 {
			c.fail("too big inline request")
		} else {
			c.fail("invalid bulk length")
		}
		return
	}
	if err != nil { // io.EOF: the client is done
		c.finish(err)
		return
	}
	line := c.buf.Bytes()[:n-2]
	switch {
	case c.argc > 0: // a bulk string's header: $len
		if len(line) == 0 || line[0] != '$' {
			c.fail("expected '$', got '" + printable(line[:min(len(line), 1)], 1) + "'")
			return
		}
		size, ok := parseInt(line[1:])
		if !ok || size < 0 || size > c.srv.cfg.MaxBulk {
			c.fail("invalid bulk length")
			return
		}
		c.buf.Consume(n)
		c.bulk = size
		c.readBulk()
	case len(line) > 0 && line[0] == '*': // a multibulk command: *N
		argc, ok := parseInt(line[1:])
		if !ok || argc > c.srv.cfg.MaxArgs {
			c.fail("invalid multibulk length")
			return
		}
		c.buf.Consume(n)
		if argc <= 0 { // *0 and *-1 are no command
			c.readLine()
			return
		}
		c.argc = argc
		c.arena, c.ends = c.arena[:0], c.ends[:0]
		c.readLine()
	default: // an inline command: words separated by spaces
		c.arena, c.ends = c.arena[:0], c.ends[:0]
		for _, w := range bytes.Fields(line) {
			c.arena = append(c.arena, w...)
			c.ends = append(c.ends, len(c.arena))
		}
		c.buf.Consume(n)
		if len(c.ends) == 0 {
			c.readLine() // an empty line
			return
		}
		c.exec()
	}
}

// readBulk takes the bulk string and its CRLF into the arena: what of it
// the line reads brought is in the buffer, the rest is read straight into
// the arena with one AsyncRead.
func (c *conn) readBulk() {
	start := len(c.arena)
	c.arena = slices.Grow(c.arena, c.bulk+2)[:start+c.bulk+2]
	n := copy(c.arena[start:], c.buf.Bytes())
	c.buf.Consume(n)
	if n == c.bulk+2 {
		c.bulkIn()
		return
	}
	asio.AsyncRead(c.sock, asio.Buffers{c.arena[start+n:]}, c.onBulk)
}

func (c *conn) bulkRead(_ int, err error) {
	if c.done {
		return
	}
	if err != nil { // io.EOF: the client closed mid-string
		c.finish(err)
		return
	}
	c.bulkIn()
}

// bulkIn ends the bulk string now at the arena's end.
func (c *conn) bulkIn() {
	end := len(c.arena) - 2
	if !bytes.Equal(c.arena[end:], crlf) {
		c.fail("expected CRLF after a bulk string")
		return
	}
	c.arena = c.arena[:end]
	c.ends = append(c.ends, end)
	if c.argc--; c.argc > 0 {
		c.readLine()
		return
	}
	c.exec()
}

// exec runs the command in arena, queues its reply, and goes on to the
// next.
func (c *conn) exec() {
	c.args = c.args[:0]
	start := 0
	for _, end := range c.ends {
		c.args = append(c.args, c.arena[start:end:end])
		start = end
	}
	reply, quit := c.srv.store.Exec(c.args)
	if cap(c.arena) > 64<<10 {
		c.arena = nil // do not keep a large argument's memory while idle
	}
	c.send(reply)
	switch {
	case quit:
		c.closing = true
	case c.queued >= maxQueued:
		c.paused = true
	default:
		c.readLine()
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
		// connection open: it is idle now, waiting for a command.
		c.finish(nil)
	case c.paused && c.queued <= maxQueued/2:
		c.paused = false
		c.readLine()
	}
}

// idle reports whether the connection waits for a command with nothing
// buffered or queued: the one Shutdown closes at once.
func (c *conn) idle() bool {
	return !c.done && !c.closing && c.queued == 0 && c.argc == 0 && c.buf.Len() == 0
}

// fail answers a protocol error, after which the stream cannot be parsed
// on, and closes the connection after the reply, as Redis does.
func (c *conn) fail(msg string) {
	c.send(appendError(nil, "ERR Protocol error: "+msg))
	c.closing = true
}

// lingerClose ends the connection once its last reply is written: it shuts
// the sending side, then reads and drops what the client still sends until
// it closes too, or lingerTime passes, so that no reset destroys the reply.
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

// parseInt parses a decimal integer of at most 18 digits, with an optional
// minus sign.
func parseInt(b []byte) (int, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
