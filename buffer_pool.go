package asio

import (
	"sync"
	"unsafe"
)

// BufferPool lends fixed-size read buffers to pooled reads
// (TCPSocket.AsyncReadPooled, TCPStream.AsyncReadPooled), so that a
// connection holds no read buffer while it waits for data: a pooled read
// takes a buffer only when bytes have arrived, and its handler owns the
// buffer until it gives it back with Put. One pool may serve every
// connection of every context; all its methods are safe from any goroutine.
//
// At most max buffers are out at once (0: no limit). When they all are, a
// pooled read with data waiting does not fail: it waits for a Put, which
// hands the freed buffer to the read that has waited longest. Buffers given
// back are kept for the next reads, up to a bound (about 1 MiB of them, and
// at least 16); past it they are kept where the garbage collector can take
// them back (a sync.Pool), so that a burst of reads reuses its buffers but
// does not pin its peak of memory.
type BufferPool struct {
	size, max int
	keep      int // free buffers kept at most

	mu      sync.Mutex
	free    [][]byte        // buffers given back, most recent last
	ids     map[*byte]int32 // every buffer the pool has made and not dropped, by its first byte
	out     []bool          // by id: lent to a handler
	unused  []int32         // ids of dropped buffers, for reuse
	nout    int
	ringOut int        // of nout: lent to a kernel's buffer ring (io_uring), held by no handler
	waiters []*fdState // descriptors whose pooled read waits for a buffer, in order

	// spare holds the freed buffers past keep, by their first byte: a
	// burst of reads reuses them, and the garbage collector takes them back
	// when the burst is over.
	spare sync.Pool
}

// bufferFree tells d's backend that the pool its pooled read waited for has
// a buffer free, and reports whether a pooled read of d was still waiting.
// No lock may be held.
func (d *fdState) bufferFree() bool { return d.be().bufferFree(d) }

// Lock order: fdState.mu, then BufferPool.mu. A waiter is told that a
// buffer is free (backend.bufferFree) with no lock held: directly by Put,
// through its context's queue when the buffer comes back from inside a
// backend.

// NewBufferPool returns a pool of buffers of size bytes, at most max of
// them out at once (0 or less: no limit). A size of 0 or less means 4096.
func NewBufferPool(size, max int) *BufferPool {
	if size <= 0 {
		size = 4096
	}
	p := &BufferPool{size: size, keep: 16, ids: make(map[*byte]int32)}
	if max > 0 {
		p.max = max
	}
	if k := (1 << 20) / size; k > p.keep {
		p.keep = k
	}
	return p
}

// Size returns the size of the pool's buffers.
func (p *BufferPool) Size() int { return p.size }

// Outstanding returns how many buffers are out (held by handlers).
func (p *BufferPool) Outstanding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nout - p.ringOut
}

// lendRing lends a buffer to a kernel buffer ring, from which receives
// take buffers only when data arrives (the io_uring backend's pooled
// reads), or returns nil when max are out. It counts against max, not as
// Outstanding, until fromRing.
func (p *BufferPool) lendRing() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.takeLocked()
	if b != nil {
		p.ringOut++
	}
	return b
}

// fromRing records that a buffer lent to a ring was filled: it is out,
// for a handler.
func (p *BufferPool) fromRing() {
	p.mu.Lock()
	p.ringOut--
	p.mu.Unlock()
}

// returnRing takes back a buffer lent to a ring that no receive filled. No
// lock may be held.
func (p *BufferPool) returnRing(b []byte) {
	p.mu.Lock()
	p.ringOut--
	w := p.releaseLocked(b[:p.size], p.ids[&b[0]])
	p.mu.Unlock()
	p.tell(w)
}

// Put gives back a buffer a pooled read handed out: b is the slice the
// handler received, or any reslice of it that keeps its first byte
// (b[:0], b[:cap(b)]). It panics if b did not come from this pool or was
// given back already: using a buffer after Put would corrupt another
// connection's data, so the mistake is made loud. A nil b is ignored.
func (p *BufferPool) Put(b []byte) {
	if b == nil {
		return
	}
	if cap(b) == 0 {
		panic("asio: BufferPool.Put of a slice that did not come from this pool")
	}
	p.mu.Lock()
	id, ok := p.ids[unsafe.SliceData(b[:1])]
	switch {
	case !ok || cap(b) != p.size:
		p.mu.Unlock()
		panic("asio: BufferPool.Put of a slice that did not come from this pool")
	case !p.out[id]:
		p.mu.Unlock()
		panic("asio: BufferPool.Put of a buffer already given back")
	}
	w := p.releaseLocked(b[:p.size], id)
	p.mu.Unlock()
	p.tell(w)
}

// tell tells waiter w, if any, that a buffer is free; if w no longer waits
// (its read was cancelled meanwhile), the next waiter is told instead.
func (p *BufferPool) tell(w *fdState) {
	for w != nil && !w.bufferFree() {
		p.mu.Lock()
		w = nil
		if len(p.free) > 0 && len(p.waiters) > 0 {
			w = p.popWaiterLocked()
		}
		p.mu.Unlock()
	}
}

func (p *BufferPool) popWaiterLocked() *fdState {
	w := p.waiters[0]
	copy(p.waiters, p.waiters[1:])
	p.waiters[len(p.waiters)-1] = nil
	p.waiters = p.waiters[:len(p.waiters)-1]
	return w
}

// releaseLocked takes back buffer id and returns the waiter to tell, if
// any.
func (p *BufferPool) releaseLocked(b []byte, id int32) *fdState {
	p.out[id] = false
	p.nout--
	p.keepLocked(b, id)
	if len(p.waiters) == 0 {
		return nil
	}
	return p.popWaiterLocked()
}

// keepLocked keeps a free buffer for the next reads, or moves it to the
// spares, which the garbage collector may take.
func (p *BufferPool) keepLocked(b []byte, id int32) {
	if len(p.free) < p.keep || len(p.waiters) > 0 {
		p.free = append(p.free, b)
		return
	}
	delete(p.ids, &b[0])
	p.unused = append(p.unused, id)
	p.spare.Put(&b[0]) // a pointer: no allocation to box it
}

// getOrWait lends a buffer of the pool's size or, when max are out,
// registers w to be told when one is free and returns nil; both under one
// lock, so that no Put can slip between them. Called with w.mu held.
func (p *BufferPool) getOrWait(w *fdState) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.takeLocked()
	if b == nil {
		p.waiters = append(p.waiters, w)
	}
	return b
}

// tryGet lends a buffer, or returns nil when max are out.
func (p *BufferPool) tryGet() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.takeLocked()
}

// waitIfEmpty registers w to be told when a buffer is free, unless one is
// free now (then it reports false: try again). Called with w.mu held.
func (p *BufferPool) waitIfEmpty(w *fdState) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) > 0 || p.max == 0 || p.nout < p.max {
		return false
	}
	p.waiters = append(p.waiters, w)
	return true
}

func (p *BufferPool) takeLocked() []byte {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		p.out[p.ids[&b[0]]] = true
		p.nout++
		return b
	}
	if p.max > 0 && p.nout >= p.max {
		return nil
	}
	var b []byte
	if v := p.spare.Get(); v != nil {
		b = unsafe.Slice(v.(*byte), p.size)
	} else {
		b = make([]byte, p.size)
	}
	var id int32
	if n := len(p.unused); n > 0 {
		id = p.unused[n-1]
		p.unused = p.unused[:n-1]
	} else {
		id = int32(len(p.out))
		p.out = append(p.out, false)
	}
	p.ids[&b[0]] = id
	p.out[id] = true
	p.nout++
	return b
}

// unget takes back a buffer getOrWait lent to a read that found no data
// after all (d.mu held). A waiter it frees the buffer for is told through
// its context's queue, since locks are held here.
func (p *BufferPool) unget(b []byte) {
	p.mu.Lock()
	w := p.releaseLocked(b[:p.size], p.ids[&b[0]])
	p.mu.Unlock()
	if w != nil {
		w.ctx().post(&bufferFreeTask{w, p}) // rare: only when the pool ran out
	}
}

// unwait removes w from the waiters (its pooled read was cancelled or its
// descriptor closed; w.mu held).
func (p *BufferPool) unwait(w *fdState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.waiters {
		if x == w {
			copy(p.waiters[i:], p.waiters[i+1:])
			p.waiters[len(p.waiters)-1] = nil
			p.waiters = p.waiters[:len(p.waiters)-1]
			return
		}
	}
}

// bufferFreeTask tells a waiter, from a handler of its context, that a
// buffer is free.
type bufferFreeTask struct {
	w *fdState
	p *BufferPool
}

func (t *bufferFreeTask) run(*runner) { t.p.tell(t.w) }
