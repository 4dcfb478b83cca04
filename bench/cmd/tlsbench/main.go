// Tlsbench measures the HTTPS server of examples/https (asio.TLSStream,
// no goroutine per connection) against net + crypto/tls + bufio serving
// the same bytes (cmd/tlsserver -impl net), each server on a core of its
// own (taskset, GOMAXPROCS=1) and the load on another, in interleaved
// rounds:
//
//   - keep-alive throughput: wrk over HTTPS (-conns connections), and the
//     server's CPU time per request (from /proc/PID/stat);
//   - idle memory: -idle connections that each made one request and went
//     quiet; the server's RSS and goroutines before and after, per
//     connection, as the process holds it and after a forced collection;
//   - handshakes per second: a new connection per request (no session
//     resumption), and the server's CPU time per handshake.
//
// Then it checks the asio server with curl and openssl s_client (a
// request, and a KeyUpdate that requests one back: s_client's "K").
//
//	go run ./cmd/tlsbench              # from the bench module
//	go run ./cmd/tlsbench -quick       # one short round (10 s), a smoke test
//
// It exits non-zero when curl or s_client does not get its answers, or
// the asio server adds goroutines for idle connections.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goasio/asio/internal/stats"
)

var (
	rounds     = flag.Int("rounds", 3, "interleaved rounds")
	duration   = flag.Duration("duration", 5*time.Second, "wrk run per round")
	conns      = flag.Int("conns", 50, "wrk connections")
	idle       = flag.Int("idle", 2000, "idle connections for the memory figure")
	hsDuration = flag.Duration("hs-duration", 5*time.Second, "handshake run per round")
	hsWorkers  = flag.Int("hs-workers", 8, "concurrent connecting clients")
	serverCPU  = flag.Int("server-cpu", 0, "CPU the server is pinned to")
	loadCPU    = flag.Int("load-cpu", 1, "CPU wrk and this program are pinned to")
	quick      = flag.Bool("quick", false, "one short round (a smoke run)")
	only       = flag.String("only", "", "measure this implementation only (asio or net)")
	what       = flag.String("what", "wrk,idle,hs", "what to measure: wrk, idle, hs (comma-separated)")
	timeouts   = flag.Bool("timeouts", true, "servers with a handshake and an idle timeout (both kinds)")
)

type result struct {
	reqPerSec, cpuPerReq    float64 // requests/s, µs of server CPU per request
	rssPerConn, gcPerConn   float64 // bytes per idle connection: RSS as held, and after a collection
	goroutines              int     // goroutines added by the idle connections
	hsPerSec, cpuPerHS      float64
	wrkRequests, handshakes int
}

func main() {
	flag.Parse()
	if *quick {
		*rounds, *duration, *idle, *hsDuration = 1, time.Second, 200, time.Second
	}
	var set unix.CPUSet
	set.Set(*loadCPU)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		log.Printf("pinning to CPU %d: %v (running unpinned)", *loadCPU, err)
	}
	bin := buildServer()
	results := map[string][]result{}
	for r := range *rounds {
		order := []string{"asio", "net"}
		if r%2 == 1 {
			order = []string{"net", "asio"}
		}
		for _, impl := range order {
			if *only != "" && impl != *only {
				continue
			}
			res := measure(bin, impl)
			results[impl] = append(results[impl], res)
			log.Printf("round %d %-4s: %8.0f req/s %6.1f µs CPU/req | idle %6.0f B/conn RSS, %6.0f after GC, +%d goroutines | %6.0f handshakes/s %7.1f µs CPU/handshake",
				r+1, impl, res.reqPerSec, res.cpuPerReq, res.rssPerConn, res.gcPerConn, res.goroutines, res.hsPerSec, res.cpuPerHS)
		}
	}
	if *only == "" {
		report(results)
	}
	ok := checkClients(bin)
	for _, r := range results["asio"] {
		if strings.Contains(*what, "idle") && r.goroutines > 0 {
			log.Printf("FAIL: the asio server added %d goroutines for idle connections", r.goroutines)
			ok = false
		}
	}
	if !ok {
		os.Exit(1)
	}
}

func buildServer() string {
	dir, err := os.MkdirTemp("", "tlsbench")
	if err != nil {
		log.Fatal(err)
	}
	bin := filepath.Join(dir, "tlsserver")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/tlsserver")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("building cmd/tlsserver (run from the bench module): %v", err)
	}
	return bin
}

// server is a running tlsserver process.
type server struct {
	cmd         *exec.Cmd
	addr, stats string
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func start(bin, impl string) *server {
	s := &server{addr: freeAddr(), stats: freeAddr()}
	s.cmd = exec.Command("taskset", "-c", strconv.Itoa(*serverCPU), bin, "-impl", impl, "-addr", s.addr, "-stats", s.stats,
		"-timeouts="+strconv.FormatBool(*timeouts))
	s.cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	s.cmd.Stderr = os.Stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		log.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		log.Fatalf("%s server: %q", impl, line)
	}
	return s
}

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
}

// cpu is the server's user+system CPU time in µs.
func (s *server) cpu() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		log.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) * 1e6 / 100 // USER_HZ
}

// query asks the stats port ("stats" or "gc").
func (s *server) query(cmd string) map[string]int64 {
	c, err := net.Dial("tcp", s.stats)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintln(c, cmd)
	line, _ := bufio.NewReader(c).ReadString('\n')
	m := map[string]int64{}
	for _, kv := range strings.Fields(line) {
		k, v, _ := strings.Cut(kv, "=")
		m[k], _ = strconv.ParseInt(v, 10, 64)
	}
	return m
}

func measure(bin, impl string) result {
	var res result
	if strings.Contains(*what, "wrk") {
		s := start(bin, impl)
		res.wrkRequests, res.reqPerSec, res.cpuPerReq = runWrk(s)
		s.stop()
	}
	if strings.Contains(*what, "idle") || strings.Contains(*what, "hs") {
		s := start(bin, impl)
		if strings.Contains(*what, "idle") {
			res.rssPerConn, res.gcPerConn, res.goroutines = idleMemory(s)
		}
		if strings.Contains(*what, "hs") {
			res.handshakes, res.hsPerSec, res.cpuPerHS = handshakes(s)
		}
		s.stop()
	}
	return res
}

func runWrk(s *server) (int, float64, float64) {
	c0 := s.cpu()
	out, err := exec.Command("taskset", "-c", strconv.Itoa(*loadCPU), "wrk", "-t1", "-c"+strconv.Itoa(*conns),
		"-d"+duration.String(), "https://"+s.addr+"/").CombinedOutput()
	if err != nil {
		log.Fatalf("wrk: %v\n%s", err, out)
	}
	cpu := s.cpu() - c0
	var n int
	var rps float64
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) > 2 && f[1] == "requests" && f[2] == "in":
			n, _ = strconv.Atoi(f[0])
		case len(f) == 2 && f[0] == "Requests/sec:":
			rps, _ = strconv.ParseFloat(f[1], 64)
		}
		if strings.Contains(l, "Non-2xx") || strings.Contains(l, "Socket errors") {
			log.Printf("wrk: %s", strings.TrimSpace(l))
		}
	}
	if n == 0 {
		log.Fatalf("wrk made no request:\n%s", out)
	}
	return n, rps, cpu / float64(n)
}

var request = []byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")

// oneRequest sends a request on c and reads the reply (its headers and
// the 13 bytes of body).
func oneRequest(c *tls.Conn, r *bufio.Reader) error {
	if _, err := c.Write(request); err != nil {
		return err
	}
	length := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if line == "\r\n" {
			break
		}
	}
	_, err := io.ReadFull(r, make([]byte, length))
	return err
}

var clientConfig = &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}

func idleMemory(s *server) (float64, float64, int) {
	// One connection first, so that what every server sets up once is in
	// the baseline.
	warm, err := tls.Dial("tcp", s.addr, clientConfig)
	if err != nil {
		log.Fatal(err)
	}
	if err := oneRequest(warm, bufio.NewReader(warm)); err != nil {
		log.Fatal(err)
	}
	base := s.query("gc")
	cs := make([]*tls.Conn, 0, *idle)
	for range *idle {
		c, err := tls.Dial("tcp", s.addr, clientConfig)
		if err == nil {
			err = oneRequest(c, bufio.NewReader(c))
		}
		if err != nil {
			log.Fatalf("idle connection %d: %v", len(cs), err)
		}
		cs = append(cs, c)
	}
	time.Sleep(time.Second) // the server settles (no synchronisation: a measurement)
	held := s.query("stats")
	after := s.query("gc")
	for _, c := range cs {
		c.Close()
	}
	warm.Close()
	n := float64(*idle)
	return float64(held["rss"]-base["rss"]) / n, float64(after["rss"]-base["rss"]) / n, int(after["goroutines"] - base["goroutines"])
}

func handshakes(s *server) (int, float64, float64) {
	time.Sleep(500 * time.Millisecond) // the idle connections' closing is over
	c0 := s.cpu()
	var count atomic.Int64
	var failed atomic.Int64
	deadline := time.Now().Add(*hsDuration)
	var wg sync.WaitGroup
	closeReq := []byte("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	t0 := time.Now()
	for range *hsWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				c, err := tls.Dial("tcp", s.addr, clientConfig)
				if err == nil {
					_, err = c.Write(closeReq)
				}
				if err == nil {
					_, err = io.Copy(io.Discard, c)
				}
				if c != nil {
					c.Close()
				}
				if err != nil {
					failed.Add(1)
					continue
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	cpu := s.cpu() - c0
	if f := failed.Load(); f > 0 {
		log.Printf("handshakes: %d failed", f)
	}
	n := count.Load()
	return int(n), float64(n) / elapsed.Seconds(), cpu / float64(n)
}

func report(results map[string][]result) {
	// Interference from other processes only adds time: the best round
	// says what the code costs, the median what a busy machine sees.
	stat := func(impl string, f func(result) float64, lowIsGood bool) (med, best float64) {
		var xs []float64
		for _, r := range results[impl] {
			xs = append(xs, f(r))
		}
		sort.Float64s(xs)
		best = xs[len(xs)-1]
		if lowIsGood {
			best = xs[0]
		}
		return xs[len(xs)/2], best
	}
	// Paired: the two servers of a round ran back to back, so their ratio
	// cancels most of the machine's drift between rounds.
	paired := func(f func(result) float64) (med, lo, hi float64) {
		var xs []float64
		for i := range min(len(results["asio"]), len(results["net"])) {
			if n := f(results["net"][i]); n > 0 {
				xs = append(xs, f(results["asio"][i])/n)
			}
		}
		if len(xs) == 0 {
			return 0, 0, 0
		}
		return stats.Median(xs), slices.Min(xs), slices.Max(xs)
	}
	backend := os.Getenv("ASIO_BACKEND")
	if backend == "" {
		backend = "default"
	}
	fmt.Printf("\n%d interleaved rounds; server pinned to CPU %d (GOMAXPROCS=1), load on CPU %d; timeouts %v; asio backend %s\n", *rounds, *serverCPU, *loadCPU, *timeouts, backend)
	fmt.Printf("%-36s %10s %10s %7s | %10s %10s %7s | %s\n", "", "asio", "net+tls", "ratio", "best asio", "best net", "ratio", "per round")
	row := func(name string, f func(result) float64, lowIsGood bool) {
		am, ab := stat("asio", f, lowIsGood)
		nm, nb := stat("net", f, lowIsGood)
		pm, plo, phi := paired(f)
		fmt.Printf("%-36s %10.1f %10.1f %7.2f | %10.1f %10.1f %7.2f | %.2f (%.2f–%.2f)\n", name, am, nm, am/nm, ab, nb, ab/nb, pm, plo, phi)
	}
	fmt.Printf("%-36s %29s | %29s | %s\n", "", "medians", "best rounds", "median of the per-round ratios (range)")
	if strings.Contains(*what, "wrk") {
		row(fmt.Sprintf("wrk -c%d requests/s", *conns), func(r result) float64 { return r.reqPerSec }, false)
		row("server CPU µs per request", func(r result) float64 { return r.cpuPerReq }, true)
	}
	if strings.Contains(*what, "idle") {
		row(fmt.Sprintf("RSS B per idle conn (%d), held", *idle), func(r result) float64 { return r.rssPerConn }, true)
		row("RSS B per idle conn, after GC", func(r result) float64 { return r.gcPerConn }, true)
		row("goroutines added by idle conns", func(r result) float64 { return float64(r.goroutines) }, true)
	}
	if strings.Contains(*what, "hs") {
		row("handshakes/s (new conn per request)", func(r result) float64 { return r.hsPerSec }, false)
		row("server CPU µs per handshake", func(r result) float64 { return r.cpuPerHS }, true)
	}
}

// checkClients runs curl and openssl s_client against the asio server:
// a request each, and a KeyUpdate from s_client that asks for one back. It
// reports whether all went as they should.
func checkClients(bin string) bool {
	s := start(bin, "asio")
	defer s.stop()
	out, err := exec.Command("curl", "-sk", "--http1.1", "https://"+s.addr+"/").CombinedOutput()
	fmt.Printf("\ncurl: %q %v\n", out, err)
	ok := err == nil && string(out) == "Hello, World!"
	// s_client: a request, then "K" (a KeyUpdate requesting one back) on a
	// line of its own, then a second request on the same connection; each
	// step once s_client has shown the answer to the one before. In its
	// interactive mode (no -quiet, no -ign_eof), a line "K" is a command.
	sc := exec.Command("openssl", "s_client", "-connect", s.addr, "-tls1_3")
	in, _ := sc.StdinPipe()
	scOut, _ := sc.StdoutPipe()
	sc.Stderr = sc.Stdout
	if err := sc.Start(); err != nil {
		fmt.Printf("openssl: %v\n", err)
		return false
	}
	var mu sync.Mutex
	var seen strings.Builder
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := scOut.Read(b)
			mu.Lock()
			seen.Write(b[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	// wait waits until marker has been shown n times.
	wait := func(marker string, n int) bool {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			k := strings.Count(seen.String(), marker)
			mu.Unlock()
			if k >= n {
				return true
			}
		}
		return false
	}
	io.WriteString(in, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	first := wait("Hello, World!", 1)
	io.WriteString(in, "K\n")
	keyUpdate := wait("KEYUPDATE", 1)
	io.WriteString(in, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	second := wait("Hello, World!", 2)
	in.Close()
	sc.Process.Kill()
	sc.Wait()
	fmt.Printf("openssl s_client: first reply %v, KeyUpdate (update requested) %v, reply after it %v\n", first, keyUpdate, second)
	return ok && first && keyUpdate && second
}
