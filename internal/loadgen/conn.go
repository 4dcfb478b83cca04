package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sync/atomic"
)

// maxBatch is how many bytes of messages the writer hands the kernel in one
// write, and the size of the reader's buffer: when several messages may be
// sent at once, they go in one syscall, and the reader picks up many echoes
// per syscall, so that the load generator spends less CPU per message than
// the server it measures.
const maxBatch = 64 << 10

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

// writeLoop sends messages while it has tokens: it waits for one, takes
// whatever others are free too (up to maxBatch bytes) and sends that many
// messages in one write.
func (c *conn) writeLoop() {
	defer c.r.wg.Done()
	size := c.r.cfg.Size
	batch := min(max(maxBatch/size, 1), c.r.cfg.Depth)
	buf := make([]byte, batch*size)
	var seq uint64
	for {
		select {
		case <-c.tokens:
		case <-c.r.done:
			return
		}
		n := 1
	more:
		for n < batch {
			select {
			case <-c.tokens:
				n++
			default:
				break more
			}
		}
		for i := range n {
			fill(buf[i*size:(i+1)*size], c.id, seq+uint64(i))
		}
		now := c.r.now()
		for i := range n {
			c.sent[(seq+uint64(i))&c.mask].Store(now)
		}
		if _, err := c.nc.Write(buf[:n*size]); err != nil {
			c.r.fail(fmt.Errorf("loadgen: conn %d: write message %d: %w", c.id, seq, err), true)
			return
		}
		seq += uint64(n)
	}
}

func (c *conn) readLoop() {
	defer c.r.wg.Done()
	buf := make([]byte, c.r.cfg.Size)
	rd := bufio.NewReaderSize(c.nc, maxBatch) // reads of Size or more bypass it
	for seq := uint64(0); ; seq++ {
		if _, err := io.ReadFull(rd, buf); err != nil {
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
