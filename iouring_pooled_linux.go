package asio

import (
	"io"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/goasio/asio/internal/sys"
	"github.com/goasio/asio/internal/uring"
	"golang.org/x/sys/unix"
)

// poolRings gives each BufferPool that pooled reads use on this context a
// provided buffer ring (a buffer group of the ring), lent buffers of the
// pool itself: a multishot receive then takes a buffer only when data
// arrives, and the handler gets a genuine pool buffer that it gives back
// with Put, as on every backend. Buffers the ring holds count as out of the
// pool (BufferPool's max bounds them too).
type poolRings struct {
	ring   *uring.Ring
	mu     sync.Mutex
	by     map[*BufferPool]*poolRing // nil value: this pool has no ring (groups used up, or refused)
	groups [maxGroups]atomic.Pointer[poolRing]
	next   int
}

// poolRing is one pool's buffer group.
type poolRing struct {
	p     *BufferPool
	br    *uring.BufRing
	group int

	mu     sync.Mutex
	bufs   [][]byte // by buffer id: the buffer the kernel holds, or nil
	free   []uint16 // ids not lent
	lent   int
	target int // buffers to keep lent, grown when the ring runs dry
}

// poolRingEntries is the room of each ring; poolRingBytes what it lends at
// first, poolRingMaxBytes at most.
const poolRingEntries = 1024

var (
	poolRingBytes    = 256 << 10
	poolRingMaxBytes = 1 << 20
)

func (r *poolRings) init(ring *uring.Ring) {
	r.ring = ring
	r.by = make(map[*BufferPool]*poolRing)
	r.next = 1
}

// get returns p's ring, making it on first use, or nil when p has none:
// its pooled reads then receive into a pool buffer taken at issue.
func (r *poolRings) get(p *BufferPool) *poolRing {
	r.mu.Lock()
	defer r.mu.Unlock()
	pr, ok := r.by[p]
	if ok {
		return pr
	}
	if r.next < maxGroups {
		br, err := r.ring.NewProvidedRing(uint16(r.next), poolRingEntries)
		if err == nil {
			pr = &poolRing{p: p, br: br, group: r.next, bufs: make([][]byte, poolRingEntries)}
			pr.target = clamp(poolRingBytes/p.Size(), 4, 64)
			pr.free = make([]uint16, poolRingEntries)
			for i := range pr.free {
				pr.free[i] = uint16(poolRingEntries - 1 - i)
			}
			r.groups[r.next].Store(pr)
			r.next++
		}
	}
	r.by[p] = pr
	return pr
}

func (r *poolRings) group(g int) *poolRing { return r.groups[g].Load() }

// stray gives back what a CQE of a forgotten descriptor carries: a pool
// buffer, or an accepted connection. (None comes: a descriptor is forgotten
// only after its last CQE; this is a guard.)
func (r *poolRings) stray(c *uring.CQE) {
	if id, ok := c.Buffer(); ok {
		if pr := r.group(udGroup(c.UserData)); pr != nil {
			if b := pr.take(id, 0); b != nil {
				pr.p.unget(b)
			}
		}
		return
	}
	if udTag(c.UserData) == tagMulti && udGroup(c.UserData) == 0 && c.Res >= 0 {
		sys.Close(int(c.Res))
	}
}

// close unregisters every ring and gives its buffers back to their pools;
// the kernel holds none any more.
func (r *poolRings) close() {
	for g := 1; g < maxGroups; g++ {
		pr := r.groups[g].Load()
		if pr == nil {
			continue
		}
		pr.br.Close()
		pr.mu.Lock()
		bufs := pr.bufs
		pr.bufs, pr.lent = nil, 0
		pr.mu.Unlock()
		for _, b := range bufs {
			if b != nil {
				pr.p.returnRing(b)
			}
		}
	}
}

// refill lends the kernel pool buffers up to the target, and reports
// whether the ring holds any.
func (pr *poolRing) refill() bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for pr.lent < pr.target && len(pr.free) > 0 {
		b := pr.p.lendRing()
		if b == nil {
			break
		}
		id := pr.free[len(pr.free)-1]
		pr.free = pr.free[:len(pr.free)-1]
		pr.bufs[id] = b
		pr.br.Provide(id, b)
		pr.lent++
	}
	return pr.lent > 0
}

// take returns the first n bytes of buffer id, which a CQE says the kernel
// filled and no longer holds.
func (pr *poolRing) take(id uint16, n int) []byte {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if int(id) >= len(pr.bufs) || pr.bufs[id] == nil {
		return nil
	}
	b := pr.bufs[id]
	pr.bufs[id] = nil
	pr.free = append(pr.free, id)
	pr.lent--
	pr.p.fromRing()
	return b[:n]
}

// grow raises the target after the ring ran dry.
func (pr *poolRing) grow() {
	pr.mu.Lock()
	pr.target = min(pr.target*2, poolRingEntries, max(poolRingMaxBytes/pr.p.Size(), 4))
	pr.mu.Unlock()
}

// issuePooled starts a pooled read (d.mu held): from what a multishot
// receive already brought, else by joining or arming one (a read with a
// limit takes one selected buffer instead), else, for a pool without a
// ring, by a receive into a buffer taken now. It waits for the pool when
// the pool has no buffer free.
func (b *uringBackend) issuePooled(d *fdState, o *op) bool {
	if x := b.ext(d); x != nil {
		if len(x.stash) > 0 {
			return b.pooledFromStash(d, x, o)
		}
		if x.err != nil {
			o.err, x.err = x.err, nil
			return true
		}
	}
	if d.state&uPoolWait != 0 {
		return false
	}
	pr := b.pools.get(o.pool)
	if d.state&uMulti != 0 {
		if d.state&uMultiCancel == 0 && o.n == 0 && pr != nil && b.slots.group(d.token()) == pr.group {
			return false // the armed receive serves it
		}
		b.cancelMultiLocked(d) // a limit, or another pool: start afresh once it ends
		return false
	}
	if pr == nil {
		return b.pooledFallback(d, o)
	}
	for !pr.refill() {
		if o.pool.waitIfEmpty(d) {
			d.state |= uPoolWait
			return false
		}
	}
	fd, group := int(d.sysfd), pr.group
	b.sq.Lock()
	s := b.sqeLocked()
	if o.n > 0 {
		s.PrepRecvSelect(fd, uint16(group), uint32(o.n), 0, userData(d.token(), dirRead, group))
		b.inflightLocked(d, dirRead)
	} else {
		s.PrepRecvMultishot(fd, uint16(group), 0, userData(d.token(), tagMulti, group))
		b.armLocked(d, uMulti)
	}
	b.sq.Unlock()
	if o.n == 0 {
		b.slots.setGroup(d.token(), group)
	}
	return false
}

// pooledFallback receives into a pool buffer taken now, as the epoll
// backend does once data is there.
func (b *uringBackend) pooledFallback(d *fdState, o *op) bool {
	buf := b.poolBuffer(d, o)
	if buf == nil {
		return false
	}
	o.setBuffer(buf)
	b.sq.Lock()
	b.sqeLocked().PrepRecv(int(d.sysfd), buf, 0, userData(d.token(), dirRead, 0))
	b.inflightLocked(d, dirRead)
	b.sq.Unlock()
	return false
}

// poolBuffer lends o a buffer of its pool, cut to o's limit, or registers d
// to be told when one is free (uPoolWait) and returns nil (d.mu held).
func (b *uringBackend) poolBuffer(d *fdState, o *op) []byte {
	buf := o.pool.getOrWait(d)
	if buf == nil {
		d.state |= uPoolWait
		return nil
	}
	return o.limitPooled(buf)
}

// pooledFromStash hands o the oldest data a multishot receive brought: its
// buffer as it is, or, past o's limit or for another pool, a copy into a
// buffer of o's pool.
func (b *uringBackend) pooledFromStash(d *fdState, x *uext, o *op) bool {
	e := &x.stash[0]
	if e.p == o.pool && (o.n == 0 || len(e.b) <= int(o.n)) {
		o.setPooled(e.b)
		x.popStash()
		return true
	}
	if d.state&uPoolWait != 0 {
		return false // bufferFree comes back here
	}
	nb := b.poolBuffer(d, o)
	if nb == nil {
		return false
	}
	n := copy(nb, e.b)
	o.setPooled(nb[:n])
	x.consume(n)
	return true
}

// popStash drops the oldest stash entry, taken as it is.
func (x *uext) popStash() {
	copy(x.stash, x.stash[1:])
	x.stash[len(x.stash)-1] = stashed{}
	x.stash = x.stash[:len(x.stash)-1]
}

// consume drops the first n bytes of stashed data (d.mu held): a buffer
// emptied goes back to its pool, a partial one keeps the rest at its
// front, where the pool's Put expects its first byte.
func (x *uext) consume(n int) {
	for n > 0 && len(x.stash) > 0 {
		e := &x.stash[0]
		if n < len(e.b) {
			k := copy(e.b, e.b[n:])
			e.b = e.b[:k]
			return
		}
		n -= len(e.b)
		e.p.unget(e.b)
		x.popStash()
	}
}

// fromStash finishes a receive into the caller's buffers from what a
// multishot receive brought before it (d.mu held).
func (b *uringBackend) fromStash(d *fdState, o *op) bool {
	x := b.ext(d)
	if x == nil || (len(x.stash) == 0 && x.err == nil) {
		return false
	}
	if len(x.stash) == 0 {
		o.err, x.err = x.err, nil
		return true
	}
	dst := o.bufs()
	if dst == nil {
		dst = [][]byte{o.buffer()}
	}
	n, i := 0, 0
	for _, db := range dst {
		for len(db) > 0 && i < len(x.stash) {
			k := copy(db, x.stash[i].b[skipIn(x, i, n):])
			db, n = db[k:], n+k
			if skipIn(x, i, n) == len(x.stash[i].b) {
				i++
			}
		}
	}
	o.n = int32(n)
	if MessageFlags(o.flags)&MsgPeek == 0 {
		x.consume(n)
	}
	return true
}

// skipIn is how many bytes of stash entry i the first n copied bytes cover.
func skipIn(x *uext, i, n int) int {
	for j := 0; j < i; j++ {
		n -= len(x.stash[j].b)
	}
	return min(max(n, 0), len(x.stash[i].b))
}

// finishPooled records the CQE of a pooled read's own SQE: a receive into
// a pool buffer taken at issue, or a receive that selected a buffer of its
// pool's ring.
func (b *uringBackend) finishPooled(d *fdState, o *op, c *uring.CQE) bool {
	res := c.Res
	if buf := o.pooled(); buf != nil {
		if res > 0 {
			o.setPooled(buf[:res])
			return true
		}
		o.pool.unget(buf)
		o.setBuffer(nil)
		if res == 0 {
			o.err = io.EOF
		} else {
			o.err = errOf(res)
		}
		return true
	}
	pr := b.pools.group(udGroup(c.UserData))
	if id, ok := c.Buffer(); ok && pr != nil {
		buf := pr.take(id, max(int(res), 0))
		if res > 0 && buf != nil {
			o.setPooled(buf)
			pr.refill()
			return true
		}
		if buf != nil {
			o.pool.unget(buf)
		}
	}
	switch {
	case res == 0:
		o.err = io.EOF
	case res == -int32(syscall.ENOBUFS):
		if pr != nil {
			pr.grow()
		}
		return false // issued again: refilled, or waiting for the pool
	default:
		o.err = errOf(res)
	}
	return true
}

// cancelMultiLocked cancels d's armed multishot receive or accept, once.
func (b *uringBackend) cancelMultiLocked(d *fdState) {
	if d.state&uMulti == 0 || d.state&uMultiCancel != 0 {
		return
	}
	d.state |= uMultiCancel
	b.cancelLocked(d, tagMulti, b.slots.group(d.token()))
}

// leavePoolWait takes d off its pool's waiters if o is the pooled read that
// waits there (d.mu held).
func (b *uringBackend) leavePoolWait(d *fdState, o *op) {
	if o.kind == opReadPooled && d.state&uPoolWait != 0 {
		d.state &^= uPoolWait
		o.pool.unwait(d)
	}
}

// bufferFree starts d's pooled read again: its pool has a buffer.
func (b *uringBackend) bufferFree(d *fdState) bool {
	var done opList
	d.mu.Lock()
	waiting := d.state&uPoolWait != 0 && d.sysfd >= 0
	if waiting {
		d.state &^= uPoolWait
		b.advance(d, dirRead, &done)
	}
	handOffAllLocked(&done)
	d.mu.Unlock()
	b.c.deferred.flush()
	return waiting
}

// multiCQE finishes what a CQE of d's multishot receive or accept brings
// (d.mu held). An op takes it if one waits at the head of the read queue,
// else it is stashed; the final CQE (no CQEFMore) ends the multishot, and
// the read queue goes on (re-arming it if ops still wait).
func (b *uringBackend) multiCQE(d *fdState, c *uring.CQE, done *opList) {
	more := c.More()
	if !more {
		d.state &^= uMulti | uMultiCancel
		b.armed.Add(-1)
	}
	if g := udGroup(c.UserData); g == 0 {
		b.acceptCQE(d, c, more)
	} else {
		b.recvCQE(d, c, b.pools.group(g), more, done)
	}
	if d.state&uClosing == 0 {
		b.takeHead(d, done)
		b.advance(d, dirRead, done)
	}
	b.trimExt(d)
}

// trimExt gives d's rarer state back once it holds nothing, so that a quiet
// connection keeps none (d.mu held).
func (b *uringBackend) trimExt(d *fdState) {
	x := b.slots.ext(d.token())
	if x == nil || len(x.stash) > 0 || x.err != nil || x.scratch != [3]*uscratch{} {
		return
	}
	b.slots.setExt(d.token(), nil)
	x.stash = x.stash[:0]
	uextPool.Put(x)
}

// takeHead completes the head of d's read queue from the stash, as far as
// it can (d.mu held).
func (b *uringBackend) takeHead(d *fdState, done *opList) {
	x := b.ext(d)
	if x == nil || (len(x.stash) == 0 && x.err == nil) {
		return
	}
	q := &d.q[dirRead]
	for o := q.head; o != nil && o.err == nil && d.state&uInflightRead == 0; o = q.head {
		if len(x.stash) == 0 && x.err == nil {
			return
		}
		if !b.issue(d, o, dirRead) {
			return
		}
		q.pop()
		done.push(o)
	}
}

func (b *uringBackend) recvCQE(d *fdState, c *uring.CQE, pr *poolRing, more bool, done *opList) {
	res := c.Res
	var buf []byte
	if id, ok := c.Buffer(); ok && pr != nil {
		buf = pr.take(id, max(int(res), 0))
	}
	if res > 0 && buf != nil {
		defer pr.refill()
		if d.state&uClosing != 0 {
			pr.p.unget(buf)
			return
		}
		x := b.ext(d)
		q := &d.q[dirRead]
		if o := q.head; o != nil && o.kind == opReadPooled && o.pool == pr.p && o.n == 0 && (x == nil || len(x.stash) == 0) {
			q.pop() // the usual case: the read waits for this data
			o.setPooled(buf)
			done.push(o)
			return
		}
		x = b.makeExt(d)
		x.stash = append(x.stash, stashed{b: buf, p: pr.p})
		if more && len(x.stash) >= maxStash {
			b.cancelMultiLocked(d)
		}
		return
	}
	if buf != nil {
		pr.p.unget(buf)
	}
	switch {
	case res == -int32(syscall.ENOBUFS):
		if pr != nil {
			pr.grow() // re-armed by the waiting read: refilled, or waiting for the pool
		}
	case res == -int32(syscall.ECANCELED), res == errAgain:
	case d.state&uClosing == 0:
		err := io.EOF
		if res < 0 {
			err = errOf(res)
		}
		if x := b.makeExt(d); x.err == nil {
			x.err = err
		}
	}
}

func (b *uringBackend) acceptCQE(d *fdState, c *uring.CQE, more bool) {
	res := c.Res
	switch {
	case res >= 0:
		if d.state&uClosing != 0 {
			sys.Close(int(res))
			return
		}
		x := b.makeExt(d)
		x.stash = append(x.stash, stashed{fd: int(res)})
		if more && d.q[dirRead].head == nil {
			b.cancelMultiLocked(d) // take no more connections than asked for
		}
	case res == -int32(syscall.ECONNABORTED), res == -int32(syscall.ECANCELED), res == errAgain:
		// The peer gave up first, or our cancel: the next accept re-arms.
	case d.state&uClosing == 0:
		if x := b.makeExt(d); x.err == nil {
			x.err = errOf(res)
		}
	}
}

// issueAccept starts an accept: a connection already taken, or the
// multishot accept, armed if it is not.
func (b *uringBackend) issueAccept(d *fdState, o *op) bool {
	if x := b.ext(d); x != nil {
		if len(x.stash) > 0 {
			o.x.acc = accepted{fd: x.stash[0].fd, family: d.family()}
			x.popStash()
			return true
		}
		if x.err != nil {
			o.err, x.err = x.err, nil
			return true
		}
	}
	if d.state&uMulti != 0 {
		return false
	}
	b.sq.Lock()
	b.sqeLocked().PrepAcceptMultishot(int(d.sysfd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, userData(d.token(), tagMulti, 0))
	b.armLocked(d, uMulti)
	b.sq.Unlock()
	b.slots.setGroup(d.token(), 0)
	return false
}
