package main

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// echoBufSize is the read buffer of a connection, the same in both servers.
const echoBufSize = 32 << 10

// server is an echo server running in this process.
type server interface {
	Addr() string
	Info() string // how it is built, for the table's header
	Close() error
}

func startServer(kind, addr string, contexts int) (server, error) {
	switch kind {
	case "asio":
		return startAsioServer(addr, contexts)
	case "net":
		return startNetServer(addr)
	}
	return nil, fmt.Errorf("unknown server %q (want asio or net)", kind)
}

// target is a server under load and a way to read the CPU time it is
// charged with: the whole process for an in-process server, the child
// process for a pinned one.
type target interface {
	Addr() string
	Info() string
	CPU() (time.Duration, error)
	Close() error
}

// inProcess is a server in this process, charged with the process's CPU.
type inProcess struct{ server }

func (inProcess) CPU() (time.Duration, error) { return processCPU() }

// netServer is the baseline: Go's net package, a goroutine per connection
// running a read/write loop. (io.Copy would splice(2) between the two ends
// of the same TCPConn, which is not what an application echo does.)
type netServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startNetServer(addr string) (*netServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &netServer{ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

func (s *netServer) Addr() string { return s.ln.Addr().String() }
func (s *netServer) Info() string { return "goroutine per connection" }

func (s *netServer) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *netServer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		c.(*net.TCPConn).SetNoDelay(true)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.echo(c)
	}
}

func (s *netServer) echo(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	buf := make([]byte, echoBufSize)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}
