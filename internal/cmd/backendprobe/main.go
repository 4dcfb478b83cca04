// Command backendprobe says whether this machine and build can run an
// IOContext on a backend: `backendprobe iouring` exits 0 when it can, and
// 1 with the reason (the kernel refuses io_uring, say) when it cannot.
// .ci/run uses it to run the suite under every backend the machine has.
package main

import (
	"fmt"
	"os"

	"github.com/goasio/asio"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: backendprobe epoll|iouring|portable")
		os.Exit(2)
	}
	var b asio.Backend
	switch os.Args[1] {
	case "epoll":
		b = asio.BackendEpoll
	case "iouring":
		b = asio.BackendIOUring
	case "portable":
		b = asio.BackendPortable
	default:
		fmt.Fprintf(os.Stderr, "backendprobe: no backend %q\n", os.Args[1])
		os.Exit(2)
	}
	ctx, err := asio.NewIOContext(asio.WithBackend(b))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println(ctx.Backend(), "available")
	ctx.Close()
}
