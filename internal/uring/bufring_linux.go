package uring

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BufRing is a provided buffer ring (IORING_REGISTER_PBUF_RING): a group of
// equal buffers the kernel picks from when a receive carries SQEBufferSelect,
// so that a waiting receive holds no buffer. Both the ring and the buffers
// are mapped outside the Go heap.
//
// A buffer the kernel filled belongs to the caller from its CQE until
// Recycle gives it back. Buffer, ID, Recycle and Group are safe from any
// goroutine; Close is for the ring's owner, after every receive that selects
// from the group has completed and every buffer slice handed out is
// dropped: the memory is unmapped.
type BufRing struct {
	ring    *Ring
	group   uint16
	entries uint32
	size    int
	ringMem []byte       // entries × io_uring_buf; the tail overlays entry 0's resv
	bufs    []byte       // entries × size bytes of buffers
	entry   []ioURingBuf // ringMem as entries
	tailw   *atomic.Uint32

	mu   sync.Mutex
	tail uint16 // next entry to fill; published through tailw
}

// NewBufRing registers a buffer ring of group id group with entries buffers
// (a power of two up to 32768) of size bytes each, all of them given to the
// kernel.
func (r *Ring) NewBufRing(group uint16, entries uint32, size int) (*BufRing, error) {
	if size <= 0 || uint64(size) > 1<<31 {
		return nil, fmt.Errorf("uring: buffer size %d out of range", size)
	}
	b, err := r.newBufRing(group, entries, size)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	for id := range entries {
		b.addLocked(uint16(id))
	}
	b.publishLocked()
	b.mu.Unlock()
	return b, nil
}

// NewProvidedRing registers a buffer ring of group id group with room for
// entries buffers (a power of two up to 32768) and none in it: the caller
// lends it buffers of its own memory with Provide. Such a ring has no
// memory of its own, so Buffer, ID and Recycle do not apply to it.
func (r *Ring) NewProvidedRing(group uint16, entries uint32) (*BufRing, error) {
	return r.newBufRing(group, entries, 0)
}

// newBufRing maps the ring of entries io_uring_buf entries and, when size
// is not 0, entries buffers of size bytes, and registers the ring as group:
// the part NewBufRing and NewProvidedRing share. On an error nothing stays
// mapped.
func (r *Ring) newBufRing(group uint16, entries uint32, size int) (*BufRing, error) {
	if entries == 0 || entries > pbufRingMaxEntries || entries&(entries-1) != 0 {
		return nil, fmt.Errorf("uring: buffer ring entries %d: not a power of two in 1..32768", entries)
	}
	b := &BufRing{ring: r, group: group, entries: entries, size: size}
	ringBytes := int(entries) * int(unsafe.Sizeof(ioURingBuf{}))
	pg := os.Getpagesize()
	ringBytes = (ringBytes + pg - 1) / pg * pg
	var err error
	if b.ringMem, err = unix.Mmap(-1, 0, ringBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE); err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	if size != 0 {
		if b.bufs, err = unix.Mmap(-1, 0, int(entries)*size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE); err != nil {
			unix.Munmap(b.ringMem)
			return nil, os.NewSyscallError("mmap", err)
		}
	}
	b.entry = unsafe.Slice((*ioURingBuf)(unsafe.Pointer(&b.ringMem[0])), entries)
	// The 16-bit tail shares a 32-bit word with entry 0's bid (offsets 12
	// and 14); Go has no 16-bit atomic store, so publish both together.
	b.tailw = (*atomic.Uint32)(unsafe.Pointer(&b.ringMem[12]))
	reg := ioURingBufReg{ringAddr: addr(unsafe.Pointer(&b.ringMem[0])), ringEntries: entries, bgid: group}
	if _, err := register(r.fd, registerPbufRing, unsafe.Pointer(&reg), 1); err != nil {
		b.unmap()
		return nil, err
	}
	return b, nil
}

// Provide lends buffer p to the kernel under id, for a receive that selects
// from this group to fill; its completion reports id (CQE.Buffer). p is
// memory the caller keeps referenced and unmoved (a heap slice) until that
// completion, or until the ring is closed; at most Entries buffers may be
// lent at once. Safe from any goroutine.
func (b *BufRing) Provide(id uint16, p []byte) {
	a := bufAddr(p)
	b.mu.Lock()
	e := &b.entry[uint32(b.tail)&(b.entries-1)]
	e.addr = a
	e.len = uint32(len(p))
	e.bid = id
	b.tail++
	b.publishLocked()
	b.mu.Unlock()
}

// Group returns the buffer group id, for PrepRecvMultishot.
func (b *BufRing) Group() uint16 { return b.group }

// Size returns the size of each buffer.
func (b *BufRing) Size() int { return b.size }

// Entries returns the number of buffers.
func (b *BufRing) Entries() uint32 { return b.entries }

// Buffer returns the first n bytes of buffer id (n ≤ Size), the bytes a
// completion reporting that id and Res n received.
func (b *BufRing) Buffer(id uint16, n int) []byte {
	off := int(id) * b.size
	return b.bufs[off : off+n : off+b.size]
}

// ID returns the id of the buffer p starts in, and false if p is not one of
// this ring's buffers.
func (b *BufRing) ID(p []byte) (uint16, bool) {
	if cap(p) == 0 {
		return 0, false
	}
	base := uintptr(unsafe.Pointer(&b.bufs[0]))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	if at < base || at >= base+uintptr(len(b.bufs)) {
		return 0, false
	}
	return uint16((at - base) / uintptr(b.size)), true
}

// Recycle gives buffer id back to the kernel. A multishot receive that
// ended with ENOBUFS is not re-armed by this: the caller prepares another.
func (b *BufRing) Recycle(id uint16) {
	b.mu.Lock()
	b.addLocked(id)
	b.publishLocked()
	b.mu.Unlock()
}

func (b *BufRing) addLocked(id uint16) {
	e := &b.entry[uint32(b.tail)&(b.entries-1)]
	e.addr = addr(unsafe.Pointer(&b.bufs[int(id)*b.size]))
	e.len = uint32(b.size)
	e.bid = id
	b.tail++
}

// publishLocked stores the tail with release semantics, together with
// entry 0's bid, which only this side writes. The two halves are laid out
// in memory order, so the word is right on either byte order.
func (b *BufRing) publishLocked() {
	w := [2]uint16{b.entry[0].bid, b.tail}
	b.tailw.Store(*(*uint32)(unsafe.Pointer(&w)))
}

// Close unregisters the ring and unmaps its memory.
func (b *BufRing) Close() error {
	if b.ringMem == nil {
		return errors.New("uring: buffer ring already closed")
	}
	reg := ioURingBufReg{bgid: b.group}
	_, err := register(b.ring.fd, unregisterPbufRing, unsafe.Pointer(&reg), 1)
	b.unmap()
	return err
}

func (b *BufRing) unmap() {
	if b.bufs != nil {
		unix.Munmap(b.bufs)
	}
	unix.Munmap(b.ringMem)
	b.bufs, b.ringMem, b.entry = nil, nil, nil
}
