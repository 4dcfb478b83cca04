package asio_test

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/goasio/asio"
)

// A request and its reply, each step under a deadline of its own.
func ExampleTCPStream() {
	ctx, _ := asio.NewIOContext()
	defer ctx.Close()
	acc, _ := asio.ListenTCP(ctx.Executor(), netip.MustParseAddrPort("127.0.0.1:0"))
	defer acc.Close()
	acc.AsyncAccept(func(peer *asio.TCPSocket, err error) { // a server that answers "pong"
		buf := make([]byte, 64)
		peer.AsyncReadSome(asio.Buffers{buf}, func(n int, err error) {
			asio.AsyncWrite(peer, asio.Buffers{[]byte("pong\n")}, func(int, error) { peer.Close() })
		})
	})

	s := asio.NewTCPStream(ctx.Executor())
	s.ExpiresAfter(5 * time.Second)
	s.AsyncConnect(acc.LocalEndpoint(), func(err error) {
		if err != nil {
			fmt.Println("connect:", err)
			return
		}
		s.ExpiresAfter(5 * time.Second) // the deadline spans ops until set again
		asio.AsyncWrite(s, asio.Buffers{[]byte("ping\n")}, func(n int, err error) {
			reply := asio.NewDynamicBuffer(1024)
			asio.AsyncReadUntil(s, reply, []byte("\n"), func(n int, err error) {
				fmt.Printf("%q %v\n", reply.Bytes()[:n], err)
				s.Close()
			})
		})
	})
	ctx.Run()
	// Output: "pong\n" <nil>
}

// A peer that never answers: the read times out, and the stream closes
// the socket.
func ExampleTCPStream_ExpiresAfter() {
	ctx, _ := asio.NewIOContext()
	defer ctx.Close()
	acc, _ := asio.ListenTCP(ctx.Executor(), netip.MustParseAddrPort("127.0.0.1:0"))
	defer acc.Close()
	s := asio.NewTCPStream(ctx.Executor())
	s.Socket().Connect(acc.LocalEndpoint())
	silent, _ := acc.Accept() // accepts, never writes
	defer silent.Close()

	s.ExpiresAfter(50 * time.Millisecond)
	s.AsyncReadSome(asio.Buffers{make([]byte, 64)}, func(n int, err error) {
		fmt.Println(n, errors.Is(err, asio.ErrTimeout), s.Socket().IsOpen())
	})
	ctx.Run()
	// Output: 0 true false
}

// At most 1000 bytes a second are written; each AsyncWriteSome is offered
// what the budget allows.
func ExampleNewSimpleRatePolicy() {
	ctx, _ := asio.NewIOContext()
	defer ctx.Close()
	acc, _ := asio.ListenTCP(ctx.Executor(), netip.MustParseAddrPort("127.0.0.1:0"))
	defer acc.Close()
	s := asio.NewTCPStream(ctx.Executor())
	s.Socket().Connect(acc.LocalEndpoint())
	peer, _ := acc.Accept()
	defer peer.Close()

	p := asio.NewSimpleRatePolicy(0, 1000) // reads unlimited, writes 1000 B/s
	s.SetRatePolicy(p)
	s.AsyncWriteSome(asio.Buffers{make([]byte, 1500)}, func(n int, err error) {
		fmt.Println("first write:", n, err)
		p.(*asio.SimpleRatePolicy).SetWriteLimit(0) // lift the limit while in use
		s.AsyncWriteSome(asio.Buffers{make([]byte, 1500)}, func(n int, err error) {
			fmt.Println("second write:", n, err)
			s.Close()
		})
	})
	ctx.Run()
	// Output:
	// first write: 1000 <nil>
	// second write: 1500 <nil>
}
