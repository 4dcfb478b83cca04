package asio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"
)

// queueResult is what one message's handler got, and in which order.
type queueResult struct {
	msg, n int
	err    error
}

// queueRecorder records the handlers of a test's messages.
type queueRecorder struct {
	mu  sync.Mutex
	got []queueResult
}

func (r *queueRecorder) handler(msg int) func(int, error) {
	return func(n int, err error) {
		r.mu.Lock()
		r.got = append(r.got, queueResult{msg, n, err})
		r.mu.Unlock()
	}
}

func (r *queueRecorder) results() []queueResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]queueResult(nil), r.got...)
}

// heldQueue returns a queue on an own test stream whose first write waits
// for release, with message 0 (the bytes "first") written and held: the
// messages queued next wait, then go out together.
func heldQueue(t *testing.T, ctx *IOContext, rec *queueRecorder) (*testStream, *WriteQueue) {
	st := newTestStream(ctx.Executor())
	st.holdAt = 1
	q := NewWriteQueue(ownTestStream{st})
	q.AsyncWrite(Buffers{[]byte("first")}, rec.handler(0))
	if st.pending() {
		t.Fatal("the write started inside AsyncWrite, not from the flush task")
	}
	runUntilPending(t, ctx, st)
	ctx.Restart()
	return st, q
}

// runUntilPending runs ctx one handler at a time until st holds a call.
func runUntilPending(t *testing.T, ctx *IOContext, st *testStream) {
	t.Helper()
	for i := 0; !st.pending(); i++ {
		if i == 100 {
			t.Fatal("no write reached the stream")
		}
		ctx.Restart()
		ctx.RunOne()
	}
}

// message returns message i of size bytes, cut into nbufs buffers (at most
// size of them, each at least one byte), and its bytes.
func message(i, size, nbufs int) (Buffers, []byte) {
	data := pattern(i<<20, size)
	var b Buffers
	for k := 0; k < nbufs; k++ {
		b = append(b, data[k*size/nbufs:(k+1)*size/nbufs])
	}
	return b, data
}

// TestWriteQueueCoalesces: messages queued while a write is in flight go
// out as one gather write when it completes; each handler gets its own
// message's length, in call order; the bytes arrive whole, in order.
func TestWriteQueueCoalesces(t *testing.T) {
	ctx := newTestContext(t)
	var rec queueRecorder
	st, q := heldQueue(t, ctx, &rec)
	want := []byte("first")
	sizes := []int{5}
	for i := 1; i <= 16; i++ {
		b, data := message(i, 10*i, 2)
		q.AsyncWrite(b, rec.handler(i))
		want = append(want, data...)
		sizes = append(sizes, len(data))
	}
	if q.Len() != 16 {
		t.Fatalf("Len() = %d while the first write is in flight, want 16", q.Len())
	}
	st.release()
	ctx.Run()
	calls := st.callLog()
	if len(calls) != 2 || calls[1].nbufs != 32 || calls[1].offered != len(want)-5 {
		t.Fatalf("stream calls %+v, want the first message, then one call of 32 buffers and %d bytes", calls, len(want)-5)
	}
	got := rec.results()
	if len(got) != 17 {
		t.Fatalf("%d handlers ran, want 17", len(got))
	}
	for i, r := range got {
		if r.msg != i || r.n != sizes[i] || r.err != nil {
			t.Fatalf("handler %d: message %d got (%d, %v), want message %d with (%d, nil)", i, r.msg, r.n, r.err, i, sizes[i])
		}
	}
	if !bytes.Equal(st.bytesWritten(), want) {
		t.Fatal("the stream got other bytes than the messages in call order")
	}
	if q.Len() != 0 {
		t.Fatalf("Len() = %d after every write", q.Len())
	}
}

// TestWriteQueueShortSteps: on a stream of the package's kind a batch's
// write offers each step the whole rest; when each takes only a few bytes,
// the next is offered the rest (across message boundaries), and every
// handler still gets its whole message, in call order.
func TestWriteQueueShortSteps(t *testing.T) {
	ctx := newTestContext(t)
	var rec queueRecorder
	st, q := heldQueue(t, ctx, &rec)
	st.mu.Lock()
	st.max = 7
	st.mu.Unlock()
	want := []byte("first")
	sizes := []int{5}
	total := 0
	for i := 1; i <= 5; i++ {
		b, data := message(i, 3*i, min(i, 2))
		q.AsyncWrite(b, rec.handler(i))
		want = append(want, data...)
		sizes = append(sizes, len(data))
		total += len(data)
	}
	st.release()
	ctx.Run()
	calls := st.callLog()
	if n := len(calls); n != 1+(total+6)/7 {
		t.Fatalf("%d stream calls %+v, want 1 and then %d of at most 7 bytes", n, calls, (total+6)/7)
	}
	for k, c := range calls[1:] {
		if left := total - 7*k; c.offered != left {
			t.Fatalf("step %d was offered %d bytes, want the %d left", k+1, c.offered, left)
		}
	}
	got := rec.results()
	if len(got) != 6 {
		t.Fatalf("%d handlers ran, want 6", len(got))
	}
	for i, r := range got {
		if r.msg != i || r.n != sizes[i] || r.err != nil {
			t.Fatalf("handler %d: message %d got (%d, %v), want message %d with (%d, nil)", i, r.msg, r.n, r.err, i, sizes[i])
		}
	}
	if !bytes.Equal(st.bytesWritten(), want) {
		t.Fatal("the stream got other bytes than the messages in call order")
	}
}

// TestWriteQueueWriteInProgress: a batch that finds a composed write of the
// caller's running on the socket fails as AsyncWrite would, with
// ErrWriteInProgress and no byte written; the queue goes on once it ends.
func TestWriteQueueWriteInProgress(t *testing.T) {
	ctx := newTestContext(t)
	st := newTestStream(ctx.Executor())
	st.holdAt = 1
	s := ownTestStream{st}
	q := NewWriteQueue(s)
	var rec queueRecorder
	AsyncWrite(s, Buffers{[]byte("mine")}, rec.handler(0))
	runUntilPending(t, ctx, st)
	ctx.Restart()
	q.AsyncWrite(Buffers{[]byte("queued")}, rec.handler(1))
	for i := 0; len(rec.results()) == 0; i++ {
		if i == 100 {
			t.Fatal("the queued message never completed")
		}
		ctx.Restart()
		ctx.RunOne()
	}
	st.release()
	ctx.Restart()
	ctx.Run()
	q.AsyncWrite(Buffers{[]byte("after")}, rec.handler(2))
	ctx.Restart()
	ctx.Run()
	want := []queueResult{{1, 0, ErrWriteInProgress}, {0, 4, nil}, {2, 5, nil}}
	got := rec.results()
	if len(got) != len(want) {
		t.Fatalf("handlers got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].msg != want[i].msg || got[i].n != want[i].n || !errors.Is(got[i].err, want[i].err) {
			t.Fatalf("handlers got %v, want %v", got, want)
		}
	}
	if string(st.bytesWritten()) != "mineafter" {
		t.Fatalf("the stream got %q, want \"mineafter\"", st.bytesWritten())
	}
}

// TestWriteQueueCoalescesAChain: replies queued by a chain of handlers, each
// queueing one and posting the next (as AsyncReadUntil does over pipelined
// requests already read), go out in one write: the flush task lets the
// chain run first. A long chain is cut into batches of about 16.
func TestWriteQueueCoalescesAChain(t *testing.T) {
	for _, c := range []struct{ chain, maxCalls int }{{1, 1}, {2, 1}, {16, 1}, {64, 6}} {
		t.Run(fmt.Sprint(c.chain), func(t *testing.T) {
			ctx := newTestContext(t)
			st := newTestStream(ctx.Executor())
			q := NewWriteQueue(st)
			var rec queueRecorder
			var want []byte
			var step func(i int)
			step = func(i int) {
				msg := []byte(fmt.Sprintf("reply %d;", i))
				want = append(want, msg...)
				q.AsyncWrite(Buffers{msg}, rec.handler(i))
				if i+1 < c.chain {
					ctx.Executor().Post(func() { step(i + 1) })
				}
			}
			ctx.Executor().Post(func() { step(0) })
			ctx.Run()
			if calls := st.callLog(); len(calls) > c.maxCalls {
				t.Errorf("%d replies took %d writes, want at most %d", c.chain, len(calls), c.maxCalls)
			}
			if got := rec.results(); len(got) != c.chain {
				t.Fatalf("%d handlers ran, want %d", len(got), c.chain)
			}
			if !bytes.Equal(st.bytesWritten(), want) {
				t.Fatal("the stream got other bytes than the replies in order")
			}
		})
	}
}

// TestWriteQueueBatchBounds: a batch ends before a message that would take
// it past IOV_MAX buffers or past the byte bound; a message past either
// bound goes alone (and the composed write splits it).
func TestWriteQueueBatchBounds(t *testing.T) {
	type msg struct{ size, nbufs int }
	cases := []struct {
		name  string
		msgs  []msg
		calls []streamCall // after the first message's
	}{
		{name: "64 small messages: one batch", msgs: repeatMsg(msg{100, 1}, 64), calls: []streamCall{{6400, 64}}},
		{name: "two messages of 512 buffers fill IOV_MAX", msgs: repeatMsg(msg{1024, 512}, 2), calls: []streamCall{{2048, 1024}}},
		{name: "600 buffers each: one message per batch", msgs: repeatMsg(msg{600, 600}, 3),
			calls: []streamCall{{600, 600}, {600, 600}, {600, 600}}},
		{name: "400 KiB each: two per batch", msgs: repeatMsg(msg{400 << 10, 1}, 5),
			calls: []streamCall{{800 << 10, 2}, {800 << 10, 2}, {400 << 10, 1}}},
		{name: "the bound exactly", msgs: repeatMsg(msg{256 << 10, 1}, 5),
			calls: []streamCall{{1 << 20, 4}, {256 << 10, 1}}},
		{name: "a large message goes alone", msgs: []msg{{2 << 20, 1}, {10, 1}, {20, 1}},
			calls: []streamCall{{2 << 20, 1}, {30, 2}}},
		{name: "small, then large: the large one waits", msgs: []msg{{10, 1}, {2 << 20, 1}},
			calls: []streamCall{{10, 1}, {2 << 20, 1}}},
		{name: "2000 buffers: alone, split at IOV_MAX", msgs: []msg{{2000, 2000}, {5, 1}},
			calls: []streamCall{{1024, 1024}, {976, 976}, {5, 1}}},
		{name: "empty messages", msgs: []msg{{0, 0}, {0, 0}, {3, 1}}, calls: []streamCall{{3, 1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := newTestContext(t)
			var rec queueRecorder
			st, q := heldQueue(t, ctx, &rec)
			want := []byte("first")
			for i, m := range c.msgs {
				b, data := message(i+1, m.size, m.nbufs)
				q.AsyncWrite(b, rec.handler(i+1))
				want = append(want, data...)
			}
			st.release()
			ctx.Run()
			calls := st.callLog()[1:]
			if fmt.Sprint(calls) != fmt.Sprint(c.calls) {
				t.Fatalf("stream calls (bytes, buffers) %v, want %v", calls, c.calls)
			}
			got := rec.results()
			if len(got) != len(c.msgs)+1 {
				t.Fatalf("%d handlers ran, want %d", len(got), len(c.msgs)+1)
			}
			for i, r := range got[1:] {
				if r.msg != i+1 || r.n != c.msgs[i].size || r.err != nil {
					t.Fatalf("message %d got (%d, %v) as handler %d, want (%d, nil)", r.msg, r.n, r.err, i+1, c.msgs[i].size)
				}
			}
			if !bytes.Equal(st.bytesWritten(), want) {
				t.Fatal("the stream got other bytes than the messages in call order")
			}
		})
	}
}

func repeatMsg[T any](m T, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = m
	}
	return s
}

// TestWriteQueueBatchError: when a batch's write fails, every message of
// the batch gets the error once, with the bytes of it that were written; a
// message queued after the batch goes out in the next one.
func TestWriteQueueBatchError(t *testing.T) {
	ctx := newTestContext(t)
	var rec queueRecorder
	st, q := heldQueue(t, ctx, &rec)
	st.failAt, st.failN, st.failErr = 2, 25, errStep
	for i := 1; i <= 4; i++ {
		q.AsyncWrite(Buffers{bytes.Repeat([]byte{byte('a' + i)}, 10)}, rec.handler(i))
	}
	// Message 5 is queued while the batch of 1 to 4 is being written.
	st.onCall = func(call int) {
		if call == 2 {
			q.AsyncWrite(Buffers{[]byte("after")}, rec.handler(5))
		}
	}
	st.release()
	ctx.Run()
	want := []queueResult{{0, 5, nil}, {1, 10, errStep}, {2, 10, errStep}, {3, 5, errStep}, {4, 0, errStep}, {5, 5, nil}}
	if got := rec.results(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("handlers got %v, want %v", got, want)
	}
	if calls := st.callLog(); len(calls) != 3 || calls[1].offered != 40 || calls[2].offered != 5 {
		t.Fatalf("stream calls %v, want the first message, the batch of 40 bytes, then \"after\"", calls)
	}
}

// TestWriteQueuePeerReset: a peer that resets while replies are queued
// behind a write it does not read: every handler runs exactly once, the
// ones after the reset with ECONNRESET or EPIPE, none succeeding after a
// failure.
func TestWriteQueuePeerReset(t *testing.T) {
	ctx := newTestContext(t)
	_, stop := runInBackground(t, ctx, 1)
	defer stop()
	peer, s := connectedPair(t, ctx)
	s.SetSendBufferSize(16 << 10)
	peer.SetReceiveBufferSize(16 << 10)
	q := NewWriteQueue(s)
	const n = 64
	reply := pattern(0, 64<<10)
	var wg sync.WaitGroup
	wg.Add(n)
	var mu sync.Mutex
	calls := make([]int, n)
	errs := make([]error, n)
	var order []int
	for i := 0; i < n; i++ {
		q.AsyncWrite(Buffers{reply}, func(_ int, err error) {
			mu.Lock()
			calls[i]++
			errs[i] = err
			order = append(order, i)
			mu.Unlock()
			wg.Done()
		})
	}
	if err := peer.SetLinger(true, 0); err != nil {
		t.Fatal(err)
	}
	peer.Close() // RST: the peer never read a byte
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	waitChan(t, done, "every queued message's handler")
	mu.Lock()
	defer mu.Unlock()
	failed := false
	for k, i := range order {
		if k != i {
			t.Fatalf("handlers ran in order %v", order)
		}
		if calls[i] != 1 {
			t.Fatalf("message %d: handler ran %d times", i, calls[i])
		}
		switch err := errs[i]; {
		case err == nil && failed:
			t.Fatalf("message %d succeeded after an earlier one failed", i)
		case err == nil:
		case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
			failed = true
		default:
			t.Fatalf("message %d: %v, want ECONNRESET or EPIPE", i, err)
		}
	}
	if !failed {
		t.Fatal("every message succeeded though the peer reset without reading")
	}
}

// TestWriteQueueSocketClosedUnder: Cancel or Close of the queue's socket
// with one batch in flight and another waiting behind it. Every handler
// runs once, in call order, and the bytes they report written are exactly
// what the peer receives. The batch in flight fails with
// ErrOperationAborted, each message with the bytes of it that moved. After
// Close the waiting batch fails too; after Cancel (which aborts only the
// write in flight) it goes out whole once the peer reads.
func TestWriteQueueSocketClosedUnder(t *testing.T) {
	for _, how := range []string{"cancel", "close"} {
		t.Run(how, func(t *testing.T) {
			ctx := newTestContext(t)
			peer, s := connectedPair(t, ctx)
			s.SetSendBufferSize(16 << 10)
			peer.SetReceiveBufferSize(16 << 10)
			q := NewWriteQueue(s)
			const n = 32 // two batches of 1 MiB
			msg := pattern(0, 64<<10)
			type result struct {
				i, n int
				err  error
			}
			results := make(chan result, 2*n)
			for i := 0; i < n; i++ {
				q.AsyncWrite(Buffers{msg}, func(k int, err error) { results <- result{i, k, err} })
			}
			// The peer reads nothing yet: the first batch fills both socket
			// buffers and waits in flight; the second waits behind it.
			deadline := time.Now().Add(waitTimeout)
			for q.Len() == n {
				if time.Now().After(deadline) {
					t.Fatal("no batch started")
				}
				ctx.Restart()
				ctx.RunFor(10 * time.Millisecond)
			}
			if q.Len() != n/2 {
				t.Fatalf("%d messages wait behind the batch, want %d", q.Len(), n/2)
			}
			if how == "cancel" {
				s.Cancel()
			} else {
				s.Close()
			}
			var received <-chan []byte
			sent := 0
			for k := 0; k < n; k++ {
				if k == n/2 && how == "cancel" {
					received = drainAsync(peer) // lets the second batch go out
				}
				r := runFor1(t, ctx, results)
				inFlight := k < n/2
				switch {
				case r.i != k:
					t.Fatalf("handler of message %d ran in the place of %d", r.i, k)
				case inFlight && !errors.Is(r.err, ErrOperationAborted):
					t.Fatalf("message %d of the batch in flight: (%d, %v), want ErrOperationAborted", k, r.n, r.err)
				case !inFlight && how == "cancel" && (r.err != nil || r.n != len(msg)):
					t.Fatalf("message %d after Cancel: (%d, %v), want (%d, nil)", k, r.n, r.err, len(msg))
				case !inFlight && how == "close" && (r.err == nil || r.n != 0):
					t.Fatalf("message %d after Close: (%d, %v), want (0, an error)", k, r.n, r.err)
				}
				sent += r.n
			}
			if how == "cancel" {
				s.Close() // the peer's drain ends at EOF
			} else {
				received = drainAsync(peer)
			}
			got := len(waitChan(t, received, "the peer's EOF"))
			select {
			case r := <-results:
				t.Fatalf("a handler ran twice: %+v", r)
			default:
			}
			if got != sent {
				t.Fatalf("the handlers report %d bytes written, the peer received %d", sent, got)
			}
		})
	}
}

// TestWriteQueueCancelWaiting: a message waiting behind others is taken out
// by any cancellation type, or its context, and completes with (0,
// ErrOperationAborted) before the write ahead of it ends; the others go out
// without it. A request once its batch is in flight does nothing.
func TestWriteQueueCancelWaiting(t *testing.T) {
	cases := []struct {
		name   string
		ct     CancellationType // emitted on the slot, or
		ctx    bool             // the message's context is cancelled
		cancel bool             // the message is taken out
	}{
		{name: "terminal", ct: CancelTerminal, cancel: true},
		{name: "partial", ct: CancelPartial, cancel: true},
		{name: "total", ct: CancelTotal, cancel: true},
		{name: "none", ct: CancelNone, cancel: false},
		{name: "context", ctx: true, cancel: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := newTestContext(t)
			var rec queueRecorder
			st, q := heldQueue(t, ctx, &rec)
			sig := NewCancellationSignal()
			cctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			opt := BindCancellationSlot(sig.Slot())
			if c.ctx {
				opt = WithContext(cctx)
			}
			q.AsyncWrite(Buffers{[]byte("one")}, rec.handler(1))
			q.AsyncWrite(Buffers{[]byte("two")}, rec.handler(2), opt)
			q.AsyncWrite(Buffers{[]byte("three")}, rec.handler(3))
			if c.ctx {
				cancel()
			} else {
				sig.Emit(c.ct)
			}
			if c.cancel {
				// The abort is posted to the executor: wait for it before the
				// write ahead is released.
				for len(rec.results()) == 0 {
					ctx.Restart()
					ctx.RunOne()
				}
				if got := rec.results(); fmt.Sprint(got) != fmt.Sprint([]queueResult{{2, 0, ErrOperationAborted}}) {
					t.Fatalf("after the cancellation: %v, want message 2 aborted with n=0", got)
				}
				if q.Len() != 2 {
					t.Fatalf("Len() = %d after the cancellation, want 2", q.Len())
				}
			}
			st.release()
			ctx.Restart()
			ctx.Run()
			wantBytes, wantN := "firstonetwothree", 4
			if c.cancel {
				wantBytes, wantN = "firstonethree", 4
			}
			if got := string(st.bytesWritten()); got != wantBytes {
				t.Fatalf("stream got %q, want %q", got, wantBytes)
			}
			if got := rec.results(); len(got) != wantN {
				t.Fatalf("%d handlers ran (%v), want %d", len(got), got, wantN)
			}
			// Emitting again once the message has completed does nothing.
			sig.Emit(CancelAll)
			ctx.Restart()
			ctx.Run()
			if got := rec.results(); len(got) != wantN {
				t.Fatalf("a late emit ran a handler again: %v", got)
			}
		})
	}
}

// TestWriteQueueCancelBehindSolo: a plain message queued into an idle
// queue waits in the queue itself, not in its ring; a second message,
// queued before the first is written, moves it into the ring ahead of
// itself. Cancelling the second then takes out the second, not the first.
func TestWriteQueueCancelBehindSolo(t *testing.T) {
	ctx := newTestContext(t)
	st := newTestStream(ctx.Executor())
	q := NewWriteQueue(ownTestStream{st})
	var rec queueRecorder
	sig := NewCancellationSignal()
	q.AsyncWrite(Buffers{[]byte("one")}, rec.handler(1))
	if !q.soloWaits || q.arr != nil {
		t.Fatal("a plain message into an idle queue took the ring")
	}
	q.AsyncWrite(Buffers{[]byte("two")}, rec.handler(2), BindCancellationSlot(sig.Slot()))
	q.AsyncWrite(Buffers{[]byte("three")}, rec.handler(3))
	if q.Len() != 3 {
		t.Fatalf("Len() = %d, want 3", q.Len())
	}
	sig.Emit(CancelTerminal)
	ctx.Run()
	want := []queueResult{{2, 0, ErrOperationAborted}, {1, 3, nil}, {3, 5, nil}}
	if got := rec.results(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("handlers got %v, want %v", got, want)
	}
	if got := string(st.bytesWritten()); got != "onethree" {
		t.Fatalf("stream got %q, want \"onethree\"", got)
	}
	if r := q.solo[0]; q.arr != nil || q.soloWaits || r.h != nil || r.buf != nil || r.m != nil {
		t.Fatal("the idle queue still holds records")
	}
}

// TestWriteQueueCancelInFlight: a message whose batch is in flight is not
// cancelled by its slot, alone or in a batch with others: it is written
// whole and gets its real result.
func TestWriteQueueCancelInFlight(t *testing.T) {
	for _, alone := range []bool{true, false} {
		t.Run(fmt.Sprintf("alone=%v", alone), func(t *testing.T) {
			ctx := newTestContext(t)
			st := newTestStream(ctx.Executor())
			q := NewWriteQueue(ownTestStream{st})
			var rec queueRecorder
			sig := NewCancellationSignal()
			st.holdAt = 1
			if alone {
				q.AsyncWrite(Buffers{[]byte("one")}, rec.handler(1), BindCancellationSlot(sig.Slot()))
			} else {
				q.AsyncWrite(Buffers{[]byte("zero")}, rec.handler(0))
				q.AsyncWrite(Buffers{[]byte("one")}, rec.handler(1), BindCancellationSlot(sig.Slot()))
				q.AsyncWrite(Buffers{[]byte("two")}, rec.handler(2))
			}
			runUntilPending(t, ctx, st)
			if calls := st.callLog(); calls[0].nbufs != 1 && alone || calls[0].nbufs != 3 && !alone {
				t.Fatalf("the batch in flight is %+v", calls[0])
			}
			sig.Emit(CancelAll)
			ctx.Restart()
			ctx.Poll()
			for _, r := range rec.results() {
				if r.msg == 1 {
					t.Fatalf("message 1 completed with (%d, %v) on an emit while in flight", r.n, r.err)
				}
			}
			st.release()
			ctx.Restart()
			ctx.Run()
			for _, r := range rec.results() {
				if r.err != nil || r.n != len([]string{"zero", "one", "two"}[r.msg]) {
					t.Fatalf("message %d: (%d, %v)", r.msg, r.n, r.err)
				}
			}
		})
	}
}

// TestWriteQueueContextDoneAtCall: a message whose context is already done
// completes with (0, ErrOperationAborted) through the executor, never
// inline, and moves no byte.
func TestWriteQueueContextDoneAtCall(t *testing.T) {
	ctx := newTestContext(t)
	st := newTestStream(ctx.Executor())
	q := NewWriteQueue(st)
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	h, ch := resultChan()
	q.AsyncWrite(Buffers{[]byte("x")}, h, WithContext(cctx))
	if len(ch) != 0 {
		t.Fatal("handler ran inline")
	}
	if r := runFor1(t, ctx, ch); r.n != 0 || !errors.Is(r.err, ErrOperationAborted) {
		t.Fatalf("(%d, %v), want (0, ErrOperationAborted)", r.n, r.err)
	}
	if len(st.callLog()) != 0 {
		t.Fatal("the stream was called")
	}
}

// TestWriteQueueBuffersNotRetained: the queue copies the slice headers of a
// message, so the caller may reuse its Buffers value at once (the bytes
// stay the caller's until the handler runs).
func TestWriteQueueBuffersNotRetained(t *testing.T) {
	ctx := newTestContext(t)
	var rec queueRecorder
	st, q := heldQueue(t, ctx, &rec)
	b := Buffers{[]byte("one"), []byte("two")}
	q.AsyncWrite(b, rec.handler(1))
	b[0], b[1] = []byte("XXX"), []byte("YYY")
	q.AsyncWrite(b, rec.handler(2))
	b[0], b[1] = nil, nil
	st.release()
	ctx.Run()
	if got := string(st.bytesWritten()); got != "firstonetwoXXXYYY" {
		t.Fatalf("stream got %q", got)
	}
}

// TestWriteQueueBoundExecutors: each handler runs on its bound executor, a
// lone message's and one in a batch alike; the others on the stream's;
// handlers of one executor in call order.
func TestWriteQueueBoundExecutors(t *testing.T) {
	ctx := newTestContext(t)
	st := newTestStream(ctx.Executor())
	st.holdAt = 1
	q := NewWriteQueue(st)
	rec := newRecordingExecutor(ctx.Executor())
	var mu sync.Mutex
	var bound, plain []int
	for i := 0; i < 12; i++ {
		if i%3 == 0 {
			q.AsyncWrite(Buffers{[]byte("b")}, func(n int, err error) {
				if !rec.runningInside() || n != 1 || err != nil {
					t.Errorf("message %d: (%d, %v), inside its executor %v", i, n, err, rec.runningInside())
				}
				mu.Lock()
				bound = append(bound, i)
				mu.Unlock()
			}, BindExecutor(rec))
			continue
		}
		q.AsyncWrite(Buffers{[]byte("p")}, func(n int, err error) {
			if rec.runningInside() || n != 1 || err != nil {
				t.Errorf("message %d: (%d, %v), inside the bound executor %v", i, n, err, rec.runningInside())
			}
			mu.Lock()
			plain = append(plain, i)
			mu.Unlock()
		})
	}
	st.release()
	ctx.Run()
	if fmt.Sprint(bound) != "[0 3 6 9]" || fmt.Sprint(plain) != "[1 2 4 5 7 8 10 11]" {
		t.Fatalf("bound handlers ran %v, the others %v", bound, plain)
	}
}

// TestWriteQueueHandlerPanic: a handler that panics in the middle of a
// batch loses no other handler, and the queue goes on.
func TestWriteQueueHandlerPanic(t *testing.T) {
	ctx := newTestContext(t)
	var rec queueRecorder
	st, q := heldQueue(t, ctx, &rec)
	q.AsyncWrite(Buffers{[]byte("one")}, func(int, error) { panic("boom") })
	q.AsyncWrite(Buffers{[]byte("two")}, rec.handler(2))
	q.AsyncWrite(Buffers{[]byte("three")}, rec.handler(3))
	st.release()
	if !runRecovering(ctx) {
		t.Fatal("the handler's panic did not reach Run's caller")
	}
	runRecovering(ctx)
	q.AsyncWrite(Buffers{[]byte("four")}, rec.handler(4))
	runRecovering(ctx)
	want := []queueResult{{0, 5, nil}, {2, 3, nil}, {3, 5, nil}, {4, 4, nil}}
	if got := rec.results(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("handlers got %v, want %v", got, want)
	}
	if got := string(st.bytesWritten()); got != "firstonetwothreefour" {
		t.Fatalf("stream got %q", got)
	}
}

// TestWriteQueueSteadyStateAllocs: sixteen replies queued at once on a
// socket, coalesced, allocate nothing per round once the pools are warm.
func TestWriteQueueSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector (sync.Pool drops items)")
	}
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	q := NewWriteQueue(c)
	reply := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	in := make([]byte, 16*len(reply))
	var failed error
	onWrite := func(n int, err error) {
		if err != nil || n != len(reply) {
			failed = errors.Join(err, errors.New("short write"))
		}
	}
	onRead := func(n int, err error) {
		if err != nil {
			failed = err
		}
	}
	round := func() {
		for i := 0; i < 16; i++ {
			q.AsyncWrite(Buffers{reply}, onWrite)
		}
		AsyncRead(s, Buffers{in}, onRead)
		ctx.Restart()
		ctx.Run()
	}
	for i := 0; i < 50; i++ {
		round()
	}
	if allocs := testing.AllocsPerRun(100, round); allocs > 0 || failed != nil {
		t.Fatalf("16 queued replies: %.1f allocs per round (err %v), want 0", allocs, failed)
	}
}

// TestWriteQueueIdleHoldsNothing: while the queue stays busy, the
// messages queued behind a batch reuse its records (no trip to the shared
// pool each), and an idle queue holds no records at all.
func TestWriteQueueIdleHoldsNothing(t *testing.T) {
	ctx := newTestContext(t)
	var rec queueRecorder
	st, q := heldQueue(t, ctx, &rec)
	for i := 1; i <= 16; i++ {
		q.AsyncWrite(Buffers{[]byte("0123456789")}, rec.handler(i))
	}
	q.mu.Lock()
	arr := q.arr
	q.mu.Unlock()
	st.release()
	st.mu.Lock()
	st.holdAt = 2 // the batch of messages 1–16
	st.mu.Unlock()
	runUntilPending(t, ctx, st)
	// Message 17 waits behind the batch, so the queue stays busy after it;
	// message 18 is queued while 17's write is in flight.
	q.AsyncWrite(Buffers{[]byte("x")}, rec.handler(17))
	same := false
	st.onCall = func(call int) {
		if call != 3 {
			return
		}
		q.AsyncWrite(Buffers{[]byte("y")}, rec.handler(18))
		q.mu.Lock()
		same = q.arr == arr
		q.mu.Unlock()
	}
	st.release()
	ctx.Restart()
	ctx.Run()
	if got := rec.results(); len(got) != 19 {
		t.Fatalf("%d handlers ran, want 19", len(got))
	}
	if !same {
		t.Fatal("message 18, queued while the queue stayed busy, took other records than the batch's")
	}
	q.mu.Lock()
	arr, busy := q.arr, q.busy
	q.mu.Unlock()
	if arr != nil || busy {
		t.Fatalf("idle queue: records %p, busy %v; want none and idle", arr, busy)
	}
}

// TestWriteQueueRingGrows: messages queued behind a batch in flight fill
// the ring past its size while its head has wrapped; a message cancelled
// in the middle is skipped, one of several buffers goes whole, and
// everything else goes out once, in call order.
func TestWriteQueueRingGrows(t *testing.T) {
	ctx := newTestContext(t)
	var rec queueRecorder
	st, q := heldQueue(t, ctx, &rec)
	var want bytes.Buffer
	want.WriteString("first")
	for i := 1; i <= 10; i++ {
		q.AsyncWrite(Buffers{[]byte(fmt.Sprintf("<%d>", i))}, rec.handler(i))
		fmt.Fprintf(&want, "<%d>", i)
	}
	st.release()
	st.mu.Lock()
	st.holdAt = 2 // the batch of messages 1–10
	st.mu.Unlock()
	runUntilPending(t, ctx, st)
	sig := NewCancellationSignal()
	const n = 3 * wqPooledMax
	for i := 11; i <= n; i++ {
		data := fmt.Sprintf("<%d>", i)
		switch i {
		case 20:
			q.AsyncWrite(Buffers{[]byte(data)}, rec.handler(i), BindCancellationSlot(sig.Slot()))
			continue // cancelled below
		case 25:
			q.AsyncWrite(Buffers{[]byte(data[:2]), []byte(data[2:])}, rec.handler(i))
		default:
			q.AsyncWrite(Buffers{[]byte(data)}, rec.handler(i))
		}
		want.WriteString(data)
	}
	sig.Emit(CancelTerminal)
	if got, wantLen := q.Len(), n-10-1; got != wantLen {
		t.Fatalf("Len() = %d after the cancellation, want %d", got, wantLen)
	}
	st.release()
	ctx.Restart()
	ctx.Run()
	if got := string(st.bytesWritten()); got != want.String() {
		t.Fatalf("stream got %q, want %q", got, want.String())
	}
	got := rec.results()
	if len(got) != n+1 {
		t.Fatalf("%d handlers ran, want %d", len(got), n+1)
	}
	next := 0
	for _, r := range got {
		if r.msg == 20 {
			if r.n != 0 || !errors.Is(r.err, ErrOperationAborted) {
				t.Fatalf("cancelled message 20 got (%d, %v), want (0, ErrOperationAborted)", r.n, r.err)
			}
			continue
		}
		if next == 20 {
			next++
		}
		if r.msg != next || r.err != nil || r.n != len(fmt.Sprintf("<%d>", r.msg)) && r.msg != 0 {
			t.Fatalf("handler %v in the place of message %d (results %v)", r, next, got)
		}
		next++
	}
}

// TestWriteQueueWrittenByFlush: on a TCPSocket the flush task writes a
// batch the socket takes at once itself and delivers it there, so that
// the reply's handler runs within that one handler run, with no op
// completion behind it; a batch larger than the socket takes goes on as
// an op, and its handler's n counts the bytes the flush task sent too.
func TestWriteQueueWrittenByFlush(t *testing.T) {
	cases := []struct {
		name string
		size int
	}{
		{"at once", 100},
		{"then as an op", 4 << 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newTestContext(t)
			c, s := connectedPair(t, ctx)
			if tc.size > 1<<20 {
				c.SetSendBufferSize(16 << 10)
				s.SetReceiveBufferSize(16 << 10)
			}
			got := drainAsync(s)
			q := NewWriteQueue(c)
			msg := pattern(0, tc.size)
			calls, n := 0, 0
			var werr error
			q.AsyncWrite(Buffers{msg}, func(m int, err error) { calls, n, werr = calls+1, m, err })
			ran := ctx.RunOne() // the flush task
			if tc.size <= 1<<10 {
				// Only where the backend tries writes on the caller's
				// goroutine: io_uring sends through its ring.
				if b := ctx.Backend(); b == BackendEpoll || (b == BackendPortable && portableSpeculates) {
					if ran != 1 || calls != 1 {
						t.Fatalf("one handler run (%d) called the reply's handler %d times, want once", ran, calls)
					}
				}
			}
			for calls == 0 {
				ctx.Restart()
				ctx.RunOne()
			}
			ctx.Restart()
			ctx.Poll()
			if calls != 1 || n != tc.size || werr != nil {
				t.Fatalf("handler ran %d times with (%d, %v), want once with (%d, nil)", calls, n, werr, tc.size)
			}
			c.Shutdown(ShutdownSend)
			if b := waitChan(t, got, "the peer's bytes"); !bytes.Equal(b, msg) {
				t.Fatalf("peer got %d bytes, not the %d of the message", len(b), len(msg))
			}
			if st := ctx.Stats(); st.OpsPending != 0 {
				t.Fatalf("%d ops still pending after the write", st.OpsPending)
			}
		})
	}
}

// TestWriteQueueHandlerPanicInFlush: a handler that panics while the flush
// task delivers a batch it wrote itself (a TCPSocket's, TestWriteQueueWrittenByFlush)
// reaches Run's caller; the handlers behind it in the batch still run once
// each, and the queue goes on writing.
func TestWriteQueueHandlerPanicInFlush(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	got := drainAsync(s)
	q := NewWriteQueue(c)
	var rec queueRecorder
	ctx.Executor().Post(func() {
		q.AsyncWrite(Buffers{[]byte("one")}, func(int, error) { panic("boom") })
		q.AsyncWrite(Buffers{[]byte("two")}, rec.handler(2))
		q.AsyncWrite(Buffers{[]byte("three")}, rec.handler(3))
	})
	if !runRecovering(ctx) {
		t.Fatal("the handler's panic did not reach Run's caller")
	}
	runRecovering(ctx)
	q.AsyncWrite(Buffers{[]byte("four")}, rec.handler(4))
	if runRecovering(ctx) {
		t.Fatal("a second panic")
	}
	want := []queueResult{{2, 3, nil}, {3, 5, nil}, {4, 4, nil}}
	if r := rec.results(); fmt.Sprint(r) != fmt.Sprint(want) {
		t.Fatalf("handlers got %v, want %v", r, want)
	}
	c.Shutdown(ShutdownSend)
	if b := waitChan(t, got, "the peer's bytes"); string(b) != "onetwothreefour" {
		t.Fatalf("peer got %q", b)
	}
}

// runRecovering runs ctx until it runs out of work and reports whether a
// handler's panic reached Run's caller.
func runRecovering(ctx *IOContext) (panicked bool) {
	defer func() { panicked = recover() != nil }()
	ctx.Restart()
	ctx.Run()
	return false
}
