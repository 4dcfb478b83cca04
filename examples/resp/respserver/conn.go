package respserver

import (
	"bytes"
	"errors"
	"slices"

	"github.com/goasio/asio"
	"github.com/goasio/asio/examples/internal/connserver"
)

var crlf = []byte("\r\n")

// conn is the RESP side of one connection; its Conn holds the socket, the
// reply queue and the lingering close. Every handler runs on the socket's
// context, one at a time, so its fields need no lock.
//
// A command is either a multibulk array (*N, then N times $len and the
// bytes) or an inline line of words. Each line is one AsyncReadUntil of
// CRLF into the Conn's DynamicBuffer, whose maximum is MaxInline; a bulk
// string is taken from the buffer as far as it is there, and the rest is
// read straight into the command's argument arena with one AsyncRead.
// Commands pipelined behind one stay in the buffer, where the next
// AsyncReadUntil finds them without a read. Each reply is one
// WriteQueue.AsyncWrite (Conn.Reply), in command order.
type conn struct {
	*connserver.Conn
	cfg   *Config
	store *Store

	argc  int      // bulk strings the multibulk command still needs; 0 between commands
	bulk  int      // length of the bulk string being read
	arena []byte   // the command's arguments, back to back
	ends  []int    // where each argument ends in arena
	args  [][]byte // the arguments, sliced from arena for Exec

	onLine, onBulk func(int, error)
}

func newConn(cc *connserver.Conn, cfg *Config, store *Store) *conn {
	c := &conn{Conn: cc, cfg: cfg, store: store}
	c.onLine, c.onBulk = c.lineRead, c.bulkRead
	return c
}

// ReadNext implements connserver.Protocol: a command starts with a line.
func (c *conn) ReadNext() { c.readLine() }

// InRequest implements connserver.Protocol: a multibulk command is in
// progress until its last bulk string is in.
func (c *conn) InRequest() bool { return c.argc > 0 }

// readLine reads up to the next CRLF; once the server shuts down, a
// connection between commands with none buffered closes instead.
func (c *conn) readLine() {
	if c.EndIfShuttingDown() {
		return
	}
	asio.AsyncReadUntil(c.Sock, c.Buf, crlf, c.onLine)
}

func (c *conn) lineRead(n int, err error) {
	if c.Closed() {
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
		c.Finish(err)
		return
	}
	line := c.Buf.Bytes()[:n-2]
	switch {
	case c.argc > 0: // a bulk string's header: $len
		if len(line) == 0 || line[0] != '$' {
			c.fail("expected '$', got '" + printable(line[:min(len(line), 1)], 1) + "'")
			return
		}
		size, ok := parseInt(line[1:])
		if !ok || size < 0 || size > c.cfg.MaxBulk {
			c.fail("invalid bulk length")
			return
		}
		c.Buf.Consume(n)
		c.bulk = size
		c.readBulk()
	case len(line) > 0 && line[0] == '*': // a multibulk command: *N
		argc, ok := parseInt(line[1:])
		if !ok || argc > c.cfg.MaxArgs {
			c.fail("invalid multibulk length")
			return
		}
		c.Buf.Consume(n)
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
		c.Buf.Consume(n)
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
	n := copy(c.arena[start:], c.Buf.Bytes())
	c.Buf.Consume(n)
	if n == c.bulk+2 {
		c.bulkIn()
		return
	}
	asio.AsyncRead(c.Sock, asio.Buffers{c.arena[start+n:]}, c.onBulk)
}

func (c *conn) bulkRead(_ int, err error) {
	if c.Closed() {
		return
	}
	if err != nil { // io.EOF: the client closed mid-string
		c.Finish(err)
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
	reply, quit := c.store.Exec(c.args)
	if cap(c.arena) > 64<<10 {
		c.arena = nil // do not keep a large argument's memory while idle
	}
	if c.Reply(reply, quit) {
		c.readLine()
	}
}

// fail answers a protocol error, after which the stream cannot be parsed
// on, and closes the connection after the reply, as Redis does.
func (c *conn) fail(msg string) {
	c.Reply(appendError(nil, "ERR Protocol error: "+msg), true)
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
