package asio_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/goasio/asio"
)

// serverWait bounds every wait of these tests for a handler, a reply or a
// goroutine.
const serverWait = 10 * time.Second

var serverLoopback = netip.MustParseAddrPort("127.0.0.1:0")

// opCounts counts the operations a test's handlers start and the
// completions they get: equal at the end means every handler ran exactly
// once (a second call would make completed exceed started).
type opCounts struct{ started, completed atomic.Int64 }

func (c *opCounts) start() { c.started.Add(1) }
func (c *opCounts) done()  { c.completed.Add(1) }

func (c *opCounts) check(t *testing.T) {
	t.Helper()
	if s, d := c.started.Load(), c.completed.Load(); s != d {
		t.Errorf("%d operations started, %d handlers called", s, d)
	}
}

// echoConn echoes a connection until EOF or an error, counting its ops.
// It calls onIdle (if set) each time it waits for the client to speak.
func echoConn(s *asio.TCPSocket, ops *opCounts, onIdle func(s *asio.TCPSocket, waiting bool)) {
	buf := make([]byte, 512)
	var read func()
	read = func() {
		if onIdle != nil {
			onIdle(s, true)
		}
		ops.start()
		s.AsyncReadSome([][]byte{buf}, func(n int, err error) {
			ops.done()
			if onIdle != nil {
				onIdle(s, false)
			}
			if err != nil {
				s.Close()
				return
			}
			ops.start()
			asio.AsyncWrite(s, [][]byte{buf[:n]}, func(_ int, err error) {
				ops.done()
				if err != nil {
					s.Close()
					return
				}
				read()
			})
		})
	}
	read()
}

// serveInBackground listens on the loopback and serves in a goroutine; the
// channel gets Serve's result. The server is closed when the test ends.
func serveInBackground(t *testing.T, srv *asio.Server) <-chan error {
	t.Helper()
	if err := srv.Listen(serverLoopback); err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() { ch <- srv.Serve() }()
	t.Cleanup(func() { srv.Close() })
	return ch
}

// serveResult waits for Serve's result.
func serveResult(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(serverWait):
		t.Fatal("Serve did not return")
		return nil
	}
}

// roundTrip sends msg on c and reads it back.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(serverWait))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo: %q, %v; want %q", got, err, msg)
	}
}

func dialServer(t *testing.T, srv *asio.Server) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", srv.Addr().String(), serverWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// goroutinesBack waits until the goroutine count is back to n: the
// server's goroutines end just after Serve returns.
func goroutinesBack(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(serverWait)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before the server:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

// TestServerServeShutdown: clients make round trips and leave; the
// connections spread over the contexts (exactly in turn without ReusePort);
// Shutdown returns nil once they are gone, Serve returns ErrServerClosed,
// every handler ran once and no goroutine is left.
func TestServerServeShutdown(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reusePort bool
	}{{"RoundRobin", false}, {"ReusePort", true}} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			var ops opCounts
			var mu sync.Mutex
			perContext := map[*asio.IOContext]int{}
			srv := &asio.Server{Contexts: 2, ReusePort: tc.reusePort}
			srv.Handler = func(s *asio.TCPSocket) {
				mu.Lock()
				perContext[s.Executor().Context()]++
				mu.Unlock()
				echoConn(s, &ops, nil)
			}
			served := serveInBackground(t, srv)
			const clients = 8
			for i := range clients {
				c := dialServer(t, srv)
				roundTrip(t, c, fmt.Sprintf("hello %d", i))
				c.Close()
			}
			ctxs := srv.IOContexts()
			if err := srv.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if err := serveResult(t, served); !errors.Is(err, asio.ErrServerClosed) {
				t.Errorf("Serve: %v, want ErrServerClosed", err)
			}
			ops.check(t)
			total := 0
			for c, n := range perContext {
				if c != ctxs[0] && c != ctxs[1] {
					t.Errorf("a socket on a context not the server's")
				}
				if !tc.reusePort && n != clients/2 {
					t.Errorf("round robin: %d connections on a context, want %d each: %v", n, clients/2, perContext)
				}
				total += n
			}
			if total != clients {
				t.Errorf("Handler called %d times for %d connections", total, clients)
			}
			goroutinesBack(t, before)
		})
	}
}

// TestServerShutdownDeadline: connections that stay open keep Shutdown
// waiting until its ctx ends, an already-ended ctx included; then every
// pending read completes once with ErrOperationAborted and Shutdown
// returns ctx.Err().
func TestServerShutdownDeadline(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"Timeout", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
		{"AlreadyCanceled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			var ops opCounts
			srv := &asio.Server{Contexts: 2, Handler: func(s *asio.TCPSocket) { echoConn(s, &ops, nil) }}
			served := serveInBackground(t, srv)
			for i := range 4 {
				roundTrip(t, dialServer(t, srv), fmt.Sprint(i)) // then left open
			}
			ctx, cancel := tc.ctx()
			defer cancel()
			err := srv.Shutdown(ctx)
			if !errors.Is(err, tc.want) {
				t.Errorf("Shutdown: %v, want %v", err, tc.want)
			}
			if err := serveResult(t, served); !errors.Is(err, asio.ErrServerClosed) {
				t.Errorf("Serve: %v, want ErrServerClosed", err)
			}
			ops.check(t)
			goroutinesBack(t, before)
		})
	}
}

// TestServerShutdownAbortsPendingReads: the reads pending at a forced close
// complete with ErrOperationAborted (or ErrBadDescriptor for one started
// while the context closed), each once.
func TestServerShutdownAbortsPendingReads(t *testing.T) {
	var mu sync.Mutex
	results := map[error]int{}
	ready := make(chan struct{}, 4)
	srv := &asio.Server{Contexts: 2, Handler: func(s *asio.TCPSocket) {
		buf := make([]byte, 16)
		s.AsyncReadSome([][]byte{buf}, func(_ int, err error) {
			mu.Lock()
			results[err]++
			mu.Unlock()
			s.Close()
		})
		ready <- struct{}{}
	}}
	served := serveInBackground(t, srv)
	for range 4 {
		dialServer(t, srv)
		<-ready
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want DeadlineExceeded", err)
	}
	serveResult(t, served)
	mu.Lock()
	defer mu.Unlock()
	if results[asio.ErrOperationAborted] != 4 || len(results) != 1 {
		t.Errorf("pending reads ended with %v, want 4 ErrOperationAborted", results)
	}
}

// TestServerOnShutdownClosesIdle: OnShutdown runs once on each context and
// closes its idle kept-alive connections, so that Shutdown returns nil
// without waiting for its ctx.
func TestServerOnShutdownClosesIdle(t *testing.T) {
	var ops opCounts
	// idle is the set of connections waiting for a request, per context;
	// each set is touched only on its own context.
	var mu sync.Mutex
	idle := map[*asio.IOContext]map[*asio.TCPSocket]bool{}
	set := func(c *asio.IOContext) map[*asio.TCPSocket]bool {
		mu.Lock()
		defer mu.Unlock()
		if idle[c] == nil {
			idle[c] = map[*asio.TCPSocket]bool{}
		}
		return idle[c]
	}
	var hooks atomic.Int64
	var srv *asio.Server
	srv = &asio.Server{
		Contexts: 2,
		Handler: func(s *asio.TCPSocket) {
			echoConn(s, &ops, func(s *asio.TCPSocket, waiting bool) {
				m := set(s.Executor().Context())
				if !waiting {
					delete(m, s)
				} else if srv.ShuttingDown() {
					s.Close() // no new request after Shutdown began
				} else {
					m[s] = true
				}
			})
		},
		OnShutdown: func(ex asio.Executor) {
			hooks.Add(1)
			if !srv.ShuttingDown() {
				t.Error("OnShutdown called while ShuttingDown is false")
			}
			for s := range set(ex.Context()) {
				s.Close() // the pending read completes with ErrOperationAborted
			}
		},
	}
	served := serveInBackground(t, srv)
	for i := range 6 {
		roundTrip(t, dialServer(t, srv), fmt.Sprint(i)) // left open, idle
	}
	ctx, cancel := context.WithTimeout(context.Background(), serverWait)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown with idle connections closed by OnShutdown: %v", err)
	}
	serveResult(t, served)
	if n := hooks.Load(); n != 2 {
		t.Errorf("OnShutdown called %d times, want once per context (2)", n)
	}
	ops.check(t)
}

// TestServerShutdownTwice: overlapping Shutdown calls both wait for the
// live connection and return nil when it ends; later Shutdown and Close
// calls return nil at once.
func TestServerShutdownTwice(t *testing.T) {
	var ops opCounts
	var hooks atomic.Int64
	srv := &asio.Server{Contexts: 2,
		Handler:    func(s *asio.TCPSocket) { echoConn(s, &ops, nil) },
		OnShutdown: func(asio.Executor) { hooks.Add(1) },
	}
	served := serveInBackground(t, srv)
	c := dialServer(t, srv)
	roundTrip(t, c, "x")
	results := make(chan error, 2)
	for range 2 {
		go func() { results <- srv.Shutdown(context.Background()) }()
	}
	// Both wait for the connection: neither returns while it is open. The
	// server still serves it meanwhile.
	roundTrip(t, c, "still served")
	select {
	case err := <-results:
		t.Fatalf("Shutdown returned %v with a connection live", err)
	default:
	}
	c.Close()
	for range 2 {
		select {
		case err := <-results:
			if err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		case <-time.After(serverWait):
			t.Fatal("Shutdown did not return after the last connection ended")
		}
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after the end: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close after the end: %v", err)
	}
	if err := serveResult(t, served); !errors.Is(err, asio.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	if n := hooks.Load(); n != 2 {
		t.Errorf("OnShutdown called %d times, want once per context", n)
	}
	ops.check(t)
}

// TestServerStopFromHandler: Shutdown or Close called from a handler cannot
// wait for its own context: it returns ErrInHandler at once, the server
// ends all the same and Serve returns ErrServerClosed.
func TestServerStopFromHandler(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(*asio.Server) error
	}{
		{"Shutdown", func(s *asio.Server) error { return s.Shutdown(context.Background()) }},
		{"Close", func(s *asio.Server) error { return s.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			var ops opCounts
			got := make(chan error, 1)
			var srv *asio.Server
			srv = &asio.Server{Contexts: 2, Handler: func(s *asio.TCPSocket) {
				buf := make([]byte, 1)
				ops.start()
				s.AsyncReadSome([][]byte{buf}, func(n int, err error) {
					ops.done()
					if err == nil && buf[0] == 'q' {
						got <- tc.stop(srv)
					}
					s.Close()
				})
			}}
			served := serveInBackground(t, srv)
			c := dialServer(t, srv)
			io.WriteString(c, "q")
			select {
			case err := <-got:
				if !errors.Is(err, asio.ErrInHandler) {
					t.Errorf("%s from a handler: %v, want ErrInHandler", tc.name, err)
				}
			case <-time.After(serverWait):
				t.Fatalf("%s from a handler did not return", tc.name)
			}
			if err := serveResult(t, served); !errors.Is(err, asio.ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
			ops.check(t)
			goroutinesBack(t, before)
		})
	}
}

// TestServerAddrInUse: listening on an endpoint in use fails with an error
// that names it and wraps EADDRINUSE; the server can listen elsewhere then.
func TestServerAddrInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ep := l.Addr().(*net.TCPAddr).AddrPort()
	srv := &asio.Server{Contexts: 1, Handler: func(s *asio.TCPSocket) { s.Close() }}
	err = srv.Listen(ep)
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(fmt.Sprint(err), ep.String()) {
		t.Errorf("Listen on %v in use: %v; want an error naming it and wrapping EADDRINUSE", ep, err)
	}
	served := serveInBackground(t, srv)
	dialServer(t, srv)
	srv.Close()
	serveResult(t, served)
}

// TestServerLifecycleErrors: the calls out of order get clear results.
func TestServerLifecycleErrors(t *testing.T) {
	h := func(s *asio.TCPSocket) { s.Close() }
	t.Run("NilHandler", func(t *testing.T) {
		if err := (&asio.Server{}).Listen(serverLoopback); !errors.Is(err, asio.ErrInvalidArgument) {
			t.Errorf("Listen with no Handler: %v, want ErrInvalidArgument", err)
		}
	})
	t.Run("NegativeContexts", func(t *testing.T) {
		if err := (&asio.Server{Handler: h, Contexts: -1}).Listen(serverLoopback); !errors.Is(err, asio.ErrInvalidArgument) {
			t.Errorf("Listen with Contexts -1: %v, want ErrInvalidArgument", err)
		}
	})
	t.Run("ServeBeforeListen", func(t *testing.T) {
		if err := (&asio.Server{Handler: h}).Serve(); err == nil {
			t.Error("Serve before Listen returned nil")
		}
	})
	t.Run("ListenTwice", func(t *testing.T) {
		srv := &asio.Server{Handler: h, Contexts: 1}
		if err := srv.Listen(serverLoopback); err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		if err := srv.Listen(serverLoopback); err == nil {
			t.Error("a second Listen returned nil")
		}
	})
	t.Run("ServeTwice", func(t *testing.T) {
		var ops opCounts
		srv := &asio.Server{Contexts: 1, Handler: func(s *asio.TCPSocket) { echoConn(s, &ops, nil) }}
		served := serveInBackground(t, srv)
		roundTrip(t, dialServer(t, srv), "x") // answered: Serve is running
		if err := srv.Serve(); err == nil || errors.Is(err, asio.ErrServerClosed) {
			t.Errorf("a second Serve: %v, want an error saying so", err)
		}
		srv.Close()
		serveResult(t, served)
	})
	t.Run("ShutdownBeforeListen", func(t *testing.T) {
		srv := &asio.Server{Handler: h}
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown before Listen: %v", err)
		}
		if err := srv.Listen(serverLoopback); !errors.Is(err, asio.ErrServerClosed) {
			t.Errorf("Listen after Shutdown: %v, want ErrServerClosed", err)
		}
	})
	t.Run("ServeAfterShutdown", func(t *testing.T) {
		for _, stop := range []func(*asio.Server) error{
			func(s *asio.Server) error { return s.Shutdown(context.Background()) },
			(*asio.Server).Close,
		} {
			srv := &asio.Server{Handler: h, Contexts: 2, OnShutdown: func(asio.Executor) {}}
			if err := srv.Listen(serverLoopback); err != nil {
				t.Fatal(err)
			}
			if err := stop(srv); err != nil {
				t.Errorf("stopping a server that never served: %v", err)
			}
			if err := srv.Serve(); !errors.Is(err, asio.ErrServerClosed) {
				t.Errorf("Serve after the stop: %v, want ErrServerClosed", err)
			}
		}
	})
}

// TestServerContextClosedOutside: a context closed by something other than
// the server makes Serve return an error (wrapping ErrContextClosed), not
// hang, before Serve and during it.
func TestServerContextClosedOutside(t *testing.T) {
	h := func(s *asio.TCPSocket) { s.Close() }
	t.Run("BeforeServe", func(t *testing.T) {
		srv := &asio.Server{Handler: h, Contexts: 2}
		if err := srv.Listen(serverLoopback); err != nil {
			t.Fatal(err)
		}
		srv.IOContexts()[1].Close()
		if err := srv.Serve(); !errors.Is(err, asio.ErrContextClosed) {
			t.Errorf("Serve on a closed context: %v, want ErrContextClosed", err)
		}
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown after: %v", err)
		}
	})
	t.Run("DuringServe", func(t *testing.T) {
		before := runtime.NumGoroutine()
		var ops opCounts
		srv := &asio.Server{Contexts: 2, Handler: func(s *asio.TCPSocket) { echoConn(s, &ops, nil) }}
		served := serveInBackground(t, srv)
		roundTrip(t, dialServer(t, srv), "x")
		srv.IOContexts()[0].Close() // the acceptor's context
		if err := serveResult(t, served); !errors.Is(err, asio.ErrContextClosed) {
			t.Errorf("Serve after its context was closed: %v, want ErrContextClosed", err)
		}
		ops.check(t)
		goroutinesBack(t, before)
	})
}

// TestServerAcceptBackoff: out of descriptors, accept fails with EMFILE
// (at once, as Linux does even with the connection waiting); the server
// retries after waits that double up to AcceptBackoffMax instead of
// spinning, and serves the connection once descriptors are free again.
func TestServerAcceptBackoff(t *testing.T) {
	type failure struct {
		err     error
		retryIn time.Duration
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
