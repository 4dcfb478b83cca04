package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"

	"github.com/goasio/asio/internal/stats"
)

// Pooling runs (-pool): five rounds cannot tell a few per cent on a machine
// whose speed moves by 15–30 % between rounds, and one long run is as
// exposed to a slow hour as five short ones. So a target such as http-1's
// is measured as several runs of many rounds, and decided on all their
// rounds together: each round's ratio to the net server of that round (as
// in the table), their median, and a bootstrap 90 % interval of that
// median (poolDraws resamples, a fixed seed, so the same files give the
// same interval).

const poolDraws = 5000

// pooled is one scenario and server over every run given.
type pooled struct {
	scenario, impl string
	runs           int       // files that measured it
	ratios         []float64 // per-round ratios to net, of every run
}

// poolResults gathers the per-round ratios of every asio server to net,
// by scenario and server, in the order they first appear.
func poolResults(runs [][]result) []pooled {
	var out []pooled
	for _, results := range runs {
		for _, res := range results {
			var impls []string
			for _, r := range res.Runs {
				if r.Impl != "net" && !slices.Contains(impls, r.Impl) {
					impls = append(impls, r.Impl)
				}
			}
			for _, impl := range impls {
				per := pairedRatios(res.Runs, impl, cpuPerReq)
				if len(per) == 0 {
					continue
				}
				i := slices.IndexFunc(out, func(p pooled) bool { return p.scenario == res.Scenario.Name && p.impl == impl })
				if i < 0 {
					out = append(out, pooled{scenario: res.Scenario.Name, impl: impl})
					i = len(out) - 1
				}
				out[i].runs++
				out[i].ratios = append(out[i].ratios, per...)
			}
		}
	}
	return out
}

// bootstrapMedian returns a 90 % interval of the median of x: the 5th and
// 95th percentiles of the medians of draws resamples of x (with
// replacement), drawn from a fixed seed.
func bootstrapMedian(x []float64, draws int) (lo, hi float64) {
	if len(x) == 0 {
		return 0, 0
	}
	rng := rand.New(rand.NewPCG(1, 2))
	meds := make([]float64, draws)
	s := make([]float64, len(x))
	for d := range meds {
		for i := range s {
			s[i] = x[rng.IntN(len(x))]
		}
		meds[d] = stats.Median(s)
	}
	slices.Sort(meds)
	return meds[draws*5/100], meds[draws*95/100-1]
}

// poolMain prints, for the clients.json of each file, every scenario and
// server's pooled ratio to net.
func poolMain(files []string, w io.Writer) error {
	var runs [][]result
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var results []result
		if err := json.Unmarshal(b, &results); err != nil {
			return fmt.Errorf("%s: %v", f, err)
		}
		runs = append(runs, results)
	}
	ps := poolResults(runs)
	if len(ps) == 0 {
		return fmt.Errorf("no round of %v measured an asio server and net together", files)
	}
	fmt.Fprintf(w, "server CPU per request over net's, per round, pooled over %d file(s):\n", len(files))
	for _, p := range ps {
		lo, hi := bootstrapMedian(p.ratios, poolDraws)
		fmt.Fprintf(w, "%-8s %-13s median %.3f×  bootstrap 90%% interval %.3f–%.3f×  (%d rounds of %d run(s); rounds %.2f–%.2f×)\n",
			p.scenario, p.impl, stats.Median(p.ratios), lo, hi, len(p.ratios), p.runs, slices.Min(p.ratios), slices.Max(p.ratios))
	}
	return nil
}
