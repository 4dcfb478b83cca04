package asio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goasio/asio/internal/uring"
)

// newIOUringContext returns a context on the io_uring backend, closed when
// the test ends; it skips the test, saying why, only where the kernel
// refuses io_uring.
func newIOUringContext(t testing.TB) *IOContext {
	t.Helper()
	c, err := NewIOContext(WithBackend(BackendIOUring))
	if errors.Is(err, ErrBackendUnavailable) {
		t.Skipf("io_uring refused by this kernel: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func uringOf(ctx *IOContext) *uringBackend { return ctx.be.(*uringBackend) }

// openFiles counts what this process's open descriptors refer to, by their
// /proc/self/fd link ("socket:[123]", "anon_inode:[io_uring]", ...):
// checks that name a test's own sockets are not disturbed by descriptors
// an earlier test's goroutines still open or close meanwhile.
func openFiles(t testing.TB) map[string]int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]int)
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			m[target]++
		}
	}
	return m
}

// socketFiles returns the /proc/self/fd link of each socket's descriptor
// ("socket:[inode]", unique to that socket while it is open).
func socketFiles(t testing.TB, socks []*TCPSocket) []string {
	t.Helper()
	var out []string
	for _, s := range socks {
		fd, err := osFD(&s.d)
		if err != nil {
			t.Fatal(err)
		}
		target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, target)
	}
	return out
}

// stillOpen counts the files of names that some descriptor still refers to.
func stillOpen(t testing.TB, names []string) int {
	t.Helper()
	open := openFiles(t)
	n := 0
	for _, f := range names {
		n += open[f]
	}
	return n
}

// TestIOUringRefused: where the kernel refuses io_uring (forced here, as
// ENOSYS, a seccomp profile's EPERM or kernel.io_uring_disabled would),
// asking for it is ErrBackendUnavailable with the cause, and BackendAuto
// runs on epoll.
func TestIOUringRefused(t *testing.T) {
	t.Setenv("ASIO_BACKEND", "")
	for _, cause := range []error{syscall.ENOSYS, syscall.EPERM} {
		restore := uring.ForceRefusal(cause)
		_, err := NewIOContext(WithBackend(BackendIOUring))
		if !errors.Is(err, ErrBackendUnavailable) || !errors.Is(err, cause) || !errors.Is(err, uring.ErrUnavailable) {
			t.Errorf("refused with %v: NewIOContext(WithBackend(BackendIOUring)) = %v, want ErrBackendUnavailable wrapping the cause", cause, err)
		}
		ctx, err := NewIOContext()
		if err != nil {
			t.Fatalf("refused with %v: BackendAuto: %v", cause, err)
		}
		if ctx.Backend() != BackendEpoll {
			t.Errorf("refused with %v: BackendAuto runs on %v, want epoll", cause, ctx.Backend())
		}
		ctx.Close()
		restore()
	}
}

// TestIOUringCloseWithThousandsInFlight: thousands of ops in flight or
// queued (writes behind full send buffers, reads and pooled reads with no
// data, waits) when their sockets or their context are closed: every
// handler runs exactly once, with ErrOperationAborted or what the kernel
// really did; every descriptor is closed once the kernel is done with it,
// and the pool gets every buffer back.
func TestIOUringCloseWithThousandsInFlight(t *testing.T) {
	for _, mode := range []string{"sockets closed while Run runs", "context closed", "context closed while Run runs"} {
		t.Run(mode, func(t *testing.T) {
			rings := openFiles(t)["anon_inode:[io_uring]"]
			ctx, err := NewIOContext(WithBackend(BackendIOUring))
			if errors.Is(err, ErrBackendUnavailable) {
				t.Skipf("io_uring refused by this kernel: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			pool := NewBufferPool(256, 0)
			const pairs, writes, reads = 12, 100, 20
			var calls, aborted, moved atomic.Int64
			var dup atomic.Bool
			once := func() func(n int, err error) {
				var ran atomic.Bool
				return func(n int, err error) {
					if ran.Swap(true) {
						dup.Store(true)
					}
					calls.Add(1)
					switch {
					case isAborted(err):
						aborted.Add(1)
					case err == nil, err == io.EOF && mode == "sockets closed while Run runs":
						// What the kernel did first: a byte sent, or the end
						// of the stream when the peer was closed before.
						moved.Add(1)
					default:
						t.Errorf("op completed with %v", err)
					}
				}
			}
			var socks []*TCPSocket
			want := 0
			for i := 0; i < pairs; i++ {
				c, s := connectedPair(t, ctx)
				socks = append(socks, c, s)
				tsFillSendBuffer(t, c)
				for j := 0; j < writes; j++ {
					c.AsyncWriteSome(Buffers{[]byte("w")}, once())
				}
				buf := make([]byte, 8)
				for j := 0; j < reads; j++ {
					c.AsyncReadSome(Buffers{buf}, once())
				}
				h := once()
				s.AsyncWait(WaitError, func(err error) { h(0, err) })
				p, q := connectedPair(t, ctx)
				socks = append(socks, p, q)
				for j := 0; j < reads; j++ {
					h := once()
					q.AsyncReadPooled(pool, func(b []byte, err error) {
						if b != nil {
							pool.Put(b)
						}
						h(len(b), err)
					})
				}
				want += writes + reads + 1 + reads
			}
			files := socketFiles(t, socks)
			var wg sync.WaitGroup
			if mode != "context closed" {
				wg.Add(1)
				go func() { defer wg.Done(); ctx.Run() }()
				waitPolling(t, ctx)
			}
			if mode == "sockets closed while Run runs" {
				for _, s := range socks {
					s.Close()
				}
				deadline := time.Now().Add(waitTimeout)
				for calls.Load() < int64(want) && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				// The context keeps running: the kernel is done with every
				// socket once their descriptors are closed.
				for stillOpen(t, files) > 0 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if n := stillOpen(t, files); n > 0 {
					t.Errorf("%d of the %d sockets' descriptors still open with the context running and every socket closed", n, len(files))
				}
			}
			if err := ctx.Close(); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			if got := calls.Load(); got != int64(want) || dup.Load() {
				t.Fatalf("%d handler calls for %d ops (a handler ran twice: %v)", got, want, dup.Load())
			}
			if mode != "sockets closed while Run runs" && aborted.Load() < int64(want-pairs) {
				t.Errorf("%d ops aborted, %d moved data, of %d", aborted.Load(), moved.Load(), want)
			}
			if n := stillOpen(t, files); n > 0 {
				t.Errorf("%d of the %d sockets' descriptors still open after Close", n, len(files))
			}
			if n := openFiles(t)["anon_inode:[io_uring]"]; n > rings {
				t.Errorf("%d io_uring instances open after Close, %d before the test", n, rings)
			}
			if n := pool.Outstanding(); n != 0 {
				t.Errorf("%d pool buffers still out after Close", n)
			}
		})
	}
}

// TestIOUringCQOverflow: more completions at once than the completion queue
// holds wait in the kernel's overflow list; none is lost or doubled.
func TestIOUringCQOverflow(t *testing.T) {
	defer func(sq, cq uint32) { ringEntries, ringCQEntries = sq, cq }(ringEntries, ringCQEntries)
	ringEntries, ringCQEntries = 8, 16
	ctx := newIOUringContext(t)
	const pairs = 64
	type pair struct {
		c, s *TCPSocket
		buf  []byte
	}
	ps := make([]pair, pairs)
	for i := range ps {
		ps[i].c, ps[i].s = connectedPair(t, ctx)
		ps[i].buf = make([]byte, 8)
	}
	var wrote, read atomic.Int64
	var bad atomic.Value
	ctx.Executor().Post(func() { // from a handler: every SQE goes in the next enter
		for i := range ps {
			p := &ps[i]
			msg := []byte{'m', byte(i)}
			p.s.AsyncReadSome(Buffers{p.buf}, func(n int, err error) {
				if err != nil || !bytes.Equal(p.buf[:n], msg) {
					bad.Store(err)
				}
				read.Add(1)
			})
			p.c.AsyncWriteSome(Buffers{msg}, func(n int, err error) {
				if err != nil || n != 2 {
					bad.Store(err)
				}
				wrote.Add(1)
			})
		}
	})
	ctx.Run()
	if wrote.Load() != pairs || read.Load() != pairs || bad.Load() != nil {
		t.Fatalf("%d writes and %d reads completed of %d each (%v)", wrote.Load(), read.Load(), pairs, bad.Load())
	}
	if uringOf(ctx).overflows.Load() == 0 {
		t.Errorf("%d completions never overflowed a %d-entry completion queue", 2*pairs, ringCQEntries)
	}
}

// TestIOUringPartialCancelExact: a write cancelled part way reports the
// bytes the kernel really sent, which are exactly what the peer receives.
func TestIOUringPartialCancelExact(t *testing.T) {
	ctx := newIOUringContext(t)
	c, s := connectedPair(t, ctx)
	const size = 16 << 20
	data := pattern(0, size)
	sig := NewCancellationSignal()
	h, ch := resultChan()
	ctx.Executor().Post(func() { AsyncWrite(c, Buffers{data}, h, BindCancellationSlot(sig.Slot())) })
	got := make(chan []byte, 1)
	go func() {
		var all []byte
		buf := make([]byte, 64<<10)
		for {
			n, err := s.ReadSome(Buffers{buf})
			all = append(all, buf[:n]...)
			if len(all) >= 1<<20 && sig != nil {
				// Part of the write is through: cancel the rest.
				sig.Emit(CancelPartial)
				sig = nil
			}
			if err != nil {
				got <- all
				return
			}
		}
	}()
	r := runFor1(t, ctx, ch)
	if !isAborted(r.err) || r.n <= 0 || r.n >= size {
		t.Fatalf("cancelled write: (%d, %v), want part of %d bytes and ErrOperationAborted", r.n, r.err, size)
	}
	c.Close()
	all := waitChan(t, got, "the peer's reads")
	if len(all) != r.n || !bytes.Equal(all, data[:r.n]) {
		t.Fatalf("the peer received %d bytes, the write reported %d", len(all), r.n)
	}
}

// TestIOUringCancelReleasesBuffer: once a cancelled read's handler has run,
// the kernel no longer holds its buffer: data that comes later stays in the
// socket.
func TestIOUringCancelReleasesBuffer(t *testing.T) {
	ctx := newIOUringContext(t)
	c, s := connectedPair(t, ctx)
	buf := make([]byte, 8)
	h, ch := resultChan()
	s.AsyncReadSome(Buffers{buf}, h)
	ctx.Poll()
	s.Cancel()
	if r := runFor1(t, ctx, ch); !isAborted(r.err) || r.n != 0 {
		t.Fatalf("cancelled read: (%d, %v)", r.n, r.err)
	}
	for i := range buf {
		buf[i] = 0xaa
	}
	if _, err := c.WriteSome(Buffers{[]byte("xyz")}); err != nil {
		t.Fatal(err)
	}
	if got := readFull(t, s, 3); string(got) != "xyz" {
		t.Fatalf("read %q after the cancel, want xyz", got)
	}
	if !bytes.Equal(buf, bytes.Repeat([]byte{0xaa}, 8)) {
		t.Fatalf("the cancelled read's buffer was written after its handler ran: %q", buf)
	}
}

// TestIOUringCloseAndReopen: a socket closed with a read in the kernel is
// open again at once, and works, while the old read finishes (aborted, once)
// through the zombie that holds the old descriptor.
func TestIOUringCloseAndReopen(t *testing.T) {
	ctx := newIOUringContext(t)
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	c := NewTCPSocket(ctx.Executor())
	if err := c.Connect(acc.LocalEndpoint()); err != nil {
		t.Fatal(err)
	}
	s1, err := acc.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	h, ch := resultChan()
	c.AsyncReadSome(Buffers{make([]byte, 8)}, h)
	ctx.Poll()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(acc.LocalEndpoint()); err != nil {
		t.Fatalf("connect after close: %v", err)
	}
	defer c.Close()
	s2, err := acc.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if r := runFor1(t, ctx, ch); !isAborted(r.err) {
		t.Fatalf("the read of the closed connection: (%d, %v)", r.n, r.err)
	}
	s2.WriteSome(Buffers{[]byte("new")})
	buf := make([]byte, 8)
	c.AsyncReadSome(Buffers{buf}, h)
	if r := runFor1(t, ctx, ch); r.err != nil || string(buf[:r.n]) != "new" {
		t.Fatalf("read on the reopened socket: (%d, %v) %q", r.n, r.err, buf[:r.n])
	}
	if len(ch) != 0 {
		t.Fatal("a handler ran twice")
	}
	if _, err := s1.ReadSome(Buffers{buf}); err != io.EOF {
		t.Fatalf("the old connection's peer reads %v, want EOF: the old descriptor was not closed", err)
	}
}

// TestIOUringPooledReads: pooled reads are multishot receives into the
// pool's buffer ring. Data that comes while no pooled read waits is taken
// into a few buffers at most (the receive is then cancelled, the rest stays
// in the socket), and every byte reaches the reads in order, also when the
// pool runs out of buffers and the reads wait for a Put.
func TestIOUringPooledReads(t *testing.T) {
	for _, max := range []int{0, 2} {
		ctx := newIOUringContext(t)
		c, s := connectedPair(t, ctx)
		pool := NewBufferPool(64, max)
		const size = 64 << 10
		data := pattern(0, size)
		var got []byte
		var held []byte
		var read func()
		read = func() {
			s.AsyncReadPooled(pool, func(b []byte, err error) {
				if err != nil {
					t.Errorf("max %d: pooled read after %d bytes: %v", max, len(got), err)
					return
				}
				got = append(got, b...)
				if held != nil {
					pool.Put(held) // keep one buffer out while the next read runs
				}
				held = b
				if len(got) < size {
					read()
				}
			})
		}
		read()
		ctx.Poll() // armed
		if _, err := c.WriteSome(Buffers{data[:size/2]}); err != nil {
			t.Fatal(err)
		}
		ctx.RunFor(20 * time.Millisecond)
		go c.WriteSome(Buffers{data[size/2:]})
		ctx.Restart()
		ctx.Run()
		if !bytes.Equal(got, data) {
			t.Fatalf("max %d: pooled reads got %d bytes, want %d in order", max, len(got), size)
		}
		pool.Put(held)
		if max > 0 && pool.Outstanding() > max {
			t.Errorf("max %d: %d buffers out", max, pool.Outstanding())
		}
		ctx.Close()
		if n := pool.Outstanding(); n != 0 {
			t.Errorf("max %d: %d buffers out after Close", max, n)
		}
	}
}

// TestIOUringPooledBackpressure: data that comes while no pooled read
// waits is taken into maxStash buffers at most (the multishot receive is
// then cancelled; the rest stays in the socket, under TCP's flow control),
// and reaches the next reads in order.
func TestIOUringPooledBackpressure(t *testing.T) {
	ctx := newIOUringContext(t)
	c, s := connectedPair(t, ctx)
	pool := NewBufferPool(64, 0)
	_, stop := runInBackground(t, ctx, 1)
	defer stop()
	first := make(chan []byte, 1)
	s.AsyncReadPooled(pool, func(b []byte, err error) { first <- b })
	data := pattern(0, 64*64)
	c.WriteSome(Buffers{data[:64]})
	var got []byte
	b := waitChan(t, first, "the first pooled read")
	got = append(got, b...)
	pool.Put(b)
	// No read waits now, and data keeps coming, a chunk at a time.
	for i := 1; i < 64; i++ {
		c.WriteSome(Buffers{data[i*64 : (i+1)*64]})
		time.Sleep(200 * time.Microsecond)
	}
	time.Sleep(20 * time.Millisecond)
	var stashed int
	s.d.mu.Lock()
	if x := uringOf(ctx).ext(&s.d); x != nil {
		for _, e := range x.stash {
			stashed += len(e.b)
		}
	}
	multi := s.d.state&uMulti != 0
	s.d.mu.Unlock()
	if stashed > (maxStash+1)*64 || multi {
		t.Errorf("%d bytes taken with no read waiting (multishot still armed: %v), want at most about %d buffers", stashed, multi, maxStash)
	}
	done := make(chan struct{})
	var read func()
	read = func() {
		s.AsyncReadPooled(pool, func(b []byte, err error) {
			if err != nil {
				t.Error(err)
				close(done)
				return
			}
			got = append(got, b...)
			pool.Put(b)
			if len(got) < len(data) {
				read()
			} else {
				close(done)
			}
		})
	}
	ctx.Executor().Post(read)
	waitChan(t, done, "the pooled reads")
	if !bytes.Equal(got, data) {
		t.Fatalf("pooled reads got %d bytes, want %d in order", len(got), len(data))
	}
}

// TestIOUringZeroAllocs: the ring's read, gather-write and pooled-read
// paths allocate nothing in the steady state.
func TestIOUringZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector (sync.Pool drops items)")
	}
	ctx := newIOUringContext(t)
	c, s := connectedPair(t, ctx)
	wbuf := pattern(0, 64)
	gather := Buffers{wbuf[:16], wbuf[16:40], wbuf[40:]}
	rbuf := make([]byte, 64)
	pool := NewBufferPool(128, 0)
	var left int
	var onRead func(int, error)
	var onWrite, onGather func(int, error)
	var onPooled func([]byte, error)
	step := 0
	next := func() {
		left--
		if left <= 0 {
			return
		}
		step++
		switch step % 3 {
		case 0:
			c.AsyncWriteSome(Buffers{wbuf}, onWrite)
		case 1:
			c.AsyncWriteSome(gather, onGather)
		case 2:
			c.AsyncWriteSome(Buffers{wbuf}, onGather)
		}
	}
	onWrite = func(n int, err error) { s.AsyncReadSome(Buffers{rbuf}, onRead) }
	onGather = func(n int, err error) { s.AsyncReadPooled(pool, onPooled) }
	onRead = func(n int, err error) { next() }
	onPooled = func(b []byte, err error) { pool.Put(b); next() }
	run := func(n int) {
		ctx.Restart()
		left, step = n, 0
		ctx.Executor().Post(func() { c.AsyncWriteSome(Buffers{wbuf}, onWrite) })
		ctx.Run()
	}
	run(300)
	if allocs := testing.AllocsPerRun(100, func() { run(30) }); allocs > 1 {
		t.Errorf("%.1f allocs per 30 round trips on the ring, want at most 1 (Post's closure)", allocs)
	}
}

// TestIOUringPooledMixed: what a multishot receive took ahead of the ops
// goes, in order, to whatever read comes next: a pooled read with a limit
// (a copy of part of it into another buffer), a read into the caller's
// buffer (a copy), a readiness wait; reads with a limit select one buffer
// of the ring each.
func TestIOUringPooledMixed(t *testing.T) {
	ctx := newIOUringContext(t)
	c, s := connectedPair(t, ctx)
	pool := NewBufferPool(64, 0)
	_, stop := runInBackground(t, ctx, 1)
	defer stop()
	type got struct {
		b   []byte
		err error
	}
	ch := make(chan got, 4)
	pooled := func(b []byte, err error) {
		ch <- got{append([]byte(nil), b...), err}
		if b != nil {
			pool.Put(b)
		}
	}
	expect := func(what, want string) {
		t.Helper()
		r := waitChan(t, ch, what)
		if r.err != nil || string(r.b) != want {
			t.Fatalf("%s: (%q, %v), want %q", what, r.b, r.err, want)
		}
	}
	s.AsyncReadPooled(pool, pooled)
	c.WriteSome(Buffers{[]byte("abc")})
	expect("pooled read", "abc")
	c.WriteSome(Buffers{[]byte("defgh")}) // taken by the armed receive, no read waiting
	deadline := time.Now().Add(waitTimeout)
	for {
		s.d.mu.Lock()
		x := uringOf(ctx).ext(&s.d)
		n := 0
		if x != nil {
			n = len(x.stash)
		}
		s.d.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the armed multishot receive took nothing")
		}
		time.Sleep(time.Millisecond)
	}
	s.readPooled(pool, 2, pooled, nil)
	expect("pooled read with a limit of 2", "de")
	buf := make([]byte, 8)
	h, rch := resultChan()
	s.AsyncReadSome(Buffers{buf}, h)
	if r := waitChan(t, rch, "read"); r.err != nil || string(buf[:r.n]) != "fgh" {
		t.Fatalf("read after pooled reads: (%q, %v), want fgh", buf[:r.n], r.err)
	}
	c.WriteSome(Buffers{[]byte("ijk")})
	werr := make(chan error, 1)
	s.AsyncWait(WaitRead, func(err error) { werr <- err })
	if err := waitChan(t, werr, "wait"); err != nil {
		t.Fatal(err)
	}
	s.AsyncReadSome(Buffers{buf}, h)
	if r := waitChan(t, rch, "read"); r.err != nil || string(buf[:r.n]) != "ijk" {
		t.Fatalf("read: (%q, %v), want ijk", buf[:r.n], r.err)
	}
	c.WriteSome(Buffers{[]byte("lm")})
	s.readPooled(pool, 1, pooled, nil)
	expect("pooled read with a limit of 1", "l")
	s.readPooled(pool, 1, pooled, nil)
	expect("pooled read with a limit of 1", "m")
	c.Close()
	s.AsyncReadPooled(pool, pooled)
	if r := waitChan(t, ch, "pooled read at the end"); r.err != io.EOF || r.b != nil {
		t.Fatalf("pooled read at the end of the stream: (%q, %v), want (nil, EOF)", r.b, r.err)
	}
	s.AsyncReadPooled(pool, pooled)
	if r := waitChan(t, ch, "pooled read at the end"); r.err != io.EOF {
		t.Fatalf("second pooled read at the end of the stream: %v, want EOF every time", r.err)
	}
}

// TestIOUringCloseWithoutRun: a socket closed with requests in the kernel
// closes its descriptor about as soon as Close returns, also while no
// goroutine runs the context: a listener stops taking connections, a peer
// reads the end of the stream.
func TestIOUringCloseWithoutRun(t *testing.T) {
	ctx := newIOUringContext(t)
	acc, err := ListenTCP(ctx.Executor(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	ep := acc.LocalEndpoint()
	h := func(s *TCPSocket, err error) {}
	acc.AsyncAccept(h) // the multishot accept is armed
	acc.Close()
	if c, err := net.DialTimeout("tcp", ep.String(), time.Second); err == nil {
		c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("a connection to a closed acceptor: read %v, want a refusal, EOF or reset", err)
		}
		c.Close()
	}
	c, s := connectedPair(t, ctx)
	s.AsyncReadSome(Buffers{make([]byte, 8)}, func(int, error) {})
	s.Close()
	got := make(chan error, 1)
	go func() {
		_, err := c.ReadSome(Buffers{make([]byte, 8)})
		got <- err
	}()
	select {
	case err := <-got:
		if err != io.EOF {
			t.Errorf("the peer of a socket closed with a read in the kernel reads %v, want EOF", err)
		}
	case <-time.After(time.Second):
		t.Error("the peer of a socket closed with a read in the kernel reads nothing: the descriptor is still open")
		c.Close()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestIOUringReceiveAfterShortRead: a stream receive that takes less than
// its buffer holds drained the socket, so the next receive's SQE waits for
// readiness before its first attempt (poll first); that receive still gets
// the data, whether it was there before the SQE or came after. A receive
// that fills its buffer leaves the next one to try at once.
func TestIOUringReceiveAfterShortRead(t *testing.T) {
	for _, tc := range []struct {
		name    string
		first   int  // bytes the peer sends before the first receive (of 64)
		drained bool // the first receive took all there was
		later   bool // the second message comes after its receive's SQE
	}{
		{"short, next data already there", 5, true, false},
		{"short, next data comes later", 5, true, true},
		{"full buffer", 64, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newIOUringContext(t)
			c, s := connectedPair(t, ctx)
			buf := make([]byte, 64)
			second := []byte("second")
			werr := make(chan error, 1)
			receive := func(then func()) result {
				t.Helper()
				h, ch := resultChan()
				// From a handler, inside the poller's turn: the receive
				// goes to the ring, not to a speculative recv(2).
				ctx.Executor().Post(func() {
					s.AsyncReadSome(Buffers{buf}, h)
					if then != nil {
						then()
					}
				})
				return runFor1(t, ctx, ch)
			}
			if _, err := Write(c, Buffers{pattern(0, tc.first)}); err != nil {
				t.Fatal(err)
			}
			if r := receive(nil); r.err != nil || r.n != tc.first {
				t.Fatalf("first receive: (%d, %v), want %d bytes", r.n, r.err, tc.first)
			}
			s.d.mu.Lock()
			drained := s.d.state&uReadEmpty != 0
			s.d.mu.Unlock()
			if drained != tc.drained {
				t.Fatalf("after a receive of %d bytes into 64: drained %v, want %v", tc.first, drained, tc.drained)
			}
			var then func()
			if tc.later {
				// The enter that waits for the timer submits the receive's
				// SQE first: the message is sent once that wait is over.
				tm := NewTimer(ctx.Executor())
				tm.ExpiresAfter(time.Millisecond)
				then = func() {
					tm.AsyncWait(func(error) {
						go func() {
							_, err := Write(c, Buffers{second})
							werr <- err
						}()
					})
				}
			} else {
				if _, err := Write(c, Buffers{second}); err != nil {
					t.Fatal(err)
				}
				fds := []unix.PollFd{{Fd: int32(s.d.sysfd), Events: unix.POLLIN}}
				if n, err := unix.Poll(fds, int(waitTimeout/time.Millisecond)); n != 1 || err != nil {
					t.Fatalf("the second message never reached the socket: %d, %v", n, err)
				}
				werr <- nil
			}
			if r := receive(then); r.err != nil || !bytes.Equal(buf[:r.n], second) {
				t.Fatalf("second receive: (%d, %v) %q, want %q", r.n, r.err, buf[:max(r.n, 0)], second)
			}
			if err := <-werr; err != nil {
				t.Fatal(err)
			}
		})
	}
}
