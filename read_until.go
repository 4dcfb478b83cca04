package asio

import (
	"bytes"
	"io"
	"sync/atomic"
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
// holds delim, it still completes through the executor, never inline: when
// it has no options and is started from the handler of such a completion
// on the same buffer and executor (a server reading pipelined requests),
// its handler runs in that handler's executor task, right after it
// returns, instead of being queued behind the executor's other handlers
// (at most 16 in a row).
func AsyncReadUntil(s AsyncReadStream, buf *DynamicBuffer, delim []byte, h func(n int, err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	if buf == nil {
		completeLater(s.Executor(), opts, func() { h(0, ErrInvalidArgument) })
		return
	}
	search := 0 // where untilNext starts to search
	if st := buf.found.st.Load(); len(opts) == 0 && len(delim) > 0 && (st&foundPhase == foundIdle || st&foundPhase == foundRunning) {
		// Once per pipelined request: searched here, not through
		// scanUntil, whose call cost this path ~5 ns (perf under wrk).
		data := buf.Bytes()
		if i := indexDelim(data, delim); i >= 0 {
			buf.found.complete(s.Executor(), h, i+len(delim), st)
			return
		}
		search = max(0, len(data)-len(delim)+1)
		if room := buf.untilRoom(); room > 0 && buf.read.busy.CompareAndSwap(false, true) {
			buf.read.start(s, buf, delim, h, search, room)
			return
		}
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

// untilRead is an AsyncReadUntil without options that must read: it lives
// in its DynamicBuffer, which the op owns until its handler runs, so it
// takes no composed op from a pool. Its steps are AsyncReadSome calls into
// the buffer's free space, as a transferOp's would be, and its handler runs
// from the last step's, on the stream's executor. busy is set while one
// runs; a second AsyncReadUntil on the same buffer meanwhile (a misuse: both
// would fill it) takes the pooled path, so that no handler is lost.
type untilRead struct {
	busy   atomic.Bool
	s      AsyncReadStream
	h      func(n int, err error)
	delim  []byte
	search int       // where the next search for delim starts in Bytes()
	step   [1][]byte // the free space offered to the step in flight
	stepH  func(n int, err error)
	buf    *DynamicBuffer
}

// start reads into buf, which holds no delim from search on, offering room
// bytes of free space.
func (u *untilRead) start(s AsyncReadStream, buf *DynamicBuffer, delim []byte, h func(int, error), search, room int) {
	if u.stepH == nil {
		u.stepH, u.buf = u.onStep, buf
	}
	u.s, u.h, u.delim, u.search = s, h, delim, search
	u.issue(room)
}

func (u *untilRead) issue(room int) {
	u.step[0] = u.buf.Prepare(room)
	u.s.AsyncReadSome(u.step[:], u.stepH)
}

// onStep commits what a step read and completes the read-until, or reads on:
// the delimiter found, an error (an end of stream before it is io.EOF), a
// step that read nothing, or a full buffer (ErrMessageTooLong).
func (u *untilRead) onStep(n int, err error) {
	b := u.buf
	u.step[0] = nil
	b.Commit(n)
	switch {
	case err != nil:
	case n == 0:
		err = io.ErrNoProgress
	default:
		found, room := b.scanUntil(u.delim, &u.search)
		if found >= 0 {
			u.finish(found, nil)
			return
		}
		if room > 0 {
			u.issue(room)
			return
		}
		err = ErrMessageTooLong
	}
	u.finish(0, err)
}

func (u *untilRead) finish(n int, err error) {
	h := u.h
	u.s, u.h, u.delim = nil, nil, nil
	u.busy.Store(false)
	h(n, err)
}

// untilNext searches buf; if the delimiter or the limit is already there it
// completes: at once after a read step (inStep: this runs in a handler on
// the executor already), else through the executor, never inline. Else it
// reads into fresh space.
func (t *transferOp) untilNext(inStep bool) {
	u := &t.until
	u.grow = 0
	found, room := u.buf.scanUntil(u.delim, &u.search)
	switch {
	case found >= 0:
		u.found = found
	case room > 0:
		u.grow = room
		t.step = append(t.step[:0], u.buf.Prepare(room))
		t.issue(t.step)
		return
	default:
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

// untilFound is the immediate completion of an AsyncReadUntil that has no
// options and whose delimiter was already in the buffer at its start (a
// pipelined request): it lives in the DynamicBuffer, which the op owns
// until its handler runs, so completing it takes no op from a pool.
//
// It is posted to the stream's executor, unless it was started by the
// handler of the buffer's last such completion, on the same executor: it
// then runs in the same executor task, once that handler has returned (as
// Asio's scheduler runs the handlers a handler posts from its thread-private
// queue), without a round through the executor's queue. So a run of
// pipelined requests costs one post, not one each. The chain ends after
// maxFoundChain handlers, when the context stops, at once under RunOne and
// PollOne, and in a task run by a user's executor; the next is posted then.
//
// st orders the buffer's owner (any goroutine) with the task. It holds a
// phase in its low bits and a generation above them, which each post
// renews, so that a task whose handler started a read-until posted
// elsewhere (another executor) can no longer change the state the new
// task owns. h and n are written by AsyncReadUntil before it moves st from
// idle or running to posted (a new generation; then it posts) or from
// running to rearmed (the task runs it), and read by the task after it
// sees posted or rearmed.
type untilFound struct {
	st atomic.Uint64
	h  func(n int, err error)
	n  int
	ex Executor // where it is posted and runs
}

// The phases of an untilFound.
const (
	foundIdle    = iota // none pending, no handler running
	foundPosted         // h and n pending, the task posted (or about to run them)
	foundRunning        // the task runs a handler
	foundRearmed        // that handler started another: h and n pending for the task

	foundPhase = 3 // the mask of the phase in st
	foundGen   = 4 // one generation
)

// maxFoundChain bounds the handlers one task runs in a row, so that a
// buffer full of requests does not hold the executor's other handlers
// back for long.
const maxFoundChain = 16

// complete makes h(n, nil) the buffer's pending completion on ex; st is
// what AsyncReadUntil last saw, idle or running.
func (f *untilFound) complete(ex Executor, h func(int, error), n int, st uint64) {
	f.h, f.n = h, n
	for {
		if st&foundPhase == foundRunning && sameExecutor(ex, f.ex) {
			if f.st.CompareAndSwap(st, st&^foundPhase|foundRearmed) {
				return // run runs it when the handler that started it returns
			}
		} else if f.st.CompareAndSwap(st, st&^foundPhase+foundGen|foundPosted) {
			break
		}
		st = f.st.Load() // the running handler returned meanwhile: idle
	}
	f.ex = ex
	postTo(ex, f)
}

func (f *untilFound) run(r *runner) {
	gen := f.st.Load() &^ foundPhase // posted, by this task's post
	defer f.end(gen)
	h, n := f.h, f.n
	f.h = nil
	f.st.Store(gen | foundRunning)
	for i := 1; ; i++ {
		h(n, nil)
		// Rearmed: the handler wrote h and n before its CAS, and none
		// writes them again until the next handler runs.
		if i == maxFoundChain || r == nil || r.one || r.c.halt.Load() || !f.st.CompareAndSwap(gen|foundRearmed, gen|foundRunning) {
			return
		}
		h, n = f.h, f.n
		f.h = nil
		r.chained++ // counted as a handler run, with no work of its own
	}
}

// end follows the task's last handler, or its panic: a completion that
// handler started and the task did not run is posted. One it started on
// another executor (a newer generation) is that post's, not this task's.
func (f *untilFound) end(gen uint64) {
	if f.st.CompareAndSwap(gen|foundRunning, gen) { // idle
		return
	}
	if f.st.CompareAndSwap(gen|foundRearmed, gen+foundGen|foundPosted) {
		postTo(f.ex, f)
	}
}

// sameExecutor reports whether a and b are the same executor of the
// library's (a user's executor may not be comparable: it is never the
// same here).
func sameExecutor(a, b Executor) bool {
	switch a := a.(type) {
	case ioExecutor:
		b, ok := b.(ioExecutor)
		return ok && a.c == b.c
	case *Strand:
		b, ok := b.(*Strand)
		return ok && a == b
	}
	return false
}

// run is the completion of a read-until found done at its start (untilNext).
func (t *transferOp) run(*runner) { t.untilStep(0, nil) }

// indexDelim is bytes.Index for a read-until's delimiter. A short one
// (CRLF, an HTTP head's CRLFCRLF) is found by IndexByte of its first byte
// and a compare in place: bytes.Index calls a compare for each candidate
// and, past 64 bytes of data, gives up on IndexByte after a few false
// candidates (each line of a head is one), which costs a pipelined request
// more than the search itself.
func indexDelim(data, delim []byte) int {
	if len(delim) > 8 || len(delim) == 0 {
		return bytes.Index(data, delim)
	}
	c0, rest := delim[0], delim[1:]
	for i := 0; i+len(delim) <= len(data); i++ {
		j := bytes.IndexByte(data[i:len(data)-len(rest)], c0)
		if j < 0 {
			return -1
		}
		i += j
		k := 0
		for k < len(rest) && data[i+1+k] == rest[k] {
			k++
		}
		if k == len(rest) {
			return i
		}
	}
	return -1
}

// scanUntil searches the readable bytes from *search on for delim, for a
// read-until's steps (the pooled op's untilNext, the buffer's own read).
// It returns the count up to and including the first delim (found >= 0;
// an empty delim is found at once), or, with none there, moves *search to
// where the next search starts (a delim may straddle the end) and returns
// found -1 and the free space the next read is offered (room, untilRoom;
// 0: the buffer is at its maximum).
func (b *DynamicBuffer) scanUntil(delim []byte, search *int) (found, room int) {
	if len(delim) == 0 {
		return 0, 0
	}
	data := b.Bytes()
	if i := indexDelim(data[*search:], delim); i >= 0 {
		return *search + i + len(delim), 0
	}
	*search = max(0, len(data)-len(delim)+1)
	return -1, b.untilRoom()
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
		t.untilNext(true)
	}
}
