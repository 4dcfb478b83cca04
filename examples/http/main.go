// Http is an HTTP/1.1 server on package asio: keep-alive connections,
// pipelined requests answered in order, one IOContext per core.
//
// Each request head is read with one AsyncReadUntil into a DynamicBuffer
// whose maximum is the largest head allowed (-max-header), and each reply is
// one WriteQueue.AsyncWrite; requests pipelined behind a head wait in the
// buffer, where the next AsyncReadUntil finds them without a system call.
// A head larger than the maximum gets 431 Request Header Fields Too Large
// and the connection closes after it. The server code is the importable
// package httpserver (the bench module measures it with wrk).
//
// Routes: GET / answers "Hello, World!", HEAD / its headers, POST /echo
// sends the request body back; anything else is 404 or 405. Request bodies
// need a Content-Length (at most -max-body bytes); Transfer-Encoding gets
// 501.
//
// Try it:
//
//	go run ./examples/http                  # listens on 127.0.0.1:8080
//	curl -v http://127.0.0.1:8080/          # in another terminal
//	curl --data-binary @README.md http://127.0.0.1:8080/echo
//	wrk -c 50 -d 5s http://127.0.0.1:8080/
//
// Ctrl-C (SIGINT) or SIGTERM shuts it down: it stops accepting, closes the
// connections that wait for a request, answers the requests in progress
// with Connection: close, and exits when they are done (at most 5 s).
package main

import (
	"flag"
	"runtime"

	"github.com/goasio/asio/examples/http/httpserver"
	"github.com/goasio/asio/examples/internal/connserver"
)

func main() {
	var cfg httpserver.Config
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	flag.IntVar(&cfg.Contexts, "contexts", runtime.GOMAXPROCS(0), "IOContexts, one goroutine each")
	flag.IntVar(&cfg.MaxHeader, "max-header", 8<<10, "largest request head in bytes")
	flag.IntVar(&cfg.MaxBody, "max-body", 1<<20, "largest request body in bytes")
	flag.Parse()
	connserver.ServeUntilSignal("HTTP", func() (*httpserver.Server, error) { return httpserver.Listen(cfg) })
}
