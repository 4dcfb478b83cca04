package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// splitCPUs divides the CPUs this process may use: the first for the
// server, the others for the load generator.
func splitCPUs() (server int, load []int, err error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0, nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	var cpus []int
	for i := range len(set) * 64 {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	if len(cpus) < 2 {
		return 0, nil, fmt.Errorf("-pin needs 2 CPUs or more, this process may use %v", cpus)
	}
	return cpus[0], cpus[1:], nil
}

// pinProcess restricts every thread of this process to cpus. Affinity is
// per thread, and a new thread inherits its creator's, so once every
// existing thread is pinned the process stays pinned; the loop catches the
// threads the runtime starts meanwhile.
func pinProcess(cpus []int) error {
	var want unix.CPUSet
	for _, c := range cpus {
		want.Set(c)
	}
	for range 100 {
		changed, err := pinThreads(&want)
		if err != nil || !changed {
			return err
		}
	}
	return errors.New("pin: threads keep changing")
}

func pinThreads(want *unix.CPUSet) (changed bool, err error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return false, err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		var cur unix.CPUSet
		if unix.SchedGetaffinity(tid, &cur) != nil || cur == *want {
			continue // gone, or already pinned
		}
		if err := unix.SchedSetaffinity(tid, want); err != nil && err != unix.ESRCH {
			return false, fmt.Errorf("sched_setaffinity(%d): %w", tid, err)
		}
		changed = true
	}
	return changed, nil
}

// child is an echo server in a child process, this program re-executed in
// its -serve mode, pinned to one CPU with GOMAXPROCS=1.
type child struct {
	cmd        *exec.Cmd
	stdin      io.Closer
	addr, info string
}

func startChild(kind string, contexts, cpu int) (target, error) {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cmd := exec.Command(exe, "-serve", kind, "-addr", "127.0.0.1:0",
		"-contexts", strconv.Itoa(contexts), "-cpu", strconv.Itoa(cpu))
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // the child exits when it closes
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin}
	if err := c.readAddr(stdout); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s server child: %w", kind, err)
	}
	c.info += fmt.Sprintf("; child process pinned to CPU %d, GOMAXPROCS=1", cpu)
	return c, nil
}

// readAddr reads the child's first line: its address, a tab, its Info.
func (c *child) readAddr(stdout io.Reader) error {
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		addr, info, ok := strings.Cut(strings.TrimSpace(s), "\t")
		if !ok {
			return fmt.Errorf("no address on its stdout (got %q)", s)
		}
		c.addr, c.info = addr, info
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("no address on its stdout after 10s")
	}
}

func (c *child) Addr() string                { return c.addr }
func (c *child) Info() string                { return c.info }
func (c *child) CPU() (time.Duration, error) { return childCPU(c.cmd.Process.Pid) }

func (c *child) Close() error {
	c.cmd.Process.Kill()
	c.stdin.Close()
	c.cmd.Wait() // reports the kill
	return nil
}

// childCPU returns the CPU time, all threads, user and system, that process
// pid has used, in nanoseconds from the kernel's per-process CPU clock (the
// clock clock_getcpuclockid(3) names; MAKE_PROCESS_CPUCLOCK(pid,
// CPUCLOCK_SCHED) in the kernel), or in clock ticks from /proc/<pid>/stat
// where that clock is refused.
func childCPU(pid int) (time.Duration, error) {
	const cpuclockSched = 2
	var ts unix.Timespec
	if unix.ClockGettime(^int32(pid)<<3|cpuclockSched, &ts) == nil {
		return time.Duration(ts.Nano()), nil
	}
	return procStatCPU(pid)
}

// procStatCPU reads utime and stime, fields 14 and 15 of /proc/<pid>/stat,
// counted in USER_HZ ticks, which is 100 Hz on every Linux ABI in use.
func procStatCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Field 2, the command name, is in parentheses and may hold spaces.
	var f []string
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
		f = strings.Fields(string(b[i+1:])) // f[0] is field 3
	}
	if len(f) < 13 {
		return 0, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * (time.Second / 100), nil
}

// machineBusy returns the CPU time all CPUs have spent not idle, from the
// first line of /proc/stat (USER_HZ ticks).
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, errors.New("unexpected /proc/stat")
	}
	var busy int64
	for i, s := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		busy += v
	}
	return time.Duration(busy) * (time.Second / 100), nil
}
