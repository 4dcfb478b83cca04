package respserver

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

// This file is the server's lifecycle, on asio.Server (contexts, acceptor,
// accept back-off, shutdown), and the bookkeeping that lets Shutdown close
// the connections that wait for a command. Everything about RESP is in
// conn.go, the commands in store.go.

// Config configures a Server. Zero fields take the defaults beside them.
type Config struct {
	Addr      string                           // host:port to listen on (default "127.0.0.1:6379"; port 0 picks one)
	Contexts  int                              // IOContexts, each Run by a goroutine of its own (default runtime.GOMAXPROCS(0))
	MaxInline int                              // longest line (inline command, or *N / $N header) in bytes, the read buffer's maximum (default 64 KiB)
	MaxBulk   int                              // longest bulk string in bytes (default 8 MiB)
	MaxArgs   int                              // most arguments in one command (default 1,048,576)
	Logf      func(format string, args ...any) // accept errors (default log.Printf)
	// ConnDone, if set, is called on a connection's context when the
	// connection has closed, with what ended it: nil when the server
	// closed it after a reply (QUIT, a protocol error, or Shutdown), io.EOF
	// when the client closed first, or the I/O error
	// (asio.ErrOperationAborted when Close cut it short).
	ConnDone func(err error)
}

// Server is the RESP server, with one Store, on an asio.Server: one IOContext per core,
// an acceptor that spreads the accepted sockets over them.
type Server struct {
	cfg    Config
	srv    asio.Server
	store  *Store
	idle   map[*asio.IOContext]*connSet // per context; the map is read-only once serving
	served chan error                   // what srv.Serve returned
	conns  atomic.Int64
}

// connSet is the connections of one context, touched only on that context
// (or, once it is closed, by the goroutine closing it).
type connSet map[*conn]struct{}

// Listen starts a server: it listens on cfg.Addr and serves in goroutines
// of its own until Shutdown or Close.
func Listen(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:6379"
	}
	if cfg.Contexts <= 0 {
		cfg.Contexts = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxInline <= 0 {
		cfg.MaxInline = 64 << 10
	}
	if cfg.MaxBulk <= 0 {
		cfg.MaxBulk = 8 << 20
	}
	if cfg.MaxArgs <= 0 {
		cfg.MaxArgs = 1 << 20
	}
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	ep, err := netip.ParseAddrPort(cfg.Addr)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, store: NewStore(), served: make(chan error, 1)}
	s.srv = asio.Server{
		Contexts:   cfg.Contexts,
		Handler:    s.accepted,
		OnShutdown: s.closeIdle,
		OnAcceptError: func(err error, retryIn time.Duration) {
			cfg.Logf("respserver: accept: %v; retrying in %v", err, retryIn)
		},
	}
	if err := s.srv.Listen(ep); err != nil {
		return nil, err
	}
	s.idle = make(map[*asio.IOContext]*connSet)
	for _, ctx := range s.srv.IOContexts() {
		s.idle[ctx] = &connSet{}
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
// command, lets the others finish the command they are in (and close after
// its reply) and returns once every connection has ended; if
// ctx ends first, it closes the server as Close does and returns ctx.Err().
// Safe from any goroutine but the server's own handlers.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	return errors.Join(err, s.wait())
}

// Close stops accepting and closes every connection at once: pending
// operations complete with asio.ErrOperationAborted, replies still queued
// are dropped. Safe from any goroutine but the server's own handlers.
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
	c.set = s.idle[sock.Executor().Context()]
	(*c.set)[c] = struct{}{}
	c.readLine()
}

// closeIdle is the OnShutdown of one context: it closes the context's
// connections that wait for a command with nothing queued; the others
// close after their reply.
func (s *Server) closeIdle(ex asio.Executor) {
	for c := range *s.idle[ex.Context()] {
		if c.idle() {
			c.finish(nil)
		}
	}
}

// shuttingDown reports whether the connections should close after the
// reply in progress.
func (s *Server) shuttingDown() bool { return s.srv.ShuttingDown() }

// connDone is called once per connection, after its socket is closed.
func (s *Server) connDone(c *conn, err error) {
	delete(*c.set, c)
	s.conns.Add(-1)
	if s.cfg.ConnDone != nil {
		s.cfg.ConnDone(err)
	}
}
