package asio

// Benchmarks of the composed write's step size and of WriteQueue's batch
// bound, against net, to a peer in another process that drains the
// connection as fast as it can (so the process's CPU time is the writer's
// alone). Run them pinned, the peer on another core:
//
//	ASIO_TEST_DRAIN_CPU=1 taskset -c 0 go test -run '^$' -bench 'LargeWrite|WriteQueueBatch' -count 5 .
//
// and count the send syscalls with strace on the test binary (see the
// README's design notes).

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/goasio/asio/internal/sys"
	"golang.org/x/sys/unix"
)

const (
	drainEnv    = "ASIO_TEST_DRAIN"     // address the drain helper connects to
	drainCPUEnv = "ASIO_TEST_DRAIN_CPU" // CPU the drain helper pins itself to
)

// TestDrainHelper is the peer process of the write benchmarks: it connects
// to $ASIO_TEST_DRAIN and reads until EOF.
func TestDrainHelper(t *testing.T) {
	addr := os.Getenv(drainEnv)
	if addr == "" {
		t.Skip("the peer process of the write benchmarks: it runs only when " + drainEnv + " is set")
	}
	if cpu, err := strconv.Atoi(os.Getenv(drainCPUEnv)); err == nil {
		var set unix.CPUSet
		set.Set(cpu)
		unix.SchedSetaffinity(0, &set)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for {
		if _, err := conn.Read(buf); err != nil {
			return
		}
	}
}

// startDrain starts the drain helper, connecting to addr.
func startDrain(b *testing.B, addr string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestDrainHelper$")
	cmd.Env = append(os.Environ(), drainEnv+"="+addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return cmd
}

// drainedSocket returns an asio socket whose peer is the drain helper, and
// a function that closes it and waits for the helper.
func drainedSocket(b *testing.B, ctx *IOContext) (*TCPSocket, func()) {
	acc, err := ListenTCP(ctx.Executor(), netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		b.Fatal(err)
	}
	defer acc.Close()
	cmd := startDrain(b, acc.LocalEndpoint().String())
	s, err := acc.Accept()
	if err != nil {
		b.Fatal(err)
	}
	return s, func() { s.Close(); cmd.Wait() }
}

// cpuTime returns the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// capAt is a TransferAll whose steps are offered at most max bytes.
func capAt(max int) CompletionCondition {
	return func(err error, _ int) int {
		if err != nil {
			return 0
		}
		return max
	}
}

// BenchmarkLargeWrite writes 1 MiB per op to a draining peer: net's Write,
// AsyncWrite (one op on a TCPSocket), and the composed op (AsyncWriteCond)
// with steps of 64 KiB (Asio's cap), 256 KiB, 1 MiB and the whole rest. It
// reports the process's CPU time per MiB.
func BenchmarkLargeWrite(b *testing.B) {
	const size = 1 << 20
	data := pattern(0, size)
	b.Run("net", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		cmd := startDrain(b, ln.Addr().String())
		conn, err := ln.Accept()
		ln.Close()
		if err != nil {
			b.Fatal(err)
		}
		defer func() { conn.Close(); cmd.Wait() }()
		b.SetBytes(size)
		b.ResetTimer()
		cpu := cpuTime()
		for i := 0; i < b.N; i++ {
			if _, err := conn.Write(data); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu)/1e3/float64(b.N), "cpu-µs/MiB")
	})
	// AsyncWrite on a TCPSocket is one op (opWriteAll); AsyncWriteCond is
	// the composed op, with its steps capped or offered the whole rest.
	type writeCase struct {
		name  string
		write func(s *TCPSocket, h func(int, error))
	}
	cases := []writeCase{{"AsyncWrite", func(s *TCPSocket, h func(int, error)) { AsyncWrite(s, Buffers{data}, h) }}}
	for _, step := range []int{64 << 10, 256 << 10, 1 << 20, 0} {
		name, cond := fmt.Sprintf("step=%dKiB", step>>10), capAt(step)
		if step == 0 {
			name, cond = "step=whole", transferAll
		}
		cases = append(cases, writeCase{name, func(s *TCPSocket, h func(int, error)) { AsyncWriteCond(s, Buffers{data}, cond, h) }})
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := newTestContext(b)
			s, done := drainedSocket(b, ctx)
			defer done()
			left := 0
			var failed error
			var onWrite func(int, error)
			onWrite = func(n int, err error) {
				if err != nil || n != size {
					failed = fmt.Errorf("%s: (%d, %v)", c.name, n, err)
					return
				}
				if left--; left > 0 {
					c.write(s, onWrite)
				}
			}
			b.SetBytes(size)
			b.ResetTimer()
			cpu := cpuTime()
			left = b.N
			c.write(s, onWrite)
			ctx.Run()
			b.ReportMetric(float64(cpuTime()-cpu)/1e3/float64(b.N), "cpu-µs/MiB")
			if failed != nil {
				b.Fatal(failed)
			}
		})
	}
}

// BenchmarkWritevPack is BenchmarkWriteQueueBatch's rounds of 16 messages
// of one size, each batch's buffers sent with runs of them packed into one
// iovec (pack: sys.PackMax at the size) or not (nopack): where packing stops
// paying is where sys.PackMax is set.
func BenchmarkWritevPack(b *testing.B) {
	for _, size := range []int{128, 512, 1 << 10, 2 << 10, 4 << 10} {
		for _, pack := range []bool{false, true} {
			name := fmt.Sprintf("%dB/nopack", size)
			if pack {
				name = fmt.Sprintf("%dB/pack", size)
			}
			b.Run(name, func(b *testing.B) {
				old := sys.PackMax
				defer func() { sys.PackMax = old }()
				sys.PackMax = 0
				if pack {
					sys.PackMax = size
				}
				ctx := newTestContext(b)
				s, done := drainedSocket(b, ctx)
				defer done()
				q := NewWriteQueue(s)
				msg := pattern(0, size)
				const count = 16
				rounds, got := 0, 0
				var onWrite func(int, error)
				round := func() {
					for i := 0; i < count; i++ {
						q.AsyncWrite(Buffers{msg}, onWrite)
					}
				}
				onWrite = func(n int, err error) {
					if err != nil {
						b.Error(err)
						return
					}
					if got++; got == count {
						got = 0
						if rounds--; rounds > 0 {
							round()
						}
					}
				}
				b.SetBytes(int64(size * count))
				b.ResetTimer()
				cpu := cpuTime()
				rounds = b.N
				round()
				ctx.Run()
				b.ReportMetric(float64(cpuTime()-cpu)/(float64(b.N)*count), "cpu-ns/msg")
			})
		}
	}
}

// BenchmarkWriteQueueBatch queues rounds of messages on one WriteQueue (the
// next round from the last handler of the previous one) to a draining peer,
// with batch bounds from 16 KiB to none, for small and large messages. It
// reports the process's CPU time per message and per MiB.
func BenchmarkWriteQueueBatch(b *testing.B) {
	shapes := []struct {
		name        string
		size, count int // message size, messages per round
	}{
		{"64x128B", 128, 64},
		{"16x2KiB", 2 << 10, 16},
		{"16x64KiB", 64 << 10, 16},
		{"4x1MiB", 1 << 20, 4},
	}
	for _, sh := range shapes {
		for _, bound := range []int{64 << 10, 256 << 10, 1 << 20, 1 << 40} {
			name := fmt.Sprintf("%s/bound=%dKiB", sh.name, bound>>10)
			if bound == 1<<40 {
				name = sh.name + "/bound=none"
			}
			b.Run(name, func(b *testing.B) {
				ctx := newTestContext(b)
				s, done := drainedSocket(b, ctx)
				defer done()
				q := NewWriteQueue(s)
				q.maxBatch = bound
				msg := pattern(0, sh.size)
				rounds, got := 0, 0
				var failed error
				var onWrite func(int, error)
				round := func() {
					for i := 0; i < sh.count; i++ {
						q.AsyncWrite(Buffers{msg}, onWrite)
					}
				}
				onWrite = func(n int, err error) {
					if err != nil || n != sh.size {
						failed = fmt.Errorf("message: (%d, %v)", n, err)
						return
					}
					if got++; got == sh.count {
						got = 0
						if rounds--; rounds > 0 {
							round()
						}
					}
				}
				b.SetBytes(int64(sh.size * sh.count))
				b.ResetTimer()
				cpu := cpuTime()
				rounds = b.N
				round()
				ctx.Run()
				msgs := float64(b.N) * float64(sh.count)
				used := float64(cpuTime() - cpu)
				b.ReportMetric(used/msgs, "cpu-ns/msg")
				b.ReportMetric(used/1e3/(msgs*float64(sh.size)/(1<<20)), "cpu-µs/MiB")
				if failed != nil {
					b.Fatal(failed)
				}
			})
		}
	}
}
