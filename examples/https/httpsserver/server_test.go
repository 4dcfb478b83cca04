package httpsserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"
)

func startServer(t *testing.T) (*Server, *x509.CertPool) {
	t.Helper()
	cert, pool, err := SelfSigned("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Listen(Config{Addr: "127.0.0.1:0", Contexts: 2, TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, pool
}

func client(pool *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}}}}
}

// TestKeepAliveWithNetHTTP: the standard library's client makes several
// requests on one kept-alive TLS connection, over TLS 1.3 and ALPN
// http/1.1.
func TestKeepAliveWithNetHTTP(t *testing.T) {
	srv, pool := startServer(t)
	c := client(pool)
	url := fmt.Sprintf("https://%v/", srv.Addr())
	for i := range 5 {
		var reused bool
		trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { reused = ci.Reused }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", url, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(body) != "Hello, World!" {
			t.Fatalf("request %d: %d %q %v", i, resp.StatusCode, body, err)
		}
		if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 || resp.TLS.NegotiatedProtocol != "http/1.1" {
			t.Fatalf("TLS state: %+v", resp.TLS)
		}
		if i > 0 && !reused {
			t.Errorf("request %d: a new connection, want the kept-alive one", i)
		}
	}
}

// TestEchoAndNotFound: a request body (larger than a TLS record) comes
// back; an unknown path is 404.
func TestEchoAndNotFound(t *testing.T) {
	srv, pool := startServer(t)
	c := client(pool)
	body := bytes.Repeat([]byte("0123456789abcdef"), 10000)
	resp, err := c.Post(fmt.Sprintf("https://%v/echo", srv.Addr()), "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, body) {
		t.Fatalf("echo: %d, %d bytes", resp.StatusCode, len(got))
	}
	resp, err = c.Get(fmt.Sprintf("https://%v/nope", srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
}

// TestConcurrentClients: many clients at once, each several requests.
func TestConcurrentClients(t *testing.T) {
	srv, pool := startServer(t)
	c := client(pool)
	url := fmt.Sprintf("https://%v/", srv.Addr())
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				resp, err := c.Get(url)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestPlainHTTPToTLSPort: a client speaking plain HTTP gets net/http's
// plain 400, and the connection closes.
func TestPlainHTTPToTLSPort(t *testing.T) {
	srv, _ := startServer(t)
	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	reply, err := io.ReadAll(conn)
	if err != nil || !strings.HasPrefix(string(reply), "HTTP/1.0 400 Bad Request") {
		t.Fatalf("reply %q, %v", reply, err)
	}
}

// TestConnectionClose: HTTP/1.0 and Connection: close end the connection
// after the reply, with close_notify first; the server counts it gone.
func TestConnectionClose(t *testing.T) {
	srv, pool := startServer(t)
	conn, err := tls.Dial("tcp", srv.Addr().String(), &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.0\r\n\r\n")
	reply, err := io.ReadAll(conn) // io.ReadAll stops at io.EOF: the close_notify
	if err != nil || !strings.HasSuffix(string(reply), "Hello, World!") || !strings.Contains(string(reply), "Connection: close") {
		t.Fatalf("reply %q, %v", reply, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.Conns() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := srv.Conns(); n != 0 {
		t.Errorf("%d connections still counted", n)
	}
}

// TestLargeHeadsAndPipelining: a head larger than the connection's small
// buffer, and requests pipelined in one write, are answered in order; over
// a server without timeouts too (TLS straight over the socket).
func TestLargeHeadsAndPipelining(t *testing.T) {
	for _, timeouts := range []bool{true, false} {
		cert, pool, err := SelfSigned("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Addr: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}
		if !timeouts {
			cfg.HandshakeTimeout, cfg.IdleTimeout = -1, -1
		}
		srv, err := Listen(cfg)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := tls.Dial("tcp", srv.Addr().String(), &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		big := "GET / HTTP/1.1\r\nX-Big: " + strings.Repeat("b", 1000) + "\r\n\r\n"
		small := "GET /nope HTTP/1.1\r\n\r\n"
		post := "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
		io.WriteString(conn, big)
		io.WriteString(conn, small+post+small+"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
		reply, err := io.ReadAll(conn)
		conn.Close()
		srv.Close()
		want := []string{"200 OK", "404 Not Found", "200 OK", "404 Not Found", "200 OK"}
		parts := strings.Split(string(reply), "HTTP/1.1 ")[1:]
		if err != nil || len(parts) != len(want) {
			t.Fatalf("timeouts %v: %d replies, %v:\n%s", timeouts, len(parts), err, reply)
		}
		for i, p := range parts {
			if !strings.HasPrefix(p, want[i]) {
				t.Errorf("timeouts %v: reply %d: %q", timeouts, i, p)
			}
		}
		if !strings.Contains(parts[2], "\r\n\r\nhello") {
			t.Errorf("echo: %q", parts[2])
		}
	}
}

// TestTimeouts: a client that says nothing is cut off by the handshake
// timeout (the TCPStream's deadline), and one that goes quiet after a
// request by the idle sweep.
func TestTimeouts(t *testing.T) {
	cert, pool, err := SelfSigned("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Listen(Config{Addr: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{cert}},
		HandshakeTimeout: 100 * time.Millisecond, IdleTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	raw, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := raw.Read(make([]byte, 1)); err == nil {
		t.Errorf("silent client: read %d bytes, want the connection closed", n)
	}
	conn, err := tls.Dial("tcp", srv.Addr().String(), &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\n\r\n")
	r := bufio.NewReader(conn)
	var reply bytes.Buffer
	_, err = io.Copy(&reply, r) // the reply, then the idle timeout closes
	if !strings.HasSuffix(reply.String(), "Hello, World!") {
		t.Errorf("reply %q, %v", reply.String(), err)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("the idle connection was not closed by the server")
	}
}
