package extest

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// RunMain is the TestMain of an example: when the environment variable
// env is "1", the test binary is the example (main runs, then the process
// exits 0), so that StartMain can run it in a child process; otherwise it
// runs the tests.
func RunMain(m *testing.M, env string, main func()) {
	if os.Getenv(env) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Child is an example's main running in a child process.
type Child struct {
	Addr string // where it serves, from its first log line
	cmd  *exec.Cmd
	rest chan string // what it logs after its first line, once it exits
}

// StartMain runs the test binary as the example (see RunMain) with
// -addr 127.0.0.1:0 -contexts 2, and waits for its first log line, which
// must say "serving <proto> on 127.0.0.1:<port>". The child runs without
// the race runtime's 1 s sleep at exit.
func StartMain(t testing.TB, env, proto string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-addr", "127.0.0.1:0", "-contexts", "2")
	cmd.Env = append(os.Environ(), env+"=1", "GORACE=atexit_sleep_ms=0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	errs := bufio.NewReader(stderr)
	line, err := errs.ReadString('\n')
	if err != nil || !strings.Contains(line, "serving "+proto+" on 127.0.0.1:") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("first log line %q, %v", line, err)
	}
	ch := &Child{Addr: strings.Fields(line[strings.Index(line, "127.0.0.1:"):])[0], cmd: cmd, rest: make(chan string, 1)}
	go func() {
		b, _ := io.ReadAll(errs)
		ch.rest <- string(b)
	}()
	return ch
}

// Stop sends SIGTERM and waits for the child to exit; it fails the test,
// with what the child logged, unless the exit status is 0.
func (ch *Child) Stop(t testing.TB) {
	t.Helper()
	ch.cmd.Process.Signal(syscall.SIGTERM)
	logged := <-ch.rest // until the process exits and its stderr closes
	if err := ch.cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v; it logged:\n%s", err, logged)
	}
}
