// Echo is an echo server on package asio: every byte a client sends comes
// straight back. It is the idiom to copy for a server that holds many
// connections:
//
//   - asio.Server runs one IOContext per GOMAXPROCS (-contexts), spreads
//     the accepted sockets over them, backs off on accept errors and shuts
//     down gracefully on Ctrl-C;
//   - reads are pooled (AsyncReadPooled): a connection holds no read buffer
//     while it waits, it borrows one from the shared BufferPool when bytes
//     arrive and gives it back once they are written out, so 100,000 quiet
//     connections cost no buffer each;
//   - per connection, one struct whose handler method values are made
//     once: echoing allocates nothing.
//
// Try it:
//
//	go run ./examples/echo                 # listens on 127.0.0.1:7000
//	nc 127.0.0.1 7000                      # in another terminal: type lines, they come back
//
// Listen elsewhere with -addr 0.0.0.0:7000, and measure it against Go's net
// package with go run ./cmd/echobench.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/goasio/asio"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	contexts := flag.Int("contexts", 0, "IOContexts, one goroutine each (0: GOMAXPROCS)")
	bufSize := flag.Int("buffer", 64<<10, "size of the pooled read buffers")
	reusePort := flag.Bool("reuseport", false, "one SO_REUSEPORT acceptor per context")
	grace := flag.Duration("grace", 5*time.Second, "how long Ctrl-C lets open connections finish")
	flag.Parse()
	ep, err := netip.ParseAddrPort(*addr)
	if err != nil {
		log.Fatalf("-addr: %v", err)
	}
	pool := asio.NewBufferPool(*bufSize, 0)
	srv := &asio.Server{
		Contexts:  *contexts,
		ReusePort: *reusePort,
		Handler:   func(s *asio.TCPSocket) { serve(s, pool) },
	}
	if err := srv.Listen(ep); err != nil {
		log.Fatal(err)
	}
	log.Printf("echoing on %v with %d IOContext(s), %s backend; Ctrl-C stops",
		srv.Addr(), len(srv.IOContexts()), srv.IOContexts()[0].Backend())

	stopped := make(chan error, 1)
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), *grace)
		defer cancel()
		stopped <- srv.Shutdown(ctx) // stop accepting, let connections finish, then close
	}()
	if err := srv.Serve(); !errors.Is(err, asio.ErrServerClosed) {
		log.Fatal(err)
	}
	if err := <-stopped; err != nil {
		log.Printf("shutdown: %v: the connections still open were closed", err)
	}
}

// conn echoes one connection. Its handlers are method values made once,
// so a read and a write allocate nothing; between them it holds the pool
// buffer the read filled, and while it waits it holds none.
type conn struct {
	sock    *asio.TCPSocket
	buf     []byte
	onRead  func(b []byte, err error)
	onWrite func(n int, err error)
}

// pool lends every connection its read buffers.
var pool *asio.BufferPool

func serve(s *asio.TCPSocket, p *asio.BufferPool) {
	s.SetNoDelay(true)
	pool = p
	c := &conn{sock: s}
	c.onRead, c.onWrite = c.readDone, c.writeDone
	c.read()
}

func (c *conn) read() { c.sock.AsyncReadPooled(pool, c.onRead) }

// readDone writes back what was read.
func (c *conn) readDone(b []byte, err error) {
	if err != nil { // io.EOF: the client is done
		c.sock.Close()
		return
	}
	c.buf = b
	asio.AsyncWrite(c.sock, asio.Buffers{b}, c.onWrite)
}

// writeDone gives the buffer back and starts the next read.
func (c *conn) writeDone(_ int, err error) {
	pool.Put(c.buf)
	c.buf = nil
	if err != nil {
		c.sock.Close()
		return
	}
	c.read()
}
