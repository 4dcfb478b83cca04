package asio

import (
	"io"
	"sync"
	"sync/atomic"
)

// testStream is an AsyncWriteStream and AsyncReadStream for testing the
// composed algorithms without a socket: every *Some call completes through
// the executor's Post (the bound one, else the stream's), takes at most max
// bytes, records what it was offered, and can fail or move nothing at a
// chosen call. A held call completes only when released, or when a
// terminal or partial cancellation is emitted on the slot bound to it.
type testStream struct {
	ex Executor

	mu      sync.Mutex
	max     int   // most bytes one call moves (0: no limit)
	failAt  int   // 1-based call that fails with failErr ...
	failErr error // ...
	failN   int   // ... after moving failN bytes (at most what it was offered)
	zeroAt  int   // 1-based call that moves 0 bytes and no error
	holdAt  int   // 1-based call that waits for release or cancellation
	held    *heldCall
	onCall  func(call int) // called inside each *Some, before completing

	calls   []streamCall
	written []byte   // write side: the bytes moved, in order
	in      [][]byte // read side: chunks to deliver; one call reads from one chunk
	eof     bool     // read side: after the chunks, io.EOF (else a call stays held)

	wlock atomic.Bool // ownTestStream's composed-write lock
}

// heldCall is a *Some call waiting for release, feed or cancellation.
type heldCall struct {
	write bool
	b     Buffers
	h     func(n int, err error)
	ex    Executor
}

type streamCall struct {
	offered int // total bytes of the buffers offered
	nbufs   int // number of buffers offered
}

func newTestStream(ex Executor) *testStream { return &testStream{ex: ex} }

func (s *testStream) Executor() Executor { return s.ex }

func (s *testStream) AsyncWriteSome(b Buffers, h func(n int, err error), opts ...OpOption) {
	s.call(true, b, h, opts)
}

func (s *testStream) AsyncReadSome(b Buffers, h func(n int, err error), opts ...OpOption) {
	s.call(false, b, h, opts)
}

func (s *testStream) call(write bool, b Buffers, h func(int, error), opts []OpOption) {
	var cfg opConfig
	cfg.apply(opts)
	ex := s.ex
	if cfg.ex != nil {
		ex = cfg.ex
	}
	s.mu.Lock()
	s.calls = append(s.calls, streamCall{offered: b.Len(), nbufs: len(b)})
	call := len(s.calls)
	onCall := s.onCall
	s.mu.Unlock()
	if onCall != nil {
		onCall(call)
	}

	s.mu.Lock()
	limit := b.Len()
	if s.max > 0 && limit > s.max {
		limit = s.max
	}
	var err error
	switch {
	case call == s.holdAt || (!write && len(s.in) == 0 && !s.eof && limit > 0):
		hc := &heldCall{write: write, b: b, h: h, ex: ex}
		s.held = hc
		s.mu.Unlock()
		if cfg.slot != nil {
			CancellationSlot{cfg.slot}.Assign(func(t CancellationType) {
				if t&(CancelTerminal|CancelPartial) != 0 {
					s.finishHeld(hc, false, ErrOperationAborted)
				}
			})
		}
		return
	case call == s.zeroAt:
		limit = 0
	case call == s.failAt:
		limit = min(limit, s.failN)
		err = s.failErr
	case !write && len(s.in) == 0 && limit > 0:
		limit, err = 0, io.EOF
	}
	n := s.moveLocked(write, b, limit)
	s.mu.Unlock()
	ex.Post(func() { h(n, err) })
}

// moveLocked moves at most limit bytes between b and the stream.
func (s *testStream) moveLocked(write bool, b Buffers, limit int) int {
	n := 0
	for _, p := range b {
		if n == limit {
			break
		}
		p = p[:min(len(p), limit-n)]
		if write {
			s.written = append(s.written, p...)
			n += len(p)
			continue
		}
		if len(s.in) == 0 {
			break
		}
		m := copy(p, s.in[0])
		s.in[0] = s.in[0][m:]
		if len(s.in[0]) == 0 {
			s.in = s.in[1:]
		}
		n += m
		if m < len(p) {
			break // one chunk per call
		}
	}
	return n
}

// release completes the held call: a read takes from the next chunk, a
// write moves what the limit allows.
func (s *testStream) release() {
	s.mu.Lock()
	hc := s.held
	s.holdAt = 0
	s.mu.Unlock()
	if hc != nil {
		s.finishHeld(hc, true, nil)
	}
}

// finishHeld completes hc if it is still the held call: moving bytes, or
// with err and no byte.
func (s *testStream) finishHeld(hc *heldCall, move bool, err error) {
	s.mu.Lock()
	if s.held != hc {
		s.mu.Unlock()
		return
	}
	s.held = nil
	n := 0
	if move {
		limit := hc.b.Len()
		if s.max > 0 && limit > s.max {
			limit = s.max
		}
		n = s.moveLocked(hc.write, hc.b, limit)
	}
	s.mu.Unlock()
	hc.ex.Post(func() { hc.h(n, err) })
}

func (s *testStream) callLog() []streamCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]streamCall(nil), s.calls...)
}

func (s *testStream) bytesWritten() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.written...)
}

func (s *testStream) pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held != nil
}
