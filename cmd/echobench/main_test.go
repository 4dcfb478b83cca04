package main

import (
	"context"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/goasio/asio/internal/loadgen"
)

// TestMain lets the test binary serve as the -pin child, which re-executes
// os.Executable().
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && isServeFlag(os.Args[1]) {
		os.Exit(serveMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func quickOptions(t *testing.T, args ...string) options {
	t.Helper()
	o, err := parseFlags(append([]string{"-conns", "4", "-duration", "150ms", "-warmup", "50ms", "-rounds", "1"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func checkTable(t *testing.T, out string, scenarios ...string) {
	t.Helper()
	t.Log("\n" + out)
	for _, want := range append(scenarios, "asio/net", "asio ", "net ") {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the output", want)
		}
	}
}

// Both servers echo correctly (loadgen verifies every byte) in both
// scenarios, with one and with several contexts; in one process the output
// says that its figures are rough.
func TestBenchInProcess(t *testing.T) {
	for _, contexts := range []string{"1", "3"} {
		var out strings.Builder
		o := quickOptions(t, "-pin=false", "-contexts", contexts, "-size", "1000")
		if err := bench(context.Background(), o, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		checkTable(t, out.String(), "pingpong", "pipelined", "rough figures: -pin=false")
	}
}

func TestBenchPinned(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.NumCPU() < 2 {
		t.Skip("-pin needs Linux and 2 CPUs")
	}
	server, load, err := splitCPUs()
	if err != nil {
		t.Skip(err)
	}
	// bench pins this process to the load CPUs; undo that afterwards.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer pinProcess(append([]int{server}, load...))
	var out, progress strings.Builder
	if err := bench(context.Background(), quickOptions(t, "-scenarios", "pingpong", "-rounds", "2"), &out, &progress); err != nil {
		t.Fatal(err)
	}
	// Pinned by default, the rounds alternate the servers, and the table
	// gives the spread of the per-round ratios.
	checkTable(t, out.String(), "pingpong", "pinned to CPU", "2 rounds", "rounds ")
	if strings.Contains(out.String(), "rough") {
		t.Error("a pinned run calls its figures rough")
	}
	var order []string
	for _, l := range strings.Split(progress.String(), "\n") {
		if i := strings.Index(l, "), "); i >= 0 {
			order = append(order, strings.Fields(l[i+3:])[0])
		}
	}
	if strings.Join(order, " ") != "asio net asio net" {
		t.Errorf("measured in the order %q, want asio net asio net", order)
	}
}

func TestSummary(t *testing.T) {
	var rows []row
	for round, cpu := range [][2]time.Duration{{10, 20}, {30, 20}, {20, 40}} { // asio, net µs per 1 message
		for i, srv := range []string{"asio", "net"} {
			rows = append(rows, row{scenario: scenario{"pingpong", 1}, server: srv, round: round,
				res: loadgen.Result{Messages: 1, MsgsPerSec: 100}, cpu: cpu[i] * time.Microsecond, hasCPU: true})
		}
	}
	var out strings.Builder
	printTable(&out, rows)
	t.Log("\n" + out.String())
	// Medians 20 and 20 µs; the per-round ratios 0.50, 1.50, 0.50, whose
	// median is the verdict.
	for _, want := range []string{"20.00", "0.50×", "rounds 0.50–1.50×", "verdict, server CPU per message asio/net: pingpong 0.50×"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the table", want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-depth", "2", "-pipelined-depth", "8", "-scenarios", "pipelined, pingpong", "-warmup", "0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.scenarios) != 2 || o.scenarios[0] != (scenario{"pipelined", 8}) || o.scenarios[1] != (scenario{"pingpong", 2}) {
		t.Errorf("scenarios = %v", o.scenarios)
	}
	if o.warmup >= 0 || len(o.servers) != 2 || o.conns != 50 || o.size != 64 || o.duration != 500*time.Millisecond || o.rounds != 10 || !o.pin || o.pinSet {
		t.Errorf("options = %+v", o)
	}
	if o, _ := parseFlags([]string{"-pin=false"}); o.pin || !o.pinSet {
		t.Errorf("-pin=false: pin %v, set %v", o.pin, o.pinSet)
	}
	for _, bad := range [][]string{{"-scenarios", "x"}, {"-servers", "gnet"}, {"-conns", "0"}, {"-rounds", "0"}, {"extra"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
	for arg, want := range map[string]bool{"-serve": true, "--serve=net": true, "-servers": false, "-s": false} {
		if isServeFlag(arg) != want {
			t.Errorf("isServeFlag(%q) = %v", arg, !want)
		}
	}
}

func TestFormat(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
	if got := latency(1500 * time.Microsecond); got != "1.50ms" {
		t.Errorf("latency(1.5ms) = %q", got)
	}
	if got := ratio(3, 2); got != "1.50×" {
		t.Errorf("ratio(3, 2) = %q", got)
	}
}
