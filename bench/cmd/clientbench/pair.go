package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goasio/asio/bench/internal/procstat"
	"github.com/goasio/asio/internal/stats"
)

// A pair run (-pair A,B) measures two servers at once rather than one
// after the other: both are pinned to the server CPU, each has its own
// client on the load CPU, and each server's CPU per request is read as in
// a plain run. Both see the same machine, whose speed drifts by up to 2×
// between runs here, so the ratio B/A of one round is steady to about 1 %
// where the ratio of two runs in turn is not: it is the way to tell a
// change of a few per cent (two builds of protoserver, A at one commit, B
// at another). The two servers share the CPU and each sees batches as
// large as the other leaves it, so a pair's ratio is for two builds of one
// server; set asio against net with a plain run.

// side is one server of a pair: "impl" or "impl=path/to/protoserver".
type side struct {
	impl, bin string
}

func parseSides(s string, bin string) ([]side, error) {
	var out []side
	for _, f := range split(s) {
		impl, path, _ := strings.Cut(f, "=")
		if !knownImpl(impl) {
			return nil, fmt.Errorf("unknown server %q in -pair", impl)
		}
		if path == "" {
			path = bin
		}
		out = append(out, side{impl, path})
	}
	if len(out) != 2 {
		return nil, fmt.Errorf("-pair takes two servers, A,B (got %q)", s)
	}
	return out, nil
}

// runPair runs cfg.rounds rounds of each scenario with both servers at
// once, and prints each round's CPU per request and the median ratio.
func runPair(sides []side, script string, cfg config) int {
	failed := false
	for _, sc := range cfg.scenarios {
		if sc.Client != "wrk" {
			// redis-benchmark runs for a count of requests, not a time:
			// the first to finish would leave the CPU to the other.
			fmt.Fprintf(os.Stderr, "clientbench: -pair skips %s: only wrk's timed runs pair\n", sc.Name)
			continue
		}
		var ratios []float64
		for round := range cfg.rounds {
			a, b, err := measurePair(sides, script, sc, cfg)
			if err != nil {
				failed = true
				fmt.Fprintf(os.Stderr, "clientbench: %s round %d: ERROR %v\n", sc.Name, round+1, err)
				continue
			}
			ratios = append(ratios, b.CPUPerReq/a.CPUPerReq)
			fmt.Printf("%-8s round %d/%d  A %s %.2f µs/req (%d req)  B %s %.2f µs/req (%d req)  B/A %.3f\n",
				sc.Name, round+1, cfg.rounds, sides[0].impl, a.CPUPerReq, a.Requests, sides[1].impl, b.CPUPerReq, b.Requests, b.CPUPerReq/a.CPUPerReq)
		}
		if len(ratios) > 0 {
			fmt.Printf("%-8s B/A median %.3f over %d rounds (%.3f–%.3f)\n", sc.Name, stats.Median(ratios), len(ratios), slices.Min(ratios), slices.Max(ratios))
		}
	}
	if failed {
		return 1
	}
	return 0
}

// measurePair starts both servers, runs their clients at once and reads
// each server's CPU time around them.
func measurePair(sides []side, script string, sc scenario, cfg config) (a, b run, err error) {
	var srvs [2]*server
	var cmds [2]*exec.Cmd
	var outs, errs [2]bytes.Buffer
	for i, sd := range sides {
		srv, addr, err := startServer(sd.bin, sc.Proto, sd.impl, cfg.serverCPU)
		if err != nil {
			return a, b, err
		}
		defer srv.stop()
		srvs[i] = srv
		args := clientCommand(sc, cfg, addr, script)
		cmds[i] = exec.Command("taskset", append([]string{"-c", strconv.Itoa(cfg.loadCPU)}, args...)...)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &errs[i]
	}
	var cpu0 [2]time.Duration
	for i, srv := range srvs {
		if cpu0[i], err = procstat.ProcessCPU(srv.cmd.Process.Pid); err != nil {
			return a, b, err
		}
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			return a, b, err
		}
	}
	var res [2]run
	for i, c := range cmds {
		werr := c.Wait()
		cpu1, err := procstat.ProcessCPU(srvs[i].cmd.Process.Pid)
		switch {
		case werr != nil:
			return a, b, fmt.Errorf("%s: %v: %s", c.Args[3], werr, strings.TrimSpace(errs[i].String()))
		case err != nil:
			return a, b, err
		}
		if err := srvs[i].alive(); err != nil {
			return a, b, err
		}
		if err := parseClient(sc, cfg, outs[i].String(), &res[i]); err != nil {
			return a, b, err
		}
		res[i].CPUPerReq = float64(cpu1-cpu0[i]) / 1e3 / float64(res[i].Requests)
	}
	return res[0], res[1], nil
}
