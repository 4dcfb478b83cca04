// Tlsserver is the HTTPS keep-alive server that tlsbench measures, in two
// implementations answering the same bytes: -impl asio is
// examples/https's server (asio.TLSStream over a TCPStream, no goroutine
// per connection), -impl net is the usual Go server of the same protocol:
// net + crypto/tls + bufio, a goroutine per connection.
//
// -stats opens a plain TCP port that answers a line of figures (RSS,
// goroutines, heap) to "stats\n", after a collection to "gc\n", after
// writing a heap profile to "heap PATH\n".
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/goasio/asio/examples/https/httpsserver"
)

func main() {
	impl := flag.String("impl", "asio", "asio or net")
	addr := flag.String("addr", "127.0.0.1:8443", "address to serve HTTPS on")
	stats := flag.String("stats", "", "address of the stats port (empty: none)")
	contexts := flag.Int("contexts", 1, "IOContexts of the asio server")
	timeouts := flag.Bool("timeouts", true, "a handshake timeout (10 s) and an idle timeout per request (2 min), in both servers")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here until stopped")
	memRate := flag.Int("memprofilerate", 0, "runtime.MemProfileRate, for the stats port's heap profiles (0: the default)")
	flag.Parse()
	if *memRate > 0 {
		runtime.MemProfileRate = *memRate
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	cert, _, err := httpsserver.SelfSigned("localhost", "127.0.0.1")
	if err != nil {
		log.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	if *stats != "" {
		go serveStats(*stats)
	}
	var stop func()
	switch *impl {
	case "asio":
		c := httpsserver.Config{Addr: *addr, Contexts: *contexts, TLS: cfg, HandshakeTimeout: handshakeTimeout, IdleTimeout: idleTimeout}
		if !*timeouts {
			c.HandshakeTimeout, c.IdleTimeout = -1, -1
		}
		srv, err := httpsserver.Listen(c)
		if err != nil {
			log.Fatal(err)
		}
		stop = func() { srv.Close() }
	case "net":
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			log.Fatal(err)
		}
		go serveNet(tls.NewListener(ln, cfg), *timeouts)
		stop = func() { ln.Close() }
	default:
		log.Fatalf("-impl %q: asio or net", *impl)
	}
	fmt.Println("ready") // tlsbench waits for this line
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	stop()
}

// serveNet is the net + crypto/tls + bufio server: a goroutine per
// connection, a bufio.Reader and a bufio.Writer over its tls.Conn.
func serveNet(ln net.Listener, timeouts bool) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go serveNetConn(c, timeouts)
	}
}

// The timeouts of both servers (httpsserver's defaults).
const (
	handshakeTimeout = 10 * time.Second
	idleTimeout      = 2 * time.Minute
)

func serveNetConn(c net.Conn, timeouts bool) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	if timeouts {
		c.SetReadDeadline(time.Now().Add(handshakeTimeout)) // the handshake runs in the first Read
	}
	for first := true; ; first = false {
		if timeouts && !first {
			c.SetReadDeadline(time.Now().Add(idleTimeout))
		}
		closeAfter, length, ok := readHead(r)
		if !ok {
			return
		}
		body := make([]byte, length)
		if _, err := ioReadFull(r, body); err != nil {
			return
		}
		writeReply(w, closeAfter, body)
		if w.Flush() != nil || closeAfter {
			return
		}
	}
}

func ioReadFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// readHead reads a request head the way httpsserver's parser does (the
// same rules, line by line).
func readHead(r *bufio.Reader) (closeAfter bool, length int, ok bool) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return false, 0, false
	}
	f := bytes.Fields(line)
	if len(f) != 3 {
		return false, 0, false
	}
	closeAfter = string(f[2]) == "HTTP/1.0"
	for {
		line, err = r.ReadSlice('\n')
		if err != nil {
			return false, 0, false
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return closeAfter, length, true
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length, _ = strconv.Atoi(string(value))
		case bytes.EqualFold(name, []byte("Connection")):
			closeAfter = bytes.EqualFold(value, []byte("close"))
		}
	}
}

var hello = []byte("Hello, World!")

func writeReply(w *bufio.Writer, closeAfter bool, body []byte) {
	out := hello
	if len(body) > 0 {
		out = body
	}
	w.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ")
	w.WriteString(strconv.Itoa(len(out)))
	if closeAfter {
		w.WriteString("\r\nConnection: close")
	}
	w.WriteString("\r\n\r\n")
	w.Write(out)
}

// serveStats answers "stats" and "gc" on a plain TCP port.
func serveStats(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		switch cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " "); cmd {
		case "gc":
			runtime.GC()
			debug.FreeOSMemory()
		case "heap": // heap PATH: a heap profile, for looking into the idle figures
			runtime.GC()
			if f, err := os.Create(arg); err == nil {
				pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(c, "rss=%d goroutines=%d heapinuse=%d stackinuse=%d\n", rss(), runtime.NumGoroutine(), ms.HeapInuse, ms.StackInuse)
		c.Close()
	}
}

// rss is the process's resident set size in bytes (Linux).
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}
