package asio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// initCase is one way to initiate one operation. setup prepares what the
// operation needs and returns the initiating call, which must start
// exactly one operation whose handler calls h once; after, if set, runs
// once the initiating call has returned (to make a pending op complete).
type initCase struct {
	name      string
	immediate bool // the result is known inside the initiating call
	// rawImmediate: known inside the call only on the raw-descriptor
	// backends, which try an accept at once; the portable backend accepts
	// on a goroutine, so there the completion comes later (still once).
	rawImmediate bool
	composed     bool // a composed operation (AsyncWrite, AsyncRead, ...)
	setup        func(t *testing.T, ctx *IOContext) (start func(h func(n int, err error), opts ...OpOption), after func())
	check        func(n int, err error) error
}

func wantN(want int) func(int, error) error {
	return func(n int, err error) error {
		if err != nil || n != want {
			return errorf("got (%d, %v), want (%d, nil)", n, err, want)
		}
		return nil
	}
}

func wantErr(want error) func(int, error) error {
	return func(n int, err error) error {
		if !errors.Is(err, want) {
			return errorf("got (%d, %v), want error %v", n, err, want)
		}
		if n != 0 {
			return errorf("got n=%d with error %v, want 0", n, err)
		}
		return nil
	}
}

func wantAnyErr(n int, err error) error {
	if err == nil {
		return errorf("got (%d, nil), want an error", n)
	}
	return nil
}

var errorf = fmt.Errorf

func errH(h func(int, error)) func(error) { return func(err error) { h(0, err) } }

func acceptH(h func(int, error)) func(*TCPSocket, error) {
	return func(s *TCPSocket, err error) {
		if (s == nil) == (err == nil) {
			h(-1, errorf("accept handler got socket %v with error %v", s, err))
			return
		}
		if s != nil {
			s.Close()
		}
		h(0, err)
	}
}

// closedPort returns a loopback endpoint nobody listens on.
func closedPort(t *testing.T, ctx *IOContext) netip.AddrPort {
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	ep := acc.LocalEndpoint()
	acc.Close()
	return ep
}

// pendingListener returns an acceptor with one connection waiting in its
// backlog.
func pendingListener(t *testing.T, ctx *IOContext) *TCPAcceptor {
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acc.Close() })
	c := NewTCPSocket(ctx.Executor())
	if err := c.Connect(acc.LocalEndpoint()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return acc
}

func neverOpened(ctx *IOContext) *TCPSocket { return NewTCPSocket(ctx.Executor()) }

func closedSocket(t *testing.T, ctx *IOContext) *TCPSocket {
	c, _ := connectedPair(t, ctx)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return c
}

// initCases covers every initiating function of the core, with the
// immediate completions DESIGN.md names: zero-size buffers, a speculative
// operation that succeeded, a closed socket, ErrWriteInProgress, a
// delimiter already in the buffer; and pending operations completed later.
func initCases() []initCase {
	type startFn = func(h func(int, error), opts ...OpOption)
	one := []byte("hello")
	return []initCase{
		{name: "AsyncConnect/listening", setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			acc, err := ListenTCP(ctx.Executor(), loopback4)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { acc.Close() })
			s := NewTCPSocket(ctx.Executor())
			t.Cleanup(func() { s.Close() })
			return func(h func(int, error), o ...OpOption) { s.AsyncConnect(acc.LocalEndpoint(), errH(h), o...) }, nil
		}, check: wantN(0)},
		{name: "AsyncConnect/refused", setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			ep := closedPort(t, ctx)
			s := NewTCPSocket(ctx.Executor())
			t.Cleanup(func() { s.Close() })
			return func(h func(int, error), o ...OpOption) { s.AsyncConnect(ep, errH(h), o...) }, nil
		}, check: wantErr(syscall.ECONNREFUSED)},
		{name: "AsyncConnect/invalid endpoint", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			s := NewTCPSocket(ctx.Executor())
			t.Cleanup(func() { s.Close() })
			return func(h func(int, error), o ...OpOption) { s.AsyncConnect(netip.AddrPort{}, errH(h), o...) }, nil
		}, check: wantAnyErr},
		{name: "AsyncWriteSome/speculative success", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, _ := connectedPair(t, ctx)
			return func(h func(int, error), o ...OpOption) { c.AsyncWriteSome([][]byte{one}, h, o...) }, nil
		}, check: wantN(len(one))},
		{name: "AsyncWriteSome/empty", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, _ := connectedPair(t, ctx)
			return func(h func(int, error), o ...OpOption) { c.AsyncWriteSome(nil, h, o...) }, nil
		}, check: wantN(0)},
		{name: "AsyncWriteSome/never opened", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			s := neverOpened(ctx)
			return func(h func(int, error), o ...OpOption) { s.AsyncWriteSome([][]byte{one}, h, o...) }, nil
		}, check: wantErr(ErrBadDescriptor)},
		{name: "AsyncWriteSome/closed", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			s := closedSocket(t, ctx)
			return func(h func(int, error), o ...OpOption) { s.AsyncWriteSome([][]byte{one}, h, o...) }, nil
		}, check: wantErr(ErrBadDescriptor)},
		{name: "AsyncWriteSome/pending until the peer reads", setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, s := connectedPair(t, ctx)
			clog(t, ctx, c, s)
			return func(h func(int, error), o ...OpOption) { c.AsyncWriteSome([][]byte{one}, h, o...) },
				func() { drainAsync(s) }
		}, check: wantN(len(one))},
		{name: "AsyncSend/speculative success", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, _ := connectedPair(t, ctx)
			return func(h func(int, error), o ...OpOption) { c.AsyncSend([][]byte{one}, 0, h, o...) }, nil
		}, check: wantN(len(one))},
		{name: "AsyncSend/empty", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, _ := connectedPair(t, ctx)
			return func(h func(int, error), o ...OpOption) { c.AsyncSend([][]byte{{}}, 0, h, o...) }, nil
		}, check: wantN(0)},
		{name: "AsyncSend/closed", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			s := closedSocket(t, ctx)
			return func(h func(int, error), o ...OpOption) { s.AsyncSend([][]byte{one}, 0, h, o...) }, nil
		}, check: wantErr(ErrBadDescriptor)},
		{name: "AsyncReadSome/data waiting", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, s := connectedPair(t, ctx)
			if _, err := c.WriteSome([][]byte{one}); err != nil {
				t.Fatal(err)
			}
			if err := waitReadable(s); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			return func(h func(int, error), o ...OpOption) { s.AsyncReadSome([][]byte{buf}, h, o...) }, nil
		}, check: wantN(len(one))},
		{name: "AsyncReadSome/pending until data", setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, s := connectedPair(t, ctx)
			buf := make([]byte, 64)
			return func(h func(int, error), o ...OpOption) { s.AsyncReadSome([][]byte{buf}, h, o...) },
				func() { c.WriteSome([][]byte{one}) }
		}, check: wantN(len(one))},
		{name: "AsyncReadSome/empty", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			_, s := connectedPair(t, ctx)
			return func(h func(int, error), o ...OpOption) { s.AsyncReadSome([][]byte{}, h, o...) }, nil
		}, check: wantN(0)},
		{name: "AsyncReadSome/closed", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			s := closedSocket(t, ctx)
			buf := make([]byte, 64)
			return func(h func(int, error), o ...OpOption) { s.AsyncReadSome([][]byte{buf}, h, o...) }, nil
		}, check: wantErr(ErrBadDescriptor)},
		{name: "AsyncReadSome/peer closed", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, s := connectedPair(t, ctx)
			c.Close()
			if err := waitReadable(s); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			return func(h func(int, error), o ...OpOption) { s.AsyncReadSome([][]byte{buf}, h, o...) }, nil
		}, check: wantErr(io.EOF)},
		{name: "AsyncReceive/data waiting", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, s := connectedPair(t, ctx)
			if _, err := c.WriteSome([][]byte{one}); err != nil {
				t.Fatal(err)
			}
			if err := waitReadable(s); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			return func(h func(int, error), o ...OpOption) { s.AsyncReceive([][]byte{buf}, 0, h, o...) }, nil
		}, check: wantN(len(one))},
		{name: "AsyncReceive/pending until data", setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, s := connectedPair(t, ctx)
			buf := make([]byte, 64)
			return func(h func(int, error), o ...OpOption) { s.AsyncReceive([][]byte{buf}, MsgPeek, h, o...) },
				func() { c.WriteSome([][]byte{one}) }
		}, check: wantN(len(one))},
		{name: "AsyncReceive/closed", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			s := closedSocket(t, ctx)
			buf := make([]byte, 64)
			return func(h func(int, error), o ...OpOption) { s.AsyncReceive([][]byte{buf}, 0, h, o...) }, nil
		}, check: wantErr(ErrBadDescriptor)},
		{name: "AsyncWait/write ready", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, _ := connectedPair(t, ctx)
			return func(h func(int, error), o ...OpOption) { c.AsyncWait(WaitWrite, errH(h), o...) }, nil
		}, check: wantN(0)},
		{name: "AsyncWait/read pending", setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, s := connectedPair(t, ctx)
			return func(h func(int, error), o ...OpOption) { s.AsyncWait(WaitRead, errH(h), o...) },
				func() { c.WriteSome([][]byte{one}) }
		}, check: wantN(0)},
		{name: "AsyncWait/closed", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			s := closedSocket(t, ctx)
			return func(h func(int, error), o ...OpOption) { s.AsyncWait(WaitRead, errH(h), o...) }, nil
		}, check: wantErr(ErrBadDescriptor)},
		{name: "AsyncAccept/connection waiting", immediate: true, rawImmediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			acc := pendingListener(t, ctx)
			if err := waitReadableFD(&acc.d); err != nil {
				t.Fatal(err)
			}
			return func(h func(int, error), o ...OpOption) { acc.AsyncAccept(acceptH(h), o...) }, nil
		}, check: wantN(0)},
		{name: "AsyncAccept/pending until connect", setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			acc, err := ListenTCP(ctx.Executor(), loopback4)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { acc.Close() })
			c := NewTCPSocket(ctx.Executor())
			t.Cleanup(func() { c.Close() })
			return func(h func(int, error), o ...OpOption) { acc.AsyncAccept(acceptH(h), o...) },
				func() { c.Connect(acc.LocalEndpoint()) }
		}, check: wantN(0)},
		{name: "AsyncAccept/closed acceptor", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			acc := pendingListener(t, ctx)
			acc.Close()
			return func(h func(int, error), o ...OpOption) { acc.AsyncAccept(acceptH(h), o...) }, nil
		}, check: wantErr(ErrBadDescriptor)},
		{name: "AsyncAcceptOn/connection waiting", immediate: true, rawImmediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			acc := pendingListener(t, ctx)
			if err := waitReadableFD(&acc.d); err != nil {
				t.Fatal(err)
			}
			return func(h func(int, error), o ...OpOption) { acc.AsyncAcceptOn(ctx.Executor(), acceptH(h), o...) }, nil
		}, check: wantN(0)},
		{name: "Timer.AsyncWait/expired", setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			tm := NewTimer(ctx.Executor())
			tm.ExpiresAfter(-time.Second)
			return func(h func(int, error), o ...OpOption) { tm.AsyncWait(errH(h), o...) }, nil
		}, check: wantN(0)},
		{name: "Timer.AsyncWait/5ms", setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			tm := NewTimer(ctx.Executor())
			tm.ExpiresAfter(5 * time.Millisecond)
			return func(h func(int, error), o ...OpOption) { tm.AsyncWait(errH(h), o...) }, nil
		}, check: wantN(0)},
		{composed: true, name: "AsyncWrite/empty", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, _ := connectedPair(t, ctx)
			return func(h func(int, error), o ...OpOption) { AsyncWrite(c, nil, h, o...) }, nil
		}, check: wantN(0)},
		{composed: true, name: "AsyncWrite/speculative success", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, _ := connectedPair(t, ctx)
			return func(h func(int, error), o ...OpOption) { AsyncWrite(c, [][]byte{one, one}, h, o...) }, nil
		}, check: wantN(2 * len(one))},
		{composed: true, name: "AsyncWrite/closed", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			s := closedSocket(t, ctx)
			return func(h func(int, error), o ...OpOption) { AsyncWrite(s, [][]byte{one}, h, o...) }, nil
		}, check: wantErr(ErrBadDescriptor)},
		{composed: true, name: "AsyncWrite/write in progress", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, s := connectedPair(t, ctx)
			clog(t, ctx, c, s)
			AsyncWrite(c, [][]byte{make([]byte, 1<<20)}, func(int, error) {})
			return func(h func(int, error), o ...OpOption) { AsyncWrite(c, [][]byte{one}, h, o...) }, nil
		}, check: wantErr(ErrWriteInProgress)},
		{composed: true, name: "AsyncRead/empty", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			_, s := connectedPair(t, ctx)
			return func(h func(int, error), o ...OpOption) { AsyncRead(s, nil, h, o...) }, nil
		}, check: wantN(0)},
		{composed: true, name: "AsyncRead/closed", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			s := closedSocket(t, ctx)
			return func(h func(int, error), o ...OpOption) { AsyncRead(s, [][]byte{make([]byte, 4)}, h, o...) }, nil
		}, check: wantErr(ErrBadDescriptor)},
		{composed: true, name: "AsyncRead/pending until data", setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, s := connectedPair(t, ctx)
			buf := make([]byte, 2*len(one))
			return func(h func(int, error), o ...OpOption) { AsyncRead(s, [][]byte{buf}, h, o...) },
				func() { c.WriteSome([][]byte{one}); c.WriteSome([][]byte{one}) }
		}, check: wantN(2 * len(one))},
		{composed: true, name: "AsyncReadUntil/delimiter in buffer", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			_, s := connectedPair(t, ctx)
			db := NewDynamicBuffer(0)
			db.Write([]byte("line\nrest"))
			return func(h func(int, error), o ...OpOption) { AsyncReadUntil(s, db, []byte("\n"), h, o...) }, nil
		}, check: wantN(5)},
		{composed: true, name: "AsyncReadUntil/pending until data", setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, s := connectedPair(t, ctx)
			db := NewDynamicBuffer(0)
			return func(h func(int, error), o ...OpOption) { AsyncReadUntil(s, db, []byte("\n"), h, o...) },
				func() { c.WriteSome([][]byte{[]byte("ab\ncd")}) }
		}, check: wantN(3)},
		{composed: true, name: "AsyncReadUntil/closed", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			s := closedSocket(t, ctx)
			return func(h func(int, error), o ...OpOption) { AsyncReadUntil(s, NewDynamicBuffer(0), []byte("\n"), h, o...) }, nil
		}, check: wantErr(ErrBadDescriptor)},
		{composed: true, name: "WriteQueue.AsyncWrite/speculative success", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, _ := connectedPair(t, ctx)
			q := NewWriteQueue(c)
			return func(h func(int, error), o ...OpOption) { q.AsyncWrite([][]byte{one}, h, o...) }, nil
		}, check: wantN(len(one))},
		{composed: true, name: "WriteQueue.AsyncWrite/empty", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			c, _ := connectedPair(t, ctx)
			q := NewWriteQueue(c)
			return func(h func(int, error), o ...OpOption) { q.AsyncWrite(nil, h, o...) }, nil
		}, check: wantN(0)},
		{name: "AsyncReadSome/WithContext already done", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			_, s := connectedPair(t, ctx)
			cctx, cancel := context.WithCancel(context.Background())
			cancel()
			buf := make([]byte, 4)
			return func(h func(int, error), o ...OpOption) {
				s.AsyncReadSome([][]byte{buf}, h, append(o, WithContext(cctx))...)
			}, nil
		}, check: wantErr(ErrOperationAborted)},
		{name: "Timer.AsyncWait/WithContext already done", immediate: true, setup: func(t *testing.T, ctx *IOContext) (startFn, func()) {
			tm := NewTimer(ctx.Executor())
			tm.ExpiresAfter(time.Hour)
			cctx, cancel := context.WithCancel(context.Background())
			cancel()
			return func(h func(int, error), o ...OpOption) { tm.AsyncWait(errH(h), append(o, WithContext(cctx))...) }, nil
		}, check: wantErr(ErrOperationAborted)},
	}
}

// waitReadable blocks until s has something to read (data or EOF), so that
// a test can make a read complete speculatively.
func waitReadable(s *TCPSocket) error { return waitReadableFD(&s.d) }

func waitReadableFD(d *fdState) error {
	fd, err := osFD(d)
	if err != nil {
		return err
	}
	_, err = pollFD(fd, pollIn, int(waitTimeout/time.Millisecond))
	return err
}

// TestInitiationReturnsAtOnceAndNeverInline is rules 1, 2, 3 and 4 for
// every initiating function: the call returns before the handler runs
// (also when the result is known inside the call), the handler runs
// exactly once, inside Run on the goroutine that called Run, with the
// expected result.
func TestInitiationReturnsAtOnceAndNeverInline(t *testing.T) {
	for _, c := range initCases() {
		t.Run(c.name, func(t *testing.T) {
			ctx := newTestContext(t)
			start, after := c.setup(t, ctx)
			me := curGoroutineID()
			returned := false
			calls := 0
			done := make(chan result, 4)
			t0 := time.Now()
			start(func(n int, err error) {
				calls++
				if !returned {
					t.Errorf("handler ran inside the initiating function")
				}
				if !ctx.runningHere() {
					t.Errorf("handler ran outside the context's Run")
				}
				done <- result{n, err, curGoroutineID()}
			})
			returned = true
			if d := time.Since(t0); d > time.Second {
				t.Errorf("initiating function took %v", d)
			}
			if calls != 0 {
				t.Fatalf("handler called %d times before Run", calls)
			}
			if after != nil {
				after()
			}
			r := runFor1(t, ctx, done)
			if r.gid != me {
				t.Errorf("handler ran on goroutine %d, Run was on %d", r.gid, me)
			}
			if err := c.check(r.n, r.err); err != nil {
				t.Error(err)
			}
			// Exactly once: nothing more comes.
			ctx.Restart()
			ctx.Poll()
			if calls != 1 {
				t.Errorf("handler called %d times, want 1", calls)
			}
		})
	}
}

// TestBindImmediateExecutorInline: an immediate executor whose Dispatch
// runs inline is the documented opt-in to run an immediate completion
// inside the initiating call; a pending op still completes in Run.
func TestBindImmediateExecutorInline(t *testing.T) {
	for _, c := range initCases() {
		t.Run(c.name, func(t *testing.T) {
			ctx := newTestContext(t)
			start, after := c.setup(t, ctx)
			returned := false
			inline := false
			done := make(chan result, 4)
			start(func(n int, err error) {
				inline = !returned
				done <- result{n, err, curGoroutineID()}
			}, BindImmediateExecutor(inlineExecutor{ctx.Executor()}))
			returned = true
			if c.immediate && !(c.rawImmediate && ctx.Backend() == BackendPortable) {
				select {
				case r := <-done:
					if !inline {
						t.Fatal("handler did not run inline")
					}
					if err := c.check(r.n, r.err); err != nil {
						t.Error(err)
					}
				default:
					t.Fatal("immediate completion with an inline immediate executor did not run inside the call")
				}
				return
			}
			if len(done) != 0 {
				t.Fatal("a pending operation completed inside its initiating call")
			}
			if after != nil {
				after()
			}
			r := runFor1(t, ctx, done)
			if inline {
				t.Error("pending operation's handler ran inline")
			}
			if err := c.check(r.n, r.err); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestHandlersRunOnBoundExecutor is rule 4 with BindExecutor: a user
// executor and a strand run the handler, also for immediate completions.
// Inside a strand, the strand's Dispatch runs inline: that is how the
// handler tells it runs in the strand.
func TestHandlersRunOnBoundExecutor(t *testing.T) {
	for _, c := range initCases() {
		for _, bind := range []string{"user executor", "strand"} {
			t.Run(c.name+"/"+bind, func(t *testing.T) {
				ctx := newTestContext(t)
				start, after := c.setup(t, ctx)
				rec := newRecordingExecutor(ctx.Executor())
				strand := NewStrand(ctx.Executor())
				var ex Executor = rec
				if bind == "strand" {
					ex = strand
				}
				done := make(chan result, 4)
				inside := false
				start(func(n int, err error) {
					if bind == "strand" {
						strand.Dispatch(func() { inside = true })
					} else {
						inside = rec.runningInside()
					}
					done <- result{n, err, curGoroutineID()}
				}, BindExecutor(ex))
				if after != nil {
					after()
				}
				r := runFor1(t, ctx, done)
				if !inside {
					t.Errorf("handler did not run through the bound %s", bind)
				}
				if err := c.check(r.n, r.err); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// TestBindExecutorOtherContext: a handler bound to another context's
// executor runs inside that context's Run, on its goroutine.
func TestBindExecutorOtherContext(t *testing.T) {
	ctx := newTestContext(t)
	other := newTestContext(t)
	ids, stop := runInBackground(t, other, 1)
	c, s := connectedPair(t, ctx)
	var otherID uint64
	for id := range ids() {
		otherID = id
	}
	got := make(chan result, 2)
	buf := make([]byte, 16)
	s.AsyncReadSome([][]byte{buf}, func(n int, err error) {
		if !other.runningHere() {
			t.Error("handler not inside the other context's Run")
		}
		got <- result{n, err, curGoroutineID()}
	}, BindExecutor(other.Executor()))
	// Immediate completion bound to the other context too.
	c.AsyncWriteSome([][]byte{[]byte("x")}, func(n int, err error) {
		got <- result{n, err, curGoroutineID()}
	}, BindExecutor(other.Executor()))
	done := make(chan struct{})
	go func() { defer close(done); ctx.Run() }()
	for i := 0; i < 2; i++ {
		r := waitChan(t, got, "handler on the other context")
		if r.err != nil || r.n != 1 {
			t.Errorf("got (%d, %v), want (1, nil)", r.n, r.err)
		}
		if r.gid != otherID {
			t.Errorf("handler ran on goroutine %d, the other context's Run is %d", r.gid, otherID)
		}
	}
	waitChan(t, done, "ctx.Run to return")
	stop()
}

// TestBuffersNotCopied is rule 5: the bytes land in (and are taken from)
// the very slices the caller passed, for the socket ops and the composed
// ones.
func TestBuffersNotCopied(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)

	backing := make([]byte, 64)
	a, b := backing[0:3], backing[10:20]
	if _, err := c.WriteSome([][]byte{[]byte("abcdefghijklm")}); err != nil {
		t.Fatal(err)
	}
	if err := waitReadable(s); err != nil {
		t.Fatal(err)
	}
	h, ch := resultChan()
	s.AsyncReadSome([][]byte{a, b}, func(n int, err error) {
		// The handler sees the bytes through the caller's own slices.
		if string(a) != "abc" || string(b) != "defghijklm" {
			t.Errorf("caller's slices hold %q %q", a, b)
		}
		h(n, err)
	})
	if r := runFor1(t, ctx, ch); r.err != nil || r.n != 13 {
		t.Fatalf("read (%d, %v)", r.n, r.err)
	}
	if string(backing[0:3]) != "abc" || string(backing[10:20]) != "defghijklm" {
		t.Errorf("backing array holds %q", backing)
	}

	// Composed read into caller slices.
	big := make([]byte, 300<<10)
	want := pattern(0, len(big))
	go c.WriteSome([][]byte{want})
	AsyncRead(s, [][]byte{big}, h)
	if r := runFor1(t, ctx, ch); r.err != nil || r.n != len(big) {
		t.Fatalf("AsyncRead (%d, %v)", r.n, r.err)
	}
	if !bytes.Equal(big, want) {
		t.Error("AsyncRead did not fill the caller's slice")
	}

	// A write takes the bytes as they are when the syscall runs: a queued
	// write sees a change the caller makes before it is performed, which
	// it would not if the op had copied them at initiation.
	_, pending := clog(t, ctx, c, s)
	msg := []byte("before")
	c.AsyncWriteSome([][]byte{msg}, h)
	copy(msg, "AFTER!")
	all := drainAsync(s)
	if r := runFor1(t, ctx, pending); r.err != nil {
		t.Fatalf("clogging write: %v", r.err)
	}
	if r := runFor1(t, ctx, ch); r.err != nil || r.n != len(msg) {
		t.Fatalf("write (%d, %v)", r.n, r.err)
	}
	c.Shutdown(ShutdownSend)
	got := waitChan(t, all, "the peer to read everything")
	if !bytes.HasSuffix(got, []byte("AFTER!")) {
		t.Errorf("the peer's last bytes are %q, want the bytes as changed before the op ran: the write copied its buffer", got[max(0, len(got)-6):])
	}
}
