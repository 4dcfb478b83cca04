package asio

// Helpers shared by the core's test files (beside helpers_test.go).

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// waitTimeout bounds every wait of a test for a handler or a goroutine.
const waitTimeout = 10 * time.Second

// curGoroutineID reads the calling goroutine's id from runtime.Stack. The
// tests keep their own parser rather than the package's goid, so that they
// do not check the library with itself.
func curGoroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		panic("cannot parse goroutine id: " + err.Error())
	}
	return id
}

// inlineExecutor is an immediate executor whose Dispatch runs f at once:
// binding it with BindImmediateExecutor is the documented opt-in to run an
// immediate completion inside the initiating function.
type inlineExecutor struct{ Executor }

func (e inlineExecutor) Dispatch(f func()) { f() }

// recordingExecutor wraps an executor and counts the functions that went
// through it, marking them so a handler can tell it runs through it.
type recordingExecutor struct {
	Executor
	mu     sync.Mutex
	posts  int
	inside map[uint64]int // goroutine id -> depth of wrapped calls running
}

func newRecordingExecutor(ex Executor) *recordingExecutor {
	return &recordingExecutor{Executor: ex, inside: map[uint64]int{}}
}

func (e *recordingExecutor) wrap(f func()) func() {
	e.mu.Lock()
	e.posts++
	e.mu.Unlock()
	return func() {
		id := curGoroutineID()
		e.mu.Lock()
		e.inside[id]++
		e.mu.Unlock()
		defer func() {
			e.mu.Lock()
			e.inside[id]--
			e.mu.Unlock()
		}()
		f()
	}
}

func (e *recordingExecutor) Post(f func())     { e.Executor.Post(e.wrap(f)) }
func (e *recordingExecutor) Defer(f func())    { e.Executor.Defer(e.wrap(f)) }
func (e *recordingExecutor) Dispatch(f func()) { e.Executor.Post(e.wrap(f)) }

// runningInside reports whether the caller runs a function that went
// through e.
func (e *recordingExecutor) runningInside() bool {
	id := curGoroutineID()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inside[id] > 0
}

func (e *recordingExecutor) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.posts
}

// runInBackground runs ctx.Run on n goroutines, kept alive by a WorkGuard,
// and returns a function that releases the guard and waits for every Run
// to return. It also reports the goroutine ids of the Run calls.
func runInBackground(t testing.TB, ctx *IOContext, n int) (ids func() map[uint64]bool, stop func()) {
	t.Helper()
	g := NewWorkGuard(ctx.Executor())
	var mu sync.Mutex
	set := map[uint64]bool{}
	var wg sync.WaitGroup
	started := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			set[curGoroutineID()] = true
			mu.Unlock()
			started <- struct{}{}
			ctx.Run()
		}()
	}
	for i := 0; i < n; i++ {
		<-started
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			g.Reset()
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(waitTimeout):
				ctx.Stop()
				t.Errorf("Run did not return after the work guard was reset")
				<-done
			}
		})
	}
	t.Cleanup(stop)
	ids = func() map[uint64]bool {
		mu.Lock()
		defer mu.Unlock()
		out := map[uint64]bool{}
		for k := range set {
			out[k] = true
		}
		return out
	}
	return ids, stop
}

// waitChan waits for ch to be closed or to deliver, failing the test after
// waitTimeout.
func waitChan[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// result is what a read or write handler received.
type result struct {
	n   int
	err error
	gid uint64
}

// resultChan returns a handler that sends its result (once) on a buffered
// channel, and the channel.
func resultChan() (func(int, error), chan result) {
	ch := make(chan result, 16)
	return func(n int, err error) { ch <- result{n, err, curGoroutineID()} }, ch
}

// errChan is resultChan for func(error) handlers.
func errChan() (func(error), chan error) {
	ch := make(chan error, 16)
	return func(err error) { ch <- err }, ch
}

// runFor1 runs ctx (on the calling goroutine) until ch holds a value, then
// returns it.
func runFor1[T any](t testing.TB, ctx *IOContext, ch chan T) T {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		select {
		case v := <-ch:
			return v
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for a handler")
		}
		ctx.Restart()
		ctx.RunFor(10 * time.Millisecond)
	}
}

// pairOn connects a client and a server socket over ep (a listening
// address such as 127.0.0.1:0 or [::1]:0), with the blocking forms.
func pairOn(t testing.TB, ctx *IOContext, ep netip.AddrPort) (client, server *TCPSocket) {
	t.Helper()
	acc, err := ListenTCP(ctx.Executor(), ep)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	client = NewTCPSocket(ctx.Executor())
	if err := client.Connect(acc.LocalEndpoint()); err != nil {
		t.Fatal(err)
	}
	server, err = acc.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// readFull reads exactly n bytes from s with the blocking form; call it
// from the test's goroutine (readFullErr from others).
func readFull(t testing.TB, s *TCPSocket, n int) []byte {
	t.Helper()
	out, err := readFullErr(s, n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readFullErr(s *TCPSocket, n int) ([]byte, error) {
	out := make([]byte, n)
	got := 0
	for got < n {
		m, err := s.ReadSome([][]byte{out[got:]})
		if err != nil {
			return out[:got], fmt.Errorf("ReadSome after %d of %d bytes: %w", got, n, err)
		}
		got += m
	}
	return out, nil
}

// drainAsync starts a goroutine that reads s with the blocking form until
// EOF or an error and delivers everything read.
func drainAsync(s *TCPSocket) <-chan []byte {
	ch := make(chan []byte, 1)
	go func() {
		var all []byte
		buf := make([]byte, 64<<10)
		for {
			n, err := s.ReadSome([][]byte{buf})
			all = append(all, buf[:n]...)
			if err != nil {
				ch <- all
				return
			}
		}
	}()
	return ch
}

// clog fills client's path to server (small socket buffers, writes until
// one stays pending) and returns the bytes the completed writes moved and
// a channel that gets the pending write's result. Until server reads,
// every later write op on client waits in the queue behind that one.
func clog(t testing.TB, ctx *IOContext, client, server *TCPSocket) (int, chan result) {
	t.Helper()
	if err := client.SetSendBufferSize(16 << 10); err != nil {
		t.Fatal(err)
	}
	if err := server.SetReceiveBufferSize(16 << 10); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1<<20)
	total := 0
	for i := 0; i < 1000; i++ {
		h, ch := resultChan()
		client.AsyncWriteSome([][]byte{big}, h)
		// A write that has not completed after this long waits for the
		// peer: its window is closed.
		deadline := time.Now().Add(50 * time.Millisecond)
		for time.Now().Before(deadline) && len(ch) == 0 {
			ctx.Restart()
			ctx.RunFor(5 * time.Millisecond)
		}
		if len(ch) == 0 {
			return total, ch
		}
		r := <-ch
		if r.err != nil {
			t.Fatalf("clogging write: %v", r.err)
		}
		total += r.n
	}
	t.Fatalf("%d bytes written and the peer, not reading, still takes more", total)
	return 0, nil
}

// isAborted reports whether err is ErrOperationAborted.
func isAborted(err error) bool { return errors.Is(err, ErrOperationAborted) }

// pattern returns n bytes of a recognisable pattern starting at offset off.
func pattern(off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		x := off + i
		b[i] = byte(x ^ x>>8 ^ x>>16)
	}
	return b
}
