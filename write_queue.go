package asio

import "sync"

// WriteQueue lets many writers share one stream: each AsyncWrite call is a
// whole message, written with one composed AsyncWrite at a time, in call
// order. Safe from any goroutine.
type WriteQueue struct {
	s    AsyncWriteStream
	mu   sync.Mutex
	q    []queuedWrite
	busy bool
}

type queuedWrite struct {
	b    Buffers
	h    func(n int, err error)
	opts []OpOption
}

// NewWriteQueue returns a queue writing to s.
func NewWriteQueue(s AsyncWriteStream) *WriteQueue { return &WriteQueue{s: s} }

// AsyncWrite queues b; h gets the result of its AsyncWrite, with opts
// applied to it. The buffers stay the caller's until h runs. A cancellation
// slot in opts is listened to from the moment this message's own AsyncWrite
// starts: an emit while it still waits behind others does nothing.
func (q *WriteQueue) AsyncWrite(b Buffers, h func(n int, err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	w := queuedWrite{b: append(Buffers(nil), b...), h: h, opts: append([]OpOption(nil), opts...)}
	q.mu.Lock()
	if q.busy {
		q.q = append(q.q, w)
		q.mu.Unlock()
		return
	}
	q.busy = true
	q.mu.Unlock()
	q.start(w)
}

func (q *WriteQueue) start(w queuedWrite) {
	AsyncWrite(q.s, w.b, func(n int, err error) {
		q.startNext()
		w.h(n, err)
	}, w.opts...)
}

// startNext starts the next queued message, if any.
func (q *WriteQueue) startNext() {
	q.mu.Lock()
	if len(q.q) == 0 {
		q.busy = false
		q.mu.Unlock()
		return
	}
	w := q.q[0]
	q.q[0] = queuedWrite{}
	q.q = q.q[1:]
	q.mu.Unlock()
	q.start(w)
}

// Len returns the number of messages waiting (not counting the one being
// written).
func (q *WriteQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.q)
}
