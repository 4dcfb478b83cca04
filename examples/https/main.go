// Https is an HTTPS/1.1 keep-alive server on package asio: each connection
// is an asio.TLSStream (the standard library's crypto/tls, driven from the
// event loop, with no goroutine per connection) over a TCPStream whose
// deadline bounds the handshake; an idle timeout, swept once per tick on
// each IOContext, closes connections that wait too long for a request. A
// quiet connection holds 256 bytes of request buffer and no goroutine.
//
// Routes: GET / answers "Hello, World!", POST /echo sends the body back
// (Content-Length bodies only); anything else is 404. A client that speaks
// plain HTTP to it gets a plain 400, as from net/http.
//
// Try it:
//
//	go run ./examples/https                      # 127.0.0.1:8443, self-signed certificate
//	curl -k https://127.0.0.1:8443/              # in another terminal
//	openssl s_client -connect 127.0.0.1:8443 -quiet
//	wrk -c 50 -d 5s https://127.0.0.1:8443/
//
// -cert and -key serve a certificate of your own (PEM files). Ctrl-C or
// SIGTERM stops it.
package main

import (
	"crypto/tls"
	"flag"
	"log"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/goasio/asio/examples/https/httpsserver"
)

func main() {
	var cfg httpsserver.Config
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:8443", "address to listen on")
	flag.IntVar(&cfg.Contexts, "contexts", runtime.GOMAXPROCS(0), "IOContexts, one goroutine each")
	flag.DurationVar(&cfg.IdleTimeout, "idle", 2*time.Minute, "how long a connection may wait for its next request")
	certFile := flag.String("cert", "", "certificate (PEM); empty: a self-signed one for localhost and 127.0.0.1")
	keyFile := flag.String("key", "", "private key of -cert (PEM)")
	flag.Parse()

	var cert tls.Certificate
	var err error
	if *certFile != "" {
		cert, err = tls.LoadX509KeyPair(*certFile, *keyFile)
	} else {
		cert, _, err = httpsserver.SelfSigned("localhost", "127.0.0.1")
	}
	if err != nil {
		log.Fatal(err)
	}
	cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	srv, err := httpsserver.Listen(cfg)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("serving HTTPS on %v with %d IOContext(s), %s backend; Ctrl-C stops",
		srv.Addr(), srv.Contexts(), srv.Backend())
	<-sig
	if err := srv.Close(); err != nil {
		log.Fatal(err)
	}
}
