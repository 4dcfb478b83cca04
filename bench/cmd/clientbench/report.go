package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goasio/asio/internal/stats"
)

// result is one scenario's runs, every round of every server.
type result struct {
	Scenario scenario `json:"scenario"`
	Command  []string `json:"command"`
	Runs     []run    `json:"runs"`
}

// summary is one server's medians in one scenario.
type summary struct {
	ok             bool
	rps, cpu, p50  float64
	other          float64
	failed, rounds int
}

func summarize(runs []run, impl string) summary {
	var s summary
	var rps, cpu, p50, other []float64
	for _, r := range runs {
		if r.Impl != impl {
			continue
		}
		s.rounds++
		if r.Err != "" {
			s.failed++
			continue
		}
		rps = append(rps, r.RPS)
		cpu = append(cpu, r.CPUPerReq)
		p50 = append(p50, r.P50ms)
		other = append(other, r.Other)
	}
	s.ok = len(cpu) > 0
	s.rps, s.cpu, s.p50, s.other = stats.Median(rps), stats.Median(cpu), stats.Median(p50), stats.Median(other)
	return s
}

// pairedRatios returns impl's figure over net's (CPU per request, or with
// -perf the samples per parser sample: fig) for every round that measured
// both without error.
func pairedRatios(runs []run, impl string, fig func(run) float64) []float64 {
	var per []float64
	for _, a := range runs {
		if a.Impl != impl || a.Err != "" || fig(a) <= 0 {
			continue
		}
		for _, n := range runs {
			if n.Impl == "net" && n.Round == a.Round && n.Err == "" && fig(n) > 0 {
				per = append(per, fig(a)/fig(n))
			}
		}
	}
	return per
}

func cpuPerReq(r run) float64 { return r.CPUPerReq }
func perfUnits(r run) float64 { return r.PerfUnits }
func perfUser(r run) float64  { return r.PerfUser }

// ratioCells formats the median of per-round ratios and their range.
func ratioCells(per []float64) (ratio, spread string) {
	ratio, spread = "-", "-"
	if len(per) > 0 {
		ratio = fmt.Sprintf("**%.2f×**", stats.Median(per))
		if len(per) > 1 {
			spread = fmt.Sprintf("%.2f–%.2f×", slices.Min(per), slices.Max(per))
		}
	}
	return ratio, spread
}

// perfMarkdown is the -perf table: each server's samples per sample of the
// parser's own functions (medians over the rounds), and against net the
// medians of the per-round ratios, in all and of the user part alone.
func perfMarkdown(results []result, cfg config) string {
	var b strings.Builder
	b.WriteString("\nWith -perf: the server's perf samples (all its threads) per sample of the protocol's own parsing functions, which both servers run on the same input. The user part moves less with the machine's state than CPU time does; the kernel part moves as much:\n\n")
	b.WriteString("| scenario | server | per parser sample | user | kernel | /net | per round | /net user | per round |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, res := range results {
		for _, impl := range cfg.impls {
			var tot, user, kern []float64
			for _, r := range res.Runs {
				if r.Impl == impl && r.Err == "" && r.PerfUnits > 0 {
					tot, user, kern = append(tot, r.PerfUnits), append(user, r.PerfUser), append(kern, r.PerfKernel)
				}
			}
			if len(tot) == 0 {
				continue
			}
			ratio, spread, uratio, uspread := "-", "-", "-", "-"
			if impl != "net" {
				ratio, spread = ratioCells(pairedRatios(res.Runs, impl, perfUnits))
				uratio, uspread = ratioCells(pairedRatios(res.Runs, impl, perfUser))
			}
			fmt.Fprintf(&b, "| %s | %s | %.2f | %.2f | %.2f | %s | %s | %s | %s |\n", res.Scenario.Name, impl,
				stats.Median(tot), stats.Median(user), stats.Median(kern), ratio, spread, uratio, uspread)
		}
	}
	return b.String()
}

func markdown(results []result, cfg config, started time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "- run: %s", started.UTC().Format("2006-01-02 15:04 UTC"))
	if rev := gitRev(); rev != "" {
		fmt.Fprintf(&b, ", library at %s", rev)
	}
	fmt.Fprintf(&b, "\n- machine: %d CPUs, %s, %s/%s\n", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "- servers: `protoserver -proto http|resp -impl asio|net -contexts 1` (asio: the default backend, epoll; asio@iouring: `ASIO_BACKEND=iouring`), a fresh process per measurement, pinned to CPU %d (taskset) with GOMAXPROCS=1; the client pinned to CPU %d\n", cfg.serverCPU, cfg.loadCPU)
	fmt.Fprintf(&b, "- %d rounds, interleaved (%s, then again); each figure is the median over the rounds, and /net the median of the per-round ratios to the net server of the same round (\"per round\": their range)\n", cfg.rounds, strings.Join(cfg.impls, ", "))
	b.WriteString("- server CPU/req: the server process's CPU time (user+system, all threads) from just before the client starts to just after it exits ÷ the requests the client completed\n\n")
	b.WriteString("| scenario | client | server | req/s | net req/s | p50 | net p50 | CPU/req | net CPU/req | /net CPU/req | per round | other load |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, res := range results {
		n := summarize(res.Runs, "net")
		for _, impl := range cfg.impls {
			if impl == "net" {
				continue
			}
			a := summarize(res.Runs, impl)
			cell := func(s summary, f func(summary) string) string {
				switch {
				case s.rounds == 0:
					return "-"
				case !s.ok:
					return "failed"
				}
				v := f(s)
				if s.failed > 0 {
					v += fmt.Sprintf(" (%d failed)", s.failed)
				}
				return v
			}
			rps := func(s summary) string { return thousands(s.rps) }
			p50 := func(s summary) string { return fmt.Sprintf("%.3f ms", s.p50) }
			cpu := func(s summary) string { return fmt.Sprintf("%.2f µs", s.cpu) }
			// Paired: a round measures the servers back to back, so the
			// ratio within a round cancels the machine's drift; the table
			// gives the median of those ratios, and their range.
			ratio, spread := ratioCells(pairedRatios(res.Runs, impl, cpuPerReq))
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.0f%% |\n",
				res.Scenario.Name, res.Scenario.Title, impl, cell(a, rps), cell(n, rps), cell(a, p50), cell(n, p50),
				cell(a, cpu), cell(n, cpu), ratio, spread, 100*max(a.other, n.other))
		}
	}
	if cfg.perf {
		b.WriteString(perfMarkdown(results, cfg))
	}
	b.WriteString("\nClient commands (HOST:PORT is the server's address):\n\n")
	for _, res := range results {
		fmt.Fprintf(&b, "- %s: `%s`\n", res.Scenario.Name, strings.Join(res.Command, " "))
	}
	return b.String()
}

// write stores clients.md and clients.json in cfg.out and, after a full
// run, refreshes the README's clientbench section.
func write(results []result, md string, cfg config) error {
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.out, "clients.md"), []byte("# clientbench results\n\n"+md), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.out, "clients.json"), js, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "clientbench: wrote %s/clients.md and clients.json\n", cfg.out)
	if cfg.readme == "" || len(results) < len(allScenarios) || len(cfg.impls) < len(allImpls) {
		return nil
	}
	return updateReadme(cfg.readme, md)
}

const (
	startMark = "<!-- clientbench:results:start -->"
	endMark   = "<!-- clientbench:results:end -->"
)

func updateReadme(path, md string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, startMark), strings.Index(s, endMark)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s … %s section", path, startMark, endMark)
	}
	s = s[:i+len(startMark)] + "\n" + md + s[j:]
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "clientbench: refreshed %s\n", path)
	return nil
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

// thousands formats v rounded to an integer with comma separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
