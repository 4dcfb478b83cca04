package asio_test

import (
	"fmt"
	"net/netip"

	"github.com/goasio/asio"
)

// A line server over pipelined requests: AsyncReadUntil for each request,
// one WriteQueue.AsyncWrite per reply. The replies to requests that arrived
// together go out together, in one gather write.
func ExampleWriteQueue() {
	ctx, err := asio.NewIOContext()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ctx.Close()
	acc, err := asio.ListenTCP(ctx.Executor(), netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer acc.Close()
	client := asio.NewTCPSocket(ctx.Executor())
	defer client.Close()
	if err := client.Connect(acc.LocalEndpoint()); err != nil {
		fmt.Println(err)
		return
	}
	server, err := acc.Accept()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer server.Close()

	// Three requests in one segment, then the end of the stream.
	asio.Write(client, asio.Buffers{[]byte("a\nbb\nccc\n")})
	client.Shutdown(asio.ShutdownSend)

	q := asio.NewWriteQueue(server)
	buf := asio.NewDynamicBuffer(4 << 10)
	var next func()
	next = func() {
		asio.AsyncReadUntil(server, buf, []byte("\n"), func(n int, err error) {
			if err != nil {
				// Shut down once the replies queued before are written: an
				// empty message's handler runs after theirs, whenever the
				// read's end came.
				q.AsyncWrite(nil, func(int, error) {
					fmt.Println("read:", err, "- replies written, shutting down")
					server.Shutdown(asio.ShutdownSend)
				})
				return
			}
			reply := fmt.Appendf(nil, "%d bytes\n", n)
			buf.Consume(n)
			q.AsyncWrite(asio.Buffers{reply}, func(n int, err error) {
				fmt.Println("reply written:", n, err)
			})
			next()
		})
	}
	next()
	ctx.Run()

	replies := asio.NewDynamicBuffer(0)
	for {
		n, err := asio.ReadUntil(client, replies, []byte("\n"))
		if err != nil {
			break
		}
		fmt.Printf("client got %q\n", replies.Bytes()[:n])
		replies.Consume(n)
	}
	// Output:
	// reply written: 8 <nil>
	// reply written: 8 <nil>
	// reply written: 8 <nil>
	// read: EOF - replies written, shutting down
	// client got "2 bytes\n"
	// client got "3 bytes\n"
	// client got "4 bytes\n"
}

// A DynamicBuffer holds at most its max; past it AsyncReadUntil (and
// Prepare, and Write) stop without growing. Emptied, it gives back an
// array larger than 4 KiB.
func ExampleDynamicBuffer() {
	b := asio.NewDynamicBuffer(8)
	n, err := b.Write([]byte("0123456789"))
	fmt.Println(n, err, b.Len(), len(b.Prepare(100)))

	big := asio.NewDynamicBuffer(0)
	big.Write(make([]byte, 1<<20))
	fmt.Println(big.Cap() >= 1<<20)
	big.Consume(big.Len())
	fmt.Println(big.Cap())
	// Output:
	// 8 asio: message too long 8 0
	// true
	// 0
}
