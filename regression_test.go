package asio

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// 1. FIFO completion order: a speculative op overtakes an earlier op that the
// poller has already performed (popped from d.q in fdState.ready) but not yet
// moved to c.q (queueBatchLocked runs only after be.wait returns).

func TestSpeculativeOpDoesNotOvertakePolledOp(t *testing.T) {
	const others = 120
	reorders := 0
	const rounds = 20
	for round := 0; round < rounds; round++ {
		if reviewFIFORound(t, others) {
			reorders++
		}
	}
	if reorders > 0 {
		t.Errorf("in %d of %d rounds the handler of read B (initiated after read A) ran before A's", reorders, rounds)
	}
}

func reviewFIFORound(t *testing.T, others int) (reordered bool) {
	ctx, err := NewIOContext()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	pair := func() (client, server *TCPSocket) {
		client = NewTCPSocket(ctx.Executor())
		if err := client.Connect(acc.LocalEndpoint()); err != nil {
			t.Fatal(err)
		}
		server, err := acc.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return client, server
	}
	peer, s := pair()
	defer peer.Close()
	defer s.Close()
	var peers, servers []*TCPSocket
	for i := 0; i < others; i++ {
		c, sv := pair()
		peers, servers = append(peers, c), append(servers, sv)
		defer c.Close()
		defer sv.Close()
	}
	g := NewWorkGuard(ctx.Executor())
	ctx.Poll() // consume the edges every registration reported

	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	wg.Add(2 + others)
	bufA, bufB := make([]byte, 4), make([]byte, 4)
	s.AsyncReadSome(Buffers{bufA}, func(n int, err error) {
		mu.Lock()
		order = append(order, "A")
		mu.Unlock()
		wg.Done()
	})
	for _, sv := range servers {
		b := make([]byte, 4)
		sv.AsyncReadSome(Buffers{b}, func(int, error) { wg.Done() })
	}
	// s becomes readable first: its event heads the epoll ready list.
	if _, err := peer.WriteSome(Buffers{[]byte("12345678")}); err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		p.WriteSome(Buffers{[]byte("x")}) // on loopback the bytes are there when it returns
	}

	// G: as soon as the poller has taken A off s's queue, initiate B.
	started := make(chan struct{})
	go func() {
		close(started)
		for {
			s.d.mu.Lock()
			empty := s.d.q[dirRead].empty()
			s.d.mu.Unlock()
			if empty {
				break
			}
		}
		s.AsyncReadSome(Buffers{bufB}, func(n int, err error) {
			mu.Lock()
			order = append(order, "B")
			mu.Unlock()
			wg.Done()
		})
	}()
	<-started
	runDone := make(chan struct{})
	go func() { ctx.Run(); close(runDone) }()
	wg.Wait()
	g.Reset()
	<-runDone
	mu.Lock()
	defer mu.Unlock()
	t.Logf("order %v", order)
	return len(order) == 2 && order[0] == "B"
}

// ---------------------------------------------------------------------------
// 2. Lost cancellation of a composed op: an Emit that lands after the
// transferOp installed itself in the caller's slot but before its step is
// queued (and so installed in t.inner) is recorded in t.cancelled, forwarded
// to nothing, and never looked at again until the step completes.

func TestComposedCancelBeforeFirstStep(t *testing.T) {
	ctx := newTestContext(t)
	client, server := connectedPair(t, ctx)
	sig := NewCancellationSignal()
	calls := 0
	cond := func(err error, n int) int {
		calls++
		if calls == 1 {
			// Another goroutine emits now (AsyncReadCond has returned to
			// no one yet; think of it as the emit racing with initiation).
			done := make(chan struct{})
			go func() { sig.Emit(CancelTerminal); close(done) }()
			<-done
		}
		return TransferAll()(err, n)
	}
	fired := make(chan result, 1)
	buf := make([]byte, 16)
	AsyncReadCond(server, Buffers{buf}, cond, func(n int, err error) { fired <- result{n: n, err: err} },
		BindCancellationSlot(sig.Slot()))
	ctx.RunFor(300 * time.Millisecond)
	select {
	case r := <-fired:
		if !isAborted(r.err) {
			t.Errorf("got (%d, %v), want ErrOperationAborted", r.n, r.err)
		}
		return
	default:
	}
	// The cancel was lost: only data ends the op, and not even as aborted.
	client.WriteSome(Buffers{make([]byte, 16)})
	ctx.Restart()
	ctx.RunFor(300 * time.Millisecond)
	select {
	case r := <-fired:
		t.Errorf("Emit(CancelTerminal) was lost: handler ran only after data arrived, with (%d, %v)", r.n, r.err)
	default:
		t.Errorf("Emit(CancelTerminal) was lost: handler never ran")
	}
}

// emitOnStep emits on sig (from another goroutine, waited for) when its
// AsyncReadSome is called for the k-th time, then starts the real step.
type emitOnStep struct {
	*TCPSocket
	sig   *CancellationSignal
	k     int
	calls int
}

func (s *emitOnStep) AsyncReadSome(b Buffers, h func(int, error), opts ...OpOption) {
	s.calls++
	if s.calls == s.k {
		done := make(chan struct{})
		go func() { s.sig.Emit(CancelTerminal); close(done) }()
		<-done
	}
	s.TCPSocket.AsyncReadSome(b, h, opts...)
}

func TestComposedCancelBetweenSteps(t *testing.T) {
	ctx := newTestContext(t)
	client, server := connectedPair(t, ctx)
	if _, err := client.WriteSome(Buffers{[]byte("abcd")}); err != nil {
		t.Fatal(err)
	}
	sig := NewCancellationSignal()
	st := &emitOnStep{TCPSocket: server, sig: sig, k: 2}
	fired := make(chan result, 1)
	buf := make([]byte, 16)
	AsyncRead(st, Buffers{buf}, func(n int, err error) { fired <- result{n: n, err: err} },
		BindCancellationSlot(sig.Slot()))
	ctx.RunFor(300 * time.Millisecond)
	select {
	case r := <-fired:
		if !isAborted(r.err) {
			t.Errorf("got (%d, %v), want ErrOperationAborted", r.n, r.err)
		}
	default:
		t.Errorf("Emit(CancelTerminal) between steps (after onStep checked t.cancelled, before step 2 was queued) was lost: handler not run after 300ms; steps=%d", st.calls)
	}
}

// ---------------------------------------------------------------------------
// 3. setOptions overflows stepOpts: three executor/immediate options fill
// the [3]OpOption, then the inner slot is stored at index 3.

func TestComposedRedundantOptions(t *testing.T) {
	ctx := newTestContext(t)
	_, server := connectedPair(t, ctx)
	sig := NewCancellationSignal()
	ex := ctx.Executor()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("AsyncRead panicked on redundant options: %v", p)
		}
	}()
	AsyncRead(server, Buffers{make([]byte, 4)}, func(int, error) {},
		BindExecutor(ex), BindExecutor(ex), BindImmediateExecutor(ex), BindCancellationSlot(sig.Slot()))
	server.Cancel()
	ctx.RunFor(50 * time.Millisecond)
}

// ---------------------------------------------------------------------------
// 4. A handler panic leaves the runner in c.runners (loop removes it only on
// a normal return): Close then waits forever, and the goroutine that
// recovered counts as "running a handler" for Dispatch.

func TestHandlerPanicLeavesNoStaleRunner(t *testing.T) {
	ctx, err := NewIOContext()
	if err != nil {
		t.Fatal(err)
	}
	ctx.Executor().Post(func() { panic("boom") })
	inline := make(chan bool, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		func() {
			defer func() { recover() }()
			ctx.Run()
		}()
		// Not inside any handler now.
		ran := false
		ctx.Executor().Dispatch(func() { ran = true })
		inline <- ran
	}()
	<-done
	if <-inline {
		t.Errorf("Dispatch ran f inline on a goroutine that is not running a handler (stale runner after a recovered panic)")
	}
	closed := make(chan error, 1)
	go func() { closed <- ctx.Close() }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Errorf("IOContext.Close hangs after a handler panic was recovered outside Run: c.runners still holds the dead runner")
	}
}

// 5. A panic in a strand handler kills the strand: locked stays true and the
// rest of the batch is dropped, so later handlers never run and their work
// is never finished.
func TestStrandSurvivesHandlerPanic(t *testing.T) {
	ctx, err := NewIOContext()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { go ctx.Close() }()
	s := NewStrand(ctx.Executor())
	ran2 := false
	s.Post(func() { panic("boom") })
	s.Post(func() { ran2 = true })
	func() {
		defer func() { recover() }()
		ctx.Run()
	}()
	ran3 := false
	s.Post(func() { ran3 = true })
	ctx.Restart()
	done := make(chan struct{})
	go func() {
		defer func() { recover() }()
		ctx.RunFor(300 * time.Millisecond)
		close(done)
	}()
	<-done
	if !ran2 || !ran3 {
		t.Errorf("after a panicking strand handler: queued handler ran=%v, later-posted handler ran=%v (work left %d)", ran2, ran3, ctx.work.Load())
	}
}

// ---------------------------------------------------------------------------
// 6. Immediate completions skip the queue: a zero-size read (or one whose
// WithContext is already done) initiated after a pending read completes
// first, although ops of one direction should complete in initiation order.

func TestZeroSizeCompletesAheadOfQueuedOp(t *testing.T) {
	ctx := newTestContext(t)
	client, server := connectedPair(t, ctx)
	var order []string
	server.AsyncReadSome(Buffers{make([]byte, 4)}, func(int, error) { order = append(order, "A") })
	server.AsyncReadSome(nil, func(int, error) { order = append(order, "B(empty)") })
	client.WriteSome(Buffers{[]byte("abcd")})
	deadline := time.Now().Add(2 * time.Second)
	for len(order) < 2 && time.Now().Before(deadline) {
		ctx.Restart()
		ctx.RunFor(20 * time.Millisecond)
	}
	// DESIGN.md: a zero-size op completes at once, with no syscall, even
	// while an op of its direction waits (Asio and Beast rely on it).
	if fmt.Sprint(order) != "[B(empty) A]" {
		t.Errorf("completion order %v, want [B(empty) A]", order)
	}
}

var _ = errors.Is

// 7. WithContext on a composed op does not check a ctx already done at
// initiation (startLocked does, via ctxDone, for a socket op): the steps get
// no ctx, and the AfterFunc's goroutine comes too late when the first step
// completes speculatively.
func TestComposedWithDoneContext(t *testing.T) {
	ctx := newTestContext(t)
	client, server := connectedPair(t, ctx)
	client.WriteSome(Buffers{[]byte("abcd")})
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The socket op alone honours it:
	h1, ch1 := resultChan()
	server.AsyncReadSome(Buffers{make([]byte, 4)}, h1, WithContext(cctx))
	r1 := runFor1(t, ctx, ch1)
	// The composed op does not:
	h2, ch2 := resultChan()
	AsyncRead(server, Buffers{make([]byte, 4)}, h2, WithContext(cctx))
	ctx.Restart()
	r2 := runFor1(t, ctx, ch2)
	if !isAborted(r1.err) || !isAborted(r2.err) {
		t.Errorf("ctx done before initiation: AsyncReadSome got (%d, %v), AsyncRead got (%d, %v); both should be ErrOperationAborted", r1.n, r1.err, r2.n, r2.err)
	}
}
