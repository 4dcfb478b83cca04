package asio

import (
	"math"
	"sync"
)

// RatePolicy limits how many bytes a TCPStream moves per second in each
// direction; it is Beast's RatePolicy concept as an interface. The stream
// asks it, before each AsyncReadSome/AsyncWriteSome on its socket, how many
// bytes that call may move (a call is offered at most that many), tells it
// how many bytes each call really moved (on error paths too), and calls
// OnTimer once a second to start a new budget period.
//
// A stream calls its policy only while holding its own lock, so a policy
// used by one stream needs no locking of its own against the stream; a
// policy shared by several streams, or changed from other goroutines, must
// synchronise itself.
type RatePolicy interface {
	// AvailableReadBytes is how many bytes the next read may move now;
	// 0 makes it wait for the next OnTimer. math.MaxInt means no limit.
	AvailableReadBytes() int
	// AvailableWriteBytes is AvailableReadBytes for writes.
	AvailableWriteBytes() int
	// TransferReadBytes reports n bytes read.
	TransferReadBytes(n int)
	// TransferWriteBytes reports n bytes written.
	TransferWriteBytes(n int)
	// OnTimer starts a new period: the stream calls it once a second while
	// the policy is in use (the first time as soon as a budget runs out).
	OnTimer()
}

// unlimitedRatePolicy is Beast's unlimited_rate_policy: no limit at all.
type unlimitedRatePolicy struct{}

// UnlimitedRatePolicy returns the policy that limits nothing: every
// direction always has math.MaxInt bytes available. It is the default of a
// TCPStream, which then skips rate accounting altogether.
func UnlimitedRatePolicy() RatePolicy { return unlimitedRatePolicy{} }

func (unlimitedRatePolicy) AvailableReadBytes() int  { return math.MaxInt }
func (unlimitedRatePolicy) AvailableWriteBytes() int { return math.MaxInt }
func (unlimitedRatePolicy) TransferReadBytes(int)    {}
func (unlimitedRatePolicy) TransferWriteBytes(int)   {}
func (unlimitedRatePolicy) OnTimer()                 {}

// SimpleRatePolicy is Beast's simple_rate_policy: an independent budget of
// bytes per second for reads and for writes. Each OnTimer (once a second)
// refills a budget to its limit; moved bytes are taken from it. A limit of 0
// means no limit in that direction. Every method is safe from any goroutine,
// so the limits may be changed while streams use the policy.
type SimpleRatePolicy struct {
	mu     sync.Mutex
	rd, wr rateBudget
}

// rateBudget is one direction of a SimpleRatePolicy; math.MaxInt in limit
// or remain means "all", as Beast's SIZE_MAX does.
type rateBudget struct {
	limit  int
	remain int
}

const rateAll = math.MaxInt

// NewSimpleRatePolicy returns a *SimpleRatePolicy limiting reads to
// readBytesPerSec and writes to writeBytesPerSec bytes per second; 0 (or
// less) means unlimited in that direction. As in Beast, a limited direction
// starts with a full budget.
func NewSimpleRatePolicy(readBytesPerSec, writeBytesPerSec int) RatePolicy {
	p := &SimpleRatePolicy{rd: rateBudget{rateAll, rateAll}, wr: rateBudget{rateAll, rateAll}}
	p.SetReadLimit(readBytesPerSec)
	p.SetWriteLimit(writeBytesPerSec)
	return p
}

// SetReadLimit sets the read limit in bytes per second (0: unlimited). A
// lower limit also lowers what is left of the current period's budget to
// it at once; a higher one takes effect at the next refill. Lifting the
// limit (0) frees the budget at once, but a read already waiting for budget
// still waits for the next refill.
func (p *SimpleRatePolicy) SetReadLimit(bytesPerSec int) {
	p.mu.Lock()
	p.rd.setLimit(bytesPerSec)
	p.mu.Unlock()
}

// SetWriteLimit is SetReadLimit for writes.
func (p *SimpleRatePolicy) SetWriteLimit(bytesPerSec int) {
	p.mu.Lock()
	p.wr.setLimit(bytesPerSec)
	p.mu.Unlock()
}

// ReadLimit returns the read limit in bytes per second, 0 for unlimited.
func (p *SimpleRatePolicy) ReadLimit() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rd.limitOrZero()
}

// WriteLimit returns the write limit in bytes per second, 0 for unlimited.
func (p *SimpleRatePolicy) WriteLimit() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wr.limitOrZero()
}

// AvailableReadBytes returns what is left of the read budget.
func (p *SimpleRatePolicy) AvailableReadBytes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rd.remain
}

// AvailableWriteBytes returns what is left of the write budget.
func (p *SimpleRatePolicy) AvailableWriteBytes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wr.remain
}

// TransferReadBytes takes n bytes from the read budget.
func (p *SimpleRatePolicy) TransferReadBytes(n int) {
	p.mu.Lock()
	p.rd.take(n)
	p.mu.Unlock()
}

// TransferWriteBytes takes n bytes from the write budget.
func (p *SimpleRatePolicy) TransferWriteBytes(n int) {
	p.mu.Lock()
	p.wr.take(n)
	p.mu.Unlock()
}

// OnTimer refills both budgets to their limits.
func (p *SimpleRatePolicy) OnTimer() {
	p.mu.Lock()
	p.rd.remain = p.rd.limit
	p.wr.remain = p.wr.limit
	p.mu.Unlock()
}

func (b *rateBudget) setLimit(n int) {
	if n <= 0 {
		b.limit, b.remain = rateAll, rateAll
		return
	}
	b.limit = n
	b.remain = min(b.remain, n)
}

// take subtracts n, saturating at 0; an unlimited budget stays unlimited.
func (b *rateBudget) take(n int) {
	if b.remain == rateAll || n <= 0 {
		return
	}
	b.remain = max(b.remain-n, 0)
}

func (b *rateBudget) limitOrZero() int {
	if b.limit == rateAll {
		return 0
	}
	return b.limit
}
