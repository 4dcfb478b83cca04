package httpsserver

import (
	"time"

	"github.com/goasio/asio"
)

// loop is what one IOContext of the server keeps: its connections, and the
// sweep that enforces the idle timeout. A deadline of the TCPStream on every
// read and write would arm and cancel a timer wait per operation; the sweep
// is one timer wait per context per tick, and a connection pays two field
// writes per operation. Everything here runs on the context's one Run
// goroutine, so it needs no lock.
type loop struct {
	ctx    *asio.IOContext
	idle   time.Duration // 0: no idle timeout
	tick   time.Duration
	timer  *asio.Timer
	now    time.Time // at the last tick: the connections' clock, coarse by one tick
	conns  []*conn
	onTick func(error)
}

func newLoop(ctx *asio.IOContext, idle time.Duration) *loop {
	l := &loop{ctx: ctx, now: time.Now()}
	if idle > 0 {
		l.idle = idle
		l.tick = min(max(idle/4, 10*time.Millisecond), time.Second)
		l.timer = asio.NewTimer(ctx.Executor())
		l.onTick = l.sweep
		l.arm()
	}
	return l
}

func (l *loop) arm() {
	l.timer.ExpiresAfter(l.tick)
	l.timer.AsyncWait(l.onTick)
}

// sweep closes the connections whose operation has waited longer than the
// idle timeout; closing ends it with ErrOperationAborted, and its handler
// closes the connection.
func (l *loop) sweep(err error) {
	if err != nil {
		return // the context is closing
	}
	l.now = time.Now()
	for _, c := range l.conns {
		if c.waiting && l.now.Sub(c.since) > l.idle {
			c.s.Close()
		}
	}
	l.arm()
}

func (l *loop) add(c *conn) {
	c.slot = len(l.conns)
	l.conns = append(l.conns, c)
}

func (l *loop) remove(c *conn) {
	last := len(l.conns) - 1
	l.conns[c.slot] = l.conns[last]
	l.conns[c.slot].slot = c.slot
	l.conns[last] = nil
	l.conns = l.conns[:last]
}

// stop ends the sweep (from Close, after the contexts have stopped).
func (l *loop) stop() {
	if l.timer != nil {
		l.timer.Cancel()
	}
}
