package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/goasio/asio/bench/internal/procstat"
)

// run is one measurement: one client run against one fresh server.
type run struct {
	Impl  string `json:"impl"`
	Round int    `json:"round"`
	Err   string `json:"error,omitempty"`

	Requests  int64   `json:"requests"`                   // completed by the client
	RPS       float64 `json:"rps"`                        // as the client reports it
	P50ms     float64 `json:"p50_ms"`                     // the client's median latency
	CPUPerReq float64 `json:"server_cpu_us_per_req"`      // server CPU µs per completed request
	StatCPU   float64 `json:"server_cpu_us_per_req_stat"` // the same from /proc/<pid>/stat's utime+stime
	CPUUtil   float64 `json:"server_cpu_util"`            // server CPU seconds per wall second
	Other     float64 `json:"other_load"`                 // CPUs other processes used meanwhile

	// With -perf: the server's samples per sample of the parser's own
	// functions (perf.go), in all and in user and kernel code.
	PerfUnits  float64 `json:"perf_samples_per_unit,omitempty"`
	PerfUser   float64 `json:"perf_user_per_unit,omitempty"`
	PerfKernel float64 `json:"perf_kernel_per_unit,omitempty"`
}

// clientCommand is the client's command line against addr.
func clientCommand(sc scenario, cfg config, addr, script string) []string {
	switch sc.Client {
	case "wrk":
		cmd := []string{"wrk", "-t1", "-c" + strconv.Itoa(cfg.conns), "-d" + cfg.duration.String(), "--latency"}
		if sc.Pipe > 1 {
			cmd = append(cmd, "-s", script)
		}
		return append(cmd, "http://"+addr+"/")
	default:
		host, port, _ := strings.Cut(addr, ":")
		n := cfg.requests1
		if sc.Pipe > 1 {
			n = cfg.requests16
		}
		return []string{"redis-benchmark", "-h", host, "-p", port, "-c", strconv.Itoa(cfg.conns),
			"-n", strconv.Itoa(n), "-P", strconv.Itoa(sc.Pipe), "-t", sc.Test, "--csv"}
	}
}

func measure(bin, script, impl string, sc scenario, cfg config) (r run) {
	srv, addr, err := startServer(bin, sc.Proto, impl, cfg.serverCPU)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer srv.stop()
	pid := srv.cmd.Process.Pid

	args := clientCommand(sc, cfg, addr, script)
	client := exec.Command("taskset", append([]string{"-c", strconv.Itoa(cfg.loadCPU)}, args...)...)
	var out, errOut bytes.Buffer
	client.Stdout, client.Stderr = &out, &errOut

	var rec *perfRecorder
	if cfg.perf {
		if rec, err = startPerf(cfg.serverCPU, cfg.loadCPU, fmt.Sprintf("%s/%s-%s.perf", cfg.tmp, sc.Name, impl)); err != nil {
			r.Err = err.Error()
			return r
		}
	}
	cpu0, err0 := procstat.ProcessCPU(pid)
	stat0, _ := procstat.StatCPU(pid)
	busy0, _ := procstat.SystemBusy()
	self0 := procstat.SelfCPU()
	t0 := time.Now()
	err = client.Run()
	wall := time.Since(t0)
	cpu1, err1 := procstat.ProcessCPU(pid)
	stat1, _ := procstat.StatCPU(pid)
	busy1, _ := procstat.SystemBusy()
	self1 := procstat.SelfCPU()
	if rec != nil {
		c, perr := rec.stop(filepath.Base(bin), unitFuncs[sc.Proto]) // the server's comm
		if perr != nil && err == nil {
			r.Err = perr.Error()
			return r
		}
		r.PerfUnits, r.PerfUser, r.PerfKernel = c.perUnit()
	}
	if err != nil {
		r.Err = fmt.Sprintf("%s: %v: %s", args[0], err, strings.TrimSpace(errOut.String()))
		return r
	}
	if err := srv.alive(); err != nil {
		r.Err = err.Error()
		return r
	}
	if err0 != nil || err1 != nil {
		r.Err = fmt.Sprintf("server CPU time: %v %v", err0, err1)
		return r
	}
	if err := parseClient(sc, cfg, out.String(), &r); err != nil {
		r.Err = err.Error()
		return r
	}
	srvCPU := cpu1 - cpu0
	r.CPUPerReq = float64(srvCPU) / 1e3 / float64(r.Requests)
	r.StatCPU = float64(stat1-stat0) / 1e3 / float64(r.Requests)
	r.CPUUtil = float64(srvCPU) / float64(wall)
	clientCPU := client.ProcessState.UserTime() + client.ProcessState.SystemTime()
	r.Other = max(0, float64(busy1-busy0-srvCPU-clientCPU-(self1-self0))/float64(wall))
	return r
}

// parseClient reads the client's report into r: the requests it completed
// (wrk's count; redis-benchmark's -n), requests/s and the median latency.
func parseClient(sc scenario, cfg config, out string, r *run) error {
	if sc.Client == "wrk" {
		if err := parseWrk(out, r); err != nil {
			return err
		}
	} else {
		if err := parseRedisBenchmark(out, r); err != nil {
			return err
		}
		r.Requests = int64(cfg.requests1)
		if sc.Pipe > 1 {
			r.Requests = int64(cfg.requests16)
		}
	}
	if r.Requests <= 0 {
		return errors.New("no request completed")
	}
	return nil
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in`)
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkP50      = regexp.MustCompile(`(?m)^\s+50%\s+([\d.]+)(us|ms|s)\b`)
	wrkErrors   = regexp.MustCompile(`Socket errors:.*|Non-2xx or 3xx responses: \d+`)
)

// parseWrk reads wrk's report: the requests completed, requests/s and the
// median latency; socket errors and non-2xx replies fail the run.
func parseWrk(out string, r *run) error {
	m1, m2, m3 := wrkRequests.FindStringSubmatch(out), wrkRPS.FindStringSubmatch(out), wrkP50.FindStringSubmatch(out)
	if m1 == nil || m2 == nil || m3 == nil {
		return fmt.Errorf("cannot read wrk's output:\n%s", out)
	}
	if e := wrkErrors.FindString(out); e != "" {
		return fmt.Errorf("wrk: %s", e)
	}
	r.Requests, _ = strconv.ParseInt(m1[1], 10, 64)
	r.RPS, _ = strconv.ParseFloat(m2[1], 64)
	v, _ := strconv.ParseFloat(m3[1], 64)
	switch m3[2] {
	case "us":
		v /= 1000
	case "s":
		v *= 1000
	}
	r.P50ms = v
	return nil
}

// parseRedisBenchmark reads redis-benchmark --csv: a header line, then one
// line per test with its rps and latencies.
func parseRedisBenchmark(out string, r *run) error {
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) < 2 || len(recs[0]) < 5 || recs[0][1] != "rps" {
		return fmt.Errorf("cannot read redis-benchmark's output (%v):\n%s", err, out)
	}
	r.RPS, _ = strconv.ParseFloat(recs[1][1], 64)
	r.P50ms, _ = strconv.ParseFloat(recs[1][4], 64)
	return nil
}

// server is a protoserver child process.
type server struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// startServer runs protoserver pinned to cpu with GOMAXPROCS=1 and waits
// for the address it prints. An "asio@backend" server is protoserver's asio
// with ASIO_BACKEND=backend in its environment.
func startServer(bin, proto, impl string, cpu int) (*server, string, error) {
	name, backend, _ := strings.Cut(impl, "@")
	cmd := exec.Command("taskset", "-c", strconv.Itoa(cpu), bin, "-proto", proto, "-impl", name, "-addr", "127.0.0.1:0", "-contexts", "1")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") && !strings.HasPrefix(kv, "ASIO_BACKEND=") {
			env = append(env, kv)
		}
	}
	env = append(env, "GOMAXPROCS=1")
	if backend != "" {
		env = append(env, "ASIO_BACKEND="+backend)
	}
	cmd.Env = env
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	s := &server{cmd: cmd, exited: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	select {
	case addr := <-lines:
		if addr == "" {
			s.stop()
			return nil, "", fmt.Errorf("%s %s server printed no address (exit: %v)", proto, impl, s.err)
		}
		return s, addr, nil
	case <-time.After(15 * time.Second):
		s.stop()
		return nil, "", fmt.Errorf("%s %s server printed no address within 15s", proto, impl)
	}
}

func (s *server) alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("server exited: %v", s.err)
	default:
		return nil
	}
}

func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}
