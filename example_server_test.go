package asio_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/goasio/asio"
)

// An echo server on two IOContexts: Handler gets each accepted socket on
// the socket's own context and echoes until the client is done. A client
// makes a round trip; Shutdown then waits for the live connections to end
// (here at once: the client has left) and closes the contexts.
func ExampleServer() {
	srv := &asio.Server{
		Contexts: 2, // default: one per GOMAXPROCS
		Handler: func(s *asio.TCPSocket) {
			buf := make([]byte, 1024)
			var echo func()
			echo = func() {
				s.AsyncReadSome([][]byte{buf}, func(n int, err error) {
					if err != nil { // io.EOF: the client is done
						s.Close()
						return
					}
					asio.AsyncWrite(s, [][]byte{buf[:n]}, func(_ int, err error) {
						if err != nil {
							s.Close()
							return
						}
						echo()
					})
				})
			}
			echo()
		},
	}
	if err := srv.Listen(netip.MustParseAddrPort("127.0.0.1:0")); err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }() // runs until Shutdown or Close

	// A client, with Go's net package.
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Fprint(c, "hello")
	reply := make([]byte, 5)
	if _, err := io.ReadFull(c, reply); err != nil {
		fmt.Println(err)
	}
	fmt.Println(string(reply))
	c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("shutdown:", srv.Shutdown(ctx))
	fmt.Println("serve:", <-served)
	// Output:
	// hello
	// shutdown: <nil>
	// serve: asio: server closed
}
