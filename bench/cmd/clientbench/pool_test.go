package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBootstrapMedian(t *testing.T) {
	for _, tc := range []struct {
		name   string
		x      []float64
		lo, hi float64 // the interval must lie within [lo, hi] and hold the median
	}{
		{"constant", []float64{0.9, 0.9, 0.9, 0.9}, 0.9, 0.9},
		{"one value", []float64{1.1}, 1.1, 1.1},
		{"spread", []float64{0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.3}, 0.7, 1.3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lo, hi := bootstrapMedian(tc.x, poolDraws)
			if lo < tc.lo || hi > tc.hi || lo > hi {
				t.Fatalf("interval %v–%v, want within %v–%v", lo, hi, tc.lo, tc.hi)
			}
			if again, _ := bootstrapMedian(tc.x, poolDraws); again != lo {
				t.Fatalf("a second bootstrap of the same data gave %v, then %v", lo, again)
			}
		})
	}
	if lo, hi := bootstrapMedian([]float64{0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.3}, poolDraws); lo == hi {
		t.Fatalf("spread data gave a point interval %v", lo)
	}
}

// TestPool: two runs' files pool their rounds by scenario and server; a
// round is paired with net's of the same round of the same run, never of
// the other run, and a failed round counts for neither.
func TestPool(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, runs []run) string {
		b, err := json.Marshal([]result{{Scenario: scenario{Name: "http-1"}, Runs: runs}})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.json", []run{
		{Impl: "asio", Round: 1, CPUPerReq: 9}, {Impl: "net", Round: 1, CPUPerReq: 10},
		{Impl: "asio", Round: 2, CPUPerReq: 8}, {Impl: "net", Round: 2, CPUPerReq: 10},
		{Impl: "asio", Round: 3, CPUPerReq: 1}, {Impl: "net", Round: 3, Err: "wrk failed"},
	})
	b := write("b.json", []run{
		{Impl: "asio", Round: 1, CPUPerReq: 20}, {Impl: "net", Round: 1, CPUPerReq: 20},
	})
	var out strings.Builder
	if err := poolMain([]string{a, b}, &out); err != nil {
		t.Fatal(err)
	}
	// Rounds 0.9, 0.8 and 1.0: median 0.9.
	if got := out.String(); !strings.Contains(got, "http-1   asio          median 0.900×") || !strings.Contains(got, "(3 rounds of 2 run(s)") {
		t.Fatalf("pooled:\n%s", got)
	}
	if err := poolMain([]string{filepath.Join(dir, "missing.json")}, &out); err == nil {
		t.Fatal("a missing file was pooled")
	}
}
