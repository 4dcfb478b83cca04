// Package httpsserver is the HTTPS keep-alive server of examples/https: a
// TLSStream over a TCPStream per connection, on one IOContext per core,
// answering HTTP/1.1 requests (GET / with "Hello, World!", POST /echo with
// the body). The bench module measures it against net + crypto/tls.
package httpsserver

import (
	"crypto/tls"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goasio/asio"
)

// Config says where and how to serve.
type Config struct {
	Addr             string        // host:port to listen on
	Contexts         int           // IOContexts, each Run by a goroutine of its own (at least 1)
	TLS              *tls.Config   // certificates, ALPN...; NextProtos defaults to http/1.1
	HandshakeTimeout time.Duration // 0: 10 s; negative: none
	IdleTimeout      time.Duration // how long a read or write may wait (a sweep, precise to a quarter of it); 0: 2 min; negative: none
	MaxHeader        int           // largest request head
	MaxBody          int           // largest request body
}

// Server is a listening HTTPS server.
type Server struct {
	cfg    Config
	ctxs   []*asio.IOContext
	loops  []*loop
	guards []*asio.WorkGuard
	acc    *asio.TCPAcceptor
	next   int
	conns  atomic.Int64
	wg     sync.WaitGroup
	onAcc  func(*asio.TCPSocket, error)
	bufs   sync.Pool // *asio.DynamicBuffer of at most MaxHeader, for the connections busy with a request
}

// Listen starts serving with cfg.
func Listen(cfg Config) (*Server, error) {
	if cfg.TLS == nil {
		return nil, errors.New("httpsserver: no TLS config")
	}
	ep, err := netip.ParseAddrPort(cfg.Addr)
	if err != nil {
		return nil, err
	}
	cfg.Contexts = max(cfg.Contexts, 1)
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	if cfg.MaxHeader <= 0 {
		cfg.MaxHeader = 8 << 10
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.TLS.NextProtos == nil {
		cfg.TLS = cfg.TLS.Clone()
		cfg.TLS.NextProtos = []string{"http/1.1"}
	}
	s := &Server{cfg: cfg}
	s.onAcc = s.accepted
	s.bufs.New = func() any { return asio.NewDynamicBuffer(cfg.MaxHeader) }
	for range cfg.Contexts {
		ctx, err := asio.NewIOContext()
		if err != nil {
			s.closeContexts()
			return nil, err
		}
		s.ctxs = append(s.ctxs, ctx)
		s.guards = append(s.guards, asio.NewWorkGuard(ctx.Executor()))
		s.loops = append(s.loops, newLoop(ctx, cfg.IdleTimeout))
	}
	if s.acc, err = asio.ListenTCP(s.ctxs[0].Executor(), ep); err != nil {
		s.closeContexts()
		return nil, err
	}
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

// Addr is the endpoint the server listens on.
func (s *Server) Addr() netip.AddrPort { return s.acc.LocalEndpoint() }

// Contexts is the number of IOContexts.
func (s *Server) Contexts() int { return len(s.ctxs) }

// Backend names the backend of the contexts.
func (s *Server) Backend() string { return s.ctxs[0].Backend().String() }

// Conns is the number of open connections.
func (s *Server) Conns() int { return int(s.conns.Load()) }

// Close stops accepting, stops the contexts and closes every connection.
func (s *Server) Close() error {
	err := s.acc.Close()
	for i, ctx := range s.ctxs {
		s.guards[i].Reset()
		ctx.Stop()
	}
	s.wg.Wait()
	for _, l := range s.loops {
		l.stop()
	}
	s.closeContexts()
	return err
}

func (s *Server) closeContexts() {
	for _, ctx := range s.ctxs {
		ctx.Close() // aborts what is pending: the handlers close their connections
	}
}

// accept waits for the next connection, to be served by the next context.
func (s *Server) accept() {
	s.acc.AsyncAcceptOn(s.ctxs[s.next%len(s.ctxs)].Executor(), s.onAcc)
}

func (s *Server) accepted(sock *asio.TCPSocket, err error) {
	switch {
	case errors.Is(err, asio.ErrOperationAborted), errors.Is(err, asio.ErrBadDescriptor):
		return // closing
	case err == nil:
		s.conns.Add(1)
		c := newConn(s, s.loops[s.next%len(s.loops)], sock)
		sock.Executor().Post(c.start) // start on the socket's own context
	}
	s.next++
	s.accept() // after an error too (EMFILE and the like): the next may work
}
