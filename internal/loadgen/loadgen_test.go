package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// startServer serves each accepted connection with handle on its own
// goroutine until the test ends, and returns the listening address.
func startServer(t *testing.T, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// echo copies c back to itself with a read/write loop, changing the byte
// at stream offset corruptAt (when >= 0) and closing after closeAt bytes
// (when >= 0).
func echo(corruptAt, closeAt int64) func(c net.Conn) {
	return func(c net.Conn) {
		buf := make([]byte, 4096)
		var off int64
		for {
			n, err := c.Read(buf)
			if corruptAt >= off && corruptAt < off+int64(n) {
				buf[corruptAt-off] ^= 0x20
			}
			if closeAt >= 0 && off+int64(n) > closeAt {
				n = int(closeAt - off)
			}
			off += int64(n)
			if _, werr := c.Write(buf[:n]); werr != nil || err != nil {
				return
			}
			if closeAt >= 0 && off >= closeAt {
				return
			}
		}
	}
}

func quick(addr string) Config {
	return Config{Addr: addr, Conns: 4, Duration: 200 * time.Millisecond, Warmup: 50 * time.Millisecond}
}

func checkResult(t *testing.T, cfg Config, res Result) {
	t.Helper()
	t.Logf("%+v", res)
	if res.Messages <= 0 {
		t.Fatalf("no messages measured: %+v", res)
	}
	if res.Bytes != res.Messages*int64(cfg.Size) {
		t.Errorf("Bytes = %d, want Messages*Size = %d", res.Bytes, res.Messages*int64(cfg.Size))
	}
	if res.Elapsed < cfg.Duration || res.Elapsed > cfg.Duration+time.Second {
		t.Errorf("Elapsed = %v, want about %v", res.Elapsed, cfg.Duration)
	}
	if res.P50 <= 0 || res.P99 < res.P50 {
		t.Errorf("P50 = %v, P99 = %v", res.P50, res.P99)
	}
	if res.MsgsPerSec <= 0 || res.MBPerSec <= 0 {
		t.Errorf("MsgsPerSec = %v, MBPerSec = %v", res.MsgsPerSec, res.MBPerSec)
	}
}

func TestRunPingPong(t *testing.T) {
	cfg := quick(startServer(t, echo(-1, -1)))
	cfg.Size = 64
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, cfg, res)
}

func TestRunPipelinedTinyMessages(t *testing.T) {
	cfg := quick(startServer(t, echo(-1, -1)))
	cfg.Size, cfg.Depth = 3, 16
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, cfg, res)
}

// Messages far larger than a socket buffer arrive in many reads and make
// the writer block in Write while the reader drains the echo.
func TestRunLargeMessages(t *testing.T) {
	cfg := quick(startServer(t, echo(-1, -1)))
	cfg.Conns, cfg.Size, cfg.Depth = 2, 300_001, 3
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, cfg, res)
}

func TestRunDetectsCorruption(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size      int
		corruptAt int64
	}{
		{"payload", 64, 64*200 + 37},
		{"sequence", 64, 64*100 + 2},
		{"tiny", 5, 5*300 + 4},
		{"warmup", 64, 10}, // errors during warmup count too
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := quick(startServer(t, echo(tc.corruptAt, -1)))
			cfg.Conns, cfg.Size = 1, tc.size
			start := time.Now()
			res, err := Run(context.Background(), cfg)
			if err == nil {
				t.Fatalf("Run accepted a corrupted echo: %+v", res)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), "differs") && !strings.Contains(err.Error(), "sequence number") {
				t.Errorf("error does not say what differed: %v", err)
			}
			if time.Since(start) > time.Second {
				t.Errorf("Run took %v to report the error", time.Since(start))
			}
		})
	}
}

func TestRunServerCloses(t *testing.T) {
	cfg := quick(startServer(t, echo(-1, 64*50+10)))
	cfg.Size = 64
	_, err := Run(context.Background(), cfg)
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want an EOF", err)
	}
}

func TestRunDialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Run(context.Background(), quick(addr)); err == nil || !strings.Contains(err.Error(), "dial") {
		t.Fatalf("err = %v, want a dial error", err)
	}
	if _, err := Run(context.Background(), Config{}); err == nil {
		t.Fatal("Run accepted an empty address")
	}
	if _, err := Run(context.Background(), Config{Addr: addr, Depth: -1}); err == nil {
		t.Fatal("Run accepted a negative depth")
	}
}

func TestRunContextCanceled(t *testing.T) {
	cfg := quick(startServer(t, echo(-1, -1)))
	cfg.Duration = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Run(ctx, cfg); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Run returned %v after the deadline", d)
	}
}

// The steady state allocates nothing: count mallocs over the measured
// window (the in-test echo server does not allocate either).
func TestRunWindowNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	cfg := quick(startServer(t, echo(-1, -1)))
	cfg.Depth = 4
	var before, after runtime.MemStats
	calls := 0
	res, err := RunWindow(context.Background(), cfg, func(open bool) {
		calls++
		if open {
			runtime.ReadMemStats(&before)
		} else {
			runtime.ReadMemStats(&after)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Fatalf("window called %d times, want 2", calls)
	}
	mallocs := after.Mallocs - before.Mallocs
	t.Logf("%d mallocs for %d messages", mallocs, res.Messages)
	if res.Messages < 1000 || mallocs > uint64(res.Messages)/100 {
		t.Fatalf("%d mallocs for %d messages", mallocs, res.Messages)
	}
}

func TestPattern(t *testing.T) {
	for size := 1; size <= 41; size++ {
		b := make([]byte, size)
		fill(b, 3, 77)
		if err := verify(b, 3, 77); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		// Shorter messages may collide by chance; 8 bytes hold seq only.
		if size >= 4 && verify(b, 3, 78) == nil {
			t.Fatalf("size %d: message 77 passes as message 78", size)
		}
		if size >= 4 && size != 8 && verify(b, 4, 77) == nil {
			t.Fatalf("size %d: message of conn 3 passes as one of conn 4", size)
		}
		for i := range b {
			b[i] ^= 1
			if verify(b, 3, 77) == nil {
				t.Fatalf("size %d: flipped byte %d not detected", size, i)
			}
			b[i] ^= 1
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		var b [100]byte
		fill(b[:], 1, 2)
		if verify(b[:], 1, 2) != nil {
			t.Fatal("mismatch")
		}
	}); n != 0 {
		t.Fatalf("fill+verify: %v allocs", n)
	}
}

func TestHistogram(t *testing.T) {
	// Buckets are contiguous and increasing.
	next := int64(0)
	for b := range numBuckets {
		lo, w := bucketRange(b)
		if lo != next || w <= 0 {
			t.Fatalf("bucket %d = [%d, %d), want it to start at %d", b, lo, lo+w, next)
		}
		if bucketOf(lo) != b || (b < numBuckets-1 && bucketOf(lo+w-1) != b) {
			t.Fatalf("bucket %d = [%d, %d) but bucketOf(lo) = %d, bucketOf(hi-1) = %d", b, lo, lo+w, bucketOf(lo), bucketOf(lo+w-1))
		}
		next = lo + w
		if b >= subCount && float64(w)/float64(lo) > 1.0/subCount {
			t.Fatalf("bucket %d is %d wide at %d", b, w, lo)
		}
	}
	var h histogram
	if h.quantile(0.5) != 0 {
		t.Fatal("empty histogram has a median")
	}
	for v := int64(1); v <= 100_000; v++ {
		h.add(v * 1000) // 1µs .. 100ms
	}
	for _, c := range []struct {
		q    float64
		want int64
	}{{0.5, 50_000_000}, {0.99, 99_000_000}, {1, 100_000_000}} {
		got := h.quantile(c.q)
		if d := float64(got-c.want) / float64(c.want); d > 0.03 || d < -0.03 {
			t.Errorf("quantile(%v) = %d, want %d ± 3%%", c.q, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { h.add(12345) }); n != 0 {
		t.Fatalf("add: %v allocs", n)
	}
}
