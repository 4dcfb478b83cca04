package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goasio/asio/internal/loadgen"
	"github.com/goasio/asio/internal/stats"
)

// row is one scenario measured on one server in one round.
type row struct {
	scenario scenario
	server   string
	round    int
	res      loadgen.Result
	cpu      time.Duration // CPU time charged over the window
	hasCPU   bool
	other    float64 // CPUs other processes used during the window; -1 unknown
}

// otherLoad is the median over the rows of the CPU that other processes
// used during the windows.
func otherLoad(rows []row) (float64, bool) {
	var v []float64
	for _, r := range rows {
		if r.other >= 0 {
			v = append(v, r.other)
		}
	}
	return stats.Median(v), len(v) > 0
}

// cpuPerMsg is the CPU time per echoed message in µs, or 0 when unknown.
func (r row) cpuPerMsg() float64 {
	if !r.hasCPU || r.res.Messages == 0 {
		return 0
	}
	return float64(r.cpu) / float64(time.Microsecond) / float64(r.res.Messages)
}

// summary is one server's figures in one scenario: the medians over its
// rounds.
type summary struct {
	msgs, mb, cpu float64
	p50, p99      time.Duration
	cpus          []float64 // CPU µs/msg per round, in round order
}

func summarize(rs []row) summary {
	var s summary
	var msgs, mb []float64
	var p50, p99 []time.Duration
	for _, r := range rs {
		msgs = append(msgs, r.res.MsgsPerSec)
		mb = append(mb, r.res.MBPerSec)
		p50 = append(p50, r.res.P50)
		p99 = append(p99, r.res.P99)
		s.cpus = append(s.cpus, r.cpuPerMsg())
	}
	s.msgs, s.mb, s.cpu = stats.Median(msgs), stats.Median(mb), stats.Median(s.cpus)
	s.p50, s.p99 = stats.Median(p50), stats.Median(p99)
	return s
}

// pairedRatios returns, for every round that measured both, asio's CPU per
// message over net's, and the same for messages/s.
func pairedRatios(asio, net []row) (cpu, msgs []float64) {
	for _, a := range asio {
		for _, n := range net {
			if n.round == a.round && a.cpuPerMsg() > 0 && n.cpuPerMsg() > 0 && n.res.MsgsPerSec > 0 {
				cpu = append(cpu, a.cpuPerMsg()/n.cpuPerMsg())
				msgs = append(msgs, a.res.MsgsPerSec/n.res.MsgsPerSec)
			}
		}
	}
	return cpu, msgs
}

const rowFormat = "%-10s %5s  %-8s %12s %9s %9s %9s %11s%s\n"

// printTable prints, per scenario in the order they came, each server's
// medians over the rounds, then the asio/net ratios: the median of the
// per-round ratios, and their range for CPU per message.
func printTable(w io.Writer, rows []row) {
	fmt.Fprintf(w, rowFormat, "scenario", "depth", "server", "msgs/s", "MB/s", "p50", "p99", "CPU µs/msg", "")
	var scenarios, servers []string
	byKey := map[[2]string][]row{}
	for _, r := range rows {
		if !slices.Contains(scenarios, r.scenario.name) {
			scenarios = append(scenarios, r.scenario.name)
		}
		if !slices.Contains(servers, r.server) {
			servers = append(servers, r.server)
		}
		k := [2]string{r.scenario.name, r.server}
		byKey[k] = append(byKey[k], r)
	}
	var verdict []string
	for _, name := range scenarios {
		sums := map[string]summary{}
		for _, srv := range servers {
			rs := byKey[[2]string{name, srv}]
			if len(rs) == 0 {
				continue
			}
			s := summarize(rs)
			sums[srv] = s
			fmt.Fprintf(w, rowFormat, name, strconv.Itoa(rs[0].scenario.depth), srv,
				thousands(s.msgs), fmt.Sprintf("%.1f", s.mb),
				latency(s.p50), latency(s.p99), cpuCell(s.cpu), "")
		}
		a, okA := sums["asio"]
		n, okN := sums["net"]
		if !okA || !okN {
			continue
		}
		// Paired: each round measured both servers back to back, so the
		// ratio within a round cancels the machine's drift; the verdict is
		// the median of those ratios.
		cpuRatio, msgRatio, spread := ratio(a.cpu, n.cpu), ratio(a.msgs, n.msgs), ""
		if per, perMsgs := pairedRatios(byKey[[2]string{name, "asio"}], byKey[[2]string{name, "net"}]); len(per) > 0 {
			cpuRatio = fmt.Sprintf("%.2f×", stats.Median(per))
			msgRatio = fmt.Sprintf("%.2f×", stats.Median(perMsgs))
			if len(per) > 1 {
				spread = fmt.Sprintf("   rounds %.2f–%.2f×", slices.Min(per), slices.Max(per))
			}
		}
		fmt.Fprintf(w, rowFormat, "", "", "asio/net", msgRatio, "", "", "", cpuRatio, spread)
		verdict = append(verdict, name+" "+cpuRatio)
	}
	if len(verdict) > 0 {
		fmt.Fprintf(w, "\nverdict, server CPU per message asio/net: %s (msgs/s is mostly the load generator's pace; its ratio moves with the machine)\n",
			strings.Join(verdict, ", "))
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
