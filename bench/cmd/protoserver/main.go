// Command protoserver runs one of the protocol servers that clientbench
// measures with real clients: the HTTP/1.1 server (wrk) and the RESP server
// (redis-benchmark), each on package asio (the examples' own code,
// examples/http/httpserver and examples/resp/respserver) or on Go's net and
// bufio (a goroutine per connection, in this directory), both sharing the
// examples' request parsing and command execution, so that only the I/O
// differs. It prints its listening address as the first line of stdout and
// serves until SIGTERM or SIGINT.
//
//	protoserver -proto http|resp -impl asio|net -addr 127.0.0.1:0 -contexts N
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/goasio/asio/examples/http/httpserver"
	"github.com/goasio/asio/examples/resp/respserver"
)

func main() {
	proto := flag.String("proto", "http", "protocol: http or resp")
	impl := flag.String("impl", "asio", "implementation: asio or net")
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	contexts := flag.Int("contexts", 0, "IOContexts for asio (0: GOMAXPROCS)")
	flag.Parse()
	if *contexts <= 0 {
		*contexts = runtime.GOMAXPROCS(0)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)

	var closer func() error
	var err error
	switch *proto + "/" + *impl {
	case "http/asio":
		var s *httpserver.Server
		s, err = httpserver.Listen(httpserver.Config{Addr: *addr, Contexts: *contexts})
		if err == nil {
			announce(s.Addr().String())
			closer = s.Close
		}
	case "resp/asio":
		var s *respserver.Server
		s, err = respserver.Listen(respserver.Config{Addr: *addr, Contexts: *contexts})
		if err == nil {
			announce(s.Addr().String())
			closer = s.Close
		}
	case "http/net", "resp/net":
		var ln net.Listener
		ln, err = net.Listen("tcp", *addr)
		if err == nil {
			announce(ln.Addr().String())
			closer = ln.Close
			if *proto == "http" {
				go serveNetHTTP(ln)
			} else {
				go serveNetRESP(ln, respserver.NewStore())
			}
		}
	default:
		err = fmt.Errorf("unknown -proto %q / -impl %q (want http or resp, asio or net)", *proto, *impl)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "protoserver:", err)
		os.Exit(1)
	}
	<-sig
	closer()
}

func announce(addr string) {
	fmt.Println(addr)
	os.Stdout.Sync()
}
