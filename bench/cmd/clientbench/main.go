// Command clientbench measures the examples' protocol servers with real
// clients: wrk against the HTTP/1.1 server (examples/http) and
// redis-benchmark against the RESP server (examples/resp), each beside the
// same server written on Go's net and bufio (cmd/protoserver).
//
//	cd bench && go run ./cmd/clientbench                 # every scenario, 5 rounds, about 4 minutes
//	cd bench && go run ./cmd/clientbench -scenarios http-16 -rounds 3
//	cd bench && go run ./cmd/clientbench -quick          # smoke test: 1 short round; exit 1 on any error
//	cd bench && go run ./cmd/clientbench -perf -scenarios http-16 -rounds 3   # also perf samples per parser sample
//	cd bench && go run ./cmd/clientbench -pair asio=/tmp/ps.old,asio -scenarios http-1 -rounds 6   # two builds at once (pair.go)
//	cd bench && go run ./cmd/clientbench -pool r1/clients.json,r2/clients.json   # pool runs: median and bootstrap interval (pool.go)
//
// Each measurement starts a fresh server pinned to -server-cpu (taskset)
// with GOMAXPROCS=1, runs the client pinned to -load-cpu, and reads the
// server's CPU time (user+system, all threads) just before the client
// starts and just after it exits; CPU per request is that time over the
// requests the client completed. The servers are asio on its default
// backend, asio on io_uring (asio@iouring, skipped with the reason where
// the kernel refuses it) and net; the rounds are interleaved (asio,
// asio@iouring, net, asio, ...) and each figure is the median over the
// rounds. It needs
// Linux, 2 CPUs, taskset, and wrk and redis-benchmark on the PATH (Debian:
// apt-get install wrk redis-tools); a scenario whose client is missing is
// skipped with a message.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/goasio/asio/bench/internal/procstat"
)

// scenario is one client load.
type scenario struct {
	Name   string `json:"name"`
	Title  string `json:"title"`
	Proto  string `json:"proto"`  // http or resp
	Client string `json:"client"` // wrk or redis-benchmark
	Pipe   int    `json:"pipeline"`
	Test   string `json:"test,omitempty"` // redis-benchmark -t
}

var allScenarios = []scenario{
	{Name: "http-1", Title: "wrk, 50 connections, one request at a time", Proto: "http", Client: "wrk", Pipe: 1},
	{Name: "http-16", Title: "wrk, 50 connections, 16 pipelined requests", Proto: "http", Client: "wrk", Pipe: 16},
	{Name: "ping-1", Title: "redis-benchmark -t ping_mbulk -P 1, 50 clients", Proto: "resp", Client: "redis-benchmark", Pipe: 1, Test: "ping_mbulk"},
	{Name: "set-1", Title: "redis-benchmark -t set -P 1, 50 clients", Proto: "resp", Client: "redis-benchmark", Pipe: 1, Test: "set"},
	{Name: "get-1", Title: "redis-benchmark -t get -P 1, 50 clients", Proto: "resp", Client: "redis-benchmark", Pipe: 1, Test: "get"},
	{Name: "ping-16", Title: "redis-benchmark -t ping_mbulk -P 16, 50 clients", Proto: "resp", Client: "redis-benchmark", Pipe: 16, Test: "ping_mbulk"},
	{Name: "set-16", Title: "redis-benchmark -t set -P 16, 50 clients", Proto: "resp", Client: "redis-benchmark", Pipe: 16, Test: "set"},
	{Name: "get-16", Title: "redis-benchmark -t get -P 16, 50 clients", Proto: "resp", Client: "redis-benchmark", Pipe: 16, Test: "get"},
}

// allImpls are the servers a full run measures: asio on the backend
// BackendAuto picks (epoll on Linux), asio on io_uring, and net.
var allImpls = []string{"asio", "asio@iouring", "net"}

// backends are the ASIO_BACKEND values an "asio@backend" server may name.
var backends = []string{"epoll", "iouring", "portable"}

// knownImpl reports whether n names a server: net, asio, or asio@backend.
func knownImpl(n string) bool {
	if n == "net" || n == "asio" {
		return true
	}
	b, ok := strings.CutPrefix(n, "asio@")
	return ok && slices.Contains(backends, b)
}

type config struct {
	impls      []string
	scenarios  []scenario
	rounds     int
	duration   time.Duration // wrk -d
	requests1  int           // redis-benchmark -n with -P 1
	requests16 int           // redis-benchmark -n with -P 16
	conns      int
	serverCPU  int
	loadCPU    int
	out        string
	readme     string
	quick      bool
	perf       bool // also count perf samples against the parser's (perf.go)
	tmp        string
}

func main() { os.Exit(benchMain()) }

func benchMain() int {
	var cfg config
	impls := flag.String("impls", strings.Join(allImpls, ","), "servers: asio (BackendAuto), asio@epoll|iouring|portable, net")
	scens := flag.String("scenarios", names(allScenarios), "scenarios")
	flag.IntVar(&cfg.rounds, "rounds", 5, "interleaved rounds; figures are medians over them")
	flag.DurationVar(&cfg.duration, "duration", 3*time.Second, "wrk's duration (-d)")
	flag.IntVar(&cfg.requests1, "requests", 150_000, "redis-benchmark requests (-n) without pipelining")
	flag.IntVar(&cfg.requests16, "requests-pipelined", 400_000, "redis-benchmark requests (-n) with -P 16")
	flag.IntVar(&cfg.conns, "conns", 50, "connections (wrk -c, redis-benchmark -c)")
	flag.IntVar(&cfg.serverCPU, "server-cpu", 0, "CPU the server is pinned to")
	flag.IntVar(&cfg.loadCPU, "load-cpu", 1, "CPU the client (and this program) is pinned to")
	flag.StringVar(&cfg.out, "out", "results", "directory for clients.md and clients.json")
	flag.StringVar(&cfg.readme, "readme", "README.md", "README whose clientbench section gets the table of a full run; empty = none")
	flag.BoolVar(&cfg.quick, "quick", false, "smoke test: one short round, nothing written, exit 1 on any error")
	flag.BoolVar(&cfg.perf, "perf", false, "also sample the server's CPU with perf and give its user and kernel samples per sample of the protocol's parser, which both servers share (perf.go; needs perf; not written to the README)")
	pair := flag.String("pair", "", "A,B: run servers A and B at once, each with its own client, and give B's CPU per request over A's, round by round (pair.go); each is a server name, or name=path of a protoserver binary (default: built from this tree)")
	pool := flag.String("pool", "", "a.json,b.json,...: run nothing; pool the per-round ratios to net of these clients.json files and print each scenario and server's median with a bootstrap 90% interval (pool.go)")
	flag.Parse()
	if *pool != "" {
		if err := poolMain(split(*pool), os.Stdout); err != nil {
			fatalf("-pool: %v", err)
		}
		return 0
	}
	if cfg.quick {
		cfg.rounds, cfg.duration, cfg.requests1, cfg.requests16 = 1, time.Second, 20_000, 100_000
	}
	for _, n := range split(*impls) {
		if !knownImpl(n) {
			fatalf("unknown server %q (have asio, asio@%s, net)", n, strings.Join(backends, ", asio@"))
		}
		cfg.impls = append(cfg.impls, n)
	}
	for _, n := range split(*scens) {
		i := slices.IndexFunc(allScenarios, func(s scenario) bool { return s.Name == n })
		if i < 0 {
			fatalf("unknown scenario %q (have %s)", n, names(allScenarios))
		}
		cfg.scenarios = append(cfg.scenarios, allScenarios[i])
	}
	if runtime.NumCPU() < 2 || cfg.serverCPU == cfg.loadCPU || max(cfg.serverCPU, cfg.loadCPU) >= runtime.NumCPU() {
		fatalf("needs 2 CPUs and two different -server-cpu and -load-cpu below %d", runtime.NumCPU())
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		fatalf("taskset not found (util-linux)")
	}
	if _, err := exec.LookPath("perf"); cfg.perf && err != nil {
		fatalf("-perf: perf not found (Debian: apt-get install linux-perf)")
	}
	if err := procstat.PinSelf([]int{cfg.loadCPU}); err != nil {
		fatalf("pinning to CPU %d: %v", cfg.loadCPU, err)
	}
	runtime.GOMAXPROCS(1)

	var runnable []scenario
	for _, sc := range cfg.scenarios {
		if _, err := exec.LookPath(sc.Client); err != nil {
			fmt.Fprintf(os.Stderr, "clientbench: skipping %s: %s not found (Debian: apt-get install wrk redis-tools)\n", sc.Name, sc.Client)
			continue
		}
		runnable = append(runnable, sc)
	}
	if len(runnable) == 0 {
		fatalf("no scenario can run")
	}

	dir, err := os.MkdirTemp("", "clientbench")
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(dir)
	cfg.tmp = dir
	bin, err := buildServer(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "clientbench:", err)
		return 2
	}
	script := dir + "/pipeline.lua"
	if err := os.WriteFile(script, []byte(wrkPipeline), 0o644); err != nil {
		fatalf("%v", err)
	}

	if *pair != "" {
		sides, err := parseSides(*pair, bin)
		if err != nil {
			fatalf("%v", err)
		}
		return runPair(sides, script, cfg)
	}

	// A backend the kernel refuses (io_uring under a seccomp profile, or
	// disabled) is skipped with the reason, before the rounds.
	skipped := false
	for _, impl := range slices.Clone(cfg.impls) {
		if !strings.HasPrefix(impl, "asio@") {
			continue
		}
		srv, _, err := startServer(bin, "http", impl, cfg.serverCPU)
		if err != nil {
			fmt.Fprintf(os.Stderr, "clientbench: skipping %s: %v\n", impl, err)
			cfg.impls = slices.DeleteFunc(cfg.impls, func(n string) bool { return n == impl })
			skipped = true
			continue
		}
		srv.stop()
	}
	if !slices.Contains(cfg.impls, "net") || len(cfg.impls) < 2 {
		fatalf("nothing to compare: servers %v", cfg.impls)
	}

	started := time.Now()
	var results []result
	failed := false
	for _, sc := range runnable {
		res := result{Scenario: sc, Command: clientCommand(sc, cfg, "HOST:PORT", "pipeline.lua")}
		for round := range cfg.rounds {
			for _, impl := range cfg.impls {
				fmt.Fprintf(os.Stderr, "clientbench: %-8s %-12s round %d/%d: ", sc.Name, impl, round+1, cfg.rounds)
				m := measure(bin, script, impl, sc, cfg)
				if m.Err != "" {
					failed = true
					fmt.Fprintln(os.Stderr, "ERROR", m.Err)
				} else {
					fmt.Fprintf(os.Stderr, "%10.0f req/s  p50 %6.3f ms  server CPU %5.1f%%  %.2f µs/req  [other load %.0f%%]",
						m.RPS, m.P50ms, 100*m.CPUUtil, m.CPUPerReq, 100*m.Other)
					if m.PerfUnits > 0 {
						fmt.Fprintf(os.Stderr, "  perf: %.2f per parser sample (user %.2f, kernel %.2f)", m.PerfUnits, m.PerfUser, m.PerfKernel)
					}
					fmt.Fprintln(os.Stderr)
				}
				m.Impl, m.Round = impl, round
				res.Runs = append(res.Runs, m)
			}
		}
		results = append(results, res)
	}
	md := markdown(results, cfg, started)
	fmt.Print(md)
	if cfg.quick {
		if failed {
			return 1
		}
		return 0
	}
	if skipped || cfg.perf {
		cfg.readme = "" // the README's table keeps every server, and the plain measurement
	}
	if err := write(results, md, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "clientbench:", err)
		return 2
	}
	if failed {
		return 1
	}
	return 0
}

// wrkPipeline makes every wrk request 16 pipelined GETs; wrk counts each
// reply as a request.
const wrkPipeline = `init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, "/") end
  req = table.concat(r)
end
request = function() return req end
`

func buildServer(dir string) (string, error) {
	bin := dir + "/protoserver"
	out, err := exec.Command("go", "build", "-o", bin, "github.com/goasio/asio/bench/cmd/protoserver").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building protoserver (run clientbench inside the bench module): %v\n%s", err, out)
	}
	return bin, nil
}

func names(ss []scenario) string {
	var n []string
	for _, s := range ss {
		n = append(n, s.Name)
	}
	return strings.Join(n, ",")
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "clientbench: "+format+"\n", a...)
	os.Exit(2)
}
