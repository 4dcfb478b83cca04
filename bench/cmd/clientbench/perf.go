package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// The -perf count: the server's CPU per request in units of the
// protocol's own parsing functions. While the client runs, perf samples the
// server's CPU; every sample of the server process is then counted against
// the samples of the parsing functions, which both servers of a protocol
// run on the same input (the asio and the net server share them). It
// separates user from kernel time, and it is steadier than CPU time for
// the user part: both it and the parser are CPU-bound code, which the
// machine's slow and fast moments move alike (the asio and net HTTP
// servers' user samples per parser sample varied by 2–7 % over three
// rounds, where their CPU per request varied by 20 %). The kernel part is
// not steadier than CPU time: the kernel's TCP work is memory-bound, and
// the machine's state moves it by as much as 1.5× against the parser.
//
// Only the functions' own (self) samples count as the unit: nothing that
// either server's I/O code calls, such as the search for the end of a head,
// which each server does its own way.

// unitFuncs are, per protocol, the shared functions whose self samples are
// the unit.
var unitFuncs = map[string][]string{
	"http": {
		"github.com/goasio/asio/examples/http/httpserver.(*Request).Parse",
		"github.com/goasio/asio/examples/http/httpserver.isToken",
		"bytes.Cut", "bytes.Trim", "bytes.EqualFold",
	},
	"resp": {
		"github.com/goasio/asio/examples/resp/respserver.(*Store).Exec",
		"github.com/goasio/asio/examples/resp/respserver.appendBulk",
		"github.com/goasio/asio/examples/resp/respserver.equalFold",
	},
}

// perfCount is one run's samples of the server process.
type perfCount struct {
	User, Kernel, Unit int64
}

// perUnit returns the server's samples per unit sample, and its user and
// kernel parts.
func (c perfCount) perUnit() (total, user, kernel float64) {
	if c.Unit == 0 {
		return 0, 0, 0
	}
	u := float64(c.Unit)
	return float64(c.User+c.Kernel) / u, float64(c.User) / u, float64(c.Kernel) / u
}

// perfRecorder is perf record sampling one CPU until stop.
type perfRecorder struct {
	cmd  *exec.Cmd
	file string
	err  bytes.Buffer
}

// startPerf samples cpu (every process on it) into file; perf itself runs
// on pin, the client's CPU, so that it takes no time from the server.
func startPerf(cpu, pin int, file string) (*perfRecorder, error) {
	p := &perfRecorder{file: file}
	p.cmd = exec.Command("taskset", "-c", strconv.Itoa(pin), "perf", "record", "-q", "-F", "4999", "-C", strconv.Itoa(cpu), "-o", file)
	p.cmd.Stderr = &p.err
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf record: %w", err)
	}
	return p, nil
}

// stop ends the recording and counts the samples of comm, whose unit
// functions are unit.
func (p *perfRecorder) stop(comm string, unit []string) (perfCount, error) {
	defer os.Remove(p.file)
	p.cmd.Process.Signal(syscall.SIGINT)
	// Ended by the signal (exit code -1) or after writing the file (0).
	if err := p.cmd.Wait(); err != nil && p.cmd.ProcessState.ExitCode() > 0 {
		return perfCount{}, fmt.Errorf("perf record: %v: %s", err, strings.TrimSpace(p.err.String()))
	}
	out, err := exec.Command("perf", "report", "-i", p.file, "--stdio", "-n", "--comm", comm,
		"--sort", "dso,sym", "--field-separator=\t").Output()
	if err != nil {
		return perfCount{}, fmt.Errorf("perf report: %w", err)
	}
	return parsePerfReport(string(out), unit)
}

// parsePerfReport reads perf report's tab-separated lines (overhead,
// samples, dso, symbol) and sums the samples by user and kernel, and those
// of the unit functions.
func parsePerfReport(out string, unit []string) (perfCount, error) {
	var c perfCount
	for _, line := range strings.Split(out, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 4 {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(f[1]), 10, 64)
		if err != nil {
			continue
		}
		sym := strings.TrimSpace(f[3])
		switch {
		case strings.HasPrefix(sym, "[k] "):
			c.Kernel += n
		case strings.HasPrefix(sym, "[.] "):
			c.User += n
			for _, u := range unit {
				if sym[4:] == u {
					c.Unit += n
				}
			}
		}
	}
	if c.User+c.Kernel == 0 {
		return c, fmt.Errorf("perf recorded no sample of the server")
	}
	if c.Unit == 0 {
		return c, fmt.Errorf("perf recorded no sample of the parser's functions (%s)", strings.Join(unit, ", "))
	}
	return c, nil
}
