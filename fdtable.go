package asio

import (
	"sync"
	"sync/atomic"
)

// fdTable maps a backend's tokens to descriptors, for the backends that
// hand the kernel a 64-bit word per descriptor or per operation (epoll_data,
// an SQE's user_data): never a Go pointer, which the kernel would hide from
// the garbage collector. A token is slot | generation<<32: the slot finds
// the fdState, the generation tells an event of a closed and reused slot
// from a live one.
//
// Lookups are lock-free (two atomic loads); inserts and removals take mu.
// The table grows by chunks and never moves an entry, so a lookup racing
// with growth is safe.
type fdTable struct {
	mu     sync.Mutex
	chunks [tableChunks]atomic.Pointer[[chunkSize]atomic.Pointer[fdState]]
	free   []uint32
	next   uint32 // slots ever used
	gen    uint32
	closed bool // shutdown began: no more inserts
}

const (
	chunkSize   = 1024
	tableChunks = 4096 // 4M descriptors per context
)

// insert gives d a slot and returns its token; false once the table is
// closed or full, so that no descriptor is registered behind a shutdown's
// back.
func (t *fdTable) insert(d *fdState) (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, false
	}
	var slot uint32
	if n := len(t.free); n > 0 {
		slot = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		if t.next == chunkSize*tableChunks {
			return 0, false
		}
		slot = t.next
		t.next++
	}
	ch := t.chunks[slot/chunkSize].Load()
	if ch == nil {
		ch = new([chunkSize]atomic.Pointer[fdState])
		t.chunks[slot/chunkSize].Store(ch)
	}
	ch[slot%chunkSize].Store(d)
	t.gen++
	if t.gen == 0 || t.gen == ^uint32(0) {
		t.gen = 1 // 0 is never a live generation, all ones is reserved
	}
	return uint64(slot) | uint64(t.gen)<<32, true
}

// close stops inserts: the backend is shutting down.
func (t *fdTable) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}

// remove frees token's slot.
func (t *fdTable) remove(token uint64) {
	slot := uint32(token)
	t.mu.Lock()
	defer t.mu.Unlock()
	ch := t.chunks[slot/chunkSize].Load()
	if ch == nil || ch[slot%chunkSize].Load() == nil {
		return
	}
	ch[slot%chunkSize].Store(nil)
	t.free = append(t.free, slot)
}

// lookup returns the descriptor in token's slot, or nil. The caller checks
// the generation against the descriptor's token under its lock.
func (t *fdTable) lookup(token uint64) *fdState {
	slot := uint32(token)
	if slot/chunkSize >= tableChunks {
		return nil
	}
	ch := t.chunks[slot/chunkSize].Load()
	if ch == nil {
		return nil
	}
	return ch[slot%chunkSize].Load()
}

// each calls f for every descriptor in the table.
func (t *fdTable) each(f func(d *fdState)) {
	t.mu.Lock()
	n := t.next
	t.mu.Unlock()
	for slot := uint32(0); slot < n; slot++ {
		if d := t.lookup(uint64(slot)); d != nil {
			f(d)
		}
	}
}
