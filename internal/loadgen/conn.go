package loadgen

import (
	"fmt"
	"io"
	"net"
	"sync/atomic"
)

// conn is one connection: a writer and a reader goroutine over one socket.
type conn struct {
	r  *run
	id int
	nc *net.TCPConn

	// tokens holds one token per message that may still be sent: the
	// writer takes one before each message, the reader gives it back once
	// that message's echo is verified. It starts with Depth tokens.
	tokens chan struct{}

	// sent[seq&mask] is the send time of message seq (nanoseconds since
	// run.base). The ring has at least Depth slots, and at most Depth
	// messages are in flight, so a slot is free again by the time the
	// writer comes back to it. Atomic because the only other ordering
	// between the two goroutines is the TCP round trip, which the race
	// detector cannot see.
	sent []atomic.Int64
	mask uint64

	// Owned by the reader until it ends.
	measured int64 // messages completed in the measured window
	hist     histogram
}

func newConn(r *run, id int, nc *net.TCPConn) *conn {
	ring := 1
	for ring < r.cfg.Depth {
		ring <<= 1
	}
	c := &conn{
		r:      r,
		id:     id,
		nc:     nc,
		tokens: make(chan struct{}, r.cfg.Depth),
		sent:   make([]atomic.Int64, ring),
		mask:   uint64(ring - 1),
	}
	for range r.cfg.Depth {
		c.tokens <- struct{}{}
	}
	return c
}

func (c *conn) writeLoop() {
	defer c.r.wg.Done()
	buf := make([]byte, c.r.cfg.Size)
	for seq := uint64(0); ; seq++ {
		select {
		case <-c.tokens:
		case <-c.r.done:
			return
		}
		fill(buf, c.id, seq)
		c.sent[seq&c.mask].Store(c.r.now())
		if _, err := c.nc.Write(buf); err != nil {
			c.r.fail(fmt.Errorf("loadgen: conn %d: write message %d: %w", c.id, seq, err), true)
			return
		}
	}
}

func (c *conn) readLoop() {
	defer c.r.wg.Done()
	buf := make([]byte, c.r.cfg.Size)
	for seq := uint64(0); ; seq++ {
		if _, err := io.ReadFull(c.nc, buf); err != nil {
			c.r.fail(fmt.Errorf("loadgen: conn %d: read echo of message %d: %w", c.id, seq, err), true)
			return
		}
		now := c.r.now()
		if err := verify(buf, c.id, seq); err != nil {
			c.r.fail(fmt.Errorf("loadgen: conn %d: %w", c.id, err), false)
			return
		}
		rtt := now - c.sent[seq&c.mask].Load()
		c.tokens <- struct{}{} // never blocks: this message held a token
		if c.r.phase.Load() == phaseMeasure {
			c.measured++
			c.hist.add(rtt)
		}
	}
}
