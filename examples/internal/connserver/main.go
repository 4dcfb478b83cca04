package connserver

import (
	"context"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Serving is what ServeUntilSignal needs of a server: *Server, or a type
// that embeds it.
type Serving interface {
	Addr() netip.AddrPort
	Contexts() int
	Backend() string
	Shutdown(ctx context.Context) error
}

// ServeUntilSignal is the body of an example's main, once its flags are
// parsed: it starts the server with listen, logs where it serves ("serving
// <proto> on <address> with ..."), and on SIGINT or SIGTERM shuts it down,
// giving the requests in progress at most 5 s, then returns. It exits
// through log.Fatal when listen or Shutdown fails. The signals are caught
// from before listen is called, so one that arrives once the line is
// logged is never lost.
func ServeUntilSignal[S Serving](proto string, listen func() (S, error)) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	srv, err := listen()
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("serving %s on %v with %d IOContext(s), %s backend; Ctrl-C stops",
		proto, srv.Addr(), srv.Contexts(), srv.Backend())

	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
}
