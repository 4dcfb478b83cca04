// Command echoserver is a TCP echo server with one implementation per
// event-loop library, for the runbench comparison. It prints the address it
// listens on as the first line of its standard output, then serves until it
// is killed.
//
//	echoserver -impl asio|net|gnet|nbio|netpoll -addr 127.0.0.1:0 -contexts N
//
// Each implementation is written the way its library's own documentation
// recommends for an echo server; see the comment on each serve function.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
)

// readBufSize is the per-connection read buffer of the servers that own
// their buffers (net and asio); gnet and nbio read into a 64 KiB buffer of
// their event loop by default, netpoll into its linked buffer.
const readBufSize = 64 << 10

// servers maps -impl to its serve function; asio.go adds "asio" unless the
// binary is built with -tags noasio (for running the peers alone while the
// library does not build).
var servers = map[string]func(addr string, contexts int) error{
	"net":     serveNet,
	"gnet":    serveGnet,
	"nbio":    serveNbio,
	"netpoll": serveNetpoll,
}

func main() {
	impl := flag.String("impl", "asio", "implementation: "+strings.Join(implNames(), "|"))
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	contexts := flag.Int("contexts", 0, "event loops (IOContexts for asio); 0 = GOMAXPROCS")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here, until SIGTERM or SIGINT")
	memProfile := flag.String("memprofile", "", "write a heap profile here on each SIGUSR1")
	flag.Parse()

	serve, ok := servers[*impl]
	if !ok {
		fmt.Fprintf(os.Stderr, "echoserver: unknown -impl %q (want one of %s)\n", *impl, strings.Join(implNames(), ", "))
		os.Exit(2)
	}
	n := *contexts
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	raiseNoFile()
	if *memProfile != "" {
		runtime.MemProfileRate = 1 // every allocation: exact per-connection figures (and a larger RSS)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "echoserver:", err)
			os.Exit(1)
		}
	}
	go onSignals(*memProfile)
	if err := serve(*addr, n); err != nil {
		fmt.Fprintf(os.Stderr, "echoserver %s: %v\n", *impl, err)
		os.Exit(1)
	}
}

func implNames() []string {
	names := make([]string, 0, len(servers))
	for k := range servers {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// announce prints the listening address as the first line of stdout; the
// runner reads it to know where to connect.
func announce(addr string) {
	fmt.Fprintln(os.Stdout, addr)
	os.Stdout.Sync()
}

// onSignals handles SIGUSR1 by running a garbage collection that returns
// freed memory to the OS (and writing a heap profile when asked), then
// printing "freed": runbench uses it to measure the idle connections'
// retained memory apart from the garbage the accepts left behind. SIGTERM
// and SIGINT end the process after flushing the CPU profile.
func onSignals(memProfile string) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	for sig := range c {
		if sig != syscall.SIGUSR1 {
			pprof.StopCPUProfile()
			os.Exit(0)
		}
		debug.FreeOSMemory()
		if memProfile != "" {
			if f, err := os.Create(memProfile); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		fmt.Fprintln(os.Stdout, "freed")
	}
}

// raiseNoFile lifts RLIMIT_NOFILE as far as allowed: the idle scenario holds
// 10,000 connections.
func raiseNoFile() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	want := lim
	if want.Max < 1<<20 {
		want.Max = 1 << 20
	}
	want.Cur = want.Max
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
		return
	}
	lim.Cur = lim.Max // not root: the soft limit up to the hard one
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}
