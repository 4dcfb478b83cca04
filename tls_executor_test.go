package asio_test

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/goasio/asio"
)

// tlMarkExecutor is a user's executor over a context's: it marks the
// functions it runs, so a handler can tell it runs through it.
type tlMarkExecutor struct {
	asio.Executor
	inside atomic.Int32
	posts  atomic.Int32
}

func (e *tlMarkExecutor) Post(f func()) {
	e.posts.Add(1)
	e.Executor.Post(func() {
		e.inside.Add(1)
		defer e.inside.Add(-1)
		f()
	})
}
func (e *tlMarkExecutor) Dispatch(f func()) { e.Post(f) }
func (e *tlMarkExecutor) Defer(f func())    { e.Post(f) }

// TestTLSStreamBoundExecutor: with BindExecutor, the handshake, read,
// write and shutdown handlers run through the bound executor (a user's,
// and a Strand), never inline.
func TestTLSStreamBoundExecutor(t *testing.T) {
	ctx, runID := tlContext(t)
	a, b := tlSocketPair(t, ctx)
	client := asio.NewTLSStream(a, tlClientConfig(t, 0))
	server := asio.NewTLSStream(b, tlServerConfig(t, 0))
	mark := &tlMarkExecutor{Executor: ctx.Executor()}
	strand := asio.NewStrand(ctx.Executor())
	check := func(what string) {
		if mark.inside.Load() == 0 {
			t.Errorf("%s: handler not run through the bound executor", what)
		}
	}
	sch := make(chan error, 1)
	server.AsyncHandshake(asio.HandshakeServer, func(err error) { sch <- err }, asio.BindExecutor(strand))
	if err := tlHandshake(t, client, asio.HandshakeClient, runID, asio.BindExecutor(mark)); err != nil {
		t.Fatal(err)
	}
	if err := tlWaitErr(t, sch, "server handshake"); err != nil {
		t.Fatal(err)
	}
	// The handshake's checker ran through mark: count what went through it.
	if mark.posts.Load() == 0 {
		t.Error("the client handshake's handler did not go through the bound executor")
	}
	var mu sync.Mutex
	var got bytes.Buffer
	c := &tlChecker{t: t, runID: runID}
	done := make(chan struct{}, 3)
	c.start(ctx.Executor(), func() {
		asio.AsyncWrite(client, asio.Buffers{[]byte("bound")}, func(n int, err error) {
			check("write")
			if err != nil {
				t.Error(err)
			}
			done <- struct{}{}
		}, asio.BindExecutor(mark))
	})
	buf := make([]byte, 16)
	rc := &tlChecker{t: t, runID: runID}
	rc.start(ctx.Executor(), func() {
		server.AsyncReadSome(asio.Buffers{buf}, func(n int, err error) {
			rc.check("read")
			mu.Lock()
			got.Write(buf[:n])
			mu.Unlock()
			done <- struct{}{}
		}, asio.BindExecutor(strand))
	})
	<-done
	<-done
	if got.String() != "bound" {
		t.Errorf("read %q", got.String())
	}
	client.AsyncShutdown(func(err error) { check("shutdown"); done <- struct{}{} }, asio.BindExecutor(mark))
	<-done
	if r := tlRead(t, server, buf, runID, asio.BindExecutor(mark)); r.err == nil {
		t.Errorf("read after the peer's close_notify: %d, nil", r.n)
	}
}

// TestTLSStreamImmediateExecutor: an immediate completion (an empty read,
// a refusal) goes to a bound immediate executor by Dispatch; without one
// it is posted.
func TestTLSStreamImmediateExecutor(t *testing.T) {
	ctx, _ := tlContext(t)
	client, _ := tlStreamPair(t, ctx, 0, 0)
	mark := &tlMarkExecutor{Executor: ctx.Executor()}
	ch := make(chan bool, 1)
	client.AsyncReadSome(nil, func(int, error) { ch <- mark.inside.Load() > 0 }, asio.BindImmediateExecutor(mark))
	if !<-ch {
		t.Error("an empty read's completion did not go through the immediate executor")
	}
}

// TestTLSStreamManyRunners runs ping-pongs on many stream pairs at once,
// on a context Run by two goroutines, with the writes started from other
// goroutines: for the race detector, and every handler exactly once.
func TestTLSStreamManyRunners(t *testing.T) {
	ctx, err := asio.NewIOContext()
	if err != nil {
		t.Fatal(err)
	}
	g := asio.NewWorkGuard(ctx.Executor())
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); ctx.Run() }()
	}
	defer func() { g.Reset(); ctx.Stop(); wg.Wait(); ctx.Close() }()
	const pairs, rounds = 8, 50
	var pw sync.WaitGroup
	for range pairs {
		client, server := tlStreamPair(t, ctx, 0, 0)
		pw.Add(1)
		go func() {
			defer pw.Done()
			buf, sbuf := make([]byte, 32), make([]byte, 32)
			for i := range rounds {
				msg := []byte{byte(i), 1, 2, 3}
				r := make(chan tlResult, 3)
				var calls atomic.Int32
				server.AsyncReadSome(asio.Buffers{sbuf}, func(n int, err error) {
					calls.Add(1)
					if err != nil {
						r <- tlResult{n, err}
						return
					}
					asio.AsyncWrite(server, asio.Buffers{sbuf[:n]}, func(n int, err error) { calls.Add(1); r <- tlResult{n, err} })
				})
				go asio.AsyncWrite(client, asio.Buffers{msg}, func(n int, err error) { calls.Add(1); r <- tlResult{n, err} })
				asio.AsyncRead(client, asio.Buffers{buf[:len(msg)]}, func(n int, err error) { calls.Add(1); r <- tlResult{n, err} })
				for range 3 {
					if res := tlWaitN(t, r, "ping-pong"); res.err != nil {
						t.Error(res.err)
						return
					}
				}
				if !bytes.Equal(buf[:len(msg)], msg) || calls.Load() != 4 {
					t.Errorf("round %d: %v, %d handler calls", i, buf[:len(msg)], calls.Load())
					return
				}
			}
		}()
	}
	pw.Wait()
}
