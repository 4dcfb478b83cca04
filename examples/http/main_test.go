package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goasio/asio/examples/http/httpserver"
	"github.com/goasio/asio/examples/internal/extest"
)

// TestMain lets the test binary run the example's main (for the signal
// test) when asked to through the environment.
func TestMain(m *testing.M) { extest.RunMain(m, "HTTP_EXAMPLE_MAIN", main) }

// start runs a server on a free loopback port with two contexts (unless
// cfg says otherwise); done receives what ended each connection.
func start(t *testing.T, cfg httpserver.Config) (*httpserver.Server, extest.Ends) {
	t.Helper()
	done := extest.NewEnds()
	cfg.Addr, cfg.Logf, cfg.ConnDone = "127.0.0.1:0", t.Logf, done.Record
	if cfg.Contexts == 0 {
		cfg.Contexts = 2
	}
	return extest.Serve(t, func() (*httpserver.Server, error) { return httpserver.Listen(cfg) }), done
}

func dial(t *testing.T, srv *httpserver.Server) *net.TCPConn { return extest.Dial(t, srv.Addr()) }

// The standard library's client keeps one connection alive for many
// requests: GETs, HEADs and POSTs with binary bodies of many sizes, some
// larger than one read.
func TestNetHTTPClientKeepAlive(t *testing.T) {
	srv, _ := start(t, httpserver.Config{})
	var dials atomic.Int32
	tr := &http.Transport{
		MaxConnsPerHost: 1,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	base := "http://" + srv.Addr().String()

	for i := range 200 {
		var resp *http.Response
		var err error
		var want []byte
		switch i % 3 {
		case 0:
			resp, err = client.Get(base + "/")
			want = []byte("Hello, World!")
		case 1:
			resp, err = client.Head(base + "/")
		case 2:
			want = make([]byte, (i*997)%(300<<10)) // up to 300 KiB, zeros, CRLFs and all bytes
			for j := range want {
				want[j] = byte(i + j*7)
			}
			resp, err = client.Post(base+"/echo", "application/octet-stream", bytes.NewReader(want))
		}
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, want) {
			t.Fatalf("request %d: status %d, %d bytes (want %d), err %v", i, resp.StatusCode, len(got), len(want), err)
		}
		if i%3 == 1 && resp.ContentLength != 13 {
			t.Fatalf("HEAD: Content-Length %d", resp.ContentLength)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d connections for 200 requests, want 1 kept alive", n)
	}
	resp, err := client.Get(base + "/nowhere")
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("GET /nowhere: %v, %v", resp, err)
	}
	resp.Body.Close()
	resp, err = client.Get(base + "/echo")
	if err != nil || resp.StatusCode != 405 {
		t.Fatalf("GET /echo: %v, %v", resp, err)
	}
	resp.Body.Close()
}

// Sixteen requests in one write get sixteen replies in order.
func TestPipelined(t *testing.T) {
	srv, _ := start(t, httpserver.Config{})
	c := dial(t, srv)
	var req bytes.Buffer
	var want []string
	for i := range 16 {
		switch i % 4 {
		case 0, 2:
			req.WriteString("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			want = append(want, "Hello, World!")
		case 1:
			body := fmt.Sprintf("body %d\r\n\r\nwith a blank line", i)
			fmt.Fprintf(&req, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			want = append(want, body)
		case 3:
			fmt.Fprintf(&req, "GET /missing/%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
			want = append(want, "not found\n")
		}
	}
	if _, err := c.Write(req.Bytes()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i, w := range want {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		got, err := io.ReadAll(resp.Body)
		if err != nil || string(got) != w {
			t.Fatalf("reply %d: %q (%v), want %q", i, got, err, w)
		}
	}
	// An empty line between requests is ignored, and a client that
	// expects 100-continue gets it before it sends the body.
	fmt.Fprint(c, "\r\nPOST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("100-continue: %q, %v", line, err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "\r\n" {
		t.Fatalf("after 100 Continue: %q, %v", line, err)
	}
	fmt.Fprint(c, "hello")
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after 100-continue: %v, %v", resp, err)
	} else if b, _ := io.ReadAll(resp.Body); string(b) != "hello" {
		t.Fatalf("echoed %q", b)
	}
	// And the connection is still usable.
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the pipeline: %v, %v", resp, err)
	}
}

// Requests the server cannot serve get their status, then the connection
// closes (a lingering close: the reply arrives before the EOF even though
// the client sent more).
func TestBadRequests(t *testing.T) {
	huge := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 9000) + "\r\n\r\n"
	cases := []struct {
		name, req string
		status    int
	}{
		{"head larger than the maximum", huge, 431},
		{"endless head", "GET / HTTP/1.1\r\n" + strings.Repeat("X-A: b\r\n", 2000), 431},
		{"garbage", "hello\r\n\r\n", 400},
		{"no version", "GET /\r\n\r\n", 400},
		{"bad header line", "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
		{"bad length", "POST /echo HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400},
		{"two lengths", "POST /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505},
		{"chunked", "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501},
		{"body too large", "POST /echo HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", 413},
	}
	srv, done := start(t, httpserver.Config{MaxHeader: 8 << 10})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, srv)
			// A good request first: the bad one fails only itself.
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"+tc.req+"GET / HTTP/1.1\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("first reply: %v, %v", resp, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != tc.status || !resp.Close {
				t.Errorf("status %d (Connection: close %v), want %d and close", resp.StatusCode, resp.Close, tc.status)
			}
			if n, err := br.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("after the error reply: %d bytes, %v; want EOF", n, err)
			}
			c.Close()
			if err := done.Next(t); err != nil {
				t.Errorf("connection ended with %v, want nil (closed by the server)", err)
			}
		})
	}
}

// HTTP/1.0 closes after the reply unless the client asks for keep-alive;
// "Connection: close" ends an HTTP/1.1 connection.
func TestConnectionHeader(t *testing.T) {
	srv, done := start(t, httpserver.Config{})
	for _, tc := range []struct {
		req       string
		keepAlive bool
	}{
		{"GET / HTTP/1.0\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nConnection: Keep-Alive, Upgrade\r\n\r\n", true},
	} {
		c := dial(t, srv)
		io.WriteString(c, tc.req)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", tc.req, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if string(body) != "Hello, World!" || resp.Close == tc.keepAlive {
			t.Errorf("%q: body %q, Close %v", tc.req, body, resp.Close)
		}
		want := io.EOF // the client closes first
		if !tc.keepAlive {
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("%q: %v after the reply, want EOF", tc.req, err)
			}
			want = nil // the server closed
		}
		c.Close()
		if err := done.Next(t); err != want {
			t.Errorf("%q: ended with %v, want %v", tc.req, err, want)
		}
	}
}

// A client that pipelines large requests, reads almost nothing and resets
// leaves the server with replies queued: their writes fail, the connection
// ends once with the error, and the server goes on serving.
func TestClientResetsWithRepliesQueued(t *testing.T) {
	srv, done := start(t, httpserver.Config{MaxBody: 256 << 10})
	c := dial(t, srv)
	c.SetReadBuffer(4 << 10) // a small window: the replies back up in the server
	body := bytes.Repeat([]byte("x"), 256<<10)
	head := fmt.Appendf(nil, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body))
	go func() { // 16 MiB of replies; the server stops reading at 64 queued, so this may block
		for range 64 {
			if _, err := c.Write(append(head, body...)); err != nil {
				return
			}
		}
	}()
	// The first reply has started: the server is writing.
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first reply: %v, %v", resp, err)
	}
	c.SetLinger(0) // close sends a reset
	c.Close()
	done.Reset(t)
	// Still serving.
	c2 := dial(t, srv)
	io.WriteString(c2, "GET / HTTP/1.1\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(c2), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the reset: %v, %v", resp, err)
	}
}

// Close ends every connection, once each, whether it waits for a request
// or has half of one in the buffer, and returns.
func TestClose(t *testing.T) {
	srv, done := start(t, httpserver.Config{})
	var conns []*net.TCPConn
	for i := range 6 {
		c := dial(t, srv)
		io.WriteString(c, "GET / HTTP/1.1\r\n\r\n") // accepted and served once
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			io.WriteString(c, "GET / HTTP/1.1\r\nHost:") // half a request
		}
		conns = append(conns, c)
	}
	extest.CloseAll(t, srv, done, len(conns))
	for i, c := range conns {
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("connection %d still open after Close", i)
		}
	}
}

// Shutdown closes the connections that wait for a request at once, lets a
// request in progress finish with Connection: close (whether the server
// has half of its head or has read its head and waits for its body),
// refuses new connections, and returns once every connection has ended.
func TestShutdown(t *testing.T) {
	srv, done := start(t, httpserver.Config{})
	// A request each; the busy ones' is followed by half of another, in the
	// same segment, so that the server has read it once it answers the
	// first.
	idle := dial(t, srv)
	busy := []struct {
		c          *net.TCPConn
		half, rest string
		want       string
	}{
		{dial(t, srv), "GET / HTTP/1.1\r\nHost:", " x\r\n\r\n", "Hello, World!"},
		{dial(t, srv), "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nhello", "world", "helloworld"},
	}
	io.WriteString(idle, "GET / HTTP/1.1\r\n\r\n")
	if _, err := http.ReadResponse(bufio.NewReader(idle), nil); err != nil {
		t.Fatal(err)
	}
	for _, b := range busy {
		io.WriteString(b.c, "GET / HTTP/1.1\r\n\r\n"+b.half)
		if _, err := http.ReadResponse(bufio.NewReader(b.c), nil); err != nil {
			t.Fatal(err)
		}
	}
	shut := extest.ShutdownLater(srv.Shutdown)
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if err := done.Next(t); err != nil {
		t.Errorf("idle connection ended with %v", err)
	}
	extest.NotServed(t, srv.Addr(), "GET / HTTP/1.1\r\n\r\n")
	extest.Pending(t, shut)
	for i, b := range busy {
		io.WriteString(b.c, b.rest)
		br := bufio.NewReader(b.c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 || !resp.Close {
			t.Fatalf("request in progress %d: %v, %v (want 200 with Connection: close)", i, resp, err)
		}
		if body, _ := io.ReadAll(resp.Body); string(body) != b.want {
			t.Errorf("request in progress %d: %q, want %q", i, body, b.want)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("after the last reply: %v, want EOF", err)
		}
		b.c.Close()
		if err := done.Next(t); err != nil {
			t.Errorf("busy connection %d ended with %v", i, err)
		}
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// The example's main serves until SIGTERM, then closes and exits 0.
func TestMainStopsOnSignal(t *testing.T) {
	child := extest.StartMain(t, "HTTP_EXAMPLE_MAIN", "HTTP")
	resp, err := http.Get("http://" + child.Addr + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %v, %v", resp, err)
	}
	resp.Body.Close()
	child.Stop(t)
}

// BenchmarkPipelined measures one connection sending 16 pipelined GETs at a
// time; allocs/op are per request, and the client allocates nothing, so
// they are the server's (and the library's) own.
func BenchmarkPipelined(b *testing.B) {
	srv := extest.Serve(b, func() (*httpserver.Server, error) {
		return httpserver.Listen(httpserver.Config{Addr: "127.0.0.1:0", Contexts: 1})
	})
	c := extest.Dial(b, srv.Addr())
	req := bytes.Repeat([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 16)
	reply := len("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!")
	extest.Pipeline(b, c, req, make([]byte, 16*reply), 16)
}
