package respserver

import (
	"github.com/goasio/asio/examples/internal/connserver"
)

// This file is the wiring to examples/internal/connserver, which holds the
// server's lifecycle on asio.Server (contexts, acceptor, accept back-off,
// Shutdown, Close), the bookkeeping that lets Shutdown close the
// connections that wait for a command, the reply queue and the lingering
// close. Everything about RESP is in conn.go, the commands in store.go.

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

// Server is the RESP server, with one Store, on an asio.Server: one
// IOContext per core, an acceptor that spreads the accepted sockets over
// them. Its methods, safe from any goroutine but the server's own
// handlers, are connserver's:
//
//   - Addr() netip.AddrPort: the address it listens on;
//   - Contexts() int, Backend() string: its IOContexts and their backend;
//   - Conns() int: the connections open;
//   - Shutdown(ctx) error: stop accepting, close the connections that wait
//     for a command, let the others finish the command they are in (and
//     close after its reply), return once every connection has ended; if
//     ctx ends first, close as Close does and return ctx.Err();
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
		cfg.Addr = "127.0.0.1:6379"
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
	store := NewStore()
	srv, err := connserver.Listen(connserver.Config{
		Name:      "respserver",
		Addr:      cfg.Addr,
		Contexts:  cfg.Contexts,
		MaxBuffer: cfg.MaxInline,
		Logf:      cfg.Logf,
		ConnDone:  cfg.ConnDone,
		Open:      func(c *connserver.Conn) connserver.Protocol { return newConn(c, &cfg, store) },
	})
	if err != nil {
		return nil, err
	}
	return &Server{srv}, nil
}
