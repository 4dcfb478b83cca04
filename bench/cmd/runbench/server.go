package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is a running echoserver child process.
type server struct {
	impl   string
	cmd    *exec.Cmd
	addr   string
	exited chan struct{} // closed when the process has ended
	lines  chan string   // stdout lines after the address
	err    error         // its Wait result, once exited is closed
}

// serverPlacement says where a scenario's server runs.
type serverPlacement struct {
	cpus     []int // affinity of the server process
	contexts int   // -contexts
	procs1   bool  // GOMAXPROCS=1 in its environment (else unset)
}

// startServer runs bin -impl impl and waits for the address it prints.
func startServer(bin, impl string, pl serverPlacement, runnerCPUs []int, extra ...string) (*server, error) {
	base, backend := splitImpl(impl)
	if isCxx(impl) {
		backend = "" // the C++ server's backend is compiled in
	}
	args := append([]string{"-impl", base, "-addr", "127.0.0.1:0", "-contexts", strconv.Itoa(pl.contexts)}, extra...)
	cmd := exec.Command(bin, args...)
	env := make([]string, 0, len(os.Environ())+2)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") && (backend == "" || !strings.HasPrefix(kv, "ASIO_BACKEND=")) {
			env = append(env, kv)
		}
	}
	if pl.procs1 {
		env = append(env, "GOMAXPROCS=1")
	}
	if backend != "" {
		env = append(env, "ASIO_BACKEND="+backend)
	}
	cmd.Env = env
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := startPinned(cmd.Start, pl.cpus, runnerCPUs); err != nil {
		return nil, fmt.Errorf("start %s server: %w", impl, err)
	}
	s := &server{impl: impl, cmd: cmd, exited: make(chan struct{}), lines: make(chan string, 16)}
	lines := make(chan string, 1)
	go func() {
		br := bufio.NewReader(out)
		line, _ := br.ReadString('\n')
		lines <- strings.TrimSpace(line)
		for { // keep its stdout drained; pass on what it says later
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			select {
			case s.lines <- strings.TrimSpace(line):
			default:
			}
		}
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	select {
	case s.addr = <-lines:
		if s.addr == "" {
			s.stop()
			return nil, fmt.Errorf("%s server printed no address (exit: %v)", impl, s.err)
		}
	case <-time.After(15 * time.Second):
		s.stop()
		return nil, fmt.Errorf("%s server did not print its address within 15s", impl)
	}
	return s, nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// alive reports an error when the server has already exited.
func (s *server) alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("%s server exited: %v", s.impl, s.err)
	default:
		return nil
	}
}

// freeMemory asks the server for a GC that returns freed memory to the OS
// (SIGUSR1) and waits until it reports "freed".
func (s *server) freeMemory() error {
	if err := s.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return err
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l := <-s.lines:
			if l == "freed" {
				return nil
			}
		case <-s.exited:
			return s.alive()
		case <-timeout:
			return fmt.Errorf("%s server did not answer SIGUSR1 within 10s", s.impl)
		}
	}
}

// stop kills the server and waits for it.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	// SIGTERM lets it flush a CPU profile; SIGKILL if it does not go.
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return
	case <-time.After(5 * time.Second):
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
	}
}

// buildServer compiles cmd/echoserver into dir. Without asio among the
// implementations and with a library that does not build, it falls back to
// -tags noasio.
func buildServer(dir, tags string, needAsio bool) (string, error) {
	bin := dir + "/echoserver"
	build := func(tags string) error {
		args := []string{"build", "-o", bin}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		args = append(args, "github.com/goasio/asio/bench/cmd/echoserver")
		cmd := exec.Command("go", args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	err := build(tags)
	if err != nil && !needAsio && tags == "" {
		fmt.Fprintln(os.Stderr, "runbench: echoserver does not build with asio; building the peers alone (-tags noasio)")
		err = build("noasio")
	}
	if err != nil {
		return "", errors.New("building echoserver (run runbench from inside the bench module, or pass -server): " + err.Error())
	}
	return bin, nil
}

// splitImpl splits an -impls entry: "asio@iouring" is the asio server with
// ASIO_BACKEND=iouring in its environment, so that one run can interleave
// the library's backends with the peers.
func splitImpl(impl string) (base, backend string) {
	base, backend, _ = strings.Cut(impl, "@")
	return base, backend
}

// isAsio reports whether impl is the asio server, on any backend.
func isAsio(impl string) bool {
	base, _ := splitImpl(impl)
	return base == "asio"
}
