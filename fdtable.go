package asio

import (
	"sync"
	"sync/atomic"
)

// slotTable maps a backend's tokens to its per-descriptor records (the
// fdState itself, or a record of the backend's own), for the backends that
// hand the kernel a 64-bit word per descriptor or per operation (epoll_data,
// an SQE's user_data): never a Go pointer, which the kernel would hide from
// the garbage collector. A token is slot | generation<<32: the slot finds
// the record, the generation tells an event of a closed and reused slot
// from a live one.
//
// Lookups are lock-free (two atomic loads); inserts and removals take mu.
// The table grows by chunks and never moves an entry, so a lookup racing
// with growth is safe.
type slotTable[T any] struct {
	mu     sync.Mutex
	chunks [tableChunks]atomic.Pointer[[chunkSize]atomic.Pointer[T]]
	free   []uint32
	next   uint32 // slots ever used
	gen    uint32
	closed bool // shutdown began: no more inserts
	fixed  bool // slots are chosen by set (descriptor numbers): no free list
}

const (
	chunkSize   = 1024
	tableChunks = 4096 // 4M descriptors per context
)

// insert gives d a free slot and returns it with its generation; false
// once the table is closed or full, so that nothing is registered behind a
// shutdown's back.
func (t *slotTable[T]) insert(d *T) (slot, gen uint32, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, 0, false
	}
	if n := len(t.free); n > 0 {
		slot = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		if t.next == chunkSize*tableChunks {
			return 0, 0, false
		}
		slot = t.next
		t.next++
	}
	return slot, t.storeLocked(slot, d), true
}

// set puts d in slot (a descriptor number: the kernel keeps them unique)
// and returns its new generation.
func (t *slotTable[T]) set(slot uint32, d *T) (gen uint32, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || slot >= chunkSize*tableChunks {
		return 0, false
	}
	if slot >= t.next {
		t.next = slot + 1
	}
	return t.storeLocked(slot, d), true
}

func (t *slotTable[T]) storeLocked(slot uint32, d *T) uint32 {
	ch := t.chunks[slot/chunkSize].Load()
	if ch == nil {
		ch = new([chunkSize]atomic.Pointer[T])
		t.chunks[slot/chunkSize].Store(ch)
	}
	ch[slot%chunkSize].Store(d)
	t.gen++
	if t.gen == 0 || t.gen == ^uint32(0) {
		t.gen = 1 // 0 is never a live generation, all ones is reserved
	}
	return t.gen
}

// close stops inserts: the backend is shutting down.
func (t *slotTable[T]) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}

// remove frees slot.
func (t *slotTable[T]) remove(slot uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ch := t.chunks[slot/chunkSize].Load()
	if ch == nil || ch[slot%chunkSize].Load() == nil {
		return
	}
	ch[slot%chunkSize].Store(nil)
	if !t.fixed {
		t.free = append(t.free, slot)
	}
}

// lookup returns the record in slot, or nil. The caller checks
// the generation against the record's token under its lock.
func (t *slotTable[T]) lookup(slot uint32) *T {
	if slot/chunkSize >= tableChunks {
		return nil
	}
	ch := t.chunks[slot/chunkSize].Load()
	if ch == nil {
		return nil
	}
	return ch[slot%chunkSize].Load()
}

// each calls f for every record in the table.
func (t *slotTable[T]) each(f func(d *T)) {
	t.mu.Lock()
	n := t.next
	t.mu.Unlock()
	for slot := uint32(0); slot < n; slot++ {
		if d := t.lookup(slot); d != nil {
			f(d)
		}
	}
}
