// Package loadgen drives an echo server with a fixed number of TCP
// connections and measures the echoed message rate and round-trip latency.
//
// Each connection has a writer goroutine, which keeps Config.Depth messages
// in flight, and a reader goroutine, which reads every echo back in full and
// verifies each byte of it against the pattern the writer sent. Messages
// that may leave together (Depth > 1) go out in one write, as a pipelining
// client would send them. A wrong byte,
// a lost or reordered message, a closed connection or any other I/O error
// ends the run with an error: a result is only reported for a server that
// echoed everything correctly.
//
// The steady state does not allocate: buffers, send-time rings and latency
// histograms are made once per connection before the first message.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes a load. Zero fields take the defaults given beside them.
type Config struct {
	Addr     string        // host:port of an echo server
	Conns    int           // connections (default 50)
	Size     int           // message size in bytes (default 64)
	Depth    int           // messages in flight per connection (default 1 = ping-pong)
	Duration time.Duration // measured time (default 3s)
	Warmup   time.Duration // unmeasured warmup before (default 500ms; negative = none)
}

// Result is what was measured in the window that follows the warmup.
type Result struct {
	Messages             int64         // echoed messages completed in the measured window
	Bytes                int64         // echoed payload bytes in the window
	Elapsed              time.Duration // measured window
	P50, P99             time.Duration // per-message round-trip latency
	MsgsPerSec, MBPerSec float64       // MB = 10^6 bytes
}

// Defaults for the zero fields of Config.
const (
	DefaultConns    = 50
	DefaultSize     = 64
	DefaultDepth    = 1
	DefaultDuration = 3 * time.Second
	DefaultWarmup   = 500 * time.Millisecond
)

// Run dials cfg.Conns connections to cfg.Addr, drives them for cfg.Warmup and
// then measures them for cfg.Duration. It returns an error, and no result,
// when a dial fails, when any echoed byte differs from what was sent, when a
// connection fails, or when ctx is done first.
func Run(ctx context.Context, cfg Config) (Result, error) {
	return RunWindow(ctx, cfg, nil)
}

// RunWindow is Run with a callback at the edges of the measured window:
// window(true) just before the window opens and window(false) just after it
// closes, both on the goroutine that called RunWindow. It lets a caller sample
// something else over exactly the window, such as the CPU time a server used.
// window may be nil.
func RunWindow(ctx context.Context, cfg Config, window func(open bool)) (Result, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return Result{}, err
	}
	r := &run{cfg: cfg, base: time.Now(), failed: make(chan struct{}), done: make(chan struct{})}
	if err := r.dial(ctx); err != nil {
		return Result{}, err
	}
	r.start()
	elapsed, err := r.measure(ctx, window)
	r.stop()
	if err == nil {
		err = r.firstErr()
	}
	if err != nil {
		return Result{}, err
	}
	return r.result(elapsed), nil
}

func withDefaults(cfg Config) (Config, error) {
	if cfg.Addr == "" {
		return cfg, errors.New("loadgen: no server address")
	}
	if cfg.Conns < 0 || cfg.Size < 0 || cfg.Depth < 0 || cfg.Duration < 0 {
		return cfg, fmt.Errorf("loadgen: negative Conns, Size, Depth or Duration in %+v", cfg)
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.Conns, DefaultConns)
	def(&cfg.Size, DefaultSize)
	def(&cfg.Depth, DefaultDepth)
	if cfg.Duration == 0 {
		cfg.Duration = DefaultDuration
	}
	switch {
	case cfg.Warmup == 0:
		cfg.Warmup = DefaultWarmup
	case cfg.Warmup < 0:
		cfg.Warmup = 0
	}
	return cfg, nil
}

// Phases of a run, as seen by the readers.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseDone
)

// run is the state of one Run shared by all its connections.
type run struct {
	cfg   Config
	base  time.Time // latency timestamps are nanoseconds since base
	conns []*conn
	wg    sync.WaitGroup

	phase    atomic.Int32
	stopping atomic.Bool   // set before the connections are closed on purpose
	done     chan struct{} // closed to stop the writers
	failed   chan struct{} // closed on the first error
	errOnce  sync.Once
	err      error
}

func (r *run) now() int64 { return int64(time.Since(r.base)) }

func (r *run) dial(ctx context.Context) error {
	var d net.Dialer
	for i := range r.cfg.Conns {
		nc, err := d.DialContext(ctx, "tcp", r.cfg.Addr)
		if err != nil {
			r.closeConns()
			return fmt.Errorf("loadgen: dial %d of %d: %w", i+1, r.cfg.Conns, err)
		}
		tc, ok := nc.(*net.TCPConn)
		if !ok {
			nc.Close()
			r.closeConns()
			return fmt.Errorf("loadgen: %s is not a TCP address", r.cfg.Addr)
		}
		if err := tc.SetNoDelay(true); err != nil {
			tc.Close()
			r.closeConns()
			return fmt.Errorf("loadgen: TCP_NODELAY: %w", err)
		}
		r.conns = append(r.conns, newConn(r, i, tc))
	}
	return nil
}

func (r *run) start() {
	for _, c := range r.conns {
		r.wg.Add(2)
		go c.writeLoop()
		go c.readLoop()
	}
}

// measure waits out the warmup and the window; it returns the window's length.
func (r *run) measure(ctx context.Context, window func(open bool)) (time.Duration, error) {
	if err := r.sleep(ctx, r.cfg.Warmup); err != nil {
		return 0, err
	}
	if window != nil {
		window(true)
	}
	t0 := time.Now()
	r.phase.Store(phaseMeasure)
	err := r.sleep(ctx, r.cfg.Duration)
	r.phase.Store(phaseDone)
	elapsed := time.Since(t0)
	if window != nil {
		window(false)
	}
	return elapsed, err
}

// sleep waits for d, or until a connection fails or ctx is done.
func (r *run) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-r.failed:
		return r.firstErr()
	case <-ctx.Done():
		return fmt.Errorf("loadgen: %w", context.Cause(ctx))
	}
}

// stop ends every connection and waits for its goroutines.
func (r *run) stop() {
	r.stopping.Store(true)
	close(r.done)
	r.closeConns()
	r.wg.Wait()
}

func (r *run) closeConns() {
	for _, c := range r.conns {
		c.nc.Close()
	}
}

// fail records err, unless it is the I/O error of a connection that stop
// closed on purpose. Data errors are always kept.
func (r *run) fail(err error, ioErr bool) {
	if ioErr && r.stopping.Load() {
		return
	}
	r.errOnce.Do(func() {
		r.err = err
		close(r.failed)
	})
}

func (r *run) firstErr() error {
	select {
	case <-r.failed:
		return r.err
	default:
		return nil
	}
}

// result sums the connections' counters; the goroutines have all ended.
func (r *run) result(elapsed time.Duration) Result {
	var h histogram
	res := Result{Elapsed: elapsed}
	for _, c := range r.conns {
		res.Messages += c.measured
		h.merge(&c.hist)
	}
	res.Bytes = res.Messages * int64(r.cfg.Size)
	res.P50 = time.Duration(h.quantile(0.50))
	res.P99 = time.Duration(h.quantile(0.99))
	if s := elapsed.Seconds(); s > 0 {
		res.MsgsPerSec = float64(res.Messages) / s
		res.MBPerSec = float64(res.Bytes) / 1e6 / s
	}
	return res
}
