package asio

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/goasio/asio/internal/sys"
)

// portableBackend runs on the Go runtime's own poller through package net,
// with the same code on every GOOS, so the package builds and works
// wherever Go's net does.
//
// Ops of one direction of a descriptor wait in its FIFO queue (fdState.q,
// under fdState.mu); while a direction has ops, one goroutine serves it,
// performing the head with package net's blocking calls (which park it in
// the runtime's poller) and handing each finished op to the scheduler
// before it takes the next; it ends when the queue is empty. So there is a
// goroutine per direction with a pending op, never one per idle socket,
// and none ever runs a handler: handlers run inside Run, as on every
// backend.
//
// An op in service is interrupted by a deadline in the past (reads,
// writes, accepts), by cancelling its dial's context (connects), or by a
// wake on the descriptor's channel (pooled reads waiting for a buffer); its
// goroutine then completes it with ErrOperationAborted and the bytes it had
// moved (package net's Write reports them), or with its real result if the
// call had finished first. Close closes the net.Conn, which ends every call.
//
// What package net cannot express completes with ErrOperationNotSupported:
// a receive of urgent data and AsyncWait(WaitError) everywhere, message
// flags on datagram sockets, and on Windows (whose RawConn cannot wait for
// writability) every message flag and AsyncWait(WaitWrite). Batched UDP is
// a loop of single datagrams. Backlog is package net's (the system's
// maximum).
type portableBackend struct {
	c      *IOContext
	wakeCh chan struct{} // a wake for wait, at most one pending
	timer  *time.Timer   // wait's timeout, used by the poller only
	active sync.WaitGroup

	mu     sync.Mutex
	fds    map[*fdState]struct{} // open descriptors, for shutdown
	closed bool
	recs   slotTable[portableFD] // each open descriptor's record, by fdState.sysfd and gen
}

// portableFD is the portable backend's state of one descriptor, found by
// fdState.sysfd (its slot) in portableBackend.recs and used under fdState.mu. A new
// one is made each time the socket is opened, and a goroutine serving an
// old one stops when it sees the record of d change.
type portableFD struct {
	slot    uint32 // its slot in portableBackend.recs (fdState.sysfd)
	gen     uint32 // and that slot's generation (fdState.gen)
	family  AddressFamily
	conn    net.Conn         // *net.TCPConn or *net.UDPConn, once made
	ln      *net.TCPListener // a listener's
	local   netip.AddrPort   // Bind's address, until the socket is made
	pending []func(fd uintptr) error

	busy      [3]bool            // a goroutine serves the direction
	inflight  [3]*op             // the op it performs, out of the queue
	abort     [3]bool            // inflight was cancelled: complete it aborted
	dirty     [3]bool            // a deadline was set to interrupt: clear it before the next op
	dial      context.CancelFunc // cancels the dial in progress
	poolWake  chan struct{}      // wakes a pooled read waiting for a buffer
	poolWait  bool               // registered with the read's BufferPool
	connected bool               // a datagram socket connected after Bind
	sio       *streamIO          // the socket's RawConn callbacks (unix)
	urgent    bool               // a receive of urgent data just saw it come (unix)
	serveFn   [3]func()          // b.serve for each direction, made on first use
}

func newPortableBackend(c *IOContext) *portableBackend {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &portableBackend{c: c, wakeCh: make(chan struct{}, 1), timer: t, fds: make(map[*fdState]struct{})}
}

func (b *portableBackend) kind() Backend { return BackendPortable }

func (b *portableBackend) wait(timeoutMs int) {
	switch {
	case timeoutMs == 0:
		select {
		case <-b.wakeCh:
		default:
		}
	case timeoutMs < 0:
		<-b.wakeCh
	default:
		b.timer.Reset(time.Duration(timeoutMs) * time.Millisecond)
		select {
		case <-b.wakeCh:
		case <-b.timer.C:
		}
		b.timer.Stop()
	}
}

func (b *portableBackend) wake() {
	select {
	case b.wakeCh <- struct{}{}:
	default:
	}
}

// shutdown closes every descriptor and waits for the goroutines in service
// to hand their ops over, so that Close drains every handler.
func (b *portableBackend) shutdown() error {
	b.mu.Lock()
	b.closed = true
	fds := make([]*fdState, 0, len(b.fds))
	for d := range b.fds {
		fds = append(fds, d)
	}
	b.mu.Unlock()
	// First every op of every descriptor is aborted (the ones in service
	// marked and interrupted), then the sockets are closed: closing one
	// end of a connection first would end an op on the other with io.EOF
	// instead of ErrOperationAborted.
	for _, d := range fds {
		b.cancelAll(d)
	}
	for _, d := range fds {
		b.close(d)
	}
	b.active.Wait()
	return nil
}

// track records d as open (or not), for shutdown.
func (b *portableBackend) track(d *fdState, open bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if open {
		if b.closed {
			return ErrContextClosed
		}
		b.fds[d] = struct{}{}
	} else {
		delete(b.fds, d)
	}
	return nil
}

// openLocked gives d a new, not yet made socket of the family.
func (b *portableBackend) openLocked(d *fdState, family AddressFamily) error {
	if err := b.track(d, true); err != nil {
		return err
	}
	p := &portableFD{family: family, poolWake: make(chan struct{}, 1)}
	slot, gen, ok := b.recs.insert(p)
	if !ok {
		b.track(d, false)
		return ErrContextClosed
	}
	p.slot, p.gen = slot, gen
	d.sysfd, d.gen = int32(slot), gen
	d.fam = uint8(family)
	return nil
}

// rec returns d's record, or nil when d is not open (d.mu held). fdState
// keeps only its slot and generation, so that a socket of the
// raw-descriptor backends carries nothing of this one.
func (b *portableBackend) rec(d *fdState) *portableFD {
	if d.sysfd < 0 {
		return nil
	}
	p := b.recs.lookup(uint32(d.sysfd))
	if p == nil || p.gen != d.gen {
		return nil
	}
	return p
}

func (b *portableBackend) open(d *fdState, family AddressFamily) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if b.rec(d) != nil {
		return syscall.EISCONN
	}
	return b.openLocked(d, family)
}

func (b *portableBackend) adopt(d *fdState, a *accepted) error {
	if a.conn == nil {
		return ErrOperationNotSupported // taken by a raw-descriptor backend
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := b.openLocked(d, a.family); err != nil {
		return err
	}
	b.rec(d).conn = a.conn
	return nil
}

func (b *portableBackend) isOpen(d *fdState) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return b.rec(d) != nil
}

// openForLocked opens d for ep's family unless it is open.
func (b *portableBackend) openForLocked(d *fdState, ep netip.AddrPort) error {
	if !ep.IsValid() {
		return syscall.EINVAL
	}
	if b.rec(d) != nil {
		return nil
	}
	return b.openLocked(d, familyOf(ep))
}

// network is the network name for package net: "tcp" or "udp", never
// "tcp6"/"udp6", which would set IPV6_V6ONLY where the raw backends leave
// a socket dual-stack; the address picks the family.
func network(d *fdState) string {
	if d.dgram {
		return "udp"
	}
	return "tcp"
}

// control returns the net.ListenConfig/Dialer Control function that sets
// the options p gathered before its socket existed.
func (p *portableFD) control(extra []sockOpt) func(network, address string, c syscall.RawConn) error {
	pending := p.pending
	return func(_, _ string, c syscall.RawConn) error {
		var err error
		cerr := c.Control(func(fd uintptr) {
			for _, o := range extra {
				if err = sys.SetOption(fd, o.opt, o.v); err != nil {
					return
				}
			}
			for _, f := range pending {
				if err = f(fd); err != nil {
					return
				}
			}
		})
		if cerr != nil {
			return cerr
		}
		return err
	}
}

func (b *portableBackend) listen(d *fdState, ep netip.AddrPort, cfg *listenConfig) (netip.AddrPort, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := b.openForLocked(d, ep); err != nil {
		return netip.AddrPort{}, err
	}
	p := b.rec(d)
	lc := net.ListenConfig{Control: p.control(cfg.options(ep))}
	l, err := lc.Listen(context.Background(), network(d), ep.String())
	if err != nil {
		b.dropLocked(d)
		return netip.AddrPort{}, netError(err)
	}
	p.ln = l.(*net.TCPListener)
	if cfg.backlog >= 0 {
		// Package net listens with the system's maximum; a second listen(2)
		// sets the length asked for, where the platform allows it.
		if err := b.rawControl(p, func(fd uintptr) error { return sys.SetBacklog(fd, cfg.backlog) }); err != nil && err != ErrOperationNotSupported {
			p.ln.Close()
			b.dropLocked(d)
			return netip.AddrPort{}, err
		}
	}
	return p.ln.Addr().(*net.TCPAddr).AddrPort(), nil
}

// dropLocked forgets d's socket, which has nothing in service.
func (b *portableBackend) dropLocked(d *fdState) {
	b.recs.remove(uint32(d.sysfd))
	d.sysfd = -1
	b.track(d, false)
}

func (b *portableBackend) bind(d *fdState, ep netip.AddrPort) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := b.openForLocked(d, ep); err != nil {
		return err
	}
	p := b.rec(d)
	if p.conn != nil || p.ln != nil {
		return syscall.EINVAL // bound already
	}
	if !d.dgram {
		p.local = ep // the dial binds it
		return nil
	}
	lc := net.ListenConfig{Control: p.control(nil)}
	c, err := lc.ListenPacket(context.Background(), network(d), ep.String())
	if err != nil {
		return netError(err)
	}
	p.conn = c.(*net.UDPConn)
	return nil
}

// autoBindLocked makes the OS socket of a datagram socket used before
// Bind or Connect, bound to a port of the system's choosing, as the kernel
// does for a raw socket's first send.
func (b *portableBackend) autoBindLocked(d *fdState, p *portableFD) error {
	any := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	if p.family == IPv6 {
		any = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
	}
	lc := net.ListenConfig{Control: p.control(nil)}
	c, err := lc.ListenPacket(context.Background(), "udp", any.String())
	if err != nil {
		return netError(err)
	}
	p.conn = c.(*net.UDPConn)
	return nil
}

func (b *portableBackend) connectDgram(d *fdState, ep netip.AddrPort) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := b.openForLocked(d, ep); err != nil {
		return err
	}
	p := b.rec(d)
	if p.conn != nil {
		// Bound already: connect(2) the socket package net made.
		err := b.rawControl(p, func(fd uintptr) error { return sys.ConnectDgram(fd, ep, p.family == IPv6) })
		if err == nil {
			p.connected = true
		}
		return err
	}
	dl := net.Dialer{Control: p.control(nil)}
	if p.local.IsValid() {
		dl.LocalAddr = net.UDPAddrFromAddrPort(p.local)
	}
	c, err := dl.Dial(network(d), ep.String())
	if err != nil {
		return netError(err)
	}
	p.conn = c
	return nil
}

// rawConn returns the RawConn of p's OS socket (nil, nil when it has none
// yet).
func (p *portableFD) rawConn() (syscall.RawConn, error) {
	switch {
	case p.conn != nil:
		return p.conn.(syscall.Conn).SyscallConn()
	case p.ln != nil:
		return p.ln.SyscallConn()
	}
	return nil, nil
}

// rawControl runs f on p's OS socket.
func (b *portableBackend) rawControl(p *portableFD, f func(fd uintptr) error) error {
	rc, err := p.rawConn()
	if rc == nil && err == nil {
		return ErrBadDescriptor
	}
	if err != nil {
		return netError(err)
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(fd) }); err != nil {
		return netError(err)
	}
	return ferr
}

func (b *portableBackend) control(d *fdState, deferrable bool, f func(fd uintptr) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := b.rec(d)
	switch {
	case p == nil:
		return ErrBadDescriptor
	case p.conn == nil && p.ln == nil:
		if !deferrable {
			return ErrBadDescriptor
		}
		p.pending = append(p.pending, f)
		return nil
	}
	return b.rawControl(p, f)
}

func (b *portableBackend) setOption(d *fdState, o sys.Option, v int) error {
	return b.control(d, true, func(fd uintptr) error { return sys.SetOption(fd, o, v) })
}

func (b *portableBackend) endpoint(d *fdState, remote bool) (netip.AddrPort, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := b.rec(d)
	switch {
	case p == nil:
		return netip.AddrPort{}, ErrBadDescriptor
	case p.ln != nil && !remote:
		return p.ln.Addr().(*net.TCPAddr).AddrPort(), nil
	case p.conn == nil:
		if remote {
			return netip.AddrPort{}, syscall.ENOTCONN
		}
		return p.local, nil
	case remote && p.connected:
		return b.peerName(p)
	}
	a := p.conn.LocalAddr()
	if remote {
		a = p.conn.RemoteAddr()
	}
	return addrPortOf(a)
}

func (b *portableBackend) peerName(p *portableFD) (netip.AddrPort, error) {
	var ap netip.AddrPort
	err := b.rawControl(p, func(fd uintptr) (err error) {
		ap, err = sys.PeerName(fd)
		return err
	})
	return ap, err
}

func addrPortOf(a net.Addr) (netip.AddrPort, error) {
	switch a := a.(type) {
	case *net.TCPAddr:
		return unmapped(a.AddrPort()), nil
	case *net.UDPAddr:
		return unmapped(a.AddrPort()), nil
	}
	return netip.AddrPort{}, syscall.ENOTCONN
}

func unmapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func (b *portableBackend) shutdownConn(d *fdState, read, write bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := b.rec(d)
	if p == nil {
		return ErrBadDescriptor
	}
	c, ok := p.conn.(*net.TCPConn)
	if !ok {
		return syscall.ENOTCONN
	}
	if read {
		if err := c.CloseRead(); err != nil {
			return netError(err)
		}
	}
	if write {
		return netError(c.CloseWrite())
	}
	return nil
}

// cancelAll aborts every op of d: the queued ones at once, the ones in
// service through their goroutines.
func (b *portableBackend) cancelAll(d *fdState) error {
	d.mu.Lock()
	p := b.rec(d)
	if p == nil {
		d.mu.Unlock()
		return ErrBadDescriptor
	}
	b.abortLocked(d, p)
	d.mu.Unlock()
	d.ctx().deferred.flush()
	return nil
}

// abortLocked aborts every op of d (d.mu held): it hands the queued ones
// to the scheduler with ErrOperationAborted and interrupts the ones in
// service, which their goroutines complete.
func (b *portableBackend) abortLocked(d *fdState, p *portableFD) {
	d.eachQueue(func(q *opQueue) {
		for o := q.pop(); o != nil; o = q.pop() {
			o.err = ErrOperationAborted
			o.handOff(false)
		}
	})
	for dir := range p.inflight {
		if p.inflight[dir] != nil {
			p.interruptLocked(dir)
		}
	}
}

// interruptLocked makes the op in service in dir give up, if its call has
// not finished yet.
func (p *portableFD) interruptLocked(dir int) {
	o := p.inflight[dir]
	p.abort[dir] = true
	switch {
	case o.kind == opConnect:
		if p.dial != nil {
			p.dial()
		}
	case o.kind == opAccept:
		p.ln.SetDeadline(aLongTimeAgo)
		p.dirty[dir] = true
	case p.conn != nil:
		if dir == dirWrite {
			p.conn.SetWriteDeadline(aLongTimeAgo)
		} else {
			p.conn.SetReadDeadline(aLongTimeAgo)
		}
		p.dirty[dir] = true
	}
	if o.kind == opReadPooled {
		select {
		case p.poolWake <- struct{}{}:
		default:
		}
	}
}

// aLongTimeAgo is a deadline in the past, to interrupt a call of package
// net.
var aLongTimeAgo = time.Unix(1, 0)

func (b *portableBackend) close(d *fdState) error {
	d.mu.Lock()
	p := b.rec(d)
	if p == nil {
		d.mu.Unlock()
		return ErrBadDescriptor
	}
	b.abortLocked(d, p)
	var err error
	switch {
	case p.conn != nil:
		err = p.conn.Close()
	case p.ln != nil:
		err = p.ln.Close()
	}
	if p.poolWait {
		for dir := range p.inflight {
			if o := p.inflight[dir]; o != nil && o.kind == opReadPooled {
				o.pool.unwait(d)
			}
		}
		p.poolWait = false
	}
	b.dropLocked(d)
	d.mu.Unlock()
	d.ctx().deferred.flush()
	return netError(err)
}

// sendNow is startLocked's speculative attempt at a write, for a caller
// that completes it itself: only where the runtime's descriptor can be
// tried without blocking (portableSpeculates). The attempt goes through
// an opWriteAll of its own, uncounted, which never leaves this function
// (a plain write, which check always accepts).
func (b *portableBackend) sendNow(d *fdState, buf Buffers) (n int, err error, tried bool) {
	if !portableSpeculates {
		return 0, nil, false
	}
	d.mu.Lock()
	p := b.rec(d)
	if tried = p != nil && p.conn != nil && !b.c.closed.Load() && d.idle(dirWrite) && !p.busy[dirWrite]; tried {
		o := opPool.Get().(*op)
		o.kind, o.d = opWriteAll, d
		o.setBuffers(buf)
		if b.speculate(d, p, o) {
			err = o.err
		} // else o.n went, and the rest waits for room
		n = int(o.n)
		o.release()
	}
	d.mu.Unlock()
	return n, err, tried
}

func (b *portableBackend) cancelOp(d *fdState, o *op, key uint64) {
	d.mu.Lock()
	if o.key() == key {
		if unqueue(d, o) {
			o.err = ErrOperationAborted
			o.handOff(false)
		} else if p := b.rec(d); p != nil {
			for dir := range p.inflight {
				if p.inflight[dir] == o {
					p.interruptLocked(dir)
				}
			}
		}
	}
	d.mu.Unlock()
	d.ctx().deferred.flush()
}

func (b *portableBackend) start(d *fdState, o *op) {
	d.mu.Lock()
	b.startLocked(d, o)
	d.mu.Unlock()
	d.ctx().deferred.flush()
}

func (b *portableBackend) startLocked(d *fdState, o *op) {
	if o.kind == opConnect && b.rec(d) == nil && o.x.addr.IsValid() {
		if err := b.openLocked(d, familyOf(o.x.addr)); err != nil {
			o.err = err
			o.handOff(true)
			return
		}
	}
	p := b.rec(d)
	switch {
	case o.settledAtStart(p != nil, d.dgram, b.c.closed.Load()): // o.err is its result
	default:
		if err := b.check(d, o); err != nil {
			o.err = err
			break
		}
		if d.dgram && p.conn == nil {
			if err := b.autoBindLocked(d, p); err != nil {
				o.err = err
				break
			}
		}
		dir := o.direction()
		if p.conn != nil {
			p.streamIO() // made under d.mu, before the serving goroutine uses it
		}
		if d.idle(dir) && !p.busy[dir] && b.speculate(d, p, o) {
			break // an immediate completion
		}
		d.park(o, dir)
		if !p.busy[dir] {
			p.busy[dir] = true
			b.active.Add(1)
			if p.serveFn[dir] == nil {
				// Made once per direction: a go statement with arguments
				// would allocate their closure each time.
				p.serveFn[dir] = func() { b.serve(d, p, dir) }
			}
			go p.serveFn[dir]()
		}
		return
	}
	o.handOff(true)
}

// check returns the error of an op this backend cannot perform, or that
// is wrong from the start.
func (b *portableBackend) check(d *fdState, o *op) error {
	flags := MessageFlags(o.flags)
	if !portableSupports(o) {
		return ErrOperationNotSupported
	}
	switch o.kind {
	case opWait:
		return nil
	case opConnect:
		if !o.x.addr.IsValid() {
			return syscall.EINVAL
		}
		if b.rec(d).conn != nil {
			return syscall.EISCONN
		}
		return nil
	case opSendDgram, opSendTo, opRecvFrom:
		if flags != 0 {
			return ErrOperationNotSupported
		}
	}
	return nil
}

// serve performs the ops queued on direction dir of d, head first, until
// the queue is empty or d is closed (its record is no longer p).
func (b *portableBackend) serve(d *fdState, p *portableFD, dir int) {
	defer b.active.Done()
	d.mu.Lock()
	for b.rec(d) == p {
		q := d.queued(dir)
		if q == nil || q.empty() {
			break
		}
		o := q.pop()
		p.inflight[dir], p.abort[dir] = o, false
		if p.dirty[dir] {
			p.clearDeadline(o, dir)
		}
		d.mu.Unlock()

		b.perform(d, p, o, false)

		d.mu.Lock()
		p.inflight[dir] = nil
		if p.abort[dir] && o.err != nil {
			o.err = ErrOperationAborted // the bytes it moved stay in o.n
		}
		o.handOff(false)
		d.mu.Unlock()
		d.ctx().deferred.flush()
		d.mu.Lock()
	}
	p.busy[dir] = false
	d.mu.Unlock()
}

// clearDeadline removes the deadline an interrupted op left (d.mu held).
func (p *portableFD) clearDeadline(o *op, dir int) {
	p.dirty[dir] = false
	switch {
	case o.kind == opAccept && p.ln != nil:
		p.ln.SetDeadline(time.Time{})
	case p.conn != nil && dir == dirWrite:
		p.conn.SetWriteDeadline(time.Time{})
	case p.conn != nil:
		p.conn.SetReadDeadline(time.Time{})
	}
}

func (b *portableBackend) do(d *fdState, o *op) error {
	d.mu.Lock()
	if o.kind == opConnect && b.rec(d) == nil && o.x.addr.IsValid() {
		if err := b.openLocked(d, familyOf(o.x.addr)); err != nil {
			d.mu.Unlock()
			return err
		}
	}
	p := b.rec(d)
	var err error
	switch {
	case p == nil:
		err = ErrBadDescriptor
	case o.isNoop(d.dgram):
		d.mu.Unlock()
		return nil
	default:
		err = b.check(d, o)
		if p.conn != nil {
			p.streamIO()
		}
		if dir := o.direction(); p.dirty[dir] && p.inflight[dir] == nil {
			p.clearDeadline(o, dir)
		}
	}
	d.mu.Unlock()
	if err != nil {
		return err
	}
	b.perform(d, p, o, true)
	return o.err
}

// perform runs o to completion with package net's blocking calls, on the
// goroutine serving its direction (or the caller's, for a blocking form).
// It is one function per op kind.
func (b *portableBackend) perform(d *fdState, p *portableFD, o *op, blocking bool) {
	var n int
	var err error
	switch o.kind {
	case opRead, opWrite, opWriteAll, opReadPooled:
		if needsPoll(o) {
			o.err = portableError(b.performPoll(d, p, o))
			return
		}
		o.err = portableError(b.performStream(d, p, o, blocking))
		return
	case opSendDgram, opSendTo, opRecvFrom:
		if rawDgram {
			o.err = portableError(b.performStream(d, p, o, blocking))
			return
		}
		switch o.kind {
		case opSendDgram:
			n, err = p.sendDgram(o)
		case opSendTo:
			n, err = p.sendTo(o)
		default:
			n, err = p.recvFrom(o)
		}
	case opAccept:
		err = p.accept(o)
	case opConnect:
		err = b.connect(d, p, o)
	case opWait:
		if needsPoll(o) {
			err = b.performPoll(d, p, o)
		} else {
			err = p.wait(o)
		}
	case opSendBatch:
		n, err = p.sendBatch(o)
	case opRecvBatch:
		n, err = p.recvBatch(o)
	default:
		panic("asio: internal error: an op the portable backend does not know")
	}
	o.n, o.err = int32(max(n, 0)), portableError(err)
}

// conn returns p's connection, or the error of an op on a socket that is
// not connected yet.
func (p *portableFD) connOrErr() (net.Conn, error) {
	if p.conn == nil {
		return nil, syscall.ENOTCONN
	}
	return p.conn, nil
}

func firstBuffer(o *op) []byte {
	if bufs := o.bufs(); bufs != nil {
		for _, b := range bufs {
			if len(b) > 0 {
				return b
			}
		}
		return nil
	}
	return o.buffer()
}

// sendDgram sends one datagram on a connected datagram socket.
func (p *portableFD) sendDgram(o *op) (int, error) {
	c, err := p.connOrErr()
	if err != nil {
		return 0, err
	}
	if bufs := o.bufs(); bufs != nil {
		return c.Write(bytesJoin(bufs))
	}
	return c.Write(o.buffer())
}

// bytesJoin joins the buffers of a datagram into one: package net sends
// a datagram from one []byte (the portable backend's fallback).
func bytesJoin(bufs [][]byte) []byte {
	n := Buffers(bufs).Len()
	out := make([]byte, 0, n)
	for _, b := range bufs {
		out = append(out, b...)
	}
	return out
}

func (p *portableFD) sendTo(o *op) (int, error) {
	u, ok := p.conn.(*net.UDPConn)
	if !ok {
		return 0, syscall.ENOTCONN
	}
	if err := p.familyMismatch(o.x.addr); err != nil {
		return 0, err
	}
	b := o.buffer()
	if bufs := o.bufs(); bufs != nil {
		b = bytesJoin(bufs)
	}
	return u.WriteToUDPAddrPort(b, o.x.addr)
}

// familyMismatch returns EAFNOSUPPORT for an IPv6 destination on an IPv4
// socket, as the raw backends' kernel does (package net has its own error).
func (p *portableFD) familyMismatch(to netip.AddrPort) error {
	switch {
	case !to.IsValid():
		return syscall.EINVAL
	case p.family == IPv4 && !to.Addr().Unmap().Is4():
		return syscall.EAFNOSUPPORT
	}
	return nil
}

func (p *portableFD) recvFrom(o *op) (int, error) {
	u, ok := p.conn.(*net.UDPConn)
	if !ok {
		return 0, syscall.ENOTCONN
	}
	b := o.buffer()
	bufs := o.bufs()
	if bufs != nil {
		b = make([]byte, Buffers(bufs).Len()) // scattered after
	}
	n, _, flags, from, err := u.ReadMsgUDPAddrPort(b, nil)
	trunc, err := sys.Truncated(flags, err)
	if bufs != nil {
		scatter(bufs, b[:n])
	}
	if err != nil {
		return n, err
	}
	o.ext().addr = unmapped(from)
	if trunc {
		return n, ErrMessageTooLong
	}
	return n, nil
}

func scatter(bufs [][]byte, b []byte) {
	for _, d := range bufs {
		b = b[copy(d, b):]
	}
}

func (p *portableFD) accept(o *op) error {
	if p.ln == nil {
		return syscall.EINVAL // not listening
	}
	c, err := p.ln.AcceptTCP()
	if err != nil {
		return err
	}
	o.x.acc = accepted{fd: -1, conn: c, family: p.family}
	return nil
}

func (b *portableBackend) connect(d *fdState, p *portableFD, o *op) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.mu.Lock()
	if p.abort[dirWrite] || b.rec(d) != p {
		d.mu.Unlock()
		return ErrOperationAborted // cancelled before the dial began
	}
	p.dial = cancel
	local, pending := p.local, p.pending
	d.mu.Unlock()
	dl := net.Dialer{Control: (&portableFD{pending: pending}).control(nil)}
	if local.IsValid() {
		dl.LocalAddr = net.TCPAddrFromAddrPort(local)
	}
	c, err := dl.DialContext(ctx, network(d), o.x.addr.String())
	d.mu.Lock()
	defer d.mu.Unlock()
	p.dial = nil
	if err != nil {
		return err
	}
	if b.rec(d) != p {
		c.Close() // closed meanwhile
		return ErrOperationAborted
	}
	p.conn = c
	return nil
}

func (p *portableFD) wait(o *op) error {
	rc, err := p.rawConn()
	if rc == nil && err == nil {
		return syscall.ENOTCONN
	}
	if err != nil {
		return err
	}
	write := WaitType(o.flags) == WaitWrite
	first := true
	probe := func(fd uintptr) bool {
		ok := sys.Ready(fd, write, first)
		first = false
		return ok
	}
	if write {
		err = rc.Write(probe)
	} else {
		err = rc.Read(probe)
	}
	if sys.WaitUnsupported(err) {
		return ErrOperationNotSupported // RawConn.Write cannot wait on Windows
	}
	return err
}

// bufferFree wakes d's pooled read waiting for a buffer.
func (b *portableBackend) bufferFree(d *fdState) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := b.rec(d)
	if p == nil || !p.poolWait {
		return false
	}
	p.poolWait = false
	select {
	case p.poolWake <- struct{}{}:
	default:
	}
	return true
}

func (p *portableFD) sendBatch(o *op) (int, error) {
	msgs := o.x.batch
	for i := range msgs {
		m := &msgs[i]
		var n int
		var err error
		b := bytesJoin(m.Buffers)
		if m.Addr.IsValid() {
			u, ok := p.conn.(*net.UDPConn)
			switch {
			case !ok:
				err = syscall.ENOTCONN
			default:
				if err = p.familyMismatch(m.Addr); err == nil {
					n, err = u.WriteToUDPAddrPort(b, m.Addr)
				}
			}
		} else if c, cerr := p.connOrErr(); cerr != nil {
			err = cerr
		} else {
			n, err = c.Write(b)
		}
		if err != nil {
			if i == 0 {
				return 0, err
			}
			return i, nil // the next call reports the error
		}
		m.N, m.Truncated = n, false
	}
	return len(msgs), nil
}

func (p *portableFD) recvBatch(o *op) (int, error) {
	msgs := o.x.batch
	if len(msgs) == 0 {
		return 0, nil
	}
	m := &msgs[0]
	one := op{kind: opRecvFrom, x: &opExt{bufs: m.Buffers}}
	if len(m.Buffers) == 1 {
		one.setBuffer(m.Buffers[0])
		one.x.bufs = nil
	}
	n, err := p.recvFrom(&one)
	if err != nil && !errors.Is(err, ErrMessageTooLong) {
		return 0, err
	}
	m.N, m.Addr, m.Truncated = n, one.x.addr, err != nil
	return 1, nil
}

// portableError turns package net's errors into the package's: the
// syscall.Errno inside an *net.OpError, ErrBadDescriptor for a closed
// connection, ErrOperationAborted for an interrupted call.
func portableError(err error) error {
	switch {
	case err == nil, err == io.EOF:
		return err
	case errors.Is(err, net.ErrClosed):
		return ErrOperationAborted
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.Canceled):
		return ErrOperationAborted
	}
	return netError(err)
}

// netError unwraps package net's error types to the syscall.Errno (or
// other cause) inside, as the raw backends report it.
func netError(err error) error {
	if err == nil {
		return nil
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}
