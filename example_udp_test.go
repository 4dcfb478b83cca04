package asio_test

import (
	"fmt"
	"net/netip"

	"github.com/goasio/asio"
)

// Two UDP sockets on one IOContext: one receives, the other sends it a
// datagram; the receiver answers the sender at the address it reported.
func ExampleUDPSocket() {
	ctx, err := asio.NewIOContext()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ctx.Close()

	server := asio.NewUDPSocket(ctx.Executor())
	client := asio.NewUDPSocket(ctx.Executor())
	defer server.Close()
	defer client.Close()
	server.Bind(netip.MustParseAddrPort("127.0.0.1:0")) // Bind opens the socket
	client.Bind(netip.MustParseAddrPort("127.0.0.1:0"))
	serverEP, _ := server.LocalEndpoint()

	buf := make([]byte, 512)
	reply := make([]byte, 512)
	client.AsyncSendTo(asio.Buffers{[]byte("ping")}, serverEP, 0, func(n int, err error) {
		fmt.Println("client sent", n, "bytes")
		// The datagram waits in the server socket's queue until it is read.
		server.AsyncReceiveFrom(asio.Buffers{buf}, 0, func(n int, from netip.AddrPort, err error) {
			if err != nil {
				fmt.Println("receive:", err)
				return
			}
			fmt.Printf("server got %q\n", buf[:n])
			server.AsyncSendTo(asio.Buffers{[]byte("pong: "), buf[:n]}, from, 0, func(int, error) {})
		})
	})
	client.AsyncReceive(asio.Buffers{reply}, 0, func(n int, err error) {
		fmt.Printf("client got %q\n", reply[:n])
	})

	ctx.Run() // returns when no work is left
	// Output:
	// client sent 4 bytes
	// server got "ping"
	// client got "pong: ping"
}
