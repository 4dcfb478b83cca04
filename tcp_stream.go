package asio

import (
	"errors"
	"math"
	"net/netip"
	"sync"
	"time"
)

// ErrOperationInProgress completes an AsyncReadSome (AsyncWriteSome) of a
// TCPStream started while another non-empty read (write) is pending on it,
// or an AsyncConnect started while any operation is pending: a TCPStream,
// like Beast's basic_stream, runs at most one operation per direction. The
// pending operation is not disturbed.
var ErrOperationInProgress = errors.New("asio: an operation of the same direction is already pending on this stream")

// ErrNoEndpoints completes an AsyncConnectRange given no endpoint (Asio's
// error::not_found).
var ErrNoEndpoints = errors.New("asio: no endpoint to connect to")

// streamNever is the expiry of a direction without a deadline.
const streamNever = math.MaxInt64

// TCPStream is Beast's basic_stream (tcp_stream): a TCPSocket whose
// operations obey a deadline and a rate policy.
//
// The deadline is one point in time, set with ExpiresAfter, ExpiresAt or
// ExpiresNever, that covers every later operation until it is set again
// (it is not reset when an operation completes). Each direction (read,
// write) keeps its own copy: setting the deadline changes only the
// directions with no operation pending. When the deadline passes while an
// operation is pending, that operation completes with ErrTimeout (and the
// bytes it moved), the socket is closed, and a pending operation of the
// other direction completes with ErrOperationAborted. An operation started
// after the deadline has passed closes the socket and completes at once
// (posted, never inline) with ErrTimeout; so does a zero-size one, since the
// deadline check comes first. Deadlines are waits on the context's timer
// heap: no goroutine, no time.Timer.
//
// At most one read and one write may be pending; AsyncConnect counts as
// both. A second non-empty operation in a pending direction completes with
// ErrOperationInProgress; a zero-size one completes normally, with (0, nil)
// on an open socket.
//
// Each AsyncReadSome/AsyncWriteSome is offered at most what the rate policy
// allows (SetRatePolicy; the default, UnlimitedRatePolicy, costs nothing).
// An operation that finds no budget waits for the next refill, which comes
// once a second; the first time a budget runs out it is refilled at once,
// and an operation that waited moves at least one byte.
//
// Handlers run on the executor bound to the operation (BindExecutor), by
// default the stream's; per-operation options (cancellation slots,
// WithContext, executors) are passed through to the socket operations and
// to the wait for budget, never to the deadline. TCPStream satisfies
// AsyncReadStream and AsyncWriteStream, so the composed AsyncWrite,
// AsyncRead and AsyncReadUntil run over it under its deadline. Deadlines do
// not apply to the socket's blocking forms. Every method is safe from any
// goroutine.
type TCPStream struct {
	ex Executor
	c  *IOContext

	mu     sync.Mutex
	sock   *TCPSocket
	rd, wr streamDir
	wlock  *TCPSocket // the socket whose composed-write lock this stream took
	gen    uint64     // bumped by Cancel, Close, Release and a timeout

	policy   RatePolicy
	limited  bool  // policy is not the unlimited one
	rateNext int64 // when the next refill is due (context clock); 0: at the first exhaustion

	// The connect in progress (AsyncConnect is AsyncConnectRange of one).
	eps   []netip.AddrPort
	epi   int    // the endpoint being tried
	cgen  uint64 // gen when the connect began
	hc    func(err error)
	hr    func(ep netip.AddrPort, err error)
	connH func(err error) // s.onConnect, made once
}

// streamDir is one direction of a TCPStream: Beast's op_state (deadline
// timer, pending and timeout flags) plus the state of its one pending
// operation, reused from one operation to the next so that a timed
// operation allocates nothing.
type streamDir struct {
	s        *TCPStream
	write    bool
	pending  bool  // an operation of this direction is in progress
	armed    bool  // the deadline timer waits for the pending operation
	timedOut bool  // the deadline closed the socket under the pending operation
	expiry   int64 // the deadline on the context's clock, streamNever if none

	timer *Timer // the deadline, made on the first timed operation
	rate  *Timer // the wait for budget, made on the first wait

	h       func(n int, err error) // the caller's handler
	hp      func([]byte, error)    // or a pooled read's
	pool    *BufferPool            // a pooled read's pool
	bufs    [][]byte               // the caller's slice headers (never the bytes)
	step    [][]byte               // the prefix of bufs the rate policy allows
	opts    []OpOption             // the caller's options, backed by optsBuf
	optsBuf [2]OpOption

	ioH       func(n int, err error) // d.onIO, made once
	pooledH   func([]byte, error)    // d.onPooled, made once
	deadlineH func(err error)        // d.onDeadline, made once
	budgetH   func(err error)        // d.onBudget, made once
}

// NewTCPStream returns a stream over a new, unopened socket on ex;
// AsyncConnect opens it. It has no deadline and no rate limit.
func NewTCPStream(ex Executor) *TCPStream { return WrapTCPStream(NewTCPSocket(ex)) }

// WrapTCPStream returns a stream over s (connected or not), whose handlers
// run on s's executor by default. The stream owns s from now on; Release
// gives it back.
func WrapTCPStream(s *TCPSocket) *TCPStream {
	if s == nil {
		panic("asio: WrapTCPStream of a nil socket")
	}
	st := &TCPStream{ex: s.Executor(), sock: s, policy: unlimitedRatePolicy{}}
	st.c = st.ex.Context()
	st.rd.init(st, false)
	st.wr.init(st, true)
	return st
}

func (d *streamDir) init(s *TCPStream, write bool) {
	d.s, d.write, d.expiry = s, write, streamNever
	d.ioH = d.onIO
	if !write {
		d.pooledH = d.onPooled
	}
}

// Executor returns the executor the stream's handlers run on by default.
func (s *TCPStream) Executor() Executor { return s.ex }

// Socket returns the stream's socket, for options and endpoints. Operations
// started on it directly are not timed.
func (s *TCPStream) Socket() *TCPSocket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sock
}

// Release cancels the pending operations (they complete with
// ErrOperationAborted) and hands the socket over to the caller, open or
// not; the stream goes on with a new, unopened socket, as a moved-from
// Beast stream.
func (s *TCPStream) Release() *TCPSocket {
	s.mu.Lock()
	defer s.mu.Unlock()
	sock := s.sock
	s.sock = NewTCPSocket(s.ex)
	sock.Cancel()
	s.abortWaitsLocked()
	return sock
}

// Cancel completes every pending operation (waits for budget included) with
// ErrOperationAborted; the stream stays open and usable, and the deadline
// is unchanged. It returns the socket's Cancel error (ErrBadDescriptor when
// it is not open).
func (s *TCPStream) Cancel() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.sock.Cancel()
	s.abortWaitsLocked()
	return err
}

// Close cancels like Cancel, then closes the socket.
func (s *TCPStream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeLocked()
}

// closeLocked closes the socket and aborts the waits for budget. It only
// posts completions, so s.mu may be held.
func (s *TCPStream) closeLocked() error {
	err := s.sock.Close()
	s.abortWaitsLocked()
	return err
}

// abortWaitsLocked aborts the waits for budget and records, in s.gen, that
// everything pending was cancelled: a wait or connect attempt started
// outside s.mu around that moment is then aborted by abortIfCancelled.
func (s *TCPStream) abortWaitsLocked() {
	s.gen++
	if s.rd.rate != nil {
		s.rd.rate.Cancel()
	}
	if s.wr.rate != nil {
		s.wr.rate.Cancel()
	}
}

// ExpiresAfter sets the deadline to now+d for every direction with no
// operation pending. A d of 0 or less makes the next operation time out.
func (s *TCPStream) ExpiresAfter(d time.Duration) {
	now := s.c.now()
	at := now + int64(d)
	if d > 0 && at < now {
		at = streamNever // overflow: as good as never
	}
	s.setExpiry(at)
}

// ExpiresAt sets the deadline to t for every direction with no operation
// pending.
func (s *TCPStream) ExpiresAt(t time.Time) { s.setExpiry(int64(t.Sub(s.c.base))) }

// ExpiresNever removes the deadline of every direction with no operation
// pending.
func (s *TCPStream) ExpiresNever() { s.setExpiry(streamNever) }

func (s *TCPStream) setExpiry(at int64) {
	s.mu.Lock()
	if !s.rd.pending {
		s.rd.expiry = at
	}
	if !s.wr.pending {
		s.wr.expiry = at
	}
	s.mu.Unlock()
}

// SetRatePolicy makes p limit the stream's reads and writes from their next
// socket operation on; nil means UnlimitedRatePolicy. The refill clock
// starts over: the first budget that runs out under p is refilled at once.
func (s *TCPStream) SetRatePolicy(p RatePolicy) {
	if p == nil {
		p = unlimitedRatePolicy{}
	}
	_, unlimited := p.(unlimitedRatePolicy)
	s.mu.Lock()
	s.policy, s.limited, s.rateNext = p, !unlimited, 0
	s.mu.Unlock()
}

// RatePolicy returns the stream's rate policy.
func (s *TCPStream) RatePolicy() RatePolicy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.policy
}

// AsyncWriteSome writes some of b (at most what the rate policy allows)
// under the deadline and passes the count to h. It supports the
// cancellation types of the socket's AsyncWriteSome, and of a timer wait
// while it waits for budget.
func (s *TCPStream) AsyncWriteSome(b Buffers, h func(n int, err error), opts ...OpOption) {
	s.transfer(&s.wr, b, h, opts)
}

// AsyncReadSome reads some bytes into b (at most what the rate policy
// allows) under the deadline and passes the count to h; io.EOF reports an
// orderly close by the peer.
func (s *TCPStream) AsyncReadSome(b Buffers, h func(n int, err error), opts ...OpOption) {
	s.transfer(&s.rd, b, h, opts)
}

// AsyncReadPooled is the socket's AsyncReadPooled under the deadline and
// the rate policy (which bounds how many bytes of the buffer it fills): it
// holds no buffer while it waits, and h owns the buffer it gets until
// p.Put. Errors come with a nil buffer, ErrTimeout included (a buffer
// filled in the instant the deadline closed the socket goes back to p). A
// nil p completes with ErrInvalidArgument.
func (s *TCPStream) AsyncReadPooled(p *BufferPool, h func(b []byte, err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	if p == nil {
		completeLater(s.ex, opts, func() { h(nil, ErrInvalidArgument) })
		return
	}
	d := &s.rd
	s.mu.Lock()
	switch {
	case d.pending:
		s.mu.Unlock()
		completeLater(s.ex, opts, func() { h(nil, ErrOperationInProgress) })
		return
	case s.expiredLocked(d):
		s.closeLocked()
		s.mu.Unlock()
		completeLater(s.ex, opts, func() { h(nil, ErrTimeout) })
		return
	}
	d.pending, d.timedOut, d.hp, d.pool = true, false, h, p
	t := s.beginLocked(d, opts)
	s.mu.Unlock()
	t.take()
}

// transfer is Beast's transfer_op: usage check, deadline check, zero-size
// op, deadline wait, budget, then the socket op.
func (s *TCPStream) transfer(d *streamDir, b Buffers, h func(int, error), opts []OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	empty := b.Len() == 0
	s.mu.Lock()
	sock := s.sock
	switch {
	case d.pending && !empty:
		s.mu.Unlock()
		completeLater(s.ex, opts, func() { h(0, ErrOperationInProgress) })
		return
	case s.expiredLocked(d):
		s.closeLocked()
		s.mu.Unlock()
		completeLater(s.ex, opts, func() { h(0, ErrTimeout) })
		return
	case empty:
		// As in Beast, a real zero-size socket op: (0, nil) on an open
		// socket, posted; no deadline wait, no budget.
		s.mu.Unlock()
		d.startIO(sock, nil, h, opts)
		return
	}
	d.pending, d.timedOut, d.h = true, false, h
	d.bufs = append(d.bufs[:0], b...)
	t := s.beginLocked(d, opts)
	s.mu.Unlock()
	t.take()
}

// beginLocked readies the pending op of d (s.mu held): it arms the
// deadline's wait and decides the op's first step, which the caller takes
// once it has released s.mu (streamStep.take): the wait for budget, or the
// socket op.
func (s *TCPStream) beginLocked(d *streamDir, opts []OpOption) streamStep {
	d.opts = append(d.optsBuf[:0], opts...)
	d.armLocked()
	amount := math.MaxInt
	if s.limited {
		if amount = s.budgetLocked(d, false); amount == 0 {
			d.rate.set(s.rateNext)
			return streamStep{d: d, gen: s.gen, budget: true}
		}
	}
	return streamStep{d: d, sock: s.sock, step: d.stepLocked(amount), amount: amount}
}

// streamStep is the next step of a pending op, decided under s.mu and
// taken outside it: an immediate completion may be dispatched inline to a
// bound immediate executor and re-enter the stream.
type streamStep struct {
	d      *streamDir
	budget bool   // wait for budget (gen: s.gen when that was decided)
	gen    uint64 // ...
	sock   *TCPSocket
	step   [][]byte
	amount int
}

func (t streamStep) take() {
	d := t.d
	if t.budget {
		d.rate.AsyncWait(d.budgetH, d.opts...)
		d.s.abortIfCancelled(t.gen, func() { d.rate.Cancel() })
		return
	}
	d.startStep(t.sock, t.step, t.amount)
}

// startStep starts the socket op of the pending op, offering step (or, for
// a pooled read, at most amount bytes).
func (d *streamDir) startStep(sock *TCPSocket, step [][]byte, amount int) {
	if d.pool != nil {
		if amount == math.MaxInt {
			amount = 0 // a whole buffer
		}
		sock.readPooled(d.pool, amount, d.pooledH, d.opts)
		return
	}
	d.startIO(sock, step, d.ioH, d.opts)
}

// startIO starts the socket op of d's direction. The socket copies b's
// slice headers and applies opts before it returns.
func (d *streamDir) startIO(sock *TCPSocket, b [][]byte, h func(int, error), opts []OpOption) {
	if d.write {
		sock.AsyncWriteSome(b, h, opts...)
	} else {
		sock.AsyncReadSome(b, h, opts...)
	}
}

// abortIfCancelled runs abort if Cancel, Close, Release or a timeout came
// since gen was read: the op just started outside s.mu may have missed it.
func (s *TCPStream) abortIfCancelled(gen uint64, abort func()) {
	s.mu.Lock()
	if s.gen != gen {
		abort()
	}
	s.mu.Unlock()
}

func (s *TCPStream) expiredLocked(d *streamDir) bool {
	return d.expiry != streamNever && s.c.now() >= d.expiry
}

// armLocked starts the deadline wait of the pending op, if it has a
// deadline. The wait has no options: it posts (never inline) and runs on
// the stream's executor, whatever the op is bound to.
func (d *streamDir) armLocked() {
	if d.expiry == streamNever {
		return
	}
	if d.timer == nil {
		d.timer = NewTimer(d.s.ex)
		d.deadlineH = d.onDeadline
	}
	d.timer.set(d.expiry)
	d.timer.AsyncWait(d.deadlineH)
	d.armed = true
}

// onDeadline is Beast's timeout_handler. A wait cancelled when its op
// completed is ignored, and so is a stale one (it fired after its op had
// completed and before the next op's deadline): the pending op times out
// only if its own deadline has passed.
func (d *streamDir) onDeadline(err error) {
	if err != nil {
		return
	}
	s := d.s
	s.mu.Lock()
	if d.pending && d.armed && !d.timedOut && s.c.now() >= d.expiry {
		d.timedOut = true
		s.closeLocked()
	}
	s.mu.Unlock()
}

// onIO completes the pending op with the socket op's result.
func (d *streamDir) onIO(n int, err error) {
	s := d.s
	s.mu.Lock()
	if s.limited {
		if d.write {
			s.policy.TransferWriteBytes(n)
		} else {
			s.policy.TransferReadBytes(n)
		}
	}
	c := d.finishLocked(n, err, nil)
	s.mu.Unlock()
	c.call()
}

// onPooled completes a pending pooled read with the socket's result.
func (d *streamDir) onPooled(b []byte, err error) {
	s := d.s
	s.mu.Lock()
	if s.limited {
		s.policy.TransferReadBytes(len(b))
	}
	c := d.finishLocked(len(b), err, b)
	s.mu.Unlock()
	c.call()
}

// onBudget continues the pending op when its wait for budget ends: with a
// refill, or aborted (Cancel, Close, the deadline, a cancellation slot).
func (d *streamDir) onBudget(err error) {
	s := d.s
	s.mu.Lock()
	if err != nil {
		c := d.finishLocked(0, err, nil)
		s.mu.Unlock()
		c.call()
		return
	}
	amount := math.MaxInt
	if s.limited {
		amount = s.budgetLocked(d, true)
	}
	step := d.stepLocked(amount)
	sock := s.sock
	s.mu.Unlock()
	d.startStep(sock, step, amount)
}

// finishLocked ends the pending op (s.mu held) and returns its handler
// and result, which the caller calls once it has released s.mu: it runs
// in a handler of the op's own executor, so the handler is called
// directly. b is a pooled read's buffer.
func (d *streamDir) finishLocked(n int, err error, b []byte) streamDone {
	err = d.endLocked(err)
	c := streamDone{h: d.h, hp: d.hp, pool: d.pool, n: n, err: err, b: b}
	d.h, d.hp, d.pool = nil, nil, nil
	clear(d.bufs)
	clear(d.step)
	clear(d.optsBuf[:])
	d.bufs, d.step, d.opts = d.bufs[:0], d.step[:0], nil
	return c
}

// streamDone is a finished op's handler (h, or hp for a pooled read) and
// result.
type streamDone struct {
	h    func(int, error)
	hp   func([]byte, error)
	pool *BufferPool
	n    int
	err  error
	b    []byte
}

func (c streamDone) call() {
	if c.hp != nil {
		if c.err != nil && c.b != nil {
			c.pool.Put(c.b) // errors come with no buffer
			c.b = nil
		}
		c.hp(c.b, c.err)
		return
	}
	c.h(c.n, c.err)
}

// endLocked clears the pending state and disarms the deadline. If the
// deadline closed the socket under the op, its result becomes ErrTimeout
// (the bytes it moved are kept).
func (d *streamDir) endLocked(err error) error {
	if d.armed {
		d.timer.Cancel()
		d.armed = false
	}
	if d.timedOut {
		err = ErrTimeout
		d.timedOut = false
	}
	d.pending = false
	return err
}

// stepLocked returns the first amount bytes of the pending op's buffers.
func (d *streamDir) stepLocked(amount int) [][]byte {
	if amount == math.MaxInt {
		return d.bufs
	}
	d.step = d.step[:0]
	for _, b := range d.bufs {
		if amount <= 0 {
			break
		}
		if len(b) > amount {
			b = b[:amount]
		}
		d.step = append(d.step, b)
		amount -= len(b)
	}
	return d.step
}

// budgetLocked returns how many bytes d's op may move now; 0 means: wait on
// d.rate until s.rateNext. Beast refills with a background timer wait every
// second; here a refill that fell due is done when a budget is next looked
// at, which gives the same budgets at the same moments without a wait that
// would keep Run from returning and wake the loop of every idle stream.
// woken says the op already waited for a refill: it moves at least a byte.
func (s *TCPStream) budgetLocked(d *streamDir, woken bool) int {
	now := s.c.now()
	if s.rateNext != 0 && now >= s.rateNext {
		s.refillLocked(now)
	}
	n := d.available(s.policy)
	switch {
	case n > 0:
		return n
	case s.rateNext == 0: // the first budget to run out is refilled at once
		s.refillLocked(now)
		return max(d.available(s.policy), 1)
	case woken:
		return 1
	}
	if d.rate == nil {
		d.rate = NewTimer(s.ex)
		d.budgetH = d.onBudget
	}
	return 0
}

// refillLocked calls the policy's OnTimer and schedules the next refill on
// the one-second grid the first refill started.
func (s *TCPStream) refillLocked(now int64) {
	s.policy.OnTimer()
	const sec = int64(time.Second)
	if s.rateNext == 0 {
		s.rateNext = now + sec
		return
	}
	s.rateNext += ((now-s.rateNext)/sec + 1) * sec
}

func (d *streamDir) available(p RatePolicy) int {
	var n int
	if d.write {
		n = p.AvailableWriteBytes()
	} else {
		n = p.AvailableReadBytes()
	}
	return max(n, 0)
}

// AsyncConnect connects the stream's socket to ep under the write
// direction's deadline (connecting counts as a pending read and write, as
// in Beast). If the deadline passes first, h gets ErrTimeout and the socket
// is closed. It supports the cancellation types of the socket's
// AsyncConnect.
func (s *TCPStream) AsyncConnect(ep netip.AddrPort, h func(err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	s.connect(nil, ep, h, nil, opts)
}

// AsyncConnectRange tries each of eps in turn, closing the socket between
// attempts, until one connects, like Beast's range async_connect; the
// deadline covers all the attempts. h gets the endpoint that connected, or
// the zero AddrPort and the last attempt's error (ErrTimeout if the
// deadline passed, ErrOperationAborted if cancelled, which stops the
// attempts, ErrNoEndpoints for an empty eps).
func (s *TCPStream) AsyncConnectRange(eps []netip.AddrPort, h func(ep netip.AddrPort, err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	s.connect(eps, netip.AddrPort{}, nil, h, opts)
}

func (s *TCPStream) connect(eps []netip.AddrPort, one netip.AddrPort, hc func(error), hr func(netip.AddrPort, error), opts []OpOption) {
	var fail error
	w := &s.wr
	s.mu.Lock()
	sock := s.sock
	switch {
	case s.rd.pending || w.pending:
		fail = ErrOperationInProgress
	case s.expiredLocked(w):
		s.closeLocked()
		fail = ErrTimeout
	case hr != nil && len(eps) == 0:
		fail = ErrNoEndpoints
	}
	if fail != nil {
		s.mu.Unlock()
		completeLater(s.ex, opts, func() { callConnect(hc, hr, netip.AddrPort{}, fail) })
		return
	}
	if hr == nil {
		s.eps = append(s.eps[:0], one)
	} else {
		s.eps = append(s.eps[:0], eps...)
	}
	s.epi, s.hc, s.hr, s.cgen = 0, hc, hr, s.gen
	s.rd.pending, w.pending, w.timedOut = true, true, false
	w.opts = append(w.optsBuf[:0], opts...)
	if s.connH == nil {
		s.connH = s.onConnect
	}
	w.armLocked()
	ep := s.eps[0]
	s.mu.Unlock()
	sock.AsyncConnect(ep, s.connH, w.opts...)
}

// onConnect ends an attempt: on to the next endpoint, or complete.
func (s *TCPStream) onConnect(err error) {
	w := &s.wr
	s.mu.Lock()
	// On to the next endpoint unless the attempt was cancelled, or Cancel,
	// Close or the deadline came since the connect began.
	if err != nil && err != ErrOperationAborted && s.gen == s.cgen && s.epi+1 < len(s.eps) {
		s.epi++
		ep, sock, gen := s.eps[s.epi], s.sock, s.cgen
		sock.Close() // the next attempt opens a fresh descriptor, for ep's family
		s.mu.Unlock()
		sock.AsyncConnect(ep, s.connH, w.opts...)
		s.abortIfCancelled(gen, func() { sock.Close() })
		return
	}
	ep := s.eps[s.epi]
	err = w.endLocked(err)
	s.rd.pending = false
	if err == ErrTimeout {
		// The deadline closed the socket; an attempt that raced with it may
		// have opened a new one.
		s.sock.Close()
	}
	if err != nil {
		ep = netip.AddrPort{}
	}
	hc, hr := s.hc, s.hr
	s.hc, s.hr = nil, nil
	clear(w.optsBuf[:])
	w.opts = nil
	s.mu.Unlock()
	callConnect(hc, hr, ep, err)
}

func callConnect(hc func(error), hr func(netip.AddrPort, error), ep netip.AddrPort, err error) {
	if hc != nil {
		hc(err)
		return
	}
	hr(ep, err)
}

// tryLockWrite and unlockWrite make a second composed write on the stream
// (or on its socket) complete with ErrWriteInProgress; the lock is taken on
// the socket, and given back to the same socket even after a Release.
func (s *TCPStream) tryLockWrite() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.sock.tryLockWrite() {
		return false
	}
	s.wlock = s.sock
	return true
}

func (s *TCPStream) unlockWrite() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wlock != nil {
		s.wlock.unlockWrite()
		s.wlock = nil
	}
}
