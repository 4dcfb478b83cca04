package httpserver

import (
	"github.com/goasio/asio/examples/internal/connserver"
)

// This file is the wiring to examples/internal/connserver, which holds the
// server's lifecycle on asio.Server (contexts, acceptor, accept back-off,
// Shutdown, Close), the bookkeeping that lets Shutdown close the
// connections that wait for a request, the reply queue and the lingering
// close. Everything about HTTP is in conn.go.

// Config configures a Server. Zero fields take the defaults beside them.
type Config struct {
	Addr      string                           // host:port to listen on (default "127.0.0.1:8080"; port 0 picks one)
	Contexts  int                              // IOContexts, each Run by a goroutine of its own (default runtime.GOMAXPROCS(0))
	MaxHeader int                              // largest request head in bytes, and the read buffer's maximum (default 8 KiB)
	MaxBody   int                              // largest request body in bytes (default 1 MiB)
	Logf      func(format string, args ...any) // accept errors (default log.Printf)
	// ConnDone, if set, is called on a connection's context when the
	// connection has closed, with what ended it: nil when the server
	// closed it after a reply (Connection: close, an error reply, or
	// Shutdown), io.EOF when the client closed first, or the I/O error
	// (asio.ErrOperationAborted when Close cut it short).
	ConnDone func(err error)
}

// Server is the HTTP server, on an asio.Server: one IOContext per core,
// an acceptor that spreads the accepted sockets over them. Its methods,
// safe from any goroutine but the server's own handlers, are connserver's:
//
//   - Addr() netip.AddrPort: the address it listens on;
//   - Contexts() int, Backend() string: its IOContexts and their backend;
//   - Conns() int: the connections open;
//   - Shutdown(ctx) error: stop accepting, close the connections that wait
//     for a request, let the others finish the request they are in (the
//     reply says Connection: close), return once every connection has
//     ended; if ctx ends first, close as Close does and return ctx.Err();
//   - Close() error: stop accepting and close every connection at once
//     (pending operations complete with asio.ErrOperationAborted, replies
//     still queued are dropped).
type Server struct {
	*connserver.Server
}

// Listen starts a server: it listens on cfg.Addr and serves in goroutines
// of its own until Shutdown or Close.
func Listen(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.MaxHeader <= 0 {
		cfg.MaxHeader = 8 << 10
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	srv, err := connserver.Listen(connserver.Config{
		Name:      "httpserver",
		Addr:      cfg.Addr,
		Contexts:  cfg.Contexts,
		MaxBuffer: cfg.MaxHeader,
		Logf:      cfg.Logf,
		ConnDone:  cfg.ConnDone,
		Open:      func(c *connserver.Conn) connserver.Protocol { return newConn(c, cfg.MaxBody) },
	})
	if err != nil {
		return nil, err
	}
	return &Server{srv}, nil
}
