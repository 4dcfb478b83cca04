package asio_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/goasio/asio"
)

// TestServerAcceptBackoff: out of descriptors, accept fails with EMFILE
// (at once, as Linux does even with the connection waiting); the server
// retries after waits that double up to AcceptBackoffMax instead of
// spinning, and serves the connection once descriptors are free again.
func TestServerAcceptBackoff(t *testing.T) {
	type failure struct {
		err     error
		retryIn time.Duration
	}
	if c, err := asio.NewIOContext(); err == nil {
		b := c.Backend()
		c.Close()
		if b == asio.BackendIOUring {
			// The server's accept is armed before the limit is lowered, and
			// io_uring reads RLIMIT_NOFILE when an accept is submitted: that
			// accept takes the connection. TestAcceptEMFILE covers EMFILE
			// on io_uring.
			t.Skip("io_uring reads the descriptor limit when the accept is submitted, before this test lowers it")
		}
	}
	failures := make(chan failure, 1<<16)
	const lo, hi = time.Millisecond, 16 * time.Millisecond
	srv := &asio.Server{
		Contexts:         2,
		AcceptBackoffMin: lo,
		AcceptBackoffMax: hi,
		OnAcceptError:    func(err error, d time.Duration) { failures <- failure{err, d} },
		Handler: func(s *asio.TCPSocket) {
			asio.AsyncWrite(s, [][]byte{[]byte("ok")}, func(int, error) { s.Close() })
		},
	}
	served := serveInBackground(t, srv)
	// The client socket is opened now: connecting needs no new descriptor.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var client *os.File
	defer func() {
		if client != nil {
			client.Close()
		} else {
			syscall.Close(fd)
		}
	}()

	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	lowest, err := syscall.Dup(0) // the lowest free descriptor number
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(lowest)
	low := orig
	low.Cur = uint64(lowest)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("cannot lower RLIMIT_NOFILE to %d: %v", lowest, err)
	}
	var once sync.Once
	restore := func() {
		once.Do(func() {
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
				t.Fatalf("restoring RLIMIT_NOFILE: %v", err)
			}
		})
	}
	defer restore()

	ep := srv.Addr().Addr().As4()
	if err := syscall.Connect(fd, &syscall.SockaddrInet4{Port: int(srv.Addr().Port()), Addr: ep}); err != nil {
		restore()
		t.Fatalf("connect: %v", err)
	}
	// The waits double from lo and stop at hi.
	want := []time.Duration{lo, 2 * lo, 4 * lo, 8 * lo, hi, hi}
	for i, w := range want {
		var f failure
		select {
		case f = <-failures:
		case <-time.After(serverWait):
			restore()
			t.Fatalf("accept failure %d not reported", i)
		}
		if !errors.Is(f.err, syscall.EMFILE) || f.retryIn != w {
			t.Errorf("failure %d: %v, retry in %v; want EMFILE, retry in %v", i, f.err, f.retryIn, w)
		}
		if i == 0 && !strings.Contains(f.err.Error(), srv.Addr().String()) {
			t.Errorf("accept error %q does not name the endpoint", f.err)
		}
	}
	// No busy loop: over a window, at most one attempt per hi (plus slack
	// for a late timer), where spinning would make thousands.
	const window = 100 * time.Millisecond
	n0 := len(failures)
	time.Sleep(window)
	if n := len(failures) - n0; n > int(window/hi)+5 {
		t.Errorf("%d accept attempts in %v with retries every %v: a busy loop", n, window, hi)
	}
	restore()

	// The connection is served once descriptors are free again.
	if err := syscall.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	client = os.NewFile(uintptr(fd), "client")
	client.SetReadDeadline(time.Now().Add(serverWait))
	got, err := io.ReadAll(bufio.NewReader(client))
	if string(got) != "ok" {
		t.Errorf("after the limit is lifted: %q, %v; want the server's reply", got, err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	serveResult(t, served)
}

// acceptLoadEnv passes BenchmarkServerAccept's load to its child process:
// "address connections dialers".
const acceptLoadEnv = "ASIO_ACCEPT_LOAD"

// BenchmarkServerAccept measures how fast a Server on 2 contexts takes
// connections, and how evenly it spreads them, with one acceptor handing
// sockets round robin (AsyncAcceptOn) and with one SO_REUSEPORT acceptor
// per context. Each connection: the client connects, reads the one byte
// the Handler writes, and closes with a reset (no TIME_WAIT on either
// side). The load is a child process of 16 dialers making b.N connections;
// ASIO_LOAD_CPU=n pins it to CPU n with taskset. Pin the server elsewhere:
//
//	ASIO_LOAD_CPU=1 taskset -c 0 go test -run '^$' -bench ServerAccept -benchtime 20000x .
//
// conns/s is the child's count over its own elapsed time; max/min is the
// busiest context's connections over the idlest's; server-µs/conn is this
// process's CPU time (getrusage) per connection, the child's excluded.
func BenchmarkServerAccept(b *testing.B) {
	for _, tc := range []struct {
		name      string
		reusePort bool
	}{{"RoundRobin", false}, {"ReusePort", true}} {
		b.Run(tc.name, func(b *testing.B) {
			var per [2]atomic.Int64
			var ctxs []*asio.IOContext
			one := []byte("x")
			srv := &asio.Server{Contexts: 2, ReusePort: tc.reusePort, Handler: func(s *asio.TCPSocket) {
				if s.Executor().Context() == ctxs[0] {
					per[0].Add(1)
				} else {
					per[1].Add(1)
				}
				asio.AsyncWrite(s, [][]byte{one}, func(int, error) { s.Close() })
			}}
			if err := srv.Listen(serverLoopback); err != nil {
				b.Fatal(err)
			}
			ctxs = srv.IOContexts()
			served := make(chan error, 1)
			go func() { served <- srv.Serve() }()
			defer func() { srv.Close(); <-served }()

			var cmd *exec.Cmd
			args := []string{"-test.run=^TestServerAcceptLoadProcess$"}
			if cpu := os.Getenv("ASIO_LOAD_CPU"); cpu != "" {
				cmd = exec.Command("taskset", append([]string{"-c", cpu, os.Args[0]}, args...)...)
			} else {
				cmd = exec.Command(os.Args[0], args...)
			}
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%v %d 16", acceptLoadEnv, srv.Addr(), b.N))
			cmd.Stderr = os.Stderr
			cpu0 := serverCPUTime()
			out, err := cmd.Output()
			cpu := serverCPUTime() - cpu0
			if err != nil {
				b.Fatalf("load: %v: %s", err, out)
			}
			var elapsed time.Duration
			if _, err := fmt.Sscan(string(out), &elapsed); err != nil {
				b.Fatalf("load said %q", out)
			}
			// Every connection was answered, so every Handler has run.
			n0, n1 := per[0].Load(), per[1].Load()
			if n0+n1 != int64(b.N) {
				b.Fatalf("%d handlers for %d connections", n0+n1, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "conns/s")
			b.ReportMetric(float64(max(n0, n1))/float64(max(min(n0, n1), 1)), "max/min")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "server-µs/conn")
		})
	}
}

// serverCPUTime is the CPU time (user and system) of this process so far.
func serverCPUTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestServerAcceptLoadProcess is BenchmarkServerAccept's load, run as its
// child process: it prints the time its dialers took.
func TestServerAcceptLoadProcess(t *testing.T) {
	spec := os.Getenv(acceptLoadEnv)
	if spec == "" {
		t.Skip("helper process of BenchmarkServerAccept")
	}
	var addr string
	var n, dialers int
	if _, err := fmt.Sscan(spec, &addr, &n, &dialers); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	errs := make(chan error, dialers)
	start := time.Now()
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1)
			for left.Add(-1) >= 0 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					errs <- err
					return
				}
				c.(*net.TCPConn).SetLinger(0)
				c.SetReadDeadline(time.Now().Add(serverWait))
				_, err = io.ReadFull(c, buf)
				c.Close()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errs:
		fmt.Println("error", err)
		os.Exit(1)
	default:
	}
	fmt.Println(int64(elapsed))
	os.Exit(0)
}
