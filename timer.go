package asio

import (
	"time"
)

// Timer is Asio's steady_timer: an expiry on the monotonic clock and the
// waits pending on it. Its waits live in the context's timer heap, which sets
// the backend's poll timeout: no goroutine and no time.Timer per timer.
// Every method is safe from any goroutine.
type Timer struct {
	ex     Executor
	c      *IOContext
	expiry int64 // ns on the context's clock, under c.mu
	waits  []*op // pending waits, under c.mu
}

// NewTimer returns a timer on ex that has already expired (expiry now).
func NewTimer(ex Executor) *Timer {
	c := ex.Context()
	return &Timer{ex: ex, c: c, expiry: c.now()}
}

// ExpiresAfter sets the expiry to now+d, cancels the pending waits (they
// complete with ErrOperationAborted) and returns how many it cancelled.
func (t *Timer) ExpiresAfter(d time.Duration) int {
	return t.set(addSat(t.c.now(), int64(d)))
}

// ExpiresAt sets the expiry to at, like ExpiresAfter.
func (t *Timer) ExpiresAt(at time.Time) int {
	return t.set(int64(at.Sub(t.c.base)))
}

// Expiry returns the expiry time.
func (t *Timer) Expiry() time.Time {
	t.c.mu.Lock()
	e := t.expiry
	t.c.mu.Unlock()
	return t.c.base.Add(time.Duration(e))
}

// Cancel completes every pending wait with ErrOperationAborted and returns
// how many there were. The expiry is unchanged.
func (t *Timer) Cancel() int {
	var out opList
	c := t.c
	c.mu.Lock()
	n := t.abortLocked(&out)
	c.mu.Unlock()
	completeAll(&out)
	return n
}

func (t *Timer) set(when int64) int {
	var out opList
	c := t.c
	c.mu.Lock()
	t.expiry = when
	n := t.abortLocked(&out)
	c.mu.Unlock()
	completeAll(&out)
	return n
}

func (t *Timer) abortLocked(out *opList) int {
	n := len(t.waits)
	for i, o := range t.waits {
		t.c.timers.remove(o)
		o.err = ErrOperationAborted
		out.push(o)
		t.waits[i] = nil
	}
	t.waits = t.waits[:0]
	return n
}

// AsyncWait waits for the expiry; the handler gets nil when it passes, or
// ErrOperationAborted when the wait is cancelled (Cancel, a new expiry, a
// cancellation slot, Close). It supports terminal, partial and total
// cancellation.
func (t *Timer) AsyncWait(h func(err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	c := t.c
	o := newTimerOp(t, opts)
	o.setE(h)
	x := o.x
	c.workStarted()
	if c.tracking {
		o.trackStart("")
		c.warnIfStopped(o)
	}
	c.mu.Lock()
	if o.ctxDone() || c.closed.Load() {
		c.mu.Unlock()
		o.err = ErrOperationAborted
		o.completeNow()
		return
	}
	x.when = t.expiry
	t.waits = append(t.waits, o)
	c.timers.push(o)
	o.watch(t)
	wake := x.hidx == 0 && x.when < c.pollEnd && c.wakeLocked()
	c.mu.Unlock()
	if wake {
		c.be.wake()
	}
}

// Wait blocks until the expiry passes; it needs no Run.
func (t *Timer) Wait() error {
	d := time.Until(t.Expiry())
	if d > 0 {
		time.Sleep(d)
	}
	return nil
}

// cancelOp takes a wait back on a cancellation request of any type.
func (t *Timer) cancelOp(o *op, key uint64, ct CancellationType) {
	if ct&CancelAll == 0 {
		return
	}
	c := t.c
	c.mu.Lock()
	// Only o's atomic key is read before t.waits (under c.mu) says o is
	// still pending here: a request racing with its expiry is harmless.
	if o.key() != key || !t.dropWaitLocked(o) {
		c.mu.Unlock()
		return
	}
	c.timers.remove(o)
	o.err = ErrOperationAborted
	c.mu.Unlock()
	o.complete()
}

// dropWaitLocked removes o from the timer's pending waits, reporting
// whether it was there.
func (t *Timer) dropWaitLocked(o *op) bool {
	var ok bool
	t.waits, ok = removeUnordered(t.waits, o)
	return ok
}

// expireTimersLocked moves the waits whose expiry has passed to out.
func (c *IOContext) expireTimersLocked(out *opList) {
	if len(c.timers) == 0 {
		return
	}
	now := c.now()
	for len(c.timers) > 0 && c.timers[0].x.when <= now {
		o := c.timers[0]
		c.timers.remove(o)
		o.x.tm.dropWaitLocked(o)
		out.push(o)
	}
}

// timerHeap is a binary min-heap of timer waits ordered by expiry; each op
// knows its index (hidx) so that cancelling one is O(log n).
type timerHeap []*op

func (h *timerHeap) push(o *op) {
	*h = append(*h, o)
	o.x.hidx = len(*h) - 1
	h.up(o.x.hidx)
}

func (h *timerHeap) remove(o *op) {
	i := o.x.hidx
	if i < 0 {
		return
	}
	s := *h
	last := len(s) - 1
	if i != last {
		s[i] = s[last]
		s[i].x.hidx = i
	}
	s[last] = nil
	*h = s[:last]
	o.x.hidx = -1
	if i != last {
		h.down(i)
		h.up(i)
	}
}

func (h timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].x.when <= h[i].x.when {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h timerHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].x.when < h[l].x.when {
			m = r
		}
		if h[i].x.when <= h[m].x.when {
			return
		}
		h.swap(i, m)
		i = m
	}
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].x.hidx = i
	h[j].x.hidx = j
}
