package asio_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/goasio/asio"
)

// A client socket: AsyncConnect opens and connects it, AsyncWriteSome and
// AsyncReadSome move bytes, and every handler runs inside Run. The blocking
// forms (Connect, WriteSome, ReadSome) need no Run.
func ExampleTCPSocket() {
	ctx, _ := asio.NewIOContext()
	defer ctx.Close()
	acc, _ := asio.ListenTCP(ctx.Executor(), netip.MustParseAddrPort("127.0.0.1:0"))
	defer acc.Close()
	acc.AsyncAccept(func(peer *asio.TCPSocket, err error) {
		peer.AsyncWriteSome(asio.Buffers{[]byte("hello")}, func(int, error) { peer.Close() })
	})

	s := asio.NewTCPSocket(ctx.Executor())
	defer s.Close()
	buf := make([]byte, 16)
	s.AsyncConnect(acc.LocalEndpoint(), func(err error) {
		if err != nil {
			fmt.Println("connect:", err)
			return
		}
		s.AsyncReadSome(asio.Buffers{buf}, func(n int, err error) {
			fmt.Printf("read %q, %v\n", buf[:n], err)
			s.AsyncReadSome(asio.Buffers{buf}, func(n int, err error) {
				fmt.Println("then:", n, errors.Is(err, io.EOF)) // the peer closed
			})
		})
	})
	ctx.Run()
	// Output:
	// read "hello", <nil>
	// then: 0 true
}

// A line protocol: AsyncReadUntil reads into a DynamicBuffer until it holds
// the delimiter, and reports the length of the first line (the buffer may
// hold more after it, which the next AsyncReadUntil finds without reading).
func ExampleAsyncReadUntil() {
	ctx, _ := asio.NewIOContext()
	defer ctx.Close()
	acc, _ := asio.ListenTCP(ctx.Executor(), netip.MustParseAddrPort("127.0.0.1:0"))
	defer acc.Close()
	client := asio.NewTCPSocket(ctx.Executor())
	defer client.Close()
	client.Connect(acc.LocalEndpoint())
	server, _ := acc.Accept()
	defer server.Close()
	client.WriteSome(asio.Buffers{[]byte("GET /\r\nHost: x\r\n\r\n")})

	buf := asio.NewDynamicBuffer(8 << 10) // a line longer than 8 KiB: ErrMessageTooLong
	var next func()
	next = func() {
		asio.AsyncReadUntil(server, buf, []byte("\r\n"), func(n int, err error) {
			if err != nil {
				fmt.Println(err)
				return
			}
			line := string(buf.Bytes()[:n-2])
			buf.Consume(n)
			if line == "" {
				fmt.Println("end of head")
				return
			}
			fmt.Printf("line %q\n", line)
			next()
		})
	}
	next()
	ctx.Run()
	// Output:
	// line "GET /"
	// line "Host: x"
	// end of head
}

// Pooled reads: a quiet connection holds no read buffer. The read takes
// one from the pool when data arrives, and the handler gives it back with
// Put once it is done with the bytes.
func ExampleBufferPool() {
	ctx, _ := asio.NewIOContext()
	defer ctx.Close()
	acc, _ := asio.ListenTCP(ctx.Executor(), netip.MustParseAddrPort("127.0.0.1:0"))
	defer acc.Close()
	client := asio.NewTCPSocket(ctx.Executor())
	defer client.Close()
	client.Connect(acc.LocalEndpoint())
	server, _ := acc.Accept()
	defer server.Close()

	pool := asio.NewBufferPool(4096, 1024) // 4 KiB buffers, at most 1024 out at once
	server.AsyncReadPooled(pool, func(b []byte, err error) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("got %q; buffers out: %d\n", b, pool.Outstanding())
		pool.Put(b)
		fmt.Println("after Put:", pool.Outstanding())
	})
	fmt.Println("waiting, buffers out:", pool.Outstanding())
	client.WriteSome(asio.Buffers{[]byte("ping")})
	ctx.Run()
	// Output:
	// waiting, buffers out: 0
	// got "ping"; buffers out: 1
	// after Put: 0
}

// WithContext ties an operation to a context.Context: when it is done,
// the operation is cancelled (terminal cancellation) and its handler runs
// with ErrOperationAborted.
func ExampleWithContext() {
	ctx, _ := asio.NewIOContext()
	defer ctx.Close()
	acc, _ := asio.ListenTCP(ctx.Executor(), netip.MustParseAddrPort("127.0.0.1:0"))
	defer acc.Close()

	cctx, cancel := context.WithCancel(context.Background())
	acc.AsyncAccept(func(s *asio.TCPSocket, err error) {
		fmt.Println("accept:", errors.Is(err, asio.ErrOperationAborted))
	}, asio.WithContext(cctx))
	ctx.Executor().Post(cancel) // nobody connects; give up
	ctx.Run()
	// Output:
	// accept: true
}

// Run returns as soon as no work is left, and the context is stopped: a
// program whose context waits for work from outside (posts from other
// goroutines, connections to come) keeps a WorkGuard while it runs, and an
// op started after Run returned for lack of work runs only after Restart.
func ExampleWorkGuard() {
	ctx, _ := asio.NewIOContext()
	defer ctx.Close()
	guard := asio.NewWorkGuard(ctx.Executor())
	done := make(chan int)
	go func() { done <- ctx.Run() }() // without the guard, Run would return at once

	ran := make(chan struct{})
	ctx.Executor().Post(func() { fmt.Println("posted from another goroutine"); close(ran) })
	<-ran
	guard.Reset() // no more work to wait for: Run returns when the rest is done
	fmt.Println("handlers run:", <-done, "stopped:", ctx.Stopped())

	ctx.Executor().Post(func() { fmt.Println("after Restart") })
	ctx.Restart() // a stopped context runs nothing until Restart
	ctx.Run()
	// Output:
	// posted from another goroutine
	// handlers run: 1 stopped: true
	// after Restart
}
