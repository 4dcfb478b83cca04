package asio

import (
	"bytes"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/trace"
	"strings"
	"testing"
)

// TestHandlerTracking: with WithHandlerTracking, each op is a
// runtime/trace task named after its initiating function, from initiation
// to the end of its handler, logged with its socket, with the handler in a
// region of the task; `go tool trace` reads them back.
func TestHandlerTracking(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command to read the trace back: " + err.Error())
	}
	if trace.IsEnabled() {
		t.Skip("a trace is already being recorded (go test -trace)")
	}
	ctx, err := NewIOContext(WithHandlerTracking())
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	c, s := connectedPair(t, ctx)
	var out bytes.Buffer
	if err := trace.Start(&out); err != nil {
		t.Fatal(err)
	}
	h, ch := resultChan()
	s.AsyncReadSome(Buffers{make([]byte, 8)}, h)
	c.AsyncWriteSome(Buffers{[]byte("tracked")}, h)
	runFor1(t, ctx, ch)
	runFor1(t, ctx, ch)
	tm := NewTimer(ctx.Executor())
	eh, ech := errChan()
	tm.AsyncWait(eh)
	runFor1(t, ctx, ech)
	trace.Stop()

	file := filepath.Join(t.TempDir(), "trace.out")
	if err := os.WriteFile(file, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	parsed, err := exec.Command(gobin, "tool", "trace", "-d=parsed", file).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool trace: %v\n%s", err, parsed)
	}
	text := string(parsed)
	for _, want := range []string{
		`asio.AsyncReadSome`, `asio.AsyncWriteSome`, `asio.Timer.AsyncWait`,
		`Region`, `handler`, `socket `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the trace has no %q", want)
		}
	}
	if got := strings.Count(text, `"asio.AsyncReadSome"`); got < 2 {
		t.Errorf("AsyncReadSome appears %d times, want its task's begin and end", got)
	}
	if t.Failed() {
		t.Logf("trace events:\n%s", firstLines(text, 80))
	}
	st := ctx.Stats()
	if st.OpsStarted != 3 || st.OpsPending != 0 || st.HandlersRun < 3 || st.Polls == 0 {
		t.Errorf("Stats %+v, want 3 ops started, none pending, 3+ handlers run, some polls", st)
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// TestStatsCountsPending: an op waiting counts as pending until its
// handler has run.
func TestStatsCountsPending(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	before := ctx.Stats()
	h, ch := resultChan()
	s.AsyncReadSome(Buffers{make([]byte, 8)}, h)
	if st := ctx.Stats(); st.OpsStarted != before.OpsStarted+1 || st.OpsPending != before.OpsPending+1 {
		t.Fatalf("after one read started: %+v (before %+v)", st, before)
	}
	c.WriteSome(Buffers{[]byte("x")})
	runFor1(t, ctx, ch)
	if st := ctx.Stats(); st.OpsPending != before.OpsPending || st.HandlersRun <= before.HandlersRun {
		t.Fatalf("after its handler ran: %+v (before %+v)", st, before)
	}
}

// TestTrackingWarnsOfStoppedContext: with handler tracking on, an op
// initiated on a context whose Run returned for lack of work (Asio's trap:
// its handler waits for a Restart) is logged, once per context.
func TestTrackingWarnsOfStoppedContext(t *testing.T) {
	var logged bytes.Buffer
	log.SetOutput(&logged)
	defer log.SetOutput(os.Stderr)
	ctx, err := NewIOContext(WithHandlerTracking())
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	ctx.Run() // no work: returns at once and stops the context
	tm := NewTimer(ctx.Executor())
	tm.AsyncWait(func(error) {})
	tm.AsyncWait(func(error) {})
	if got := strings.Count(logged.String(), "initiated on a stopped IOContext"); got != 1 {
		t.Fatalf("logged %q: want one warning", logged.String())
	}
	ctx.Restart()
	if n := ctx.Run(); n != 2 {
		t.Fatalf("Run after Restart ran %d handlers, want the 2 waits", n)
	}
}
