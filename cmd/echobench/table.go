package main

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/goasio/asio/internal/loadgen"
)

// row is one scenario measured on one server.
type row struct {
	scenario scenario
	server   string
	res      loadgen.Result
	cpu      time.Duration // CPU time charged over the window
	hasCPU   bool
}

// cpuPerMsg is the CPU time per echoed message in µs, or 0 when unknown.
func (r row) cpuPerMsg() float64 {
	if !r.hasCPU || r.res.Messages == 0 {
		return 0
	}
	return float64(r.cpu) / float64(time.Microsecond) / float64(r.res.Messages)
}

const rowFormat = "%-10s %5s  %-8s %12s %9s %9s %9s %11s\n"

// printTable prints the rows grouped by scenario, in the order they came,
// with an asio/net ratio line under each scenario that has both.
func printTable(w io.Writer, rows []row) {
	fmt.Fprintf(w, rowFormat, "scenario", "depth", "server", "msgs/s", "MB/s", "p50", "p99", "CPU µs/msg")
	var order []string
	byScenario := map[string][]row{}
	for _, r := range rows {
		if _, ok := byScenario[r.scenario.name]; !ok {
			order = append(order, r.scenario.name)
		}
		byScenario[r.scenario.name] = append(byScenario[r.scenario.name], r)
	}
	for _, name := range order {
		var asio, net *row
		for i, r := range byScenario[name] {
			fmt.Fprintf(w, rowFormat, name, strconv.Itoa(r.scenario.depth), r.server,
				thousands(r.res.MsgsPerSec), fmt.Sprintf("%.1f", r.res.MBPerSec),
				latency(r.res.P50), latency(r.res.P99), cpuCell(r.cpuPerMsg()))
			switch r.server {
			case "asio":
				asio = &byScenario[name][i]
			case "net":
				net = &byScenario[name][i]
			}
		}
		if asio != nil && net != nil {
			fmt.Fprintf(w, rowFormat, "", "", "asio/net",
				ratio(asio.res.MsgsPerSec, net.res.MsgsPerSec), "", "", "",
				ratio(asio.cpuPerMsg(), net.cpuPerMsg()))
		}
	}
}

func cpuCell(us float64) string {
	if us == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", us)
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func latency(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// thousands formats v rounded to an integer with comma separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
