package asio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"slices"
	"strings"
	"testing"
)

// TestAsyncReadAlgorithm is TestAsyncWriteAlgorithm's read side: the same
// cases through AsyncRead/AsyncReadCond on a test stream.
func TestAsyncReadAlgorithm(t *testing.T) {
	for _, c := range transferCases() {
		t.Run(c.name, func(t *testing.T) { runTransferCase(t, c, false) })
	}
}

// TestAsyncReadEOF: the stream ends before the buffers are full: io.EOF
// with the bytes read so far.
func TestAsyncReadEOF(t *testing.T) {
	ctx := newTestContext(t)
	st := newTestStream(ctx.Executor())
	st.in = [][]byte{[]byte("abc"), []byte("de")}
	st.eof = true
	buf := make([]byte, 10)
	h, ch := resultChan()
	AsyncRead(st, [][]byte{buf}, h)
	if r := runFor1(t, ctx, ch); r.n != 5 || r.err != io.EOF || string(buf[:5]) != "abcde" {
		t.Fatalf("(%d, %v) %q, want (5, io.EOF)", r.n, r.err, buf)
	}
	// On a socket: the peer closes half-way.
	c, s := connectedPair(t, ctx)
	c.WriteSome([][]byte{[]byte("xyz")})
	c.Close()
	AsyncRead(s, [][]byte{buf}, h)
	if r := runFor1(t, ctx, ch); r.n != 3 || r.err != io.EOF || string(buf[:3]) != "xyz" {
		t.Fatalf("socket: (%d, %v) %q, want (3, io.EOF)", r.n, r.err, buf[:3])
	}
}

// TestAsyncReadCondOnSocket: TransferAtLeast returns once enough arrived,
// though the buffer has room for more.
func TestAsyncReadCondOnSocket(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	buf := make([]byte, 100)
	h, ch := resultChan()
	AsyncReadCond(s, [][]byte{buf}, TransferAtLeast(5), h)
	c.WriteSome([][]byte{[]byte("ab")})
	assertPending(t, ctx, ch, "2 of at least 5 bytes")
	c.WriteSome([][]byte{[]byte("cdefg")})
	r := runFor1(t, ctx, ch)
	if r.err != nil || r.n < 5 || string(buf[:r.n]) != "abcdefg"[:r.n] {
		t.Fatalf("(%d, %v) %q", r.n, r.err, buf[:r.n])
	}
	AsyncReadCond(s, [][]byte{buf}, TransferExactly(3), h)
	c.WriteSome([][]byte{[]byte("123456")})
	if r := runFor1(t, ctx, ch); r.n != 3 || r.err != nil {
		t.Fatalf("TransferExactly(3): (%d, %v)", r.n, r.err)
	}
}

// TestAsyncReadManyBuffers: a 5000-buffer sequence (more than IOV_MAX) is
// filled, in order, by AsyncRead.
func TestAsyncReadManyBuffers(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	bufs, _ := sparseBuffers(5000, false)
	_, want := sparseBuffers(5000, true)
	if _, err := c.WriteSome([][]byte{want}); err != nil {
		t.Fatal(err)
	}
	h, ch := resultChan()
	AsyncRead(s, bufs, h)
	r := runFor1(t, ctx, ch)
	if r.err != nil || r.n != len(want) {
		t.Fatalf("AsyncRead into 5000 buffers: (%d, %v), want (%d, nil)", r.n, r.err, len(want))
	}
	if !bytes.Equal(bytes.Join(bufs, nil), want) {
		t.Fatal("the buffers do not hold the bytes in order")
	}
	// AsyncReadSome into them reads a prefix.
	c.WriteSome([][]byte{want})
	for i := range bufs {
		clear(bufs[i])
	}
	AsyncReadSome := s.AsyncReadSome
	AsyncReadSome(bufs, h)
	r = runFor1(t, ctx, ch)
	if r.err != nil || r.n <= 0 || !bytes.Equal(bytes.Join(bufs, nil)[:r.n], want[:r.n]) {
		t.Fatalf("AsyncReadSome into 5000 buffers: (%d, %v)", r.n, r.err)
	}
}

// untilCase is one AsyncReadUntil run over a test stream.
type untilCase struct {
	name    string
	chunks  []string // the stream delivers at most one chunk per call
	eof     bool
	max     int    // DynamicBuffer max
	before  string // already in the buffer
	delim   string
	wantN   int
	wantErr error
	wantBuf string // the buffer's readable bytes after
}

func untilCases() []untilCase {
	return []untilCase{
		{name: "in pieces", chunks: []string{"he", "llo", "\nwor"}, delim: "\n", wantN: 6, wantBuf: "hello\nwor"},
		{name: "delimiter spans two reads", chunks: []string{"abc\r", "\ndef"}, delim: "\r\n", wantN: 5, wantBuf: "abc\r\ndef"},
		{name: "delimiter spans three reads", chunks: []string{"aX", "Y", "Zb"}, delim: "XYZ", wantN: 4, wantBuf: "aXYZb"},
		{name: "partial delimiter then the real one", chunks: []string{"aXY", "XYZ"}, delim: "XYZ", wantN: 6, wantBuf: "aXYXYZ"},
		{name: "first of two delimiters", chunks: []string{"a;b;c"}, delim: ";", wantN: 2, wantBuf: "a;b;c"},
		{name: "already in the buffer", before: "line\nmore", chunks: []string{"never read"}, delim: "\n", wantN: 5, wantBuf: "line\nmore"},
		{name: "buffer holds a part", before: "par", chunks: []string{"t\n"}, delim: "\n", wantN: 5, wantBuf: "part\n"},
		{name: "max reached", max: 8, chunks: []string{"0123", "4567", "89\n"}, delim: "\n", wantErr: ErrMessageTooLong, wantBuf: "01234567"},
		{name: "max reached in one read", max: 8, chunks: []string{"0123456789\n"}, delim: "\n", wantErr: ErrMessageTooLong, wantBuf: "01234567"},
		{name: "delimiter at the max", max: 8, chunks: []string{"0123456\n"}, delim: "\n", wantN: 8, wantBuf: "0123456\n"},
		{name: "EOF first", chunks: []string{"abc"}, eof: true, delim: "\n", wantErr: io.EOF, wantBuf: "abc"},
		{name: "EOF at once", eof: true, delim: "\n", wantErr: io.EOF, wantBuf: ""},
		{name: "header past the max", max: 1000, chunks: []string{strings.Repeat("h", 3000) + "\n"}, delim: "\n",
			wantErr: ErrMessageTooLong, wantBuf: strings.Repeat("h", 1000)},
		{name: "negative max holds nothing", max: -1, chunks: []string{"a\n"}, delim: "\n", wantErr: ErrMessageTooLong, wantBuf: ""},
		{name: "empty delimiter", chunks: []string{"abc"}, delim: "", wantN: 0, wantBuf: ""},
		{name: "line past 4 KiB grows the buffer", chunks: []string{strings.Repeat("x", 5000), strings.Repeat("y", 5000) + "\n"}, delim: "\n",
			wantN: 10001, wantBuf: strings.Repeat("x", 5000) + strings.Repeat("y", 5000) + "\n"},
	}
}

// TestAsyncReadUntil runs each case twice: without options (the read lives
// in the buffer) and with a cancellation slot (a pooled composed op); the
// two must not differ, in results or in the reads they make.
func TestAsyncReadUntil(t *testing.T) {
	for _, c := range untilCases() {
		t.Run(c.name, func(t *testing.T) {
			plain := runUntilCase(t, c, false)
			var sig CancellationSignal
			slotted := runUntilCase(t, c, false, BindCancellationSlot(sig.Slot()))
			// (With options, a read-until that needs no read completes
			// through an empty step, which carries them.)
			empty := func(c streamCall) bool { return c.offered == 0 }
			plain, slotted = slices.DeleteFunc(plain, empty), slices.DeleteFunc(slotted, empty)
			if !slices.Equal(plain, slotted) {
				t.Errorf("reads %+v without options, %+v with a slot", plain, slotted)
			}
		})
	}
}

// runUntilCase runs c with AsyncReadUntil (with opts) or, blocking,
// ReadUntil over the same test stream, and checks the result, the buffer
// and the reads: the two forms must not differ.
func runUntilCase(t *testing.T, c untilCase, blocking bool, opts ...OpOption) []streamCall {
	ctx := newTestContext(t)
	st := newTestStream(ctx.Executor())
	for _, ch := range c.chunks {
		st.in = append(st.in, []byte(ch))
	}
	st.eof = c.eof
	db := NewDynamicBuffer(c.max)
	db.Write([]byte(c.before))
	returned := false
	h, ch := resultChan()
	if blocking {
		n, err := ReadUntil(syncTestStream{st, ctx}, db, []byte(c.delim))
		h(n, err)
	} else {
		AsyncReadUntil(st, db, []byte(c.delim), func(n int, err error) {
			if !returned {
				t.Error("handler ran inside AsyncReadUntil")
			}
			h(n, err)
		}, opts...)
	}
	returned = true
	r := runFor1(t, ctx, ch)
	if r.n != c.wantN || !errors.Is(r.err, c.wantErr) || (c.wantErr == nil && r.err != nil) {
		t.Errorf("got (%d, %v), want (%d, %v)", r.n, r.err, c.wantN, c.wantErr)
	}
	if got := string(db.Bytes()); got != c.wantBuf {
		t.Errorf("buffer holds %q, want %q", got, c.wantBuf)
	}
	for i, call := range st.callLog() {
		if c.max > 0 && call.offered > c.max {
			t.Errorf("call %d offered %d bytes, more than the buffer's max %d", i+1, call.offered, c.max)
		}
	}
	if c.max > 0 && db.Cap() > c.max {
		t.Errorf("the buffer grew to %d bytes, past its max %d", db.Cap(), c.max)
	}
	if c.max < 0 && db.Cap() != 0 {
		t.Errorf("a buffer with a negative max allocated %d bytes", db.Cap())
	}
	if c.before != "" && strings.Contains(c.before, c.delim) {
		for _, call := range st.callLog() {
			if call.offered != 0 {
				t.Errorf("read %d bytes from the stream though the delimiter was in the buffer", call.offered)
			}
		}
	}
	return st.callLog()
}

// TestAsyncReadUntilLines: a line protocol over a socket, lines written in
// random pieces, read back one AsyncReadUntil at a time until EOF.
func TestAsyncReadUntilLines(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	rng := rand.New(rand.NewSource(3))
	var lines []string
	var stream []byte
	for i := 0; i < 200; i++ {
		line := strings.Repeat(string(rune('a'+i%26)), rng.Intn(3000)) + "\r\n"
		lines = append(lines, line)
		stream = append(stream, line...)
	}
	go func() {
		for len(stream) > 0 {
			n := min(len(stream), 1+rng.Intn(5000))
			if _, err := c.WriteSome([][]byte{stream[:n]}); err != nil {
				return
			}
			stream = stream[n:]
		}
		c.Shutdown(ShutdownSend)
	}()
	db := NewDynamicBuffer(0)
	var got []string
	var final error
	var next func()
	next = func() {
		AsyncReadUntil(s, db, []byte("\r\n"), func(n int, err error) {
			if err != nil {
				final = err
				return
			}
			got = append(got, string(db.Bytes()[:n]))
			db.Consume(n)
			next()
		})
	}
	next()
	ctx.Run()
	if final != io.EOF {
		t.Fatalf("ended with %v, want io.EOF", final)
	}
	if len(got) != len(lines) {
		t.Fatalf("%d lines, want %d", len(got), len(lines))
	}
	for i := range lines {
		if got[i] != lines[i] {
			t.Fatalf("line %d: %q, want %q", i, got[i], lines[i])
		}
	}
	if db.Len() != 0 {
		t.Fatalf("%d bytes left in the buffer", db.Len())
	}
}

func TestDynamicBuffer(t *testing.T) {
	b := NewDynamicBuffer(0)
	if b.Len() != 0 || len(b.Bytes()) != 0 {
		t.Fatal("new buffer not empty")
	}
	b.Write([]byte("hello "))
	p := b.Prepare(5)
	copy(p, "world")
	b.Commit(5)
	if string(b.Bytes()) != "hello world" || b.Len() != 11 {
		t.Fatalf("%q", b.Bytes())
	}
	b.Consume(6)
	if string(b.Bytes()) != "world" {
		t.Fatalf("after Consume: %q", b.Bytes())
	}
	// Growing past the capacity keeps the readable bytes.
	big := bytes.Repeat([]byte("x"), 10000)
	copy(b.Prepare(len(big)), big)
	b.Commit(len(big))
	if !bytes.Equal(b.Bytes(), append([]byte("world"), big...)) {
		t.Fatal("bytes lost while growing")
	}
	b.Consume(b.Len() + 10)
	if b.Len() != 0 {
		t.Fatal("Consume past the end left bytes")
	}
	// Compaction: consume most, then prepare what fits only after moving.
	b2 := NewDynamicBuffer(0)
	copy(b2.Prepare(512), bytes.Repeat([]byte("y"), 512))
	b2.Commit(512)
	b2.Consume(500)
	copy(b2.Prepare(400), bytes.Repeat([]byte("z"), 400))
	b2.Commit(400)
	if want := strings.Repeat("y", 12) + strings.Repeat("z", 400); string(b2.Bytes()) != want {
		t.Fatal("bytes damaged by compaction")
	}
}

// TestAsyncReadUntilSteadyStateAllocs: reading lines with AsyncReadUntil
// into a buffer that has grown allocates nothing per line.
func TestAsyncReadUntilSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector (sync.Pool drops items)")
	}
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	db := NewDynamicBuffer(0)
	line, nl := []byte("a line of text\n"), []byte("\n")
	var err error
	onLine := func(n int, e error) { err = e; db.Consume(n) }
	onWrite := func(int, error) {}
	readLine := func() {
		c.AsyncWriteSome(Buffers{line}, onWrite)
		AsyncReadUntil(s, db, nl, onLine)
		ctx.Restart()
		ctx.Run()
	}
	for i := 0; i < 50; i++ {
		readLine()
	}
	if allocs := testing.AllocsPerRun(100, readLine); allocs > 0 || err != nil {
		t.Fatalf("AsyncReadUntil per line: %.1f allocs (err %v), want 0", allocs, err)
	}
}

// TestAsyncReadUntilTwoOnOneBuffer: a second AsyncReadUntil started on a
// buffer while the first still reads into it (a misuse: the buffer is the
// first one's until its handler runs) must not cost either its handler:
// the first keeps the buffer's own read, the second takes a pooled one, and
// each handler runs exactly once, the second's when the socket closes.
func TestAsyncReadUntilTwoOnOneBuffer(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	db := NewDynamicBuffer(0)
	h, ch := resultChan()
	AsyncReadUntil(s, db, []byte("\n"), h)
	if !db.read.busy.Load() {
		t.Fatal("a read-until without options did not take the buffer's own read")
	}
	AsyncReadUntil(s, db, []byte("\n"), h)
	if _, err := c.WriteSome(Buffers{[]byte("a line\n")}); err != nil {
		t.Fatal(err)
	}
	first := runFor1(t, ctx, ch)
	if first.err != nil || first.n != 7 {
		t.Fatalf("first handler: (%d, %v), want (7, nil)", first.n, first.err)
	}
	s.Close()
	if second := runFor1(t, ctx, ch); second.err == nil {
		t.Fatalf("second handler: (%d, nil) after Close, want an error", second.n)
	}
	ctx.Restart()
	ctx.Poll()
	if len(ch) != 0 {
		t.Fatalf("%d more handler calls, want none", len(ch))
	}
	if db.read.busy.Load() {
		t.Fatal("the buffer's read is still marked busy")
	}
}

// TestAsyncReadUntilNilBuffer: a nil buffer is an error through the
// handler, not a panic.
func TestAsyncReadUntilNilBuffer(t *testing.T) {
	ctx := newTestContext(t)
	_, s := connectedPair(t, ctx)
	var got error
	AsyncReadUntil(s, nil, []byte("\n"), func(n int, err error) { got = err })
	if got != nil {
		t.Fatal("handler ran inline")
	}
	ctx.Run()
	if !errors.Is(got, ErrInvalidArgument) {
		t.Fatalf("nil buffer: %v, want ErrInvalidArgument", got)
	}
}

// TestAsyncReadUntilPipelined: requests pipelined in one write over a
// loopback socket, each read with one AsyncReadUntil started from the
// handler of the last, so that all but the first find their delimiter
// already buffered: each handler runs once, in order, never inside
// AsyncReadUntil, on the context's Run, with the length of its request.
func TestAsyncReadUntilPipelined(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	var reqs []string
	var all []byte
	for i := range 50 {
		r := fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i*i)
		reqs = append(reqs, r)
		all = append(all, r...)
	}
	if _, err := c.WriteSome([][]byte{all}); err != nil {
		t.Fatal(err)
	}
	db := NewDynamicBuffer(0)
	var got []string
	inside, calls := false, 0
	var next func()
	next = func() {
		inside = true
		AsyncReadUntil(s, db, []byte("\r\n\r\n"), func(n int, err error) {
			calls++
			if inside {
				t.Error("handler ran inside AsyncReadUntil")
			}
			if err != nil {
				t.Errorf("request %d: %v", len(got), err)
				return
			}
			got = append(got, string(db.Bytes()[:n]))
			db.Consume(n)
			if len(got) < len(reqs) {
				next()
			}
		})
		inside = false
	}
	next()
	ctx.Run()
	if calls != len(reqs) || !slices.Equal(got, reqs) {
		t.Fatalf("%d handler calls, requests %q; want %d, %q", calls, got, len(reqs), reqs)
	}
}

// TestAsyncReadUntilBufferedAtClose: a read-until whose delimiter was
// already buffered and whose handler has not run yet when the context
// closes completes exactly once, in Close's drain, with its result; a
// second one started on the same buffer meanwhile (the first still owns
// it: a misuse the buffered path must survive) completes once too.
func TestAsyncReadUntilBufferedAtClose(t *testing.T) {
	ctx := newTestContext(t)
	_, s := connectedPair(t, ctx)
	db := NewDynamicBuffer(0)
	db.Write([]byte("one\ntwo\n"))
	var ns []int
	AsyncReadUntil(s, db, []byte("\n"), func(n int, err error) {
		if err != nil {
			t.Errorf("first: %v", err)
		}
		ns = append(ns, n)
	})
	AsyncReadUntil(s, db, []byte("two\n"), func(n int, err error) {
		if err != nil {
			t.Errorf("second: %v", err)
		}
		ns = append(ns, n)
	})
	if len(ns) != 0 {
		t.Fatal("a handler ran inside AsyncReadUntil")
	}
	if err := ctx.Close(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ns, []int{4, 8}) {
		t.Fatalf("handlers got %v, want [4 8]", ns)
	}
}

// TestAsyncReadUntilBufferedAllocs: a read-until whose delimiter is
// already buffered allocates nothing.
func TestAsyncReadUntilBufferedAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector (sync.Pool drops items)")
	}
	ctx := newTestContext(t)
	_, s := connectedPair(t, ctx)
	db := NewDynamicBuffer(0)
	db.Write(bytes.Repeat([]byte("a line\n"), 200))
	nl := []byte("\n")
	onLine := func(n int, err error) {
		if err != nil {
			t.Error(err)
		}
		db.Consume(n)
	}
	readLine := func() {
		AsyncReadUntil(s, db, nl, onLine)
		ctx.Restart()
		ctx.Poll()
	}
	readLine()
	if allocs := testing.AllocsPerRun(100, readLine); allocs > 0 {
		t.Fatalf("buffered AsyncReadUntil: %.1f allocs, want 0", allocs)
	}
}

// bufferedLines returns a buffer holding k lines, "0\n" to "k-1\n".
func bufferedLines(k int) *DynamicBuffer {
	db := NewDynamicBuffer(0)
	for i := range k {
		fmt.Fprintf(db, "%d\n", i)
	}
	return db
}

// readLines reads the lines of db one AsyncReadUntil at a time on s, each
// started from the last one's handler, calling each(i) with the line's
// number in its handler, until each returns false or db is empty.
func readLines(t *testing.T, s AsyncReadStream, db *DynamicBuffer, each func(i int) bool) {
	var next func()
	next = func() {
		AsyncReadUntil(s, db, []byte("\n"), func(n int, err error) {
			if err != nil {
				t.Errorf("line: %v", err)
				return
			}
			var i int
			fmt.Sscanf(string(db.Bytes()[:n]), "%d", &i)
			db.Consume(n)
			if each(i) && db.Len() > 0 {
				next()
			}
		})
	}
	next()
}

// TestAsyncReadUntilBufferedChain: the read-untils that handlers of
// buffered ones start run in the same task of the executor (see
// untilFound): Run still counts each handler, runs them in order, and a
// chain longer than maxFoundChain goes on through a new task.
func TestAsyncReadUntilBufferedChain(t *testing.T) {
	ctx := newTestContext(t)
	_, s := connectedPair(t, ctx)
	const k = 3*maxFoundChain + 5
	var got []int
	readLines(t, s, bufferedLines(k), func(i int) bool { got = append(got, i); return true })
	if n := ctx.Run(); n != k {
		t.Errorf("Run ran %d handlers, want %d", n, k)
	}
	if len(got) != k || !slices.IsSorted(got) || got[k-1] != k-1 {
		t.Fatalf("handlers saw lines %v", got)
	}
}

// TestAsyncReadUntilBufferedRunOne: RunOne and PollOne run one handler,
// chained or not.
func TestAsyncReadUntilBufferedRunOne(t *testing.T) {
	ctx := newTestContext(t)
	_, s := connectedPair(t, ctx)
	var got []int
	readLines(t, s, bufferedLines(4), func(i int) bool { got = append(got, i); return true })
	for want := 1; want <= 4; want++ {
		run := ctx.RunOne
		if want%2 == 0 {
			run = ctx.PollOne
		}
		if n := run(); n != 1 || len(got) != want {
			t.Fatalf("run %d: ran %d handlers, %d lines read; want 1, %d", want, n, len(got), want)
		}
	}
}

// TestAsyncReadUntilBufferedStop: a handler that stops the context ends
// the chain: the read-until it started runs after Restart, once.
func TestAsyncReadUntilBufferedStop(t *testing.T) {
	ctx := newTestContext(t)
	_, s := connectedPair(t, ctx)
	var got []int
	readLines(t, s, bufferedLines(4), func(i int) bool {
		got = append(got, i)
		if i == 1 {
			ctx.Stop()
		}
		return true
	})
	ctx.Run()
	if !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("before Stop took effect: lines %v, want [0 1]", got)
	}
	ctx.Restart()
	ctx.Run()
	if !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Fatalf("after Restart: lines %v, want [0 1 2 3]", got)
	}
}

// TestAsyncReadUntilBufferedPanic: a handler that starts the next
// read-until and then panics does not lose it: it runs once, in the next
// Run.
func TestAsyncReadUntilBufferedPanic(t *testing.T) {
	ctx := newTestContext(t)
	_, s := connectedPair(t, ctx)
	var got []int
	readLines(t, s, bufferedLines(4), func(i int) bool {
		got = append(got, i)
		return true
	})
	db := bufferedLines(3)
	var seen []int
	readLines(t, s, db, func(i int) bool {
		seen = append(seen, i)
		if i == 1 {
			AsyncReadUntil(s, db, []byte("\n"), func(n int, err error) { seen = append(seen, 100+n) })
			panic("handler panics")
		}
		return true
	})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Run did not pass the panic on")
			}
		}()
		ctx.Run()
	}()
	ctx.Restart()
	ctx.Run()
	if !slices.Equal(seen, []int{0, 1, 102}) || !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Fatalf("lines %v and %v, want [0 1 102] and [0 1 2 3]", seen, got)
	}
}

// TestAsyncReadUntilBufferedOtherExecutor: a read-until started by such a
// handler on a stream of another context (or strand) runs there, not in the
// task of the first.
func TestAsyncReadUntilBufferedOtherExecutor(t *testing.T) {
	ctxA, ctxB := newTestContext(t), newTestContext(t)
	_, sA := connectedPair(t, ctxA)
	_, sB := connectedPair(t, ctxB)
	strand := NewStrand(ctxA.Executor())
	sS := NewTCPSocket(strand)
	db := bufferedLines(3)
	var order []string
	AsyncReadUntil(sA, db, []byte("\n"), func(n int, err error) {
		order = append(order, "A")
		db.Consume(n)
		AsyncReadUntil(sB, db, []byte("\n"), func(n int, err error) {
			order = append(order, "B")
			db.Consume(n)
			AsyncReadUntil(sS, db, []byte("\n"), func(n int, err error) {
				if strand.running.Load() != goid() {
					t.Error("the strand's handler ran outside the strand", strand.running.Load(), goid())
				}
				order = append(order, "S")
			})
		})
	})
	ctxA.Run()
	if !slices.Equal(order, []string{"A"}) {
		t.Fatalf("after A's Run: %v, want [A]", order)
	}
	ctxB.Run()
	ctxA.Restart()
	ctxA.Run()
	if !slices.Equal(order, []string{"A", "B", "S"}) {
		t.Fatalf("handlers ran %v, want [A B S]", order)
	}
}

// TestIndexDelim: indexDelim is bytes.Index, for short and long
// delimiters, at the edges of the data, and over near misses.
func TestIndexDelim(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	datas := []string{"", "\r", "\r\n", "\r\n\r", "\r\n\r\n", "a\r\n\r\nb", "\r\r\n\r\r\n\r\n", strings.Repeat("\r\n", 100) + "\r\n\r\n"}
	for range 500 {
		b := make([]byte, rng.Intn(300))
		for i := range b {
			b[i] = "\r\nab"[rng.Intn(4)]
		}
		datas = append(datas, string(b))
	}
	delims := []string{"\n", "\r\n", "\r\n\r\n", "ab\r", "\r\n\r\n\r\n\r\n", "\r\n\r\n\r\n\r\n\r"}
	for _, d := range datas {
		for _, delim := range delims {
			if got, want := indexDelim([]byte(d), []byte(delim)), bytes.Index([]byte(d), []byte(delim)); got != want {
				t.Fatalf("indexDelim(%q, %q) = %d, want %d", d, delim, got, want)
			}
		}
	}
}
