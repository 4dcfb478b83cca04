package asio_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/goasio/asio"
)

// Handlers run inside Run, in the order they were posted; Run returns when
// the context runs out of work, which stops it.
func ExampleIOContext() {
	ctx, err := asio.NewIOContext()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ctx.Close()
	ex := ctx.Executor()
	ex.Post(func() {
		fmt.Println("first")
		ex.Post(func() { fmt.Println("third") })      // queued, runs after this handler
		ex.Dispatch(func() { fmt.Println("second") }) // inside a handler: runs now
	})
	n := ctx.Run()
	fmt.Println("handlers run:", n, "stopped:", ctx.Stopped())
	// Output:
	// first
	// second
	// third
	// handlers run: 2 stopped: true
}

// An echo server: accept one connection, read what it sends and write it
// back with AsyncWrite; the client connects, writes, reads the echo.
func ExampleTCPAcceptor() {
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

	// Server.
	acc.AsyncAccept(func(s *asio.TCPSocket, err error) {
		if err != nil {
			fmt.Println("accept:", err)
			return
		}
		buf := make([]byte, 1024)
		var echo func()
		echo = func() {
			s.AsyncReadSome([][]byte{buf}, func(n int, err error) {
				if err != nil { // io.EOF when the client is done
					s.Close()
					return
				}
				asio.AsyncWrite(s, [][]byte{buf[:n]}, func(_ int, err error) {
					if err == nil {
						echo()
					}
				})
			})
		}
		echo()
	})

	// Client.
	c := asio.NewTCPSocket(ctx.Executor())
	reply := make([]byte, 5)
	c.AsyncConnect(acc.LocalEndpoint(), func(err error) {
		if err != nil {
			fmt.Println("connect:", err)
			return
		}
		asio.AsyncWrite(c, [][]byte{[]byte("hello")}, func(n int, err error) {
			asio.AsyncRead(c, [][]byte{reply}, func(n int, err error) {
				fmt.Printf("echoed %q, %v\n", reply[:n], err)
				c.Close()
			})
		})
	})
	ctx.Run()
	// Output:
	// echoed "hello", <nil>
}

// AsyncWrite writes a whole buffer sequence with as many AsyncWriteSome
// calls as it takes; its handler gets the total.
func ExampleAsyncWrite() {
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

	header := []byte("len=1MiB;")
	body := make([]byte, 1<<20)
	asio.AsyncWrite(client, [][]byte{header, body}, func(n int, err error) {
		fmt.Println("written:", n, err)
	})
	got := make([]byte, len(header)+len(body))
	asio.AsyncRead(server, [][]byte{got}, func(n int, err error) {
		fmt.Printf("read: %d %v %q\n", n, err, got[:len(header)])
	})
	ctx.Run()
	// Unordered output:
	// written: 1048585 <nil>
	// read: 1048585 <nil> "len=1MiB;"
}

// A timer's wait completes when its expiry passes; setting a new expiry or
// Cancel aborts pending waits.
func ExampleTimer() {
	ctx, err := asio.NewIOContext()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ctx.Close()
	short := asio.NewTimer(ctx.Executor())
	short.ExpiresAfter(10 * time.Millisecond)
	long := asio.NewTimer(ctx.Executor())
	long.ExpiresAfter(time.Hour)

	long.AsyncWait(func(err error) {
		fmt.Println("long:", errors.Is(err, asio.ErrOperationAborted))
	})
	short.AsyncWait(func(err error) {
		fmt.Println("short expired:", err)
		fmt.Println("cancelled waits:", long.Cancel())
	})
	ctx.Run()
	// Output:
	// short expired: <nil>
	// cancelled waits: 1
	// long: true
}

// Handlers posted to a strand never run at once and run in order, however
// many goroutines run the context.
func ExampleStrand() {
	ctx, err := asio.NewIOContext()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ctx.Close()
	strand := asio.NewStrand(ctx.Executor())
	for i := 1; i <= 5; i++ {
		strand.Post(func() { fmt.Println("handler", i) })
	}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); ctx.Run() }()
	}
	wg.Wait()
	// Output:
	// handler 1
	// handler 2
	// handler 3
	// handler 4
	// handler 5
}

// A cancellation signal cancels the one operation its slot is bound to.
func ExampleCancellationSignal() {
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

	sig := asio.NewCancellationSignal()
	acc.AsyncAccept(func(s *asio.TCPSocket, err error) {
		fmt.Println("accept:", err)
	}, asio.BindCancellationSlot(sig.Slot()))

	timer := asio.NewTimer(ctx.Executor())
	timer.ExpiresAfter(5 * time.Millisecond)
	timer.AsyncWait(func(error) {
		fmt.Println("giving up")
		sig.Emit(asio.CancelTerminal)
	})
	ctx.Run()
	// Output:
	// giving up
	// accept: asio: operation aborted
}

// A future lets a goroutine wait for an operation that runs on a context.
func ExampleFuture() {
	ctx, err := asio.NewIOContext()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ctx.Close()
	timer := asio.NewTimer(ctx.Executor())
	timer.ExpiresAfter(time.Millisecond)
	f := asio.NewFuture[struct{}]()
	timer.AsyncWait(f.CompleteErr)
	go ctx.Run()
	_, err = f.Wait(context.Background())
	fmt.Println("timer done:", err)
	// Output:
	// timer done: <nil>
}
