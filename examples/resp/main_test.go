package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goasio/asio/examples/internal/extest"
	"github.com/goasio/asio/examples/resp/respserver"
)

// TestMain lets the test binary run the example's main (for the signal
// test) when asked to through the environment.
func TestMain(m *testing.M) { extest.RunMain(m, "RESP_EXAMPLE_MAIN", main) }

// start runs a server on a free loopback port with two contexts; done
// receives what ended each connection.
func start(t *testing.T, cfg respserver.Config) (*respserver.Server, extest.Ends) {
	t.Helper()
	done := extest.NewEnds()
	cfg.Addr, cfg.Contexts, cfg.Logf, cfg.ConnDone = "127.0.0.1:0", 2, t.Logf, done.Record
	return extest.Serve(t, func() (*respserver.Server, error) { return respserver.Listen(cfg) }), done
}

// client is a raw RESP connection.
type client struct {
	t  *testing.T
	c  *net.TCPConn
	br *bufio.Reader
}

func dial(t *testing.T, srv *respserver.Server) *client {
	t.Helper()
	c := extest.Dial(t, srv.Addr())
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

// command encodes args as a multibulk array.
func command(args ...string) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

func (c *client) send(b []byte) {
	c.t.Helper()
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// reply reads one reply and renders it: "+OK", "-ERR ...", ":1", the bulk
// string's bytes, "(nil)", or "[a b]" for an array.
func (c *client) reply() string {
	c.t.Helper()
	s, err := readReply(c.br)
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

func readReply(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(line, "\r\n") || len(line) < 3 {
		return "", fmt.Errorf("bad reply line %q", line)
	}
	line = line[:len(line)-2]
	switch line[0] {
	case '+', '-', ':':
		return line, nil
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < -1 {
			return "", fmt.Errorf("bad bulk length %q", line)
		}
		if n == -1 {
			return "(nil)", nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(br, b); err != nil {
			return "", err
		}
		return string(b[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad array length %q", line)
		}
		var items []string
		for range n {
			s, err := readReply(br)
			if err != nil {
				return "", err
			}
			items = append(items, s)
		}
		return "[" + strings.Join(items, " ") + "]", nil
	}
	return "", fmt.Errorf("bad reply %q", line)
}

// eof checks that the server closed the connection.
func (c *client) eof() {
	c.t.Helper()
	if b, err := c.br.ReadByte(); err != io.EOF {
		c.t.Errorf("read %q, %v; want EOF", b, err)
	}
}

// The commands, one at a time, as multibulk arrays and inline, in any case.
func TestCommands(t *testing.T) {
	srv, _ := start(t, respserver.Config{})
	c := dial(t, srv)
	for _, tc := range []struct {
		send []byte
		want string
	}{
		{command("PING"), "+PONG"},
		{command("ping", "hello"), "hello"},
		{command("ECHO", "x y"), "x y"},
		{command("GET", "k"), "(nil)"},
		{command("SET", "k", "v1"), "+OK"},
		{command("get", "k"), "v1"},
		{command("SET", "k", ""), "+OK"},
		{command("GET", "k"), ""},
		{command("Set", "k2", "v2"), "+OK"},
		{command("DEL", "k", "k2", "k3"), ":2"},
		{command("DEL", "k"), ":0"},
		{command("GET", "k2"), "(nil)"},
		{[]byte("PING\r\n"), "+PONG"}, // inline, as redis-benchmark's PING_INLINE
		{[]byte("SET  inl   value\r\n"), "+OK"},
		{[]byte("\r\n*0\r\nget inl\r\n"), "value"}, // empty line and *0: no command
		{command("CONFIG", "GET", "appendonly"), "[appendonly no]"},
		{command("CONFIG", "GET", "nothing"), "[]"},
		{command("COMMAND", "DOCS"), "[]"},
		// Errors that leave the connection usable.
		{command("GET"), "-ERR wrong number of arguments for 'get' command"},
		{command("GET", "a", "b"), "-ERR wrong number of arguments for 'get' command"},
		{command("SET", "a"), "-ERR wrong number of arguments for 'set' command"},
		{command("SET", "a", "b", "EX", "10"), "-ERR syntax error"},
		{command("DEL"), "-ERR wrong number of arguments for 'del' command"},
		{command("PING", "a", "b"), "-ERR wrong number of arguments for 'ping' command"},
		{command("FLUSHALL"), "-ERR unknown command 'FLUSHALL', with args beginning with: "},
		{command("NOPE", "a\r\n+OK", "b"), "-ERR unknown command 'NOPE', with args beginning with: 'a??+OK' 'b' "},
		{command("averyveryverylongcommandname"), "-ERR unknown command 'averyveryverylongcommandname', with args beginning with: "},
		{command("PING"), "+PONG"},
	} {
		c.send(tc.send)
		if got := c.reply(); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.send, got, tc.want)
		}
	}
	c.send(command("QUIT"))
	if got := c.reply(); got != "+OK" {
		t.Errorf("QUIT: %q", got)
	}
	c.eof()
}

// Bulk strings hold any bytes, CRLF and NUL included, and may arrive in
// pieces; a value larger than the buffer's maximum is read past it.
func TestBinaryBulk(t *testing.T) {
	srv, _ := start(t, respserver.Config{MaxInline: 1 << 10})
	c := dial(t, srv)
	var all []byte
	for i := range 256 {
		all = append(all, byte(i))
	}
	big := bytes.Repeat([]byte("\r\n$3\r\n*1\r\n"), 100<<10) // 1 MiB of protocol lookalikes
	for _, v := range [][]byte{[]byte("\r\n"), []byte("a\r\nb\x00c\r\n\r\n"), all, big} {
		cmd := command("SET", "bin", string(v))
		for len(cmd) > 0 { // in small pieces
			n := min(len(cmd), 777)
			c.send(cmd[:n])
			cmd = cmd[n:]
		}
		if got := c.reply(); got != "+OK" {
			t.Fatalf("SET %d bytes: %q", len(v), got)
		}
		c.send(command("GET", "bin"))
		if got := c.reply(); got != string(v) {
			t.Fatalf("GET: %d bytes back, want %q (%d bytes)", len(got), v[:min(len(v), 20)], len(v))
		}
	}
}

// Pipelined commands, all in one write, get their replies in order.
func TestPipelined(t *testing.T) {
	srv, _ := start(t, respserver.Config{})
	c := dial(t, srv)
	var req []byte
	var want []string
	for i := range 200 {
		k, v := fmt.Sprint("key", i/4), fmt.Sprint("value", i)
		switch i % 4 {
		case 0:
			req = append(req, command("SET", k, v)...)
			want = append(want, "+OK")
		case 1:
			req = append(req, command("GET", k)...)
			want = append(want, fmt.Sprint("value", i-1))
		case 2:
			req = append(req, "PING\r\n"...)
			want = append(want, "+PONG")
		case 3:
			req = append(req, command("DEL", k)...)
			want = append(want, ":1")
		}
	}
	c.send(req)
	for i, w := range want {
		if got := c.reply(); got != w {
			t.Fatalf("reply %d: %q, want %q", i, got, w)
		}
	}
}

// Protocol errors get -ERR and the connection closes after it; replies to
// the commands before the error come first.
func TestProtocolErrors(t *testing.T) {
	srv, done := start(t, respserver.Config{MaxInline: 4 << 10, MaxBulk: 1 << 20})
	for _, tc := range []struct {
		name, send, want string
	}{
		{"huge bulk length", "*2\r\n$3\r\nGET\r\n$99999999999\r\n", "-ERR Protocol error: invalid bulk length"},
		{"bulk over the maximum", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n", "-ERR Protocol error: invalid bulk length"},
		{"negative bulk length", "*1\r\n$-2\r\n", "-ERR Protocol error: invalid bulk length"},
		{"bad bulk length", "*1\r\n$4x\r\n", "-ERR Protocol error: invalid bulk length"},
		{"huge multibulk length", "*99999999999\r\n", "-ERR Protocol error: invalid multibulk length"},
		{"bad multibulk length", "*x\r\n", "-ERR Protocol error: invalid multibulk length"},
		{"no $", "*1\r\n:3\r\n", "-ERR Protocol error: expected '$', got ':'"},
		{"no CRLF after the bulk", "*1\r\n$4\r\nPINGxx", "-ERR Protocol error: expected CRLF after a bulk string"},
		{"inline over the maximum", strings.Repeat("PING ", 1000), "-ERR Protocol error: too big inline request"},
		{"bulk header over the maximum", "*1\r\n$" + strings.Repeat("1", 5000), "-ERR Protocol error: invalid bulk length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, srv)
			c.send(append(command("PING"), tc.send...))
			if got := c.reply(); got != "+PONG" {
				t.Fatalf("first reply %q", got)
			}
			if got := c.reply(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			c.eof()
			c.c.Close()
			if err := done.Next(t); err != nil {
				t.Errorf("ended with %v, want nil (closed by the server)", err)
			}
		})
	}
	c := dial(t, srv) // still serving
	c.send(command("PING"))
	if got := c.reply(); got != "+PONG" {
		t.Fatalf("after the errors: %q", got)
	}
}

// A client that pipelines GETs of a large value, reads almost nothing and
// resets leaves replies queued: their writes fail, the connection ends once
// with the error, and the server goes on serving.
func TestClientResetsWithRepliesQueued(t *testing.T) {
	srv, done := start(t, respserver.Config{})
	c := dial(t, srv)
	c.c.SetReadBuffer(4 << 10)
	c.send(command("SET", "big", strings.Repeat("v", 256<<10)))
	if got := c.reply(); got != "+OK" {
		t.Fatal(got)
	}
	go func() { // 64 MiB of replies; the server stops reading at 64 queued, so this may block
		c.c.Write(bytes.Repeat(command("GET", "big"), 256))
	}()
	if _, err := c.br.ReadString('\n'); err != nil { // the first reply has started
		t.Fatal(err)
	}
	c.c.SetLinger(0) // close sends a reset
	c.c.Close()
	done.Reset(t)
	c2 := dial(t, srv)
	c2.send(command("GET", "big"))
	if got := c2.reply(); len(got) != 256<<10 {
		t.Fatalf("after the reset: %d bytes", len(got))
	}
}

// Close ends every connection once, waiting for a command or halfway
// through one, and returns.
func TestClose(t *testing.T) {
	srv, done := start(t, respserver.Config{})
	var conns []*client
	for i := range 6 {
		c := dial(t, srv)
		c.send(command("PING")) // accepted and served once
		c.reply()
		if i%2 == 0 {
			c.send([]byte("*2\r\n$3\r\nGET\r\n$10\r\nabc")) // half a command
		}
		conns = append(conns, c)
	}
	extest.CloseAll(t, srv, done, len(conns))
	for i, c := range conns {
		if _, err := c.br.ReadByte(); err == nil {
			t.Errorf("connection %d still open after Close", i)
		}
	}
}

// Shutdown closes the connections that wait for a command at once, lets a
// command in progress finish, refuses new connections, and returns once
// every connection has ended.
func TestShutdown(t *testing.T) {
	srv, done := start(t, respserver.Config{})
	idle, busy := dial(t, srv), dial(t, srv)
	// A command each; busy's is followed by half of another, in the same
	// segment, so that the server has read it once it answers the first.
	idle.send(command("PING"))
	idle.reply()
	busy.send(append(command("PING"), "*2\r\n$3\r\nGET\r\n$1\r\n"...))
	busy.reply()
	shut := extest.ShutdownLater(srv.Shutdown)
	idle.eof()
	if err := done.Next(t); err != nil {
		t.Errorf("idle connection ended with %v", err)
	}
	extest.NotServed(t, srv.Addr(), "PING\r\n")
	extest.Pending(t, shut)
	busy.send([]byte("k\r\n")) // the rest of it
	if got := busy.reply(); got != "(nil)" {
		t.Fatalf("the command in progress: %q", got)
	}
	busy.eof()
	busy.c.Close()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := done.Next(t); err != nil {
		t.Errorf("busy connection ended with %v", err)
	}
}

// The real clients, when installed: redis-cli and redis-benchmark (Debian's
// redis-tools).
func TestRedisTools(t *testing.T) {
	cli, err1 := exec.LookPath("redis-cli")
	bench, err2 := exec.LookPath("redis-benchmark")
	if err1 != nil || err2 != nil {
		t.Skip("redis-cli or redis-benchmark not installed (apt-get install redis-tools): the raw protocol tests above cover the same commands")
	}
	srv, _ := start(t, respserver.Config{})
	port := strconv.Itoa(int(srv.Addr().Port()))
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, append([]string{"-h", "127.0.0.1", "-p", port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %q: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	if out := run(cli, "set", "greeting", "hello\r\nworld"); out != "OK\n" {
		t.Errorf("redis-cli set: %q", out)
	}
	if out := run(cli, "--no-raw", "get", "greeting"); out != "\"hello\\r\\nworld\"\n" {
		t.Errorf("redis-cli get: %q", out)
	}
	for _, p := range []string{"1", "16"} {
		out := run(bench, "-t", "ping,set,get", "-n", "2000", "-c", "10", "-P", p, "-q")
		for _, test := range []string{"PING_INLINE", "PING_MBULK", "SET", "GET"} {
			if !strings.Contains(out, test+": ") || strings.Contains(out, "rror") {
				t.Errorf("redis-benchmark -P %s: no clean %s result in\n%s", p, test, out)
			}
		}
	}
}

// The example's main serves until SIGTERM, then closes its connections
// and exits 0.
func TestMainStopsOnSignal(t *testing.T) {
	child := extest.StartMain(t, "RESP_EXAMPLE_MAIN", "RESP")
	nc, err := net.Dial("tcp", child.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := &client{t: t, c: nc.(*net.TCPConn), br: bufio.NewReader(nc)}
	c.send([]byte("PING\r\n"))
	if got := c.reply(); got != "+PONG" {
		t.Fatal(got)
	}
	start := time.Now()
	child.Stop(t)
	t.Logf("exited %v after SIGTERM", time.Since(start))
	c.eof()
}

// BenchmarkPipelinedGet measures one connection sending 16 pipelined GETs
// of a 10-byte value at a time; allocs/op are per command, and the client
// allocates nothing, so they are the server's (and the library's) own.
func BenchmarkPipelinedGet(b *testing.B) {
	srv := extest.Serve(b, func() (*respserver.Server, error) {
		return respserver.Listen(respserver.Config{Addr: "127.0.0.1:0", Contexts: 1})
	})
	c := extest.Dial(b, srv.Addr())
	c.Write(command("SET", "key", "0123456789"))
	buf := make([]byte, 16*len("$10\r\n0123456789\r\n"))
	io.ReadFull(c, buf[:5])
	req := bytes.Repeat(command("GET", "key"), 16)
	extest.Pipeline(b, c, req, buf, 16)
}
