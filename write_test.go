package asio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand"
	"sync"
	"testing"
)

var errStep = errors.New("step failed")

// transferCase is one run of a composed operation over a test stream.
type transferCase struct {
	name    string
	own     bool                // run on a stream that counts as the package's own socket
	sizes   []int               // the caller's buffers
	cond    CompletionCondition // nil: the plain AsyncWrite/AsyncRead
	max     int                 // the stream moves at most this per call (0: no limit)
	failAt  int
	failN   int
	zeroAt  int
	wantN   int
	wantErr error
	offers  []int // the exact offers, when given
}

// expectedOffers simulates Asio's algorithm: the first call is offered
// min(cond(nil, 0), left) even when that is 0; after a step that moved n
// bytes: stop on error, on 0 bytes, when all moved, when cond says 0;
// else offer min(cond(nil, total), left). A condition's "no bound"
// (math.MaxInt) is 64 KiB on a user's stream, the whole rest on an own one.
func (c transferCase) expectedOffers() []int {
	cond := c.cond
	if cond == nil {
		cond = TransferAll()
	}
	size := 0
	for _, s := range c.sizes {
		size += s
	}
	var offers []int
	total := 0
	max := cond(nil, 0)
	for call := 1; ; call++ {
		bound := max
		if bound == math.MaxInt && !c.own {
			bound = 64 << 10
		}
		offer := min(bound, size-total)
		offers = append(offers, offer)
		moved := offer
		if c.max > 0 {
			moved = min(moved, c.max)
		}
		var err error
		switch call {
		case c.zeroAt:
			moved = 0
		case c.failAt:
			moved = min(moved, c.failN)
			err = errStep
		}
		total += moved
		if (err == nil && moved == 0) || total == size || err != nil {
			return offers
		}
		if max = cond(nil, total); max == 0 {
			return offers
		}
	}
}

func transferCases() []transferCase {
	return []transferCase{
		{name: "empty buffers", sizes: nil, wantN: 0, offers: []int{0}},
		{name: "empty slices", sizes: []int{0, 0, 0}, wantN: 0, offers: []int{0}},
		{name: "one call", sizes: []int{100}, wantN: 100, offers: []int{100}},
		{name: "64 KiB cap", sizes: []int{200 << 10}, wantN: 200 << 10, offers: []int{64 << 10, 64 << 10, 64 << 10, 8 << 10}},
		{name: "64 KiB cap over buffers", sizes: []int{40 << 10, 40 << 10, 40 << 10}, wantN: 120 << 10, offers: []int{64 << 10, 56 << 10}},
		{name: "stream takes 1000 a call", sizes: []int{70000}, max: 1000, wantN: 70000},
		{name: "several buffers, 7 a call", sizes: []int{10, 0, 20, 5, 1}, max: 7, wantN: 36},
		{name: "TransferExactly", sizes: []int{200000}, cond: TransferExactly(100000), max: 30000, wantN: 100000,
			offers: []int{65536, 65536, 40000, 10000}},
		{name: "TransferExactly more than the buffers", sizes: []int{50}, cond: TransferExactly(100), max: 20, wantN: 50},
		{name: "TransferExactly(0)", sizes: []int{50}, cond: TransferExactly(0), wantN: 0, offers: []int{0}},
		{name: "TransferAtLeast overshoots", sizes: []int{1000}, cond: TransferAtLeast(100), max: 30, wantN: 120,
			offers: []int{1000, 970, 940, 910}},
		{name: "custom condition", sizes: []int{100}, wantN: 15, offers: []int{5, 5, 5},
			cond: func(err error, total int) int {
				if err != nil || total >= 12 {
					return 0
				}
				return 5
			}},
		{name: "zero-byte step ends it", sizes: []int{100}, max: 10, zeroAt: 2, wantN: 10, offers: []int{100, 90}},
		{name: "error midway counts the failing step", sizes: []int{100}, max: 10, failAt: 3, failN: 4, wantN: 24, wantErr: errStep},
		{name: "error at once", sizes: []int{100}, failAt: 1, failN: 0, wantN: 0, wantErr: errStep},
		{name: "error on the last step", sizes: []int{20}, max: 10, failAt: 2, failN: 10, wantN: 20, wantErr: errStep},

		// On the package's own sockets a condition without a bound of its
		// own offers the whole rest, IOV_MAX buffers at most.
		{name: "own: whole offer", own: true, sizes: []int{1 << 20}, wantN: 1 << 20, offers: []int{1 << 20}},
		{name: "own: whole offer over buffers", own: true, sizes: []int{40 << 10, 0, 40 << 10, 40 << 10}, wantN: 120 << 10, offers: []int{120 << 10}},
		{name: "own: stream takes 100000 a call", own: true, sizes: []int{250000}, max: 100000, wantN: 250000, offers: []int{250000, 150000, 50000}},
		{name: "own: IOV_MAX buffers a step", own: true, sizes: ones(3000), wantN: 3000, offers: []int{1024, 1024, 952}},
		{name: "own: TransferAtLeast offers the rest", own: true, sizes: []int{200 << 10}, cond: TransferAtLeast(100 << 10), max: 60000, wantN: 120000,
			offers: []int{200 << 10, 200<<10 - 60000}},
		{name: "own: TransferExactly keeps 64 KiB", own: true, sizes: []int{200000}, cond: TransferExactly(100000), max: 30000, wantN: 100000,
			offers: []int{65536, 65536, 40000, 10000}},
		{name: "own: a condition's bound holds", own: true, sizes: []int{300 << 10}, wantN: 300 << 10, offers: []int{128 << 10, 128 << 10, 44 << 10},
			cond: func(err error, total int) int {
				if err != nil {
					return 0
				}
				return 128 << 10
			}},
		{name: "own: empty buffers", own: true, sizes: nil, wantN: 0, offers: []int{0}},
		{name: "own: error midway", own: true, sizes: []int{100}, max: 10, failAt: 3, failN: 4, wantN: 24, wantErr: errStep},
		{name: "user: a condition's bound past 64 KiB holds", sizes: []int{300 << 10}, wantN: 300 << 10, offers: []int{128 << 10, 128 << 10, 44 << 10},
			cond: func(err error, total int) int {
				if err != nil {
					return 0
				}
				return 128 << 10
			}},
	}
}

// ones returns n sizes of one byte.
func ones(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// ownTestStream is a test stream that counts as one of the package's own
// sockets for the composed operations.
// ownTestStream is a testStream that a composed write treats as one of
// the package's sockets: it is offered the whole rest, and it holds a
// composed-write lock (a second composed write, or a WriteQueue's batch
// meeting one, gets ErrWriteInProgress).
type ownTestStream struct{ *testStream }

func (ownTestStream) offersWhole()         {}
func (s ownTestStream) tryLockWrite() bool { return s.wlock.CompareAndSwap(false, true) }
func (s ownTestStream) unlockWrite()       { s.wlock.Store(false) }

func buffersOf(sizes []int, fill bool) ([][]byte, []byte) {
	var bufs [][]byte
	var all []byte
	off := 0
	for _, n := range sizes {
		b := make([]byte, n)
		if fill {
			copy(b, pattern(off, n))
		}
		off += n
		bufs = append(bufs, b)
		all = append(all, b...)
	}
	return bufs, all
}

// runTransferCase runs c as a write (or a read) and checks the result,
// every offer, and the bytes moved.
func runTransferCase(t *testing.T, c transferCase, write bool) {
	runTransferCaseAs(t, c, write, false)
}

// runTransferCaseAs runs c with the composed operation or, blocking, with
// its blocking form (Write, WriteCond, Read, ReadCond) over the same test
// stream: both must make the same calls with the same results.
func runTransferCaseAs(t *testing.T, c transferCase, write, blocking bool) {
	ctx := newTestContext(t)
	st := newTestStream(ctx.Executor())
	st.max, st.failAt, st.failN, st.failErr, st.zeroAt = c.max, c.failAt, c.failN, errStep, c.zeroAt
	bufs, data := buffersOf(c.sizes, write)
	if !write {
		st.in = [][]byte{pattern(0, len(data)+100)}
	}
	var stream interface {
		AsyncWriteStream
		AsyncReadStream
	} = st
	if c.own {
		stream = ownTestStream{st}
	}
	returned := false
	h, ch := resultChan()
	handler := func(n int, err error) {
		if !returned {
			t.Error("handler ran inside the initiating function")
		}
		h(n, err)
	}
	switch {
	case blocking:
		var sync interface {
			SyncWriteStream
			SyncReadStream
		} = syncTestStream{st, ctx}
		if c.own {
			sync = ownSyncTestStream{syncTestStream{st, ctx}}
		}
		var n int
		var err error
		switch {
		case write && c.cond == nil:
			n, err = Write(sync, bufs)
		case write:
			n, err = WriteCond(sync, bufs, c.cond)
		case c.cond == nil:
			n, err = Read(sync, bufs)
		default:
			n, err = ReadCond(sync, bufs, c.cond)
		}
		h(n, err)
	case write && c.cond == nil:
		AsyncWrite(stream, bufs, handler)
	case write:
		AsyncWriteCond(stream, bufs, c.cond, handler)
	case c.cond == nil:
		AsyncRead(stream, bufs, handler)
	default:
		AsyncReadCond(stream, bufs, c.cond, handler)
	}
	returned = true
	r := runFor1(t, ctx, ch)
	if r.n != c.wantN || !errors.Is(r.err, c.wantErr) || (c.wantErr == nil && r.err != nil) {
		t.Errorf("got (%d, %v), want (%d, %v)", r.n, r.err, c.wantN, c.wantErr)
	}
	calls := st.callLog()
	want := c.offers
	if want == nil {
		want = c.expectedOffers()
	}
	if len(calls) != len(want) {
		t.Fatalf("%d *Some calls, want %d (offers %v)", len(calls), len(want), offersOf(calls))
	}
	for i, call := range calls {
		if c.own && call.nbufs > 1024 {
			t.Fatalf("call %d offered %d buffers, more than IOV_MAX", i+1, call.nbufs)
		}
		if call.offered != want[i] {
			t.Fatalf("call %d offered %d bytes, want %d (all offers %v, want %v)", i+1, call.offered, want[i], offersOf(calls), want)
		}
	}
	if write {
		if got := st.bytesWritten(); !bytes.Equal(got, data[:r.n]) {
			t.Errorf("the stream got %d bytes, not the first %d of the buffers in order", len(got), r.n)
		}
	} else {
		got := bytes.Join(bufs, nil)
		if !bytes.Equal(got[:r.n], pattern(0, r.n)) {
			t.Error("the buffers do not hold the stream's bytes in order")
		}
		if rest := got[r.n:]; !bytes.Equal(rest, make([]byte, len(rest))) {
			t.Error("bytes past n were written into the buffers")
		}
	}
}

func offersOf(calls []streamCall) []int {
	var o []int
	for _, c := range calls {
		o = append(o, c.offered)
	}
	return o
}

// TestAsyncWriteAlgorithm checks Asio's composed write on a test stream:
// at least one call even for nothing, each offered at most what the
// condition allows (64 KiB for TransferAll), a 0-byte step ends it, an
// error reports the total including the failing step.
func TestAsyncWriteAlgorithm(t *testing.T) {
	for _, c := range transferCases() {
		t.Run(c.name, func(t *testing.T) { runTransferCase(t, c, true) })
	}
}

// TestAsyncWriteOnBoundExecutor: every step and the final handler of a
// composed write bound to an executor go through it.
func TestAsyncWriteOnBoundExecutor(t *testing.T) {
	ctx := newTestContext(t)
	st := newTestStream(ctx.Executor())
	st.max = 10
	rec := newRecordingExecutor(ctx.Executor())
	h, ch := resultChan()
	inside := false
	AsyncWrite(st, [][]byte{make([]byte, 55)}, func(n int, err error) {
		inside = rec.runningInside()
		h(n, err)
	}, BindExecutor(rec))
	if r := runFor1(t, ctx, ch); r.n != 55 || r.err != nil {
		t.Fatalf("(%d, %v)", r.n, r.err)
	}
	if !inside {
		t.Error("final handler not run through the bound executor")
	}
	if calls, posts := len(st.callLog()), rec.count(); posts < calls {
		t.Errorf("%d steps, only %d went through the bound executor", calls, posts)
	}
}

// TestWriteInProgress: a second AsyncWrite on a socket while one runs
// completes with ErrWriteInProgress and moves no byte; the first finishes
// whole, and a write after it works.
func TestWriteInProgress(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	c.SetSendBufferSize(16 << 10)
	s.SetReceiveBufferSize(16 << 10)
	first := pattern(0, 2<<20)
	h1, ch1 := resultChan()
	AsyncWrite(c, [][]byte{first}, h1)
	h2, ch2 := resultChan()
	AsyncWrite(c, [][]byte{[]byte("SECOND")}, h2)
	if r := runFor1(t, ctx, ch2); !errors.Is(r.err, ErrWriteInProgress) || r.n != 0 {
		t.Fatalf("second AsyncWrite: (%d, %v), want (0, ErrWriteInProgress)", r.n, r.err)
	}
	h3, ch3 := resultChan()
	AsyncWriteCond(c, [][]byte{[]byte("THIRD")}, TransferAll(), h3)
	if r := runFor1(t, ctx, ch3); !errors.Is(r.err, ErrWriteInProgress) {
		t.Fatalf("AsyncWriteCond during AsyncWrite: (%d, %v), want ErrWriteInProgress", r.n, r.err)
	}
	all := drainAsync(s)
	if r := runFor1(t, ctx, ch1); r.n != len(first) || r.err != nil {
		t.Fatalf("first AsyncWrite: (%d, %v)", r.n, r.err)
	}
	AsyncWrite(c, [][]byte{[]byte("after")}, h1)
	if r := runFor1(t, ctx, ch1); r.n != 5 || r.err != nil {
		t.Fatalf("AsyncWrite after the first one ended: (%d, %v)", r.n, r.err)
	}
	c.Shutdown(ShutdownSend)
	got := waitChan(t, all, "the peer's reads")
	if !bytes.Equal(got, append(append([]byte(nil), first...), "after"...)) {
		t.Fatalf("peer got %d bytes, want the first write then \"after\" only", len(got))
	}
	// After a failed composed write the socket accepts another.
	c.Close()
	AsyncWrite(c, [][]byte{[]byte("x")}, h1)
	if r := runFor1(t, ctx, ch1); !errors.Is(r.err, ErrBadDescriptor) {
		t.Fatalf("AsyncWrite on a closed socket: %v", r.err)
	}
	AsyncWrite(c, [][]byte{[]byte("x")}, h1)
	if r := runFor1(t, ctx, ch1); !errors.Is(r.err, ErrBadDescriptor) {
		t.Fatalf("second AsyncWrite on a closed socket: %v, want ErrBadDescriptor (not ErrWriteInProgress)", r.err)
	}
}

// TestWriteQueueManyWriters: 8 goroutines × 100 messages of random sizes
// through one WriteQueue arrive whole, never interleaved, each goroutine's
// in its order.
func TestWriteQueueManyWriters(t *testing.T) {
	ctx := newTestContext(t)
	_, stop := runInBackground(t, ctx, 2)
	defer stop()
	c, s := connectedPair(t, ctx)
	q := NewWriteQueue(c)
	const writers, each = 8, 100
	all := drainAsync(s)
	var wg, done sync.WaitGroup
	done.Add(writers * each)
	errs := make(chan error, writers*each)
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(g)))
			for i := 0; i < each; i++ {
				size := rng.Intn(20 << 10)
				msg := make([]byte, 7+size)
				msg[0] = byte(g)
				binary.BigEndian.PutUint16(msg[1:], uint16(i))
				binary.BigEndian.PutUint32(msg[3:], uint32(size))
				copy(msg[7:], pattern(g<<16|i, size))
				// Two buffers, so that a message is a gather write.
				q.AsyncWrite([][]byte{msg[:5], msg[5:]}, func(n int, err error) {
					if err != nil || n != len(msg) {
						errs <- errors.Join(err, errors.New("short message write"))
					}
					done.Done()
				})
			}
		}(g)
	}
	wg.Wait()
	ch := make(chan struct{})
	go func() { done.Wait(); close(ch) }()
	waitChan(t, ch, "every message's handler")
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c.Shutdown(ShutdownSend)
	got := waitChan(t, all, "the peer's reads")
	next := make([]int, writers)
	count := 0
	for len(got) > 0 {
		if len(got) < 7 {
			t.Fatalf("truncated header after %d messages", count)
		}
		g, i, size := int(got[0]), int(binary.BigEndian.Uint16(got[1:])), int(binary.BigEndian.Uint32(got[3:]))
		if g >= writers || size > len(got)-7 {
			t.Fatalf("message %d: bad header (writer %d, size %d): messages interleaved", count, g, size)
		}
		if i != next[g] {
			t.Fatalf("writer %d: message %d arrived when %d was due", g, i, next[g])
		}
		if !bytes.Equal(got[7:7+size], pattern(g<<16|i, size)) {
			t.Fatalf("writer %d message %d: payload damaged or interleaved", g, i)
		}
		next[g]++
		got = got[7+size:]
		count++
	}
	if count != writers*each {
		t.Fatalf("%d messages arrived, want %d", count, writers*each)
	}
}

// TestWriteQueueOrderAndErrors: one goroutine's messages keep their order,
// each handler gets its own message's result, and a closed stream fails
// every queued message once.
func TestWriteQueueOrderAndErrors(t *testing.T) {
	ctx := newTestContext(t)
	st := newTestStream(ctx.Executor())
	st.max = 3
	q := NewWriteQueue(st)
	var order []int
	for i := 0; i < 10; i++ {
		i := i
		msg := bytes.Repeat([]byte{byte('a' + i)}, i+1)
		q.AsyncWrite([][]byte{msg}, func(n int, err error) {
			if n != i+1 || err != nil {
				t.Errorf("message %d: (%d, %v)", i, n, err)
			}
			order = append(order, i)
		})
	}
	ctx.Run()
	var want []byte
	for i := 0; i < 10; i++ {
		want = append(want, bytes.Repeat([]byte{byte('a' + i)}, i+1)...)
		if order[i] != i {
			t.Fatalf("handlers ran in order %v", order)
		}
	}
	if got := st.bytesWritten(); !bytes.Equal(got, want) {
		t.Fatalf("stream got %q, want %q", got, want)
	}

	// On a closed socket every message fails, each handler once.
	ctx2 := newTestContext(t)
	c := closedSocket(t, ctx2)
	q2 := NewWriteQueue(c)
	fails := 0
	for i := 0; i < 5; i++ {
		q2.AsyncWrite([][]byte{[]byte("m")}, func(n int, err error) {
			if errors.Is(err, ErrBadDescriptor) {
				fails++
			}
		})
	}
	ctx2.Run()
	if fails != 5 {
		t.Fatalf("%d of 5 queued writes on a closed socket failed with ErrBadDescriptor", fails)
	}
}

// sparseBuffers returns n buffers of 1 to 20 bytes holding a pattern, and
// their bytes joined.
func sparseBuffers(n int, fill bool) ([][]byte, []byte) {
	rng := rand.New(rand.NewSource(int64(n)))
	sizes := make([]int, n)
	for i := range sizes {
		sizes[i] = 1 + rng.Intn(20)
	}
	return buffersOf(sizes, fill)
}

// TestAsyncWriteManyBuffers: 5000-buffer sequences (more than IOV_MAX)
// through AsyncWrite and AsyncWriteSome move every byte, in order.
func TestAsyncWriteManyBuffers(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	bufs, want := sparseBuffers(5000, true)
	h, ch := resultChan()

	// AsyncWriteSome may stop early, but what it moved is a prefix.
	c.AsyncWriteSome(bufs, h)
	r := runFor1(t, ctx, ch)
	if r.err != nil || r.n <= 0 || r.n > len(want) {
		t.Fatalf("AsyncWriteSome of 5000 buffers: (%d, %v)", r.n, r.err)
	}
	if got := readFull(t, s, r.n); !bytes.Equal(got, want[:r.n]) {
		t.Fatal("AsyncWriteSome of 5000 buffers: the peer read other bytes")
	}

	all := drainAsync(s)
	AsyncWrite(c, bufs, h)
	r = runFor1(t, ctx, ch)
	if r.err != nil || r.n != len(want) {
		t.Fatalf("AsyncWrite of 5000 buffers: (%d, %v), want (%d, nil)", r.n, r.err, len(want))
	}
	// And again, right after: the socket is still writable.
	AsyncWrite(c, bufs, h)
	r = runFor1(t, ctx, ch)
	if r.err != nil || r.n != len(want) {
		t.Fatalf("second AsyncWrite of 5000 buffers: (%d, %v)", r.n, r.err)
	}
	c.Shutdown(ShutdownSend)
	got := waitChan(t, all, "the peer's reads")
	if !bytes.Equal(got, append(append([]byte(nil), want...), want...)) {
		t.Fatalf("the peer read %d bytes, not the 5000 buffers twice in order (%d)", len(got), 2*len(want))
	}
}

// TestAsyncWriteLarge: 16 MiB in one AsyncWrite to a peer reading slowly
// in small pieces: every byte, in order, the handler once.
func TestAsyncWriteLarge(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	data := pattern(0, 16<<20)
	h, ch := resultChan()
	AsyncWrite(c, [][]byte{data[:3], data[3 : 5<<20], data[5<<20:]}, h)
	got := make(chan []byte, 1)
	go func() {
		b, _ := readFullErr(s, len(data))
		got <- b
	}()
	if r := runFor1(t, ctx, ch); r.n != len(data) || r.err != nil {
		t.Fatalf("(%d, %v)", r.n, r.err)
	}
	if !bytes.Equal(waitChan(t, got, "peer"), data) {
		t.Fatal("peer read other bytes")
	}
}

// TestAsyncWriteEndedUnder: an AsyncWrite without options on a TCPSocket is
// one op that the backend sends until every byte is out; ended by the
// socket's Cancel or Close, or by the peer's reset, after many partial
// sends (the peer read 1 MiB through 16 KiB buffers), its handler runs
// once, and for Cancel and Close the n it reports is exactly what the
// peer receives, a prefix of the data.
func TestAsyncWriteEndedUnder(t *testing.T) {
	for _, how := range []string{"cancel", "close", "reset"} {
		t.Run(how, func(t *testing.T) {
			ctx := newTestContext(t)
			peer, s := connectedPair(t, ctx)
			s.SetSendBufferSize(16 << 10)
			peer.SetReceiveBufferSize(16 << 10)
			data := pattern(0, 8<<20)
			h, ch := resultChan()
			AsyncWrite(s, Buffers{data[:1], data[1 : 3<<20], data[3<<20:]}, h)
			first := make(chan []byte, 1)
			go func() {
				b, _ := readFullErr(peer, 1<<20)
				first <- b
			}()
			got := runFor1(t, ctx, first)
			if !bytes.Equal(got, data[:1<<20]) {
				t.Fatalf("the peer's first MiB is not the data's (%d bytes)", len(got))
			}
			switch how {
			case "cancel":
				s.Cancel()
			case "close":
				s.Close()
			case "reset":
				peer.SetLinger(true, 0)
				peer.Close()
			}
			r := runFor1(t, ctx, ch)
			switch {
			case how == "reset" && r.err == nil:
				t.Fatalf("after the peer's reset: (%d, nil), want an error", r.n)
			case how != "reset" && !errors.Is(r.err, ErrOperationAborted):
				t.Fatalf("after %s: (%d, %v), want ErrOperationAborted", how, r.n, r.err)
			case r.n < len(got) || r.n >= len(data):
				t.Fatalf("after %s: n = %d, want at least the %d bytes the peer read and less than all %d", how, r.n, len(got), len(data))
			}
			if how != "reset" {
				s.Close() // the peer's drain ends at EOF
				got = append(got, waitChan(t, drainAsync(peer), "the peer's EOF")...)
				if len(got) != r.n || !bytes.Equal(got, data[:len(got)]) {
					t.Fatalf("the handler reported %d bytes, the peer received %d (a prefix: %v)", r.n, len(got), bytes.Equal(got, data[:len(got)]))
				}
			}
			ctx.Restart()
			ctx.Poll()
			if len(ch) != 0 {
				t.Fatal("the handler ran twice")
			}
		})
	}
}
