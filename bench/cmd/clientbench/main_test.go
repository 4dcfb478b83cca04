package main

import (
	"strings"
	"testing"
	"time"
)

const wrkOut = `Running 3s test @ http://127.0.0.1:40000/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   566.55us  719.98us   7.07ms   91.04%
    Req/Sec    77.05k     9.08k   91.92k    70.00%
  Latency Distribution
     50%  412.00us
     75%  600.00us
     90%    1.20ms
     99%    3.50ms
  153169 requests in 2.00s, 11.39MB read
Requests/sec:  76533.87
Transfer/sec:      5.69MB
`

func TestParseWrk(t *testing.T) {
	var r run
	if err := parseWrk(wrkOut, &r); err != nil {
		t.Fatal(err)
	}
	if r.Requests != 153169 || r.RPS != 76533.87 || r.P50ms != 0.412 {
		t.Errorf("parsed %+v", r)
	}
	bad := strings.Replace(wrkOut, "Requests/sec", "Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec", 1)
	if err := parseWrk(bad, &r); err == nil || !strings.Contains(err.Error(), "Socket errors") {
		t.Errorf("socket errors accepted: %v", err)
	}
	if err := parseWrk("nothing", &r); err == nil {
		t.Error("empty output accepted")
	}
}

func TestParseRedisBenchmark(t *testing.T) {
	out := `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"GET","61614.30","1.906","0.256","0.903","5.287","8.415","67.135"
`
	var r run
	if err := parseRedisBenchmark(out, &r); err != nil {
		t.Fatal(err)
	}
	if r.RPS != 61614.30 || r.P50ms != 0.903 {
		t.Errorf("parsed %+v", r)
	}
	if err := parseRedisBenchmark("ERROR: connection refused\n", &r); err == nil {
		t.Error("an error accepted")
	}
}

func TestMarkdown(t *testing.T) {
	res := result{Scenario: allScenarios[1], Command: []string{"wrk"}}
	for round, cpu := range [][2]float64{{1, 2}, {3, 2}, {2, 4}} {
		res.Runs = append(res.Runs,
			run{Impl: "asio", Round: round, RPS: 100, CPUPerReq: cpu[0]},
			run{Impl: "asio@iouring", Round: round, RPS: 80, CPUPerReq: cpu[0] / 2},
			run{Impl: "net", Round: round, RPS: 50, CPUPerReq: cpu[1]})
	}
	md := markdown([]result{res}, config{rounds: 3, impls: allImpls, serverCPU: 0, loadCPU: 1}, time.Now())
	t.Log("\n" + md)
	// asio: medians 2 and 2 µs; per round 0.50, 1.50, 0.50, whose median
	// is the ratio. asio@iouring: half asio's CPU each round.
	for _, want := range []string{"| http-16 |", "| asio | 100 | 50 |", "2.00 µs", "**0.50×**", "0.50–1.50×",
		"| asio@iouring | 80 | 50 |", "1.00 µs", "**0.25×**", "0.25–0.75×"} {
		if !strings.Contains(md, want) {
			t.Errorf("no %q in the table", want)
		}
	}
}

func TestKnownImpl(t *testing.T) {
	for n, want := range map[string]bool{"asio": true, "net": true, "asio@epoll": true, "asio@iouring": true,
		"asio@portable": true, "asio@": false, "asio@kqueue": false, "gnet": false, "": false} {
		if knownImpl(n) != want {
			t.Errorf("knownImpl(%q) = %v, want %v", n, !want, want)
		}
	}
}

func TestParsePerfReport(t *testing.T) {
	unit := unitFuncs["http"]
	report := "# header\n" +
		"    40.00%\t 400\t[kernel.kallsyms]\t[k] tcp_sendmsg_locked\n" +
		"    10.00%\t 100\t[kernel.kallsyms]\t[k] _copy_to_iter\n" +
		"     5.00%\t  50\tprotoserver\t[.] github.com/goasio/asio/examples/http/httpserver.(*Request).Parse\n" +
		"     3.00%\t  30\tprotoserver\t[.] bytes.Cut\n" +
		"     2.00%\t  20\tprotoserver\t[.] indexbytebody\n" +
		"     1.00%\t  10\tprotoserver\t[.] github.com/goasio/asio.(*WriteQueue).AsyncWrite\n" +
		"garbage line\n"
	c, err := parsePerfReport(report, unit)
	if err != nil {
		t.Fatal(err)
	}
	if c != (perfCount{User: 110, Kernel: 500, Unit: 80}) {
		t.Fatalf("parsed %+v", c)
	}
	if tot, user, kern := c.perUnit(); tot != 610.0/80 || user != 110.0/80 || kern != 500.0/80 {
		t.Fatalf("perUnit %v %v %v", tot, user, kern)
	}
	// indexbytebody is not a unit function: every server searches in its own way.
	noUnit := "    1.00%\t 10\tprotoserver\t[.] indexbytebody\n"
	if _, err := parsePerfReport(noUnit, unit); err == nil {
		t.Error("a report without the parser's samples accepted")
	}
	if _, err := parsePerfReport("", unit); err == nil {
		t.Error("an empty report accepted")
	}
}

func TestParseSides(t *testing.T) {
	cases := []struct {
		in   string
		want []side // nil: an error
	}{
		{"asio,net", []side{{"asio", "built"}, {"net", "built"}}},
		{"asio@epoll=/tmp/old,asio@epoll", []side{{"asio@epoll", "/tmp/old"}, {"asio@epoll", "built"}}},
		{"asio", nil},
		{"asio,net,asio@iouring", nil},
		{"asio,nginx", nil},
		{"asio@kqueue=/x,net", nil},
	}
	for _, tc := range cases {
		got, err := parseSides(tc.in, "built")
		switch {
		case tc.want == nil && err == nil:
			t.Errorf("%q: accepted as %v", tc.in, got)
		case tc.want != nil && (err != nil || len(got) != 2 || got[0] != tc.want[0] || got[1] != tc.want[1]):
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
