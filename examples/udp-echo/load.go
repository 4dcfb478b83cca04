package main

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/goasio/asio"
)

// load is the client: flows sockets, each keeping window datagrams in
// flight, all on one IOContext run by the calling goroutine.
type load struct {
	to                  netip.AddrPort
	flows, window, size int
	warmup, duration    time.Duration
	ctx                 *asio.IOContext
	fl                  []*flow
	tick                *asio.Timer
	echoes, bad         uint64 // every echo received, and those of the wrong size
	reprimed            int    // windows sent again after a silent tick (loss)
	started, t0         time.Time
	c0                  uint64
	phase               int // waiting for the server, warming up, counting
	rate                float64
	counted             uint64
	elapsed             time.Duration
	err                 error
}

// flow is one client socket. Its echoes are sent out again at once: owed
// counts those received and not yet sent back.
type flow struct {
	l       *load
	s       *asio.UDPSocket
	in, out []asio.Message
	owed    int
	sending bool
	got     uint64 // echoes received
	lastGot uint64 // got at the previous tick
	onRecv  func(n int, err error)
	onSent  func(n int, err error)
}

const tickEvery = 100 * time.Millisecond

const (
	waiting = iota
	warming
	counting
)

func (l *load) run() error {
	ctx, err := asio.NewIOContext()
	if err != nil {
		return err
	}
	l.ctx = ctx
	defer ctx.Close()
	loopback := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	if l.to.Addr().Is6() {
		loopback = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
	}
	for range l.flows {
		f, err := l.newFlow(loopback)
		if err != nil {
			return err
		}
		l.fl = append(l.fl, f)
	}
	l.started = time.Now()
	l.tick = asio.NewTimer(ctx.Executor())
	l.schedule()
	for _, f := range l.fl {
		f.receive()
		f.owed = l.window
		f.kick()
	}
	ctx.Run()
	if l.bad > 0 {
		return fmt.Errorf("%d echoes had the wrong size", l.bad)
	}
	return l.err
}

func (l *load) newFlow(local netip.AddrPort) (*flow, error) {
	f := &flow{l: l, s: asio.NewUDPSocket(l.ctx.Executor()),
		in: make([]asio.Message, l.window), out: make([]asio.Message, l.window)}
	if err := f.s.Bind(local); err != nil {
		return nil, err
	}
	f.s.SetReceiveBufferSize(rcvBuf)
	for i := range f.in {
		f.in[i].Buffers = asio.Buffers{make([]byte, l.size+1)} // +1: a longer echo shows
		f.out[i] = asio.Message{Buffers: asio.Buffers{make([]byte, l.size)}, Addr: l.to}
	}
	f.onRecv = func(n int, err error) {
		if stopped(err) {
			return
		}
		if err == nil {
			for _, m := range f.in[:n] {
				if m.N != l.size {
					l.bad++
				}
			}
			f.got += uint64(n)
			l.echoes += uint64(n)
			f.owed += n
			f.kick()
		}
		f.receive()
	}
	f.onSent = func(n int, err error) {
		f.sending = false
		if stopped(err) {
			return
		}
		if err != nil {
			n = 1 // drop the datagram that failed; the window heals at the next tick
		}
		f.owed -= n
		f.kick()
	}
	return f, nil
}

func (f *flow) receive() { f.s.AsyncReceiveBatch(f.in, f.onRecv) }

// kick sends what is owed unless a send is already in progress.
func (f *flow) kick() {
	if f.sending || f.owed <= 0 {
		return
	}
	f.sending = true
	f.s.AsyncSendBatch(f.out[:min(f.owed, len(f.out))], f.onSent)
}

func (l *load) schedule() {
	l.tick.ExpiresAfter(tickEvery)
	l.tick.AsyncWait(l.onTick)
}

// onTick primes silent flows again and moves through the phases: wait for
// the first echo, warm up, count, stop.
func (l *load) onTick(err error) {
	if err != nil {
		return
	}
	for _, f := range l.fl {
		if f.got == f.lastGot && f.owed < l.window {
			f.owed = l.window // its whole window was lost
			if l.phase != waiting {
				l.reprimed++
			}
			f.kick()
		}
		f.lastGot = f.got
	}
	now := time.Now()
	switch {
	case l.phase == waiting && l.echoes > 0:
		l.phase, l.t0 = warming, now
	case l.phase == waiting && now.Sub(l.started) > 5*time.Second:
		l.err = errors.New("no echo from " + l.to.String() + " in 5s")
		l.stop()
		return
	case l.phase == warming && now.Sub(l.t0) >= l.warmup:
		l.phase, l.t0, l.c0 = counting, now, l.echoes
	case l.phase == counting && now.Sub(l.t0) >= l.duration:
		l.counted, l.elapsed = l.echoes-l.c0, now.Sub(l.t0)
		l.rate = float64(l.counted) / l.elapsed.Seconds()
		l.stop()
		return
	}
	l.schedule()
}

// stop closes the sockets: their pending ops end, and Run with them.
func (l *load) stop() {
	for _, f := range l.fl {
		f.s.Close()
	}
}
