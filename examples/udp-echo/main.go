// Udp-echo is a UDP echo server on package asio, and the load generator
// that measures it: every datagram a client sends comes straight back.
//
// The server has three modes, so that one load can measure them side by side:
//
//	single  one AsyncReceiveFrom, then one AsyncSendTo, then the next receive
//	        (Asio's classic async_receive_from/async_send_to echo)
//	batch   AsyncReceiveBatch takes up to -batch datagrams with one recvmmsg,
//	        AsyncSendBatch sends them all back with one sendmmsg
//	net     the same echo on Go's net.UDPConn, one goroutine, for reference
//
// The client (-client) keeps -window datagrams of -size bytes in flight on
// each of -flows sockets, sends each echo back out at once, and after
// -warmup counts the echoes for -duration. It uses the batch calls itself,
// so that one core of load can drive one core of server. A flow that goes
// silent for a tick (lost datagrams) is primed again.
//
// Try it:
//
//	go run ./examples/udp-echo -mode batch            # serves 127.0.0.1:7001
//	go run ./examples/udp-echo -client                # in another terminal
//
// compare.sh beside this file measures the three modes in one run, the
// server pinned to one CPU and the load to another.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/goasio/asio"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7001", "server address")
	mode := flag.String("mode", "batch", "server mode: single, batch or net")
	batch := flag.Int("batch", 64, "datagrams per recvmmsg/sendmmsg (batch mode and client)")
	client := flag.Bool("client", false, "run the load generator against -addr instead of a server")
	label := flag.String("label", "", "name of the measured server in the client's report")
	flows := flag.Int("flows", 4, "client sockets")
	window := flag.Int("window", 64, "datagrams in flight per client socket")
	size := flag.Int("size", 64, "datagram size in bytes")
	warmup := flag.Duration("warmup", 500*time.Millisecond, "load before counting")
	duration := flag.Duration("duration", 3*time.Second, "counted load")
	flag.Parse()
	ep, err := netip.ParseAddrPort(*addr)
	if err != nil {
		log.Fatalf("-addr: %v", err)
	}
	if *client {
		l := load{to: ep, flows: *flows, window: min(*window, *batch), size: *size, warmup: *warmup, duration: *duration}
		if err := l.run(); err != nil {
			log.Fatal(err)
		}
		name := *label
		if name == "" {
			name = ep.String()
		}
		fmt.Printf("%-8s %10.0f packets/s  (%d echoes of %d bytes in %v; %d flows x %d in flight; %d windows lost; %d echoes in all)\n",
			name, l.rate, l.counted, *size, l.elapsed.Round(time.Millisecond), *flows, l.window, l.reprimed, l.echoes)
		return
	}
	if err := serve(ep, *mode, max(*batch, 1)); err != nil {
		log.Fatal(err)
	}
}

// rcvBuf is the socket receive buffer asked for on both sides, so that a
// full window of every flow fits in it.
const rcvBuf = 4 << 20

// serve runs the echo server of the given mode until SIGINT or SIGTERM.
func serve(ep netip.AddrPort, mode string, batch int) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	if mode == "net" {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ep))
		if err != nil {
			return err
		}
		c.SetReadBuffer(rcvBuf)
		log.Printf("net.UDPConn echo on %v", c.LocalAddr())
		go echoNet(c)
		<-sig
		return c.Close()
	}
	ctx, err := asio.NewIOContext()
	if err != nil {
		return err
	}
	s := asio.NewUDPSocket(ctx.Executor())
	if err := s.Bind(ep); err != nil {
		return err
	}
	s.SetReceiveBufferSize(rcvBuf)
	switch mode {
	case "single":
		newSingleEcho(s).receive()
	case "batch":
		newBatchEcho(s, batch).receive()
	default:
		return fmt.Errorf("-mode %q: want single, batch or net", mode)
	}
	local, _ := s.LocalEndpoint()
	log.Printf("asio %s echo on %v (%s backend)", mode, local, ctx.Backend())
	go func() {
		<-sig
		s.Close() // the pending receive ends: Run runs out of work
	}()
	ctx.Run()
	return ctx.Close()
}

// stopped says whether err means the socket was closed: the echo ends.
// Other errors (a datagram too long, an ICMP error of an earlier send) are
// the peer's problem; the echo goes on.
func stopped(err error) bool {
	return errors.Is(err, asio.ErrOperationAborted) || errors.Is(err, asio.ErrBadDescriptor)
}

// singleEcho echoes one datagram at a time. Its handlers are made once, so
// that the loop allocates nothing.
type singleEcho struct {
	s      *asio.UDPSocket
	buf    []byte
	onRecv func(n int, from netip.AddrPort, err error)
	onSent func(n int, err error)
}

func newSingleEcho(s *asio.UDPSocket) *singleEcho {
	e := &singleEcho{s: s, buf: make([]byte, 64<<10)}
	e.onRecv = func(n int, from netip.AddrPort, err error) {
		switch {
		case stopped(err):
		case err != nil:
			e.receive()
		default:
			e.s.AsyncSendTo(asio.Buffers{e.buf[:n]}, from, 0, e.onSent)
		}
	}
	e.onSent = func(_ int, err error) {
		if !stopped(err) {
			e.receive()
		}
	}
	return e
}

func (e *singleEcho) receive() { e.s.AsyncReceiveFrom(asio.Buffers{e.buf}, 0, e.onRecv) }

// batchEcho echoes up to len(in) datagrams per recvmmsg and sendmmsg.
type batchEcho struct {
	s       *asio.UDPSocket
	in, out []asio.Message
	n, sent int // datagrams received in this round, and sent back so far
	onRecv  func(n int, err error)
	onSent  func(n int, err error)
}

func newBatchEcho(s *asio.UDPSocket, batch int) *batchEcho {
	e := &batchEcho{s: s, in: make([]asio.Message, batch), out: make([]asio.Message, batch)}
	for i := range e.in {
		e.in[i].Buffers = asio.Buffers{make([]byte, 2048)}
		e.out[i].Buffers = make(asio.Buffers, 1)
	}
	e.onRecv = func(n int, err error) {
		switch {
		case stopped(err):
		case err != nil:
			e.receive()
		default:
			for i, m := range e.in[:n] {
				e.out[i].Buffers[0] = m.Buffers[0][:m.N]
				e.out[i].Addr = m.Addr
			}
			e.n, e.sent = n, 0
			e.send()
		}
	}
	e.onSent = func(n int, err error) {
		switch {
		case stopped(err):
			return
		case err != nil:
			n = 1 // the first datagram left cannot be sent: skip it
		}
		if e.sent += n; e.sent < e.n {
			e.send()
			return
		}
		e.receive()
	}
	return e
}

func (e *batchEcho) receive() { e.s.AsyncReceiveBatch(e.in, e.onRecv) }
func (e *batchEcho) send()    { e.s.AsyncSendBatch(e.out[e.sent:e.n], e.onSent) }

func echoNet(c *net.UDPConn) {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err == nil {
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}
}
