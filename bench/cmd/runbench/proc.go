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

	"github.com/goasio/asio/bench/internal/procstat"
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

// processCPU and statCPU: see package procstat.
func processCPU(pid int) (time.Duration, error) { return procstat.ProcessCPU(pid) }
func statCPU(pid int) (time.Duration, error)    { return procstat.StatCPU(pid) }

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

func systemBusy() (time.Duration, error) { return procstat.SystemBusy() }
func selfCPU() time.Duration             { return procstat.SelfCPU() }
