package main

import (
	"fmt"
	"log"
	"net/netip"
	"os"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// gnetEcho follows gnet's echo example: embed BuiltinEventEngine and, in
// OnTraffic, take everything buffered with Next(-1) and Write it back. The
// slice Next returns belongs to the event loop; Write copies whatever the
// socket does not take at once into the connection's outbound buffer.
type gnetEcho struct {
	gnet.BuiltinEventEngine
}

func (*gnetEcho) OnBoot(eng gnet.Engine) gnet.Action {
	addr, err := gnetListenAddr(eng)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gnet: listening address:", err)
		return gnet.Shutdown
	}
	announce(addr)
	return gnet.None
}

func (*gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	if _, err := c.Write(buf); err != nil {
		return gnet.Close
	}
	return gnet.None
}

// gnetListenAddr finds the port the kernel chose for "…:0": gnet's Engine
// does not expose the listener's address, but Dup gives its descriptor.
func gnetListenAddr(eng gnet.Engine) (string, error) {
	fd, err := eng.Dup()
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return "", err
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String(), nil
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)).String(), nil
	}
	return "", fmt.Errorf("unexpected socket address %T", sa)
}

// stderrLogger keeps gnet's logging off stdout, whose first line is the
// address the runner waits for (gnet's default logger writes to stdout).
type stderrLogger struct{ *log.Logger }

func (l stderrLogger) Debugf(string, ...interface{})     {}
func (l stderrLogger) Infof(string, ...interface{})      {}
func (l stderrLogger) Warnf(f string, a ...interface{})  { l.Printf("WARN "+f, a...) }
func (l stderrLogger) Errorf(f string, a ...interface{}) { l.Printf("ERROR "+f, a...) }
func (l stderrLogger) Fatalf(f string, a ...interface{}) { l.Logger.Fatalf("FATAL "+f, a...) }
func newStderrLogger() stderrLogger                      { return stderrLogger{log.New(os.Stderr, "gnet: ", log.LstdFlags)} }

// serveGnet runs one event loop per -contexts (multicore off with one).
func serveGnet(addr string, contexts int) error {
	return gnet.Run(&gnetEcho{}, "tcp://"+addr,
		gnet.WithMulticore(contexts > 1),
		gnet.WithNumEventLoop(contexts),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(newStderrLogger()),
	)
}
