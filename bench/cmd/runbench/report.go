package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goasio/asio/internal/stats"
)

// metric is a figure of a row for ratios and charts.
type metric struct {
	name       string
	unit       string
	lowerBest  bool
	get        func(row) float64
	format     func(float64) string
	chartTitle string
}

var (
	mMsgs = metric{name: "msgs/s", get: func(r row) float64 { return r.MsgsPerSec },
		format: func(v float64) string { return thousands(v) }, chartTitle: "messages/s (higher is better)"}
	mMB = metric{name: "MB/s", get: func(r row) float64 { return r.MBPerSec },
		format: func(v float64) string { return fmt.Sprintf("%.1f", v) }, chartTitle: "MB/s (higher is better)"}
	mCPU = metric{name: "server CPU/msg", unit: "µs", lowerBest: true, get: func(r row) float64 { return r.CPUPerMsg },
		format: func(v float64) string { return fmt.Sprintf("%.2f µs", v) }, chartTitle: "server CPU µs per message (lower is better)"}
	mIdle = metric{name: "RSS/conn", unit: "B", lowerBest: true, get: func(r row) float64 { return r.BytesPerConn },
		format: func(v float64) string { return fmt.Sprintf("%.0f B", v) }, chartTitle: "server RSS bytes per idle connection (lower is better)"}
)

// metricsFor lists the figures compared in a scenario: its throughput
// figure and the server's CPU per message, or the memory per connection.
func metricsFor(sc scenario) []metric {
	switch {
	case sc.Idle:
		return []metric{mIdle}
	case sc.Size >= 4096:
		return []metric{mMB, mCPU}
	default:
		return []metric{mMsgs, mCPU}
	}
}

// bestPeer returns the best value of m among the rows other than asio.
func bestPeer(rows []row, m metric) (row, bool) {
	var best row
	found := false
	for _, r := range rows {
		if isAsio(r.Impl) || r.Err != "" || m.get(r) <= 0 {
			continue
		}
		if !found || (m.lowerBest && m.get(r) < m.get(best)) || (!m.lowerBest && m.get(r) > m.get(best)) {
			best, found = r, true
		}
	}
	return best, found
}

func findRow(rows []row, impl string) (row, bool) {
	for _, r := range rows {
		if r.Impl == impl && r.Err == "" {
			return r, true
		}
	}
	if impl == "asio" { // asio@BACKEND alone
		for _, r := range rows {
			if isAsio(r.Impl) && r.Err == "" {
				return r, true
			}
		}
	}
	return row{}, false
}

// ratio is asio's value of m over the best peer's.
func ratio(rows []row, m metric) (float64, row, bool) {
	a, ok := findRow(rows, "asio")
	if !ok || m.get(a) <= 0 {
		return 0, row{}, false
	}
	b, ok := bestPeer(rows, m)
	if !ok {
		return 0, row{}, false
	}
	return m.get(a) / m.get(b), b, true
}

// perRound is the first asio build's value of m over the best peer's
// within each round (the runs of one round ran back to back): their median,
// range and count. It needs at least two rounds.
func perRound(res scenarioResult, m metric) (med, lo, hi float64, n int, ok bool) {
	for i, rs := range res.AllRuns {
		if len(rs) > 0 && isAsio(rs[0].Impl) {
			return perRoundOf(res, i, m)
		}
	}
	return 0, 0, 0, 0, false
}

// perRoundOf is perRound for the asio build at index ai of res.AllRuns.
func perRoundOf(res scenarioResult, ai int, m metric) (med, lo, hi float64, n int, ok bool) {
	var qs []float64
	for k := range res.AllRuns[ai] {
		var round []row
		for _, rs := range res.AllRuns {
			if k < len(rs) && (!isAsio(rs[k].Impl) || rs[k].Impl == res.AllRuns[ai][k].Impl) {
				round = append(round, rs[k])
			}
		}
		if q, _, ok := ratio(round, m); ok {
			qs = append(qs, q)
		}
	}
	if len(qs) < 2 {
		return 0, 0, 0, 0, false
	}
	return stats.Median(qs), slices.Min(qs), slices.Max(qs), len(qs), true
}

func placementText(sc scenario, cfg config) string {
	switch {
	case cfg.singleCore:
		return "server and load share the only CPU"
	case sc.Multicore:
		return fmt.Sprintf("server on every CPU (GOMAXPROCS unset, -contexts %d), load on CPU %d", len(allCPUs()), cfg.loadCPU)
	default:
		return fmt.Sprintf("server on CPU %d with GOMAXPROCS=1, load on CPU %d", cfg.serverCPU, cfg.loadCPU)
	}
}

// mdStyle says how markdown renders: the heading level of the title (1 = "#";
// scenarios get one more) and where the charts are (no charts when charts is
// false), relative to the document.
type mdStyle struct {
	level    int
	title    bool
	charts   bool
	imageDir string
}

// markdown renders the results.
func markdown(results []scenarioResult, cfg config, started time.Time, st mdStyle) string {
	var b strings.Builder
	h := strings.Repeat("#", st.level)
	if st.title {
		fmt.Fprintf(&b, "%s Echo benchmark results\n\n", h)
	}
	fmt.Fprintf(&b, "- run: %s", started.UTC().Format("2006-01-02 15:04 MST"))
	if rev := gitRev(); rev != "" {
		fmt.Fprintf(&b, ", library at %s", rev)
	}
	fmt.Fprintf(&b, "\n- machine: %s\n", machineInfo())
	fmt.Fprintf(&b, "- each load run: %v warmup, then %v measured; every echoed byte verified\n", cfg.warmup, cfg.duration)
	if cfg.runs > 1 {
		fmt.Fprintf(&b, "- %d runs per server and scenario, interleaved; each row is the undisturbed run with the lowest server CPU/msg (RSS/conn for idle)\n", cfg.runs)
		fmt.Fprintf(&b, "- beside each table, the median of the per-round ratios of asio to the best peer of the same round; the targets are checked on it\n")
	}
	if len(cfg.skipped) > 0 {
		fmt.Fprintf(&b, "- not run (cannot run on this machine): %s\n", strings.Join(cfg.skipped, "; "))
	}
	fmt.Fprintf(&b, "- server CPU/msg: the server process's CPU time (user+system, all threads) over the measured window ÷ messages echoed in it\n\n")

	for _, res := range results {
		sc := res.Scenario
		fmt.Fprintf(&b, "%s# %s\n\n%s; %s.\n\n", h, sc.Name, sc.Title, placementText(sc, cfg))
		if sc.Idle {
			b.WriteString("| impl | connections | RSS before | RSS after | RSS per connection | RSS after GC | per connection after GC |\n|---|---:|---:|---:|---:|---:|---:|\n")
			for _, r := range res.Rows {
				if r.Err != "" {
					fmt.Fprintf(&b, "| %s | error: %s | | | | | |\n", r.Impl, mdEscape(r.Err))
					continue
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %.0f B | %s | %.0f B |\n", r.Impl, thousands(float64(r.Conns)), mib(r.RSSBefore), mib(r.RSSAfter),
					r.BytesPerConn, mib(r.RSSAfterGC), r.BytesPerConnGC)
			}
		} else {
			b.WriteString("| impl | msgs/s | MB/s | p50 | p99 | server CPU | server CPU/msg |\n|---|---:|---:|---:|---:|---:|---:|\n")
			for _, r := range res.Rows {
				if r.Err != "" {
					fmt.Fprintf(&b, "| %s | error: %s | | | | | |\n", r.Impl, mdEscape(r.Err))
					continue
				}
				fmt.Fprintf(&b, "| %s | %s | %.1f | %s | %s | %.0f%% | %.2f µs |\n", r.Impl, thousands(r.MsgsPerSec), r.MBPerSec,
					latency(r.P50), latency(r.P99), 100*r.CPUUtil, r.CPUPerMsg)
			}
		}
		var noisy []string
		for _, r := range res.Rows {
			if r.OtherLoad > cfg.maxOther {
				noisy = append(noisy, fmt.Sprintf("%s %.0f%%", r.Impl, 100*r.OtherLoad))
			}
		}
		if len(noisy) > 0 {
			fmt.Fprintf(&b, "\nOther processes used CPU during some runs (%% of one CPU, after %d retries): %s; those figures are disturbed.\n", cfg.retries, strings.Join(noisy, ", "))
		}
		var parts, rounds []string
		for _, m := range metricsFor(sc) {
			if q, best, ok := ratio(res.Rows, m); ok {
				parts = append(parts, fmt.Sprintf("%s %.2f× (best peer %s: %s)", m.name, q, best.Impl, m.format(m.get(best))))
			}
			for i, rs := range res.AllRuns {
				if len(rs) == 0 || !isAsio(rs[0].Impl) {
					continue
				}
				if med, lo, hi, n, ok := perRoundOf(res, i, m); ok {
					rounds = append(rounds, fmt.Sprintf("%s %s %.2f× (%.2f–%.2f× over %d rounds)", rs[0].Impl, m.name, med, lo, hi, n))
				}
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, "\nasio vs the best peer: %s.\n", strings.Join(parts, "; "))
		}
		if len(rounds) > 0 {
			fmt.Fprintf(&b, "Median of the per-round ratios (each asio build against the best peer of the same round): %s.\n", strings.Join(rounds, "; "))
		}
		if st.charts {
			fmt.Fprintf(&b, "\n![%s](%s)\n", sc.Name, path.Join(st.imageDir, sc.Name+".png"))
		}
		b.WriteString("\n")
	}
	if t := targets(results); t != "" {
		b.WriteString(h + "# Targets (issue 5)\n\n" + t)
	}
	return b.String()
}

// targets checks the ratios issue 5 sets, for the scenarios that ran.
func targets(results []scenarioResult) string {
	var lines []string
	check := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	for _, res := range results {
		sc := res.Scenario
		switch sc.Name {
		case "pingpong", "pipelined":
			if q, best, ok := ratio(res.Rows, mCPU); ok {
				fig, q := withRounds(res, mCPU, q, best)
				lines = append(lines, fmt.Sprintf("| %s | server CPU/msg ≤ 0.9× best peer | %s | %s |", sc.Name, fig, check(q <= 0.9)))
			}
		case "bulk":
			if q, best, ok := ratio(res.Rows, mMB); ok {
				fig, q := withRounds(res, mMB, q, best)
				lines = append(lines, fmt.Sprintf("| %s | MB/s ≥ best peer | %s | %s |", sc.Name, fig, check(q >= 1)))
			}
		case "idle": // idle-after-echo has no target yet
			if a, ok := findRow(res.Rows, "asio"); ok {
				lines = append(lines, fmt.Sprintf("| %s | RSS ≤ 250 B per connection | %.0f B | %s |", sc.Name, a.BytesPerConn, check(a.BytesPerConn <= 250)))
			}
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return "| scenario | target | asio | |\n|---|---|---:|---|\n" + strings.Join(lines, "\n") + "\n"
}

// withRounds gives a target's figure: the ratio of the reported rows (q,
// against best) and, with three rounds or more, the median of the
// per-round ratios, which the target is then checked on (the reported rows
// are each server's best run, a lucky draw where runs spread widely).
func withRounds(res scenarioResult, m metric, q float64, best row) (string, float64) {
	fig := fmt.Sprintf("%.2f× (%s)", q, best.Impl)
	if med, lo, hi, n, ok := perRound(res, m); ok && n >= 3 {
		return fmt.Sprintf("%s; per round %.2f× (%.2f–%.2f×, %d rounds)", fig, med, lo, hi, n), med
	}
	return fig, q
}

func writeResults(results []scenarioResult, cfg config, started time.Time) error {
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return err
	}
	for _, res := range results {
		if err := chart(res, filepath.Join(cfg.out, res.Scenario.Name+".png")); err != nil {
			return fmt.Errorf("chart %s: %w", res.Scenario.Name, err)
		}
	}
	md := markdown(results, cfg, started, mdStyle{level: 1, title: true, charts: true})
	if err := os.WriteFile(filepath.Join(cfg.out, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	if cfg.readme != "" {
		if err := updateReadme(cfg.readme, results, cfg, started); err != nil {
			return err
		}
	}
	js, err := json.MarshalIndent(struct {
		Started   time.Time        `json:"started"`
		Machine   string           `json:"machine"`
		Duration  string           `json:"duration"`
		Warmup    string           `json:"warmup"`
		Scenarios []scenarioResult `json:"scenarios"`
	}{started.UTC(), machineInfo(), cfg.duration.String(), cfg.warmup.String(), results}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(cfg.out, "results.json"), append(js, '\n'), 0o644)
}

// Markers in the README between which the latest results are written.
const (
	readmeStart = "<!-- runbench:results:start -->"
	readmeEnd   = "<!-- runbench:results:end -->"
)

// updateReadme replaces the results section of the README (between the
// markers) with this run's tables and charts; a README without the markers
// is left alone.
func updateReadme(readme string, results []scenarioResult, cfg config, started time.Time) error {
	b, err := os.ReadFile(readme)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	s := string(b)
	i, j := strings.Index(s, readmeStart), strings.Index(s, readmeEnd)
	if i < 0 || j < i {
		return nil
	}
	imgDir, err := filepath.Rel(filepath.Dir(readme), cfg.out)
	if err != nil {
		imgDir = cfg.out
	}
	md := markdown(results, cfg, started, mdStyle{level: 2, charts: true, imageDir: filepath.ToSlash(imgDir)})
	s = s[:i+len(readmeStart)] + "\n" + md + s[j:]
	fmt.Fprintf(os.Stderr, "runbench: updated the results in %s\n", readme)
	return os.WriteFile(readme, []byte(s), 0o644)
}

// gitRev names the library's commit, when the run is inside its work tree.
func gitRev() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		rev += " (with uncommitted changes)"
	}
	return rev
}

func latency(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", math.Round(v))
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", " ")
}
