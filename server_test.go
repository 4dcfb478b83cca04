package asio_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
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
