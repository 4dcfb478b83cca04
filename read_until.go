package asio

import (
	"bytes"
	"io"
)

// untilState is the part of a transferOp that AsyncReadUntil adds.
type untilState struct {
	buf    *DynamicBuffer
	delim  []byte
	search int // where the next search for delim starts in buf.Bytes()
	grow   int // bytes of free space offered to the step in flight
	found  int // n to report once the delimiter is in, or -1
}

// AsyncReadUntil reads into buf until it holds delim, and passes h the
// number of bytes up to and including the first delim (buf may hold more
// after it). It completes with ErrMessageTooLong when buf reaches its
// maximum first, and io.EOF when the peer closes first. If buf already
// holds delim, it still completes through the executor, never inline.
func AsyncReadUntil(s AsyncReadStream, buf *DynamicBuffer, delim []byte, h func(n int, err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	if buf == nil {
		completeLater(s.Executor(), opts, func() { h(0, ErrInvalidArgument) })
		return
	}
	t := transferPool.Get().(*transferOp)
	t.rs = s
	t.until = untilState{buf: buf, delim: delim, found: -1}
	t.cond, t.h = transferAll, h
	if t.setOptions(opts) {
		t.abortAtStart(opts)
		return
	}
	t.untilNext()
}

// untilNext searches buf; if the delimiter or the limit is already there it
// makes an empty step so that the handler still runs via the executor, else
// it reads into fresh space.
func (t *transferOp) untilNext() {
	u := &t.until
	data := u.buf.Bytes()
	if i := bytes.Index(data[u.search:], u.delim); i >= 0 && len(u.delim) > 0 {
		u.found = u.search + i + len(u.delim)
		u.grow = 0
		t.issue(nil)
		return
	}
	if len(u.delim) == 0 {
		u.found = 0
		u.grow = 0
		t.issue(nil)
		return
	}
	u.search = max(0, len(data)-len(u.delim)+1)
	room := u.buf.untilRoom()
	if room == 0 {
		u.found = -2 // too long
		u.grow = 0
		t.issue(nil)
		return
	}
	u.grow = room
	t.step = append(t.step[:0], u.buf.Prepare(room))
	t.issue(t.step)
}

// untilRoom returns the free space the next read of a read-until offers:
// the free space the buffer has (after compaction), or as much as it holds
// when that is less than 512 bytes (the buffer then doubles, and the read
// fills the new half), or 4 KiB into a buffer without an array; at most
// 64 KiB, and never past the maximum. 0 means the buffer is at its
// maximum.
func (b *DynamicBuffer) untilRoom() int {
	room := cap(b.buf) - b.Len()
	switch {
	case cap(b.buf) == 0:
		room = keepCap
	case room < minAlloc:
		room = max(cap(b.buf), minAlloc)
	}
	return min(room, 64<<10, b.room())
}

func (t *transferOp) untilStep(n int, err error) {
	u := &t.until
	if u.grow > 0 {
		u.buf.Commit(n)
	}
	switch {
	case u.found >= 0:
		t.total = u.found
		t.finish(nil)
	case u.found == -2:
		t.finish(ErrMessageTooLong)
	case err != nil:
		t.finish(err)
	case n == 0:
		t.finish(io.ErrNoProgress)
	case t.cancelled.Load() != 0:
		t.finish(ErrOperationAborted)
	default:
		t.untilNext()
	}
}
