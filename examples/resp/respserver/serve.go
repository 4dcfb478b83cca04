package respserver

import (
	"errors"
	"log"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goasio/asio"
)

// This file is the server's lifecycle: the contexts, the acceptor, the
// back-off on accept errors and the shutdown. Everything about RESP is in
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
	// closed it after a reply (QUIT, or a protocol error), io.EOF when the
	// client closed first, or the I/O error.
	ConnDone func(err error)
}

// Server is the RESP server, with one Store: one IOContext per core, an acceptor on the
// first context that spreads the accepted sockets over all of them with
// AsyncAcceptOn.
type Server struct {
	cfg      Config
	ctxs     []*asio.IOContext
	guards   []*asio.WorkGuard // keep a context without connections running
	acc      *asio.TCPAcceptor
	retry    *asio.Timer // accept back-off (EMFILE and the like), on the acceptor's context
	next     int         // the context of the next accepted socket; accept handler only
	onAccept func(*asio.TCPSocket, error)
	onRetry  func(error)
	running  sync.WaitGroup
	store    *Store
	conns    atomic.Int64
	close    sync.Once
	closeErr error
}

// Listen starts a server: it listens on cfg.Addr and serves in goroutines
// of its own until Close.
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
	s := &Server{cfg: cfg, store: NewStore()}
	s.onAccept, s.onRetry = s.accepted, s.retried
	for range cfg.Contexts {
		ctx, err := asio.NewIOContext()
		if err != nil {
			s.Close()
			return nil, err
		}
		s.ctxs = append(s.ctxs, ctx)
		s.guards = append(s.guards, asio.NewWorkGuard(ctx.Executor()))
	}
	if s.acc, err = asio.ListenTCP(s.ctxs[0].Executor(), ep); err != nil {
		s.Close()
		return nil, err
	}
	s.retry = asio.NewTimer(s.ctxs[0].Executor())
	s.accept()
	for _, ctx := range s.ctxs {
		s.running.Add(1)
		go func() {
			defer s.running.Done()
			ctx.Run()
		}()
	}
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() netip.AddrPort { return s.acc.LocalEndpoint() }

// Contexts returns the number of IOContexts serving.
func (s *Server) Contexts() int { return len(s.ctxs) }

// Backend names the contexts' I/O backend.
func (s *Server) Backend() string { return s.ctxs[0].Backend().String() }

// Conns returns the number of open connections.
func (s *Server) Conns() int { return int(s.conns.Load()) }

// Close stops accepting, stops the contexts and closes them, which aborts
// every pending operation: each connection's handler closes its socket.
// Replies still queued are dropped. Safe from any goroutine but the
// server's own handlers; later calls return the first one's result.
func (s *Server) Close() error {
	s.close.Do(func() {
		if s.acc != nil {
			s.acc.Close()
		}
		for _, g := range s.guards {
			g.Reset()
		}
		for _, ctx := range s.ctxs {
			ctx.Stop()
		}
		s.running.Wait()
		var errs []error
		for _, ctx := range s.ctxs {
			errs = append(errs, ctx.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// accept waits for the next connection, to be served by the next context.
func (s *Server) accept() {
	ex := s.ctxs[s.next].Executor()
	s.next = (s.next + 1) % len(s.ctxs)
	s.acc.AsyncAcceptOn(ex, s.onAccept)
}

func (s *Server) accepted(sock *asio.TCPSocket, err error) {
	switch {
	case errors.Is(err, asio.ErrOperationAborted), errors.Is(err, asio.ErrBadDescriptor):
		return // closing
	case err != nil:
		// EMFILE and the like: Linux reports it while the connection
		// stays queued, so accepting again at once would spin.
		s.cfg.Logf("respserver: accept: %v; retrying in 100ms", err)
		s.retry.ExpiresAfter(100 * time.Millisecond)
		s.retry.AsyncWait(s.onRetry)
		return
	}
	sock.SetNoDelay(true)
	s.conns.Add(1)
	c := newConn(s, sock)
	sock.Executor().Post(c.readLine) // start on the socket's own context
	s.accept()
}

func (s *Server) retried(err error) {
	if err == nil {
		s.accept()
	}
}

// connDone is called once per connection, after its socket is closed.
func (s *Server) connDone(err error) {
	s.conns.Add(-1)
	if s.cfg.ConnDone != nil {
		s.cfg.ConnDone(err)
	}
}
