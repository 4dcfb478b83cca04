// Package connserver is what the example servers of examples/http and
// examples/resp share apart from their protocol: the lifecycle on an
// asio.Server (one IOContext per core, an acceptor that spreads the
// accepted sockets over them, accept back-off, Shutdown and Close), the
// bookkeeping that lets Shutdown close the connections that wait for a
// request, and, per connection, the reply queue and the lingering close.
//
// A protocol is a type that implements Protocol, built by Config.Open for
// each accepted connection around its Conn. It reads requests with the
// Conn's socket and buffer (asio.AsyncReadUntil and asio.AsyncRead), and
// queues each reply with Conn.Reply (one asio.WriteQueue.AsyncWrite);
// connserver decides when the connection stops reading, resumes, and
// closes.
//
// Every callback of a connection (Config.Open, the Protocol methods, the
// protocol's own completion handlers, Config.ConnDone) runs on that
// connection's context, inside its Run, one at a time: a connection's state
// needs no lock. Conn's methods must be called there too.
package connserver

import (
	"context"
	"errors"
	"log"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/goasio/asio"
)

// Config configures a Server. Zero fields take the defaults beside them.
type Config struct {
	Name      string                           // prefixes the log lines, e.g. "httpserver"
	Addr      string                           // host:port to listen on (port 0 picks one); required
	Contexts  int                              // IOContexts, each Run by a goroutine of its own (default runtime.GOMAXPROCS(0))
	MaxBuffer int                              // the maximum of each connection's read buffer, Conn.Buf (required)
	Logf      func(format string, args ...any) // accept errors (default log.Printf)

	// Open builds the protocol of a new connection around c, whose Sock
	// and Buf are ready; it runs on the connection's context. The server
	// then calls the protocol's ReadNext.
	Open func(c *Conn) Protocol

	// ConnDone, if set, is called on a connection's context once the
	// connection has closed, with what ended it: nil when the server
	// closed it after its last reply (Conn.Reply with last, or
	// Shutdown), io.EOF when the client closed first, or the I/O error
	// (asio.ErrOperationAborted when Close cut it short).
	ConnDone func(err error)
}

// Server serves connections on an asio.Server. Its methods are safe from
// any goroutine but the server's own handlers.
type Server struct {
	cfg    Config
	srv    asio.Server
	sets   map[*asio.IOContext]*connSet // per context; the map is read-only once serving
	served chan error                   // what srv.Serve returned
	conns  atomic.Int64
}

// connSet is the connections of one context, touched only on that context
// (or, once it is closed, by the goroutine closing it).
type connSet map[*Conn]struct{}

// Listen starts a server: it listens on cfg.Addr and serves in goroutines
// of its own until Shutdown or Close.
func Listen(cfg Config) (*Server, error) {
	if cfg.Open == nil || cfg.MaxBuffer <= 0 {
		return nil, errors.New("connserver: Config.Open and Config.MaxBuffer are required")
	}
	if cfg.Contexts <= 0 {
		cfg.Contexts = runtime.GOMAXPROCS(0)
	}
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	ep, err := netip.ParseAddrPort(cfg.Addr)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, served: make(chan error, 1)}
	s.srv = asio.Server{
		Contexts:   cfg.Contexts,
		Handler:    s.accepted,
		OnShutdown: s.closeIdle,
		OnAcceptError: func(err error, retryIn time.Duration) {
			cfg.Logf("%s: accept: %v; retrying in %v", cfg.Name, err, retryIn)
		},
	}
	if err := s.srv.Listen(ep); err != nil {
		return nil, err
	}
	s.sets = make(map[*asio.IOContext]*connSet)
	for _, ctx := range s.srv.IOContexts() {
		s.sets[ctx] = &connSet{}
	}
	go func() { s.served <- s.srv.Serve() }()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() netip.AddrPort { return s.srv.Addr() }

// Contexts returns the number of IOContexts serving.
func (s *Server) Contexts() int { return len(s.srv.IOContexts()) }

// Backend names the contexts' I/O backend.
func (s *Server) Backend() string { return s.srv.IOContexts()[0].Backend().String() }

// Conns returns the number of open connections.
func (s *Server) Conns() int { return int(s.conns.Load()) }

// Shutdown stops accepting, closes the connections that wait for a
// request, lets the others finish the request they are in (and close after
// its reply) and returns once every connection has ended; if ctx ends
// first, it closes the server as Close does and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	return errors.Join(err, s.wait())
}

// Close stops accepting and closes every connection at once: pending
// operations complete with asio.ErrOperationAborted, replies still queued
// are dropped.
func (s *Server) Close() error { return errors.Join(s.srv.Close(), s.wait()) }

// wait returns what Serve returned, nil when it ended by Shutdown or Close.
func (s *Server) wait() error {
	err, ok := <-s.served
	if ok {
		close(s.served) // later calls get nil
	}
	if errors.Is(err, asio.ErrServerClosed) {
		return nil
	}
	return err
}

// accepted starts a connection; it runs on the socket's own context.
func (s *Server) accepted(sock *asio.TCPSocket) {
	sock.SetNoDelay(true)
	s.conns.Add(1)
	c := newConn(s, sock)
	c.set = s.sets[sock.Executor().Context()]
	(*c.set)[c] = struct{}{}
	c.proto = s.cfg.Open(c)
	c.proto.ReadNext()
}

// closeIdle is the OnShutdown of one context: it closes the context's
// connections that wait for a request with nothing queued; the others
// close after their reply.
func (s *Server) closeIdle(ex asio.Executor) {
	for c := range *s.sets[ex.Context()] {
		if c.idle() {
			c.Finish(nil)
		}
	}
}

// connDone is called once per connection, after its socket is closed.
func (s *Server) connDone(c *Conn, err error) {
	delete(*c.set, c)
	s.conns.Add(-1)
	if s.cfg.ConnDone != nil {
		s.cfg.ConnDone(err)
	}
}
