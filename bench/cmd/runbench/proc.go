package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cpuSet builds an affinity mask of the given CPUs.
func cpuSet(cpus []int) *unix.CPUSet {
	var s unix.CPUSet
	s.Zero()
	for _, c := range cpus {
		s.Set(c)
	}
	return &s
}

// pinProcess sets the affinity of every thread of this process. Threads the
// Go runtime creates later inherit it from the thread that creates them.
func pinProcess(cpus []int) error {
	set := cpuSet(cpus)
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return unix.SchedSetaffinity(0, set)
	}
	var first error
	for _, t := range tids {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set); err != nil && first == nil && err != unix.ESRCH {
			first = err
		}
	}
	return first
}

// startPinned starts cmd with the child's affinity set to cpus: the calling
// thread takes that affinity for the fork (a child inherits its parent
// thread's mask) and gets its own back after. The goroutine is locked to
// its thread meanwhile, and a locked thread never spawns the runtime's new
// threads, so none of them inherits the child's mask.
func startPinned(start func() error, cpus, own []int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.SchedSetaffinity(0, cpuSet(cpus)); err != nil {
		return fmt.Errorf("sched_setaffinity for the server: %w", err)
	}
	err := start()
	if rerr := unix.SchedSetaffinity(0, cpuSet(own)); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// threadCPUs returns the distinct Cpus_allowed_list values of pid's threads.
func threadCPUs(pid int) []string {
	seen := map[string]bool{}
	var out []string
	tids, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tids {
		v := statusField(filepath.Join(fmt.Sprintf("/proc/%d/task", pid), t.Name(), "status"), "Cpus_allowed_list")
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func statusField(path, key string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// rssBytes reads VmRSS of pid.
func rssBytes(pid int) (int64, error) {
	v := statusField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS")
	if v == "" {
		return 0, fmt.Errorf("no VmRSS for pid %d", pid)
	}
	kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("VmRSS %q: %w", v, err)
	}
	return kb << 10, nil
}

// fdCount counts the open descriptors of pid.
func fdCount(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents), err
}

// processCPU returns the CPU time (user+system) that every thread of pid,
// living or exited, has used: the kernel's per-process CPU clock
// (clock_getcpuclockid(3) of another process, CPUCLOCK_SCHED), which sums
// the same nanosecond sum_exec_runtime that /proc/<pid>/schedstat shows for
// one thread. /proc/<pid>/schedstat alone covers only the main thread, and
// utime+stime in /proc/<pid>/stat are in 10 ms ticks; statCPU reads those as
// a fallback and a cross-check.
func processCPU(pid int) (time.Duration, error) {
	clock := int32((^pid)<<3 | 2) // MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return statCPU(pid)
	}
	return time.Duration(ts.Nano()), nil
}

// statCPU returns utime+stime of pid from /proc/<pid>/stat.
func statCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; fields restart after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad utime/stime in /proc/%d/stat", pid)
	}
	const clkTck = 100 // USER_HZ on every Linux port Go runs on
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// raiseNoFile lifts RLIMIT_NOFILE as far as allowed and returns the soft
// limit in force.
func raiseNoFile() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	want := lim
	if want.Max < 1<<20 {
		want.Max = 1 << 20
	}
	want.Cur = want.Max
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
		return want.Cur
	}
	lim.Cur = lim.Max
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		return lim.Cur
	}
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}

// machineInfo describes the host for the report.
func machineInfo() string {
	var parts []string
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				parts = append(parts, strings.TrimSpace(v))
				break
			}
		}
	}
	parts = append(parts, fmt.Sprintf("%d CPUs", runtime.NumCPU()))
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		parts = append(parts, "Linux "+unix.ByteSliceToString(u.Release[:]))
	}
	parts = append(parts, runtime.Version())
	return strings.Join(parts, ", ")
}

// systemBusy returns the CPU time all CPUs of the machine spent not idle,
// from the first line of /proc/stat (10 ms ticks).
func systemBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, fmt.Errorf("unexpected /proc/stat")
	}
	var busy int64
	for i, s := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest times are already in user
			continue
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		busy += v
	}
	const clkTck = 100
	return time.Duration(busy) * time.Second / clkTck, nil
}

// selfCPU returns this process's CPU time.
func selfCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
