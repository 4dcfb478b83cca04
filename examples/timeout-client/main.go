// Timeout-client is a client whose every step runs under a deadline, on
// package asio's TCPStream (Beast's tcp_stream): it connects to -addr
// (trying each address the name resolves to), writes a request with the
// composed AsyncWrite, and reads one line of reply with AsyncReadUntil.
// Each step gets -timeout; when one passes, the stream closes the socket and
// the step's handler gets asio.ErrTimeout, which the client reports with
// the step that timed out.
//
// Try it against the demo server built in (-demo), which answers after
// -delay:
//
//	go run ./examples/timeout-client -demo -delay 100ms -timeout 1s   # a reply
//	go run ./examples/timeout-client -demo -delay 2s -timeout 500ms   # a read timeout
//	go run ./examples/timeout-client -addr 192.0.2.1:80 -timeout 1s    # a connect timeout where nothing answers
//	                                                                   # (TEST-NET-1; some networks refuse at once)
//
// It exits with status 0 on a reply, 2 on a timeout, 1 on any other error.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/goasio/asio"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "server host:port")
	timeout := flag.Duration("timeout", 5*time.Second, "deadline of each step: connect, write, read")
	request := flag.String("request", "hello\n", "what to send")
	demo := flag.Bool("demo", false, "start a local line server that echoes after -delay, and use it")
	delay := flag.Duration("delay", 0, "with -demo: how long the server waits before replying")
	flag.Parse()

	if *demo {
		a, err := demoServer(*delay)
		if err != nil {
			fail(1, "demo server: %v", err)
		}
		*addr = a
	}
	eps, err := resolve(*addr)
	if err != nil {
		fail(1, "resolve %s: %v", *addr, err)
	}
	ctx, err := asio.NewIOContext()
	if err != nil {
		fail(1, "%v", err)
	}
	c := &client{s: asio.NewTCPStream(ctx.Executor()), timeout: *timeout, request: []byte(*request)}
	c.start(eps)
	ctx.Run()
	ctx.Close()
	os.Exit(c.status)
}

// client is the chain of steps; each handler starts the next step.
type client struct {
	s       *asio.TCPStream
	timeout time.Duration
	request []byte
	reply   *asio.DynamicBuffer
	began   time.Time
	status  int
}

func (c *client) start(eps []netip.AddrPort) {
	c.began = time.Now()
	c.s.ExpiresAfter(c.timeout)
	c.s.AsyncConnectRange(eps, func(ep netip.AddrPort, err error) {
		if err != nil {
			c.stop("connect", err)
			return
		}
		fmt.Printf("connected to %v in %v\n", ep, since(c.began))
		c.write()
	})
}

func (c *client) write() {
	c.began = time.Now()
	c.s.ExpiresAfter(c.timeout) // a fresh deadline for this step
	asio.AsyncWrite(c.s, asio.Buffers{c.request}, func(n int, err error) {
		if err != nil {
			c.stop("write", err)
			return
		}
		fmt.Printf("wrote %d bytes in %v\n", n, since(c.began))
		c.read()
	})
}

func (c *client) read() {
	c.began = time.Now()
	c.s.ExpiresAfter(c.timeout)
	c.reply = asio.NewDynamicBuffer(64 << 10)
	asio.AsyncReadUntil(c.s, c.reply, []byte("\n"), func(n int, err error) {
		if err != nil {
			c.stop("read", err)
			return
		}
		fmt.Printf("reply in %v: %q\n", since(c.began), c.reply.Bytes()[:n])
		c.s.Close()
	})
}

// stop reports a failed step; ErrTimeout means its deadline passed (the
// stream has closed the socket).
func (c *client) stop(step string, err error) {
	if errors.Is(err, asio.ErrTimeout) {
		fmt.Fprintf(os.Stderr, "timeout: %s did not complete within %v\n", step, c.timeout)
		c.status = 2
	} else {
		fmt.Fprintf(os.Stderr, "%s failed after %v: %v\n", step, since(c.began), err)
		c.status = 1
	}
	c.s.Close()
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Microsecond) }

// resolve turns host:port into the endpoints to try, in the resolver's
// order (before the loop runs: name resolution is not part of the example).
func resolve(addr string) ([]netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port %q: %v", portStr, err)
	}
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
	if err != nil {
		return nil, err
	}
	eps := make([]netip.AddrPort, len(ips))
	for i, ip := range ips {
		eps[i] = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	}
	return eps, nil
}

// demoServer listens on a loopback port and, for each connection, reads a
// line and sends it back after delay. It uses the net package: the server
// is not the point of the example.
func demoServer(delay time.Duration) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				line, err := bufio.NewReader(conn).ReadString('\n')
				if err != nil {
					return
				}
				time.Sleep(delay)
				conn.Write([]byte(line))
			}()
		}
	}()
	return ln.Addr().String(), nil
}

func fail(status int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(status)
}
