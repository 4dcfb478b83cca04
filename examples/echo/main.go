// Echo is an echo server on package asio: every byte a client sends comes
// straight back.
//
// It runs one IOContext per CPU core (-contexts), each Run by a goroutine of
// its own. The acceptor lives on the first context and hands the sockets it
// accepts to the contexts in turn with AsyncAcceptOn. A connection is a
// read handler that writes back what was read and a write handler that
// starts the next read; nothing else runs per connection.
//
// Try it:
//
//	go run ./examples/echo                 # listens on 127.0.0.1:7000
//	nc 127.0.0.1 7000                      # in another terminal: type lines, they come back
//
// Listen elsewhere with -addr 0.0.0.0:7000, and measure it against Go's net
// package with go run ./cmd/echobench. Ctrl-C stops the server.
package main

import (
	"errors"
	"flag"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"

	"github.com/goasio/asio"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	contexts := flag.Int("contexts", runtime.NumCPU(), "IOContexts, one goroutine each")
	flag.Parse()
	ep, err := netip.ParseAddrPort(*addr)
	if err != nil {
		log.Fatalf("-addr: %v", err)
	}
	srv, err := listen(ep, max(*contexts, 1))
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("echoing on %v with %d IOContext(s), %s backend; Ctrl-C stops",
		srv.acc.LocalEndpoint(), len(srv.ctxs), srv.ctxs[0].Backend())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	srv.close()
}

// server owns the contexts and the acceptor.
type server struct {
	ctxs     []*asio.IOContext
	guards   []*asio.WorkGuard // keep a context without sockets running
	acc      *asio.TCPAcceptor
	next     int // the context for the next socket; used by onAccept only
	onAccept func(*asio.TCPSocket, error)
	wg       sync.WaitGroup
}

func listen(ep netip.AddrPort, contexts int) (*server, error) {
	s := &server{}
	s.onAccept = s.accepted
	for range contexts {
		ctx, err := asio.NewIOContext()
		if err != nil {
			return nil, err
		}
		s.ctxs = append(s.ctxs, ctx)
		s.guards = append(s.guards, asio.NewWorkGuard(ctx.Executor()))
	}
	acc, err := asio.ListenTCP(s.ctxs[0].Executor(), ep)
	if err != nil {
		return nil, err
	}
	s.acc = acc
	s.accept()
	for _, ctx := range s.ctxs {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ctx.Run()
		}()
	}
	return s, nil
}

// accept waits for the next connection, to be served by the next context.
func (s *server) accept() {
	ctx := s.ctxs[s.next%len(s.ctxs)]
	s.next++
	s.acc.AsyncAcceptOn(ctx.Executor(), s.onAccept)
}

func (s *server) accepted(sock *asio.TCPSocket, err error) {
	if errors.Is(err, asio.ErrOperationAborted) || errors.Is(err, asio.ErrBadDescriptor) {
		return // closing
	}
	if err != nil {
		log.Printf("accept: %v", err)
	} else {
		sock.SetNoDelay(true)
		c := newConn(sock)
		sock.Executor().Post(c.read) // start on the socket's own context
	}
	s.accept()
}

func (s *server) close() {
	s.acc.Close()
	for i, ctx := range s.ctxs {
		s.guards[i].Reset()
		ctx.Stop()
	}
	s.wg.Wait()
	for _, ctx := range s.ctxs {
		ctx.Close() // aborts the pending reads: their handlers close the sockets
	}
}

// conn echoes one connection. Its buffer sequences and handlers are made
// once, so echoing allocates nothing.
type conn struct {
	sock            *asio.TCPSocket
	buf             []byte
	rbufs, wbufs    asio.Buffers
	onRead, onWrite func(n int, err error)
}

func newConn(sock *asio.TCPSocket) *conn {
	c := &conn{sock: sock, buf: make([]byte, 4096)}
	c.rbufs = asio.Buffers{c.buf}
	c.wbufs = make(asio.Buffers, 1)
	c.onRead, c.onWrite = c.readDone, c.writeDone
	return c
}

func (c *conn) read() { c.sock.AsyncReadSome(c.rbufs, c.onRead) }

// readDone writes back what was read.
func (c *conn) readDone(n int, err error) {
	if err != nil { // io.EOF: the client is done
		c.sock.Close()
		return
	}
	c.wbufs[0] = c.buf[:n]
	asio.AsyncWrite(c.sock, c.wbufs, c.onWrite)
}

// writeDone starts the next read.
func (c *conn) writeDone(_ int, err error) {
	if err != nil {
		c.sock.Close()
		return
	}
	c.read()
}
