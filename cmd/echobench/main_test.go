package main

import (
	"context"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
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
	o, err := parseFlags(append([]string{"-conns", "4", "-duration", "150ms", "-warmup", "50ms"}, args...))
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
// scenarios, with one and with several contexts.
func TestBenchInProcess(t *testing.T) {
	for _, contexts := range []string{"1", "3"} {
		var out strings.Builder
		o := quickOptions(t, "-contexts", contexts, "-size", "1000")
		if err := bench(context.Background(), o, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		checkTable(t, out.String(), "pingpong", "pipelined")
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
	var out strings.Builder
	if err := bench(context.Background(), quickOptions(t, "-pin", "-scenarios", "pingpong"), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	checkTable(t, out.String(), "pingpong", "pinned to CPU")
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-depth", "2", "-pipelined-depth", "8", "-scenarios", "pipelined, pingpong", "-warmup", "0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.scenarios) != 2 || o.scenarios[0] != (scenario{"pipelined", 8}) || o.scenarios[1] != (scenario{"pingpong", 2}) {
		t.Errorf("scenarios = %v", o.scenarios)
	}
	if o.warmup >= 0 || len(o.servers) != 2 || o.conns != 50 || o.size != 64 || o.duration != 3*time.Second {
		t.Errorf("options = %+v", o)
	}
	for _, bad := range [][]string{{"-scenarios", "x"}, {"-servers", "gnet"}, {"-conns", "0"}, {"extra"}} {
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
