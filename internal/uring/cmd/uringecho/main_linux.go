//go:build linux

// Command uringecho measures the choices the io_uring backend has to make,
// on echo servers built directly on package uring: ring setup flags (none,
// COOP_TASKRUN|TASKRUN_FLAG, SINGLE_ISSUER|DEFER_TASKRUN) and receives
// (single RECV SQEs into a connection's buffer, or multishot receives into
// a provided buffer ring), beside a bare epoll loop on the epoll backend's
// own poller. It is a measuring tool for the backend's design, not an API.
//
// Run it pinned to the client's CPU; it starts each server pinned to
// another CPU with GOMAXPROCS=1, drives it with internal/loadgen, and
// reports the server's CPU time and system calls per echoed message, the
// configurations interleaved round by round:
//
//	go build -o /tmp/uringecho ./internal/uring/cmd/uringecho
//	taskset -c 1 /tmp/uringecho -rounds 5
//
// System calls are counted with perf (raw_syscalls:sys_enter on the server
// process) in a separate round, since tracing adds to the server's CPU.
package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/goasio/asio/internal/loadgen"
	"github.com/goasio/asio/internal/uring"
	"golang.org/x/sys/unix"
)

var setupFlags = map[string]uring.Flags{
	"none":  0,
	"coop":  uring.SetupCoopTaskrun | uring.SetupTaskrunFlag,
	"defer": uring.SetupSingleIssuer | uring.SetupDeferTaskrun | uring.SetupTaskrunFlag,
}

func main() {
	serve := flag.String("serve", "", "run a server: epoll, single, multishot, asio or asiopooled (internal)")
	flagName := flag.String("flags", "none", "ring setup flags of a server: none, coop or defer (internal)")
	batch := flag.Int("batch", 1, "completions a server waits for before minwait passes (internal)")
	minWait := flag.Duration("minwait", 50*time.Microsecond, "longest a server waits for a batch once one completion is in")
	procs := flag.Int("gomaxprocs", 1, "GOMAXPROCS of the servers")
	keepP := flag.Bool("keepp", false, "a server's waits keep their P (uring.Config.WaitKeepsP) (internal)")
	configs := flag.String("configs", "epoll,single/none,single/coop,single/defer,multishot/none,multishot/coop,multishot/defer", "servers to compare: epoll, asio/BACKEND, asiopooled/BACKEND (the library's echo server on ASIO_BACKEND=BACKEND), or MODE/FLAGS[/bN][/keepp] (MODE single or multishot, FLAGS none, coop or defer, bN: wait for batches of N, ba: of a quarter of the connections, bs: of this turn's sends and one more, keepp: waits keep the P)")
	rounds := flag.Int("rounds", 3, "interleaved rounds of CPU measurement")
	syscalls := flag.Int("sysrounds", 2, "rounds counting system calls with perf (after the CPU rounds)")
	serverCPU := flag.Int("server-cpu", 0, "CPU the servers are pinned to")
	conns := flag.Int("conns", 50, "connections")
	size := flag.Int("size", 64, "message size")
	depth := flag.Int("depth", 1, "messages in flight per connection (1: ping-pong)")
	duration := flag.Duration("duration", 2*time.Second, "measured window")
	flag.StringVar(&perfRecord, "perf-record", "", "record each server's profile (perf record -g) over the measured windows of the system call rounds into this directory")
	flag.Parse()
	if *serve != "" {
		err := runServer(*serve, *flagName, *batch, *minWait, *keepP) // serves until stdin closes
		fmt.Fprintln(os.Stderr, "uringecho:", err)
		os.Exit(1)
	}
	lg := loadgen.Config{Conns: *conns, Size: *size, Depth: *depth, Duration: *duration}
	srv := serverOpts{cpu: *serverCPU, procs: *procs, minWait: *minWait}
	if err := drive(strings.Split(*configs, ","), *rounds, *syscalls, srv, lg); err != nil {
		fmt.Fprintln(os.Stderr, "uringecho:", err)
		os.Exit(1)
	}
}

// runServer listens on loopback, prints the address, and serves until its
// standard input closes, when the process exits; it returns only errors.
func runServer(mode, flagName string, batch int, minWait time.Duration, keepP bool) error {
	if mode == "asio" || mode == "asiopooled" {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			os.Exit(0)
		}()
		return serveAsio(mode == "asiopooled") // ASIO_BACKEND set by the driver
	}
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	unix.SetsockoptInt(ln, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return err
	}
	if err := unix.Listen(ln, 1024); err != nil {
		return err
	}
	sa, _ := unix.Getsockname(ln)
	fmt.Printf("127.0.0.1:%d\n", sa.(*unix.SockaddrInet4).Port)
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	switch mode {
	case "epoll":
		return serveEpoll(ln)
	case "single", "multishot":
		f, ok := setupFlags[flagName]
		if !ok {
			return fmt.Errorf("unknown flags %q", flagName)
		}
		return serveRing(ln, uring.Config{Entries: 512, CQEntries: 4096, Flags: f, WaitKeepsP: keepP}, mode == "multishot", uint32(batch), minWait)
	}
	return fmt.Errorf("unknown server %q", mode)
}

type sample struct {
	cpuPerMsg   float64 // µs
	msgsPerSec  float64
	p50         time.Duration
	sysPerMsg   float64
	enterPerMsg float64
	statPerMsg  float64 // the same CPU from /proc/<pid>/stat (10 ms ticks), a cross-check
	profile     string  // " (profile in …)" with -perf-record
	csPerMsg    float64 // the server's context switches per message
}

// serverOpts are the conditions every server of a run gets.
type serverOpts struct {
	cpu, procs int
	minWait    time.Duration
}

func drive(configs []string, rounds, sysRounds int, srv serverOpts, lg loadgen.Config) error {
	serverCPU := srv.cpu
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return err
	}
	if set.IsSet(serverCPU) {
		return fmt.Errorf("this process may run on CPU %d, the servers' CPU: run it under taskset -c <another CPU>", serverCPU)
	}
	if err := uring.Available(); err != nil {
		return err
	}
	results := map[string][]sample{}
	sys := map[string][]sample{}
	for round := range rounds {
		for i := range configs {
			c := configs[(i+round)%len(configs)]
			s, err := runOne(c, srv, lg, false)
			if err != nil {
				return fmt.Errorf("%s: %w", c, err)
			}
			results[c] = append(results[c], s)
			fmt.Fprintf(os.Stderr, "round %d %-16s %6.2f µs/msg (stat %.2f) %8.0f msg/s p50 %v\n", round, c, s.cpuPerMsg, s.statPerMsg, s.msgsPerSec, s.p50)
		}
	}
	for round := range sysRounds {
		for i := range configs {
			c := configs[(i+round)%len(configs)]
			s, err := runOne(c, srv, lg, true)
			if err != nil {
				return fmt.Errorf("%s (syscalls): %w", c, err)
			}
			sys[c] = append(sys[c], s)
			fmt.Fprintf(os.Stderr, "sys round %d %-16s %.3f syscalls/msg %.3f enters/msg %.3f context switches/msg%s\n", round, c, s.sysPerMsg, s.enterPerMsg, s.csPerMsg, s.profile)
		}
	}
	fmt.Printf("%d conns, %d B, depth %d, %v windows, %d rounds; server on CPU %d (GOMAXPROCS=%d, batches wait ≤ %v), client on %v\n",
		lg.Conns, lg.Size, lg.Depth, lg.Duration, rounds, serverCPU, srv.procs, srv.minWait, cpus(&set))
	fmt.Printf("%-26s %10s %10s %9s %9s %12s %10s\n", "server", "CPU µs/msg", "(median)", "msg/s", "p50", "syscalls/msg", "enters/msg")
	for _, c := range configs {
		ss := results[c]
		cpu := make([]float64, len(ss))
		rate := make([]float64, len(ss))
		p50 := make([]time.Duration, len(ss))
		for i, s := range ss {
			cpu[i], rate[i], p50[i] = s.cpuPerMsg, s.msgsPerSec, s.p50
		}
		slices.Sort(cpu)
		slices.Sort(rate)
		slices.Sort(p50)
		sc := "-"
		en := "-"
		if ss := sys[c]; len(ss) > 0 {
			slices.SortFunc(ss, func(a, b sample) int { return cmp.Compare(a.sysPerMsg, b.sysPerMsg) })
			m := ss[(len(ss)-1)/2]
			sc, en = fmt.Sprintf("%.3f", m.sysPerMsg), fmt.Sprintf("%.3f", m.enterPerMsg)
		}
		fmt.Printf("%-26s %10.2f %10.2f %9.0f %9v %12s %10s\n", c, cpu[0], cpu[len(cpu)/2], rate[len(rate)/2], p50[len(p50)/2].Round(time.Microsecond), sc, en)
	}
	return nil
}

func cpus(set *unix.CPUSet) []int {
	var out []int
	for i := range 1024 {
		if set.IsSet(i) {
			out = append(out, i)
		}
	}
	return out
}

// runOne starts the server config names, drives it, and measures it.
func runOne(config string, srv serverOpts, lg loadgen.Config, countSyscalls bool) (sample, error) {
	parts := strings.Split(config, "/")
	mode, flagName, batch, keepP := parts[0], "none", "1", "false"
	if len(parts) > 1 {
		flagName = parts[1]
	}
	var tune []string
	for _, p := range parts[min(2, len(parts)):] {
		switch {
		case mode == "ext":
			tune = append(tune, p) // backend=B sets ASIO_BACKEND, the rest ASIO_IOURING_TUNE
		case mode == "asio" || mode == "asiopooled":
			tune = append(tune, p) // ASIO_IOURING_TUNE settings: keepp=0, batch=0, minwait=20us
		case p == "keepp":
			keepP = "true"
		case p == "ba":
			batch = "0"
		case p == "bs":
			batch = "4294967295"
		case strings.HasPrefix(p, "b"):
			batch = p[1:]
		default:
			return sample{}, fmt.Errorf("unknown server option %q", p)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return sample{}, err
	}
	cmd := exec.Command("taskset", "-c", strconv.Itoa(srv.cpu), exe, "-serve", mode, "-flags", flagName,
		"-batch", batch, "-minwait", srv.minWait.String(), "-keepp="+keepP)
	if mode == "ext" {
		// ext/IMPL: the bench module's echoserver (ECHOSERVER=path), -impl IMPL.
		cmd = exec.Command("taskset", "-c", strconv.Itoa(srv.cpu), os.Getenv("ECHOSERVER"), "-impl", flagName, "-addr", "127.0.0.1:0", "-contexts", "1")
		var rest []string
		for _, p := range tune {
			if b, ok := strings.CutPrefix(p, "backend="); ok {
				cmd.Env = append(os.Environ(), "ASIO_BACKEND="+b)
			} else {
				rest = append(rest, p)
			}
		}
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(srv.procs), "ASIO_IOURING_TUNE="+strings.Join(rest, ","))
	} else {
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(srv.procs))
	}
	if mode == "asio" || mode == "asiopooled" {
		cmd.Env = append(cmd.Env, "ASIO_BACKEND="+flagName, "ASIO_IOURING_TUNE="+strings.Join(tune, ",")) // asio/epoll, asio/iouring[/keepp=0…]
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return sample{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return sample{}, err
	}
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	defer func() {
		if mode == "ext" {
			cmd.Process.Kill()
		}
		stdin.Close()
		cmd.Wait()
	}()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return sample{}, fmt.Errorf("server did not start: %w", err)
	}
	lg.Addr = strings.TrimSpace(addr)
	if err := waitListening(lg.Addr); err != nil {
		return sample{}, err
	}
	pid := cmd.Process.Pid
	var cpu0, cpu1, stat0, stat1 time.Duration
	var perf *perfCount
	window := func(open bool) {
		if open {
			if countSyscalls {
				perf, err = startPerf(pid)
			}
			cpu0, stat0 = processCPU(pid), statCPU(pid)
			return
		}
		cpu1, stat1 = processCPU(pid), statCPU(pid)
		if perf != nil {
			perf.stop()
		}
	}
	res, lgErr := loadgen.RunWindow(context.Background(), lg, window)
	if lgErr != nil {
		return sample{}, lgErr
	}
	if err != nil {
		return sample{}, err
	}
	s := sample{
		cpuPerMsg:  float64((cpu1 - cpu0).Nanoseconds()) / 1e3 / float64(res.Messages),
		msgsPerSec: res.MsgsPerSec,
		p50:        res.P50,
		statPerMsg: float64((stat1 - stat0).Nanoseconds()) / 1e3 / float64(res.Messages),
	}
	if perf != nil && perfRecord != "" {
		s.profile = fmt.Sprintf(" (profile in %s)", filepath.Join(perfRecord, fmt.Sprintf("%d.data", pid)))
	}
	if perf != nil {
		s.sysPerMsg = float64(perf.counts["raw_syscalls:sys_enter"]) / float64(res.Messages)
		s.enterPerMsg = float64(perf.counts["syscalls:sys_enter_io_uring_enter"]) / float64(res.Messages)
		s.csPerMsg = float64(perf.counts["context-switches"]) / float64(res.Messages)
	}
	return s, nil
}

func waitListening(addr string) error {
	for range 100 {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return errors.New("server not listening")
}

// processCPU reads another process's CPU time (all its threads) from its
// process CPU clock, MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED).
func processCPU(pid int) time.Duration {
	var ts unix.Timespec
	clock := int32(^uint32(pid)<<3 | 2)
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// statCPU reads utime+stime of a process from /proc/<pid>/stat.
func statCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}

// perfRecord is the -perf-record directory.
var perfRecord string

type perfCount struct {
	cmd    *exec.Cmd
	rec    *exec.Cmd // perf record, with -perf-record
	out    strings.Builder
	counts map[string]int64
}

func startPerf(pid int) (*perfCount, error) {
	p := &perfCount{counts: map[string]int64{}}
	p.cmd = exec.Command("perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter,context-switches", "-p", strconv.Itoa(pid))
	if perfRecord != "" {
		p.rec = exec.Command("perf", "record", "-g", "-q", "-o", filepath.Join(perfRecord, fmt.Sprintf("%d.data", pid)), "-p", strconv.Itoa(pid))
		if err := p.rec.Start(); err != nil {
			return nil, fmt.Errorf("perf record: %w", err)
		}
	}
	p.cmd.Stderr = &p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf: %w", err)
	}
	time.Sleep(200 * time.Millisecond) // perf attaches after it starts; the window is seconds long
	return p, nil
}

func (p *perfCount) stop() {
	p.cmd.Process.Signal(syscall.SIGINT)
	p.cmd.Wait()
	if p.rec != nil {
		p.rec.Process.Signal(syscall.SIGINT)
		p.rec.Wait()
	}
	for _, line := range strings.Split(p.out.String(), "\n") {
		f := strings.Split(line, ",")
		if len(f) >= 3 {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				p.counts[f[2]] = n
			}
		}
	}
}
