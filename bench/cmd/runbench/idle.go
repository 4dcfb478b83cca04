package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// runIdle opens sc.Conns connections that send nothing, waits until the
// server has accepted all of them (its descriptor count) and its RSS has
// settled, and reports the RSS growth per connection; then the same after a
// forced GC that returns freed memory to the OS (the baseline is taken after
// one too). Every server holds an
// idle connection with a pending read (asio: a pending AsyncWait(WaitRead)).
// With sc.EchoFirst each connection first echoes one 64-byte message, so
// the figure is what a connection that has been active and went quiet
// costs (asio: a pending AsyncReadSome and whatever buffer the server keeps
// for it). Then a sample of the connections is checked to still echo.
func runIdle(srv *server, sc scenario, r *row) error {
	pid := srv.pid()
	time.Sleep(200 * time.Millisecond) // let the server finish starting
	if err := srv.freeMemory(); err != nil {
		return err
	}
	rss0, err := settledRSS(pid, time.Second)
	if err != nil {
		return err
	}
	fd0, err := fdCount(pid)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conns, err := dialMany(ctx, srv.addr, sc.Conns, 8)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err != nil {
		return err
	}
	if sc.EchoFirst {
		if err := echoEach(conns, 8); err != nil {
			return err
		}
	}

	// Accepted: the server holds a descriptor for each.
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := fdCount(pid)
		if err != nil {
			return err
		}
		if n >= fd0+sc.Conns {
			break
		}
		if err := srv.alive(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server holds %d of %d connections after 60s", n-fd0, sc.Conns)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Settled: the handlers of the last accepts have run and issued their
	// read (or wait). Take the RSS once it stops changing.
	rss1, err := settledRSS(pid, 3*time.Second)
	if err != nil {
		return err
	}
	r.Conns = sc.Conns
	r.RSSBefore, r.RSSAfter = rss0, rss1
	r.BytesPerConn = float64(rss1-rss0) / float64(sc.Conns)
	// Then without the garbage: what the connections hold.
	if err := srv.freeMemory(); err != nil {
		return err
	}
	rss2, err := settledRSS(pid, 3*time.Second)
	if err != nil {
		return err
	}
	r.RSSAfterGC = rss2
	r.BytesPerConnGC = float64(rss2-rss0) / float64(sc.Conns)

	// The connections must be live, not merely accepted.
	for i := 0; i < len(conns); i += 100 {
		if err := pingOne(conns[i], byte(i)); err != nil {
			return fmt.Errorf("idle connection %d does not echo: %w", i, err)
		}
	}
	return nil
}

// echoEach has every connection echo one 64-byte message, par at once.
func echoEach(conns []net.Conn, par int) error {
	errs := make(chan error, par)
	for w := range par {
		go func() {
			msg := make([]byte, 64)
			got := make([]byte, 64)
			for i := w; i < len(conns); i += par {
				for j := range msg {
					msg[j] = byte(i + j)
				}
				c := conns[i]
				err := c.SetDeadline(time.Now().Add(10 * time.Second))
				if err == nil {
					_, err = c.Write(msg)
				}
				if err == nil {
					_, err = io.ReadFull(c, got)
				}
				if err == nil && string(got) != string(msg) {
					err = errors.New("wrong bytes echoed")
				}
				if err != nil {
					errs <- fmt.Errorf("first echo on connection %d: %w", i, err)
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range par {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// dialMany opens n connections to addr with par dialers at once.
func dialMany(ctx context.Context, addr string, n, par int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	var d net.Dialer
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("dial %d of %d: %w", i+1, n, err)
					}
					mu.Unlock()
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := range n {
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return conns, first
}

// settledRSS polls VmRSS until two readings 200 ms apart agree within
// 16 KiB, or max has passed.
func settledRSS(pid int, max time.Duration) (int64, error) {
	prev, err := rssBytes(pid)
	if err != nil {
		return 0, err
	}
	end := time.Now().Add(max)
	for time.Now().Before(end) {
		time.Sleep(200 * time.Millisecond)
		cur, err := rssBytes(pid)
		if err != nil {
			return 0, err
		}
		if d := cur - prev; d < 16<<10 && d > -16<<10 {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

func pingOne(c net.Conn, b byte) error {
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	if _, err := c.Write([]byte{b}); err != nil {
		return err
	}
	var got [1]byte
	if _, err := io.ReadFull(c, got[:]); err != nil {
		return err
	}
	if got[0] != b {
		return fmt.Errorf("echoed %#x, sent %#x", got[0], b)
	}
	return nil
}
