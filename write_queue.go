package asio

import (
	"context"
	"sync"

	"github.com/goasio/asio/internal/sys"
)

// WriteQueue lets many writers share one stream: each AsyncWrite call is a
// whole message, and messages go out in call order, never interleaved.
//
// It coalesces: the messages queued while a write is in flight, or while
// the handlers that queue them keep running, go out together as one gather
// AsyncWrite of all their buffers (a batch), so that a server answering
// sixteen pipelined requests with sixteen AsyncWrite calls makes one or two
// syscalls, not sixteen. A write starts from a task posted to the stream's
// executor (unless the caller asked for immediate completions, see
// AsyncWrite), not inside AsyncWrite: the task lets the handlers already
// queued on the executor run first, and posts itself again (at most 16
// times in a row) while they keep queueing messages, so that the batch
// takes all of them; it starts the write at once when nothing new came, or
// when the batch is full. A batch ends before a message that would take it
// past IOV_MAX (1024) buffers or past 1 MiB (a message larger than that
// goes alone); the rest waits for the next batch.
//
// All methods are safe from any goroutine.
type WriteQueue struct {
	s        AsyncWriteStream
	maxBatch int // bytes a batch may reach by taking in more messages

	// Lock order: a message's mu (cancellation), then mu. A waiting message
	// is in exactly one place: its record in solo (soloWaits), or in
	// arr.ring between head and tail; once its batch takes it, its record
	// is in the batch's flight (solo itself, or arr.flight) until its
	// handler runs (or is posted).
	mu         sync.Mutex
	arr        *wqArrays // the records; nil while the queue is idle, or holds only solo
	solo       [1]wqRec  // a plain message queued into an idle queue, kept here rather than in a pooled ring
	soloWaits  bool      // solo holds a waiting message (the first in call order)
	head, tail uint64    // the waiting records: ring positions [head, tail), modulo its length
	waiting    int       // the waiting messages (a cancelled one's emptied record excluded)
	wbytes     int       // bytes of the waiting messages
	wbufs      int       // buffers of the waiting messages
	busy       bool      // a flush task is posted or a batch is in flight
	arrived    uint64    // messages queued so far
	seen       uint64    // arrived when the flush task last looked
	lingers    int       // times the flush task posted itself again in a row
	idle       bool      // the flush task waits for its context to be idle: no linger
	flushF     func()    // q.flush, made once

	// The batch in flight, touched only by whoever started it and by its
	// completion (ordered by the stream's op): its records are flight
	// (arr.flight, or solo), its buffers bufs (arr.bufs, or soloBuf).
	flight  []wqRec
	bufs    [][]byte
	barr    *wqArrays // the arrays flight and bufs belong to; nil for solo (q.arr may change meanwhile, under mu)
	soloBuf [1][]byte
	lone    bool // one message, whose executor the batch's write is bound to
	opts    [2]OpOption
	rest    int   // of flight, the first record whose handler is still to run, during delivery
	restN   int   // bytes of the batch's n that are theirs
	rerr    error // the batch's error
	onH     func(n int, err error)
}

// wqArrays are a busy queue's records: a burst of messages costs one trip
// to wqArraysPool each way, not one per message, and an idle queue holds
// none.
type wqArrays struct {
	ring   []wqRec  // the waiting messages; its length is a power of two
	flight []wqRec  // the batch in flight, in call order
	bufs   [][]byte // its buffers (slice headers), given to AsyncWrite
}

// wqRec is one message. A message of one buffer without options (the
// common case) is this record alone; any other has a queuedMsg as well,
// which holds its buffers, options and cancellation. A record with a nil h
// is a message cancelled while it waited.
type wqRec struct {
	h    func(n int, err error)
	buf  []byte // a plain message's buffer
	size int
	m    *queuedMsg
}

var wqArraysPool = sync.Pool{New: func() any { return &wqArrays{ring: make([]wqRec, wqRingMin)} }}

// wqRingMin is a new queue's ring length; past wqPooledMax records (or
// buffers) the arrays of a queue going idle are left to the collector.
const (
	wqRingMin   = 16
	wqPooledMax = 64
)

// writeQueueBatch is the byte bound of a batch. Measured (see the README's
// design notes): small messages fill a batch far below it whatever it is;
// for messages of 64 KiB and more, batches up to 1 MiB cut the CPU per
// byte as whole offers do (fewer, larger sendmsg calls), and past 1 MiB
// the gain is within noise while the first handlers of a batch wait
// longer.
const writeQueueBatch = 1 << 20

// writeQueueLinger is how many times in a row the flush task lets the
// executor's other handlers run first while they keep queueing messages.
const writeQueueLinger = 16

// Message states, under the queue's mu.
const (
	msgWaiting = iota + 1
	msgInFlight
	msgDone
)

// queuedMsg is what a message with options, or of other than one buffer,
// holds beside its record: its buffers' slice headers (the caller's
// Buffers value is not retained), its handler and what its options said.
// They are pooled; a cancellation request names one by seq.
type queuedMsg struct {
	q      *WriteQueue
	pos    uint64   // its record's ring position while it waits (the record holds its size)
	bufs   [][]byte // its buffers' slice headers
	h      func(n int, err error)
	ex     Executor // BindExecutor, or nil
	exOpt  OpOption // the caller's BindExecutor and BindImmediateExecutor
	immOpt OpOption // options, for a batch of this message alone
	state  int      // under q.mu

	// Cancellation while waiting. mu orders a request with the message's
	// release: seq changes under it, and a request for an older seq is
	// stale.
	mu      sync.Mutex
	seq     uint64
	sig     *CancellationSignal
	stop    func() bool
	watched bool // watch ran: a request may still hold seq (under q.mu, then the completion's)

	n    int   // the result, for a delivery through the bound executor
	err  error // ...
	runF func()
}

// msgPool holds spare messages.
var msgPool sync.Pool

func init() {
	msgPool.New = func() any {
		m := new(queuedMsg)
		m.runF = m.run
		return m
	}
}

// NewWriteQueue returns a queue writing to s.
func NewWriteQueue(s AsyncWriteStream) *WriteQueue {
	q := &WriteQueue{s: s, maxBatch: writeQueueBatch}
	q.onH = q.onBatch
	q.flushF = q.flush
	return q
}

// AsyncWrite queues the message b; h gets its result once all of its bytes
// are written: n == b.Len() and no error. The buffers stay the caller's
// until h runs (their slice headers are copied, never their bytes).
//
// If the write of the message's batch fails, every message of that batch
// gets the error, each with the bytes of it that were written (its whole
// length for one written before the failure); messages queued after it go
// on to the stream in the next batch, which reports the stream's own
// error. Each handler runs exactly once.
//
// Handlers are called in call order, each on its bound executor
// (BindExecutor; default the stream's), a bound one by a Post. A message
// alone in its batch is written as AsyncWrite(s, b, h) with its
// BindExecutor and BindImmediateExecutor options would be. A message with
// BindImmediateExecutor that finds the queue idle (nothing waiting, nothing
// in flight) skips the flush task: it is written at once, so that an
// immediate completion is dispatched to that executor, as AsyncWrite's.
//
// A message may still wait when AsyncWrite returns and after the handler
// that queued it has run: to close or shut down the stream after the
// messages queued so far, do it from the handler of the last one (an empty
// message serves), not right after queueing them.
//
// Cancellation (BindCancellationSlot, WithContext) applies while the message
// waits behind others: any cancellation type then removes it, and h gets
// (0, ErrOperationAborted); a context already done at the call does the
// same. Once its batch is in flight the message is written whole or fails
// with the batch: a request then does nothing, so that no later message
// follows a message cut short. To abort a batch in flight, Cancel or Close
// the stream (or use a TCPStream's deadline).
func (q *WriteQueue) AsyncWrite(b Buffers, h func(n int, err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	if len(opts) == 0 && len(b) == 1 {
		// The common case: a record, nothing else.
		q.mu.Lock()
		var r *wqRec
		if !q.busy {
			// Into an idle queue (one message at a time, a reply per
			// request): the record needs no ring.
			r, q.soloWaits = &q.solo[0], true
		} else {
			r = q.pushLocked()
		}
		r.h, r.buf, r.size = h, b[0], len(b[0])
		post := q.queuedLocked(r.size, 1)
		q.mu.Unlock()
		if post {
			q.postFlush()
		}
		return
	}
	var slot *CancellationSignal
	var ctx context.Context
	var ex Executor
	var exOpt, immOpt OpOption
	for _, o := range opts {
		switch o := o.(type) {
		case executorOption:
			ex, exOpt = o.ex, o
		case immediateOption:
			immOpt = o
		case slotOption:
			slot = o.s
		case contextOption:
			ctx = o.ctx
		}
	}
	if ctx != nil && ctx.Err() != nil {
		completeLater(q.s.Executor(), opts, func() { h(0, ErrOperationAborted) })
		return
	}
	m := msgPool.Get().(*queuedMsg)
	m.q, m.h = q, h
	m.bufs = append(m.bufs[:0], b...)
	size := b.Len()
	m.ex, m.exOpt, m.immOpt = ex, exOpt, immOpt
	q.mu.Lock()
	if !q.busy && immOpt != nil {
		// Idle, and the caller asked for immediate completions: written at
		// once, as AsyncWrite would.
		q.busy = true
		m.state = msgInFlight
		a := q.arraysLocked()
		a.flight = append(a.flight, wqRec{h: h, size: size, m: m})
		q.flight, q.bufs, q.barr = a.flight, a.bufs, a
		q.mu.Unlock()
		q.begin(false)
		return
	}
	r := q.pushLocked() // (which may move solo into the ring first)
	r.h, r.size, r.m = h, size, m
	m.state, m.pos = msgWaiting, q.tail-1
	if slot != nil || ctx != nil {
		m.watch(slot, ctx)
	}
	post := q.queuedLocked(size, len(m.bufs))
	q.mu.Unlock()
	if post {
		q.postFlush()
	}
}

// pushLocked returns the record at the ring's tail, which the caller fills
// (q.mu held): the ring doubles when it is full. A message waiting in solo
// goes into the ring first, ahead of it.
func (q *WriteQueue) pushLocked() *wqRec {
	if q.soloWaits {
		q.soloWaits = false
		r := q.pushLocked()
		*r, q.solo[0] = q.solo[0], wqRec{}
	}
	a := q.arraysLocked()
	if n := uint64(len(a.ring)); q.tail-q.head == n {
		ring := make([]wqRec, 2*n)
		for i := q.head; i != q.tail; i++ {
			ring[i&(2*n-1)] = a.ring[i&(n-1)]
		}
		a.ring = ring
	}
	r := &a.ring[q.tail&uint64(len(a.ring)-1)]
	q.tail++
	return r
}

// arraysLocked returns the queue's records, taken from wqArraysPool if the
// queue was idle (q.mu held).
func (q *WriteQueue) arraysLocked() *wqArrays {
	if q.arr == nil {
		q.arr = wqArraysPool.Get().(*wqArrays)
	}
	return q.arr
}

// queuedLocked counts the message just queued (q.mu held). It reports
// whether the queue was idle: the caller then posts the flush task once it
// has released q.mu (an executor's Post may take locks of its own).
func (q *WriteQueue) queuedLocked(size, nbufs int) bool {
	q.waiting++
	q.wbytes += size
	q.wbufs += nbufs
	q.arrived++
	if q.busy {
		return false
	}
	q.busy = true
	q.scheduleLocked()
	return true
}

// idleLocked marks the queue idle (q.mu held) and returns its records,
// which the caller gives back with putArrays once it has released q.mu.
func (q *WriteQueue) idleLocked() *wqArrays {
	q.busy = false
	q.head = q.tail // what is left between them are cancelled messages' emptied records
	a := q.arr
	q.arr = nil
	return a
}

// putArrays gives a queue's records back to wqArraysPool, unless a burst
// made them large.
func putArrays(a *wqArrays) {
	if a == nil || len(a.ring) > wqPooledMax || cap(a.flight) > wqPooledMax || cap(a.bufs) > wqPooledMax {
		return
	}
	wqArraysPool.Put(a)
}

// postFlush schedules the flush task. On a context's own executor it runs
// once the context has no other handler ready (or before its next poll of
// the backend, at the latest): every reply the handlers ready now queue goes
// out in the same batch, however many handler runs a request takes (a
// RESP command takes several AsyncReadUntil steps). On another executor it
// is posted, and lingers (flush).
func (q *WriteQueue) postFlush() {
	if ex, ok := q.s.Executor().(ioExecutor); ok {
		q.idle = true
		ex.c.postIdle(funcTask(q.flushF))
		return
	}
	q.idle = false
	q.s.Executor().Post(q.flushF)
}

// scheduleLocked readies the flush task about to be posted (outside q.mu,
// as an executor's Post may take locks of its own): its first run lets the
// handlers queued on the executor run once (seen differs from arrived).
func (q *WriteQueue) scheduleLocked() {
	q.seen, q.lingers = q.arrived-1, 0
}

// flush is the task that starts a batch: it posts itself again while
// messages keep arriving between its runs (at most writeQueueLinger times,
// and only while the waiting messages fill less than a batch), then starts
// the write of what waits.
func (q *WriteQueue) flush() {
	q.mu.Lock()
	if !q.idle && q.arrived != q.seen && q.lingers < writeQueueLinger && q.wbytes < q.maxBatch && q.wbufs < sys.MaxIovecs {
		q.seen = q.arrived
		q.lingers++
		q.mu.Unlock()
		q.s.Executor().Post(q.flushF)
		return
	}
	idle, spare := q.takeBatchLocked()
	q.mu.Unlock()
	if idle {
		putArrays(spare)
		return
	}
	q.begin(true)
}

// watch connects a waiting message to its slot and context (q.mu held; m.mu
// is not taken: only release changes seq, and m is not released while it
// waits).
func (m *queuedMsg) watch(slot *CancellationSignal, ctx context.Context) {
	key := m.seq
	m.watched = true
	if slot != nil {
		m.sig = slot
		slot.install(m, nil, key)
	}
	if ctx != nil && ctx.Done() != nil {
		m.stop = context.AfterFunc(ctx, func() { m.cancelOp(nil, key, CancelTerminal) })
	}
}

// unwatch disconnects the message from its slot and context.
func (m *queuedMsg) unwatch() {
	if m.sig != nil {
		m.sig.clear(nil, m.seq)
		m.sig = nil
	}
	if m.stop != nil {
		m.stop()
		m.stop = nil
	}
}

// cancelOp takes a waiting message out of its queue (its record is emptied
// where it is, and skipped) and completes it with ErrOperationAborted; a
// message in flight or done, or a stale request, is left alone. Lock
// order: m.mu, then q.mu.
func (m *queuedMsg) cancelOp(_ *op, key uint64, ct CancellationType) {
	if ct&CancelAll == 0 {
		return
	}
	m.mu.Lock()
	if m.seq != key {
		m.mu.Unlock()
		return
	}
	q := m.q
	q.mu.Lock()
	if m.state != msgWaiting {
		q.mu.Unlock()
		m.mu.Unlock()
		return
	}
	a := q.arr
	r := &a.ring[m.pos&uint64(len(a.ring)-1)]
	q.waiting--
	q.wbytes -= r.size
	q.wbufs -= len(m.bufs)
	*r = wqRec{}
	m.state = msgDone
	m.n, m.err = 0, ErrOperationAborted
	ex := m.ex
	if ex == nil {
		ex = q.s.Executor()
	}
	q.mu.Unlock()
	m.mu.Unlock()
	ex.Post(m.runF)
}

// takeBatchLocked moves the next batch from the waiting records to
// arr.flight (q.mu held), which the caller starts once it has released
// q.mu. A batch takes messages while it stays within IOV_MAX buffers and
// maxBatch bytes, and at least one. With none waiting it marks the queue
// idle and returns its records, to give back with putArrays.
func (q *WriteQueue) takeBatchLocked() (idle bool, spare *wqArrays) {
	if q.waiting == 0 {
		return true, q.idleLocked()
	}
	if q.soloWaits {
		// Alone in the queue: solo is the batch.
		q.soloWaits = false
		r := &q.solo[0]
		q.soloBuf[0] = r.buf
		q.flight, q.bufs, q.barr = q.solo[:], q.soloBuf[:], nil
		q.waiting, q.wbytes, q.wbufs = 0, 0, 0
		return false, nil
	}
	a := q.arr
	mask := uint64(len(a.ring) - 1)
	count, size, nbufs := 0, 0, 0
	for ; q.head != q.tail; q.head++ {
		r := &a.ring[q.head&mask]
		if r.h == nil {
			continue // cancelled while it waited
		}
		nb := 1
		if r.m != nil {
			nb = len(r.m.bufs)
		}
		if count > 0 && (nbufs+nb > sys.MaxIovecs || size+r.size > q.maxBatch) {
			break
		}
		count++
		size += r.size
		nbufs += nb
		if m := r.m; m == nil {
			a.bufs = append(a.bufs, r.buf)
		} else {
			a.bufs = append(a.bufs, m.bufs...)
			m.state = msgInFlight
			if m.watched {
				m.unwatch()
			}
		}
		a.flight = append(a.flight, *r)
		*r = wqRec{}
	}
	q.waiting -= count
	q.wbytes -= size
	q.wbufs -= nbufs
	q.flight, q.bufs, q.barr = a.flight, a.bufs, a
	return false, nil
}

// begin writes the batch in flight; fromFlush says the caller is the flush
// task, which runs on the stream's executor and is no initiating function,
// so that a batch a TCPSocket writes at once (writeNow) is delivered right
// here: no op completion, no second task through the executor.
func (q *WriteQueue) begin(fromFlush bool) {
	q.lone = len(q.flight) == 1
	if m := q.flight[0].m; q.lone && m != nil && (m.exOpt != nil || m.immOpt != nil) {
		opts := q.opts[:0]
		for _, o := range [...]OpOption{m.exOpt, m.immOpt} {
			if o != nil {
				opts = append(opts, o)
			}
		}
		// The completion may run before AsyncWrite returns (an immediate
		// executor that runs inline): nothing of q is touched after it.
		AsyncWrite(q.s, m.bufs, q.onH, opts...)
		return
	}
	if s, ok := q.s.(*TCPSocket); ok && fromFlush {
		if n, err, finished := s.writeNow(q.bufs, q.onH); finished {
			q.onBatch(n, err)
		}
		return
	}
	// On a TCPSocket this is one op that the backend sends until every
	// byte is out (opWriteAll); elsewhere the composed op.
	AsyncWrite(q.s, q.bufs, q.onH)
}

// next follows a batch's completion: the messages that waited meanwhile go
// through the flush task, or the queue is idle.
func (q *WriteQueue) next() {
	q.mu.Lock()
	if q.waiting == 0 {
		a := q.idleLocked()
		q.mu.Unlock()
		putArrays(a)
		return
	}
	q.scheduleLocked()
	q.mu.Unlock()
	q.postFlush()
}

// onBatch is the completion of a batch's AsyncWrite: it hands each message
// its share of n, in call order, then starts the next batch. Handlers of
// messages queued meanwhile (or by these handlers) join that batch. The
// records in flight are the batch's alone (the queue stays busy until
// next), so they are read without q.mu.
func (q *WriteQueue) onBatch(n int, err error) {
	lone := q.lone
	clear(q.bufs)
	q.bufs = nil
	if a := q.barr; a != nil {
		a.bufs = a.bufs[:0]
	}
	q.rest, q.restN, q.rerr = 0, n, err
	defer q.afterBatch()
	for q.rest < len(q.flight) {
		h, got, m := q.take()
		if m != nil {
			if m.ex != nil && !lone {
				m.ex.Post(m.runF)
				continue
			}
			m.reset()
			msgPool.Put(m)
		}
		h(got, err)
	}
}

// take takes the next record of the batch being delivered and gives it
// its share of the batch's result: the records are visited once, in call
// order. A message with a queuedMsg gets the result in it too.
func (q *WriteQueue) take() (func(int, error), int, *queuedMsg) {
	r := &q.flight[q.rest]
	q.rest++
	h, m := r.h, r.m
	got := min(r.size, q.restN)
	q.restN -= got
	*r = wqRec{}
	if m != nil {
		m.n, m.err = got, q.rerr
	}
	return h, got, m
}

// afterBatch starts the next batch. If a handler panicked, the messages
// whose handlers had not run yet get them posted first, so that each still
// runs exactly once.
func (q *WriteQueue) afterBatch() {
	for q.rest < len(q.flight) {
		h, got, m := q.take()
		ex := q.s.Executor()
		if m != nil {
			if m.ex != nil {
				ex = m.ex
			}
			ex.Post(m.runF)
			continue
		}
		err := q.rerr
		ex.Post(func() { h(got, err) })
	}
	if a := q.barr; a != nil {
		a.flight = a.flight[:0]
	}
	q.flight, q.barr = nil, nil
	q.rerr = nil
	q.next()
}

// run calls the message's handler with its result, after recycling it.
func (m *queuedMsg) run() {
	h, n, err := m.h, m.n, m.err
	m.reset()
	msgPool.Put(m)
	h(n, err)
}

// reset clears the message for its next use. One that was never watched
// skips mu: no request holds its seq, which then stays as it is (the next
// use's requests are keyed by it, and a stale one from an earlier use has
// an older key).
func (m *queuedMsg) reset() {
	if m.watched {
		m.mu.Lock()
		m.unwatch()
		m.seq++
		m.watched = false
		m.mu.Unlock()
	}
	clear(m.bufs)
	m.bufs = m.bufs[:0]
	m.q, m.h, m.ex, m.exOpt, m.immOpt = nil, nil, nil, nil, nil
	m.state, m.n, m.err, m.pos = 0, 0, nil, 0
}

// Len returns the number of messages waiting (not counting the batch being
// written).
func (q *WriteQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.waiting
}
