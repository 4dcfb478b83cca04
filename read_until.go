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
	search := 0 // where untilNext starts to search
	if len(opts) == 0 && buf.found.h == nil && len(delim) > 0 {
		data := buf.Bytes()
		if i := bytes.Index(data, delim); i >= 0 {
			// Already buffered (a pipelined request): the buffer itself is
			// the immediate completion, posted to the stream's executor;
			// no op, since nothing can cancel or rebind it.
			buf.found.h, buf.found.n = h, i+len(delim)
			postTo(s.Executor(), &buf.found)
			return
		}
		search = max(0, len(data)-len(delim)+1)
	}
	t := transferPool.Get().(*transferOp)
	t.rs = s
	t.until = untilState{buf: buf, delim: delim, search: search, found: -1}
	t.cond, t.h = transferAll, h
	if t.setOptions(opts) {
		t.abortAtStart(opts)
		return
	}
	t.untilNext(false)
}

// untilNext searches buf; if the delimiter or the limit is already there it
// completes: at once after a read step (inStep: this runs in a handler on
// the executor already), else through the executor, never inline. Else it
// reads into fresh space.
func (t *transferOp) untilNext(inStep bool) {
	u := &t.until
	data := u.buf.Bytes()
	u.grow = 0
	i := -1
	if len(u.delim) > 0 {
		i = bytes.Index(data[u.search:], u.delim)
	}
	switch {
	case len(u.delim) == 0:
		u.found = 0
	case i >= 0:
		u.found = u.search + i + len(u.delim)
	default:
		u.search = max(0, len(data)-len(u.delim)+1)
		room := u.buf.untilRoom()
		if room > 0 {
			u.grow = room
			t.step = append(t.step[:0], u.buf.Prepare(room))
			t.issue(t.step)
			return
		}
		u.found = -2 // too long
	}
	switch {
	case inStep:
		t.untilStep(0, nil)
	case t.nopts == 0:
		// Nothing binds the handler elsewhere: the op itself is the
		// immediate completion, posted to the stream's executor (an empty
		// step through the stream would cost an op and a backend call).
		postTo(t.rs.Executor(), t)
	default:
		t.issue(nil) // an empty step carries the options' executors
	}
}

// untilFound is the immediate completion of an AsyncReadUntil whose
// delimiter was already in the buffer at its start and which has no
// options: it lives in the DynamicBuffer, which the op owns until its
// handler runs, so completing it takes nothing from a pool. h is nil when
// none is pending.
type untilFound struct {
	h func(n int, err error)
	n int
}

func (f *untilFound) run(*runner) {
	h, n := f.h, f.n
	f.h = nil // before h, which may start the next read-until
	h(n, nil)
}

// run is the completion of a read-until found done at its start (untilNext).
func (t *transferOp) run(*runner) { t.untilStep(0, nil) }

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
		t.untilNext(true)
	}
}
