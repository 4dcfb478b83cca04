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

	mu          sync.Mutex
	first, last *queuedMsg // waiting messages, in call order
	waiting     int
	wbytes      int    // bytes of the waiting messages
	wbufs       int    // buffers of the waiting messages
	busy        bool   // a flush task is posted or a batch is in flight
	arrived     uint64 // messages queued so far
	seen        uint64 // arrived when the flush task last looked
	lingers     int    // times the flush task posted itself again in a row
	idle        bool   // the flush task waits for its context to be idle: no linger
	flushF      func() // q.flush, made once

	// Spare messages, so that a burst of messages costs one trip to msgPool
	// each way, not one per message: free (under mu) is where AsyncWrite
	// takes a message; a batch's completion collects the messages it
	// delivered in spent (touched only by it and by next, which runs after
	// it), and next moves them to free. When the queue goes idle its spares
	// go back to msgPool as one chain, so an idle queue holds none.
	free   *queuedMsg // linked by next
	nfree  int
	spent  *queuedMsg // linked by next
	nspent int

	// The batch in flight, touched only by whoever started it and by its
	// completion (ordered by the stream's op).
	batch *queuedMsg // its messages, linked by next
	lone  bool       // one message, whose executor the batch's write is bound to
	bufs  [][]byte   // its buffers (slice headers), given to AsyncWrite
	opts  [2]OpOption
	rest  *queuedMsg // messages whose handlers are still to run, during delivery
	restN int        // bytes of the batch's n that are theirs
	rerr  error      // the batch's error
	onH   func(n int, err error)
}

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

// queuedMsg is one message: its buffers' slice headers (the caller's
// Buffers value is not retained), its handler and what its options said.
// Messages are pooled; a cancellation request names one by seq.
type queuedMsg struct {
	q          *WriteQueue
	next, prev *queuedMsg
	bufs       [][]byte
	size       int
	h          func(n int, err error)
	ex         Executor // BindExecutor, or nil
	exOpt      OpOption // the caller's BindExecutor and BindImmediateExecutor
	immOpt     OpOption // options, for a batch of this message alone
	state      int      // under q.mu

	// Cancellation while waiting. mu orders a request with the message's
	// release: seq changes under it, and a request for an older seq is
	// stale.
	mu      sync.Mutex
	seq     uint64
	sig     *CancellationSignal
	stop    func() bool
	watched bool // watch ran: a request may still hold seq (under q.mu, then the completion's)

	n     int   // the result, for a delivery through the bound executor
	err   error // ...
	runF  func()
	chain int // in msgPool: the messages linked from this one by next, itself included
}

// msgPool holds chains of spare messages (see WriteQueue.free).
var msgPool sync.Pool

// maxSpares bounds the spare messages a queue keeps, and so a chain in
// msgPool: past it, the coldest spares are left to the collector.
const maxSpares = 64

func init() {
	msgPool.New = func() any {
		m := new(queuedMsg)
		m.runF = m.run
		m.chain = 1
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
	q.mu.Lock()
	m := q.getLocked()
	m.q, m.h = q, h
	if len(b) == 1 { // the common case, without a typed slice copy
		m.bufs = append(m.bufs[:0], b[0])
		m.size = len(b[0])
	} else {
		m.bufs = append(m.bufs[:0], b...)
		m.size = b.Len()
	}
	m.ex, m.exOpt, m.immOpt = ex, exOpt, immOpt
	if !q.busy && immOpt != nil {
		// Idle, and the caller asked for immediate completions: written at
		// once, as AsyncWrite would.
		q.busy = true
		m.state = msgInFlight
		q.mu.Unlock()
		q.start(m, 1)
		return
	}
	m.state = msgWaiting
	m.prev = q.last
	if q.last == nil {
		q.first = m
	} else {
		q.last.next = m
	}
	q.last = m
	q.waiting++
	q.wbytes += m.size
	q.wbufs += len(m.bufs)
	q.arrived++
	if slot != nil || ctx != nil {
		m.watch(slot, ctx)
	}
	if q.busy {
		q.mu.Unlock()
		return
	}
	q.busy = true
	q.scheduleLocked()
	q.mu.Unlock()
	q.postFlush()
}

// getLocked returns a message to fill: a spare, or the head of a chain from
// msgPool whose rest become the spares (q.mu held).
func (q *WriteQueue) getLocked() *queuedMsg {
	m := q.free
	if m == nil {
		m = msgPool.Get().(*queuedMsg)
		q.nfree = m.chain
	}
	q.free, m.next = m.next, nil
	q.nfree--
	m.chain = 1
	return m
}

// idleLocked marks the queue idle (q.mu held) and returns its spares, which
// the caller gives back to msgPool once it has released q.mu.
func (q *WriteQueue) idleLocked() *queuedMsg {
	q.busy = false
	m := q.free
	if m != nil {
		m.chain = q.nfree
		q.free, q.nfree = nil, 0
	}
	return m
}

// putSpares gives a chain of spare messages back to msgPool.
func putSpares(m *queuedMsg) {
	if m != nil {
		msgPool.Put(m)
	}
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
	first, count, spares := q.takeBatchLocked()
	q.mu.Unlock()
	if first == nil {
		putSpares(spares)
		return
	}
	q.start(first, count)
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

// cancelOp takes a waiting message out of its queue and completes it with
// ErrOperationAborted; a message in flight or done, or a stale request, is
// left alone. Lock order: m.mu, then q.mu.
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
	if m.prev == nil {
		q.first = m.next
	} else {
		m.prev.next = m.next
	}
	if m.next == nil {
		q.last = m.prev
	} else {
		m.next.prev = m.prev
	}
	m.next, m.prev = nil, nil
	q.waiting--
	q.wbytes -= m.size
	q.wbufs -= len(m.bufs)
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

// start writes the batch that begins with first: count messages linked by
// next, whose buffers q.bufs holds (unless count is 1: then first's own).
func (q *WriteQueue) start(first *queuedMsg, count int) {
	q.batch, q.lone = first, count == 1
	if q.lone {
		clear(q.bufs)
		q.bufs = q.bufs[:0]
		opts := q.opts[:0]
		for _, o := range [...]OpOption{first.exOpt, first.immOpt} {
			if o != nil {
				opts = append(opts, o)
			}
		}
		// The completion may run before AsyncWrite returns (an immediate
		// executor that runs inline): nothing of q is touched after it.
		AsyncWrite(q.s, first.bufs, q.onH, opts...)
		return
	}
	AsyncWrite(q.s, q.bufs, q.onH)
}

// takeBatchLocked takes the next batch from the waiting messages (q.mu
// held), which the caller starts once it has released q.mu: count messages
// linked from first. A batch takes messages while it stays within IOV_MAX
// buffers and maxBatch bytes, and at least one. With none waiting it marks
// the queue idle and returns first == nil and the spares to give back to
// msgPool.
func (q *WriteQueue) takeBatchLocked() (first *queuedMsg, count int, spares *queuedMsg) {
	first = q.first
	if first == nil {
		return nil, 0, q.idleLocked()
	}
	size, nbufs := 0, 0
	m := first
	for ; m != nil; m = m.next {
		if count > 0 && (nbufs+len(m.bufs) > sys.MaxIovecs || size+m.size > q.maxBatch) {
			break
		}
		count++
		size += m.size
		nbufs += len(m.bufs)
		if len(m.bufs) == 1 {
			q.bufs = append(q.bufs, m.bufs[0])
		} else {
			q.bufs = append(q.bufs, m.bufs...)
		}
		m.state = msgInFlight
		if m.watched {
			m.unwatch()
		}
	}
	q.first = m
	if m == nil {
		q.last = nil
	} else {
		m.prev.next = nil
		m.prev = nil
	}
	q.waiting -= count
	q.wbytes -= size
	q.wbufs -= nbufs
	return first, count, nil
}

// next follows a batch's completion: the messages that waited meanwhile go
// through the flush task, or the queue is idle.
func (q *WriteQueue) next() {
	q.mu.Lock()
	if m := q.spent; m != nil {
		// The messages just delivered go first (their memory is warm);
		// past maxSpares the coldest are left to the collector.
		last := m
		for last.next != nil {
			last = last.next
		}
		last.next, q.free = q.free, m
		q.nfree += q.nspent
		q.spent, q.nspent = nil, 0
		if q.nfree > maxSpares {
			m = q.free
			for range maxSpares - 1 {
				m = m.next
			}
			m.next, q.nfree = nil, maxSpares
		}
	}
	if q.first == nil {
		spares := q.idleLocked()
		q.mu.Unlock()
		putSpares(spares)
		return
	}
	q.scheduleLocked()
	q.mu.Unlock()
	q.postFlush()
}

// onBatch is the completion of a batch's AsyncWrite: it hands each message
// its share of n, in call order, then starts the next batch. Handlers of
// messages queued meanwhile (or by these handlers) join that batch.
func (q *WriteQueue) onBatch(n int, err error) {
	first, lone := q.batch, q.lone
	q.batch = nil
	clear(q.bufs)
	q.bufs = q.bufs[:0]
	q.rest, q.restN, q.rerr = first, n, err
	defer q.afterBatch()
	for q.rest != nil {
		m := q.rest.take()
		if m.ex != nil && !lone {
			m.ex.Post(m.runF)
			continue
		}
		q.runSpent(m)
	}
}

// runSpent is run for a message the batch's completion delivers itself: its
// record becomes one of the spares next hands to the queue's later
// messages, instead of going back to msgPool.
func (q *WriteQueue) runSpent(m *queuedMsg) {
	h, n, err := m.h, m.n, m.err
	m.reset()
	m.next, q.spent = q.spent, m
	q.nspent++
	h(n, err)
}

// take unlinks the first of q.rest and gives it its share of the batch's
// result: the messages are visited once, in call order.
func (m *queuedMsg) take() *queuedMsg {
	q := m.q
	q.rest = m.next
	got := min(m.size, q.restN)
	q.restN -= got
	m.n, m.err = got, q.rerr
	return m
}

// afterBatch starts the next batch. If a handler panicked, the messages
// whose handlers had not run yet get them posted first, so that each still
// runs exactly once.
func (q *WriteQueue) afterBatch() {
	for q.rest != nil {
		m := q.rest.take()
		ex := m.ex
		if ex == nil {
			ex = q.s.Executor()
		}
		ex.Post(m.runF)
	}
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
	for i := range m.bufs { // short: cheaper than clear's bulk barrier
		m.bufs[i] = nil
	}
	m.bufs = m.bufs[:0]
	m.q, m.next, m.prev = nil, nil, nil
	m.h, m.ex, m.exOpt, m.immOpt = nil, nil, nil, nil
	m.size, m.state, m.n, m.err = 0, 0, 0, nil
	m.chain = 1
}

// Len returns the number of messages waiting (not counting the batch being
// written).
func (q *WriteQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.waiting
}
