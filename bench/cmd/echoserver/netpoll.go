package main

import (
	"context"

	"github.com/cloudwego/netpoll"
)

// serveNetpoll follows netpoll's guide: a netpoll listener and an EventLoop
// whose OnRequest takes all buffered input with the nocopy Reader
// (Next(Len())), writes it back with WriteBinary (which references the slice,
// no copy) and Flushes, releasing the input only after the flush. The number
// of pollers is left at netpoll's default (GOMAXPROCS/20+1), as its docs
// advise; OnRequest runs on netpoll's goroutine pool across all Ps.
func serveNetpoll(addr string, _ int) error {
	ln, err := netpoll.CreateListener("tcp", addr)
	if err != nil {
		return err
	}
	loop, err := netpoll.NewEventLoop(netpollEcho)
	if err != nil {
		return err
	}
	announce(ln.Addr().String())
	return loop.Serve(ln)
}

func netpollEcho(_ context.Context, c netpoll.Connection) error {
	r, w := c.Reader(), c.Writer()
	buf, err := r.Next(r.Len())
	if err != nil {
		return err
	}
	if _, err = w.WriteBinary(buf); err == nil {
		err = w.Flush()
	}
	r.Release()
	if err != nil {
		c.Close()
	}
	return err
}
