// Package procstat reads what the benchmarks measure about processes from
// Linux's /proc and the kernel's CPU clocks: a process's CPU time, the
// machine's busy time, and affinity.
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// clkTck is USER_HZ, the unit of /proc's tick counts, 100 on every Linux
// port Go runs on.
const clkTck = 100

// ProcessCPU returns the CPU time (user+system) that every thread of pid,
// living or exited, has used: the kernel's per-process CPU clock
// (clock_getcpuclockid(3) of another process, CPUCLOCK_SCHED), which sums
// the same nanosecond sum_exec_runtime that /proc/<pid>/schedstat shows for
// one thread. /proc/<pid>/schedstat alone covers only the main thread, and
// utime+stime in /proc/<pid>/stat are in 10 ms ticks; StatCPU reads those,
// as the fallback here and as a cross-check.
func ProcessCPU(pid int) (time.Duration, error) {
	clock := int32((^pid)<<3 | 2) // MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return StatCPU(pid)
	}
	return time.Duration(ts.Nano()), nil
}

// StatCPU returns utime+stime of pid from /proc/<pid>/stat.
func StatCPU(pid int) (time.Duration, error) {
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
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// SystemBusy returns the CPU time all CPUs of the machine spent not idle,
// from the first line of /proc/stat (10 ms ticks).
func SystemBusy() (time.Duration, error) {
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
	return time.Duration(busy) * time.Second / clkTck, nil
}

// SelfCPU returns this process's CPU time.
func SelfCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// PinSelf sets the affinity of every thread of this process to cpus.
// Threads the Go runtime creates later inherit it from the thread that
// creates them.
func PinSelf(cpus []int) error {
	var set unix.CPUSet
	set.Zero()
	for _, c := range cpus {
		set.Set(c)
	}
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return unix.SchedSetaffinity(0, &set)
	}
	var first error
	for _, t := range tids {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && first == nil && err != unix.ESRCH {
			first = err
		}
	}
	return first
}
