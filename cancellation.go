package asio

import "sync"

// CancellationType says how much of an operation's effect a cancellation
// request may leave behind, as in Asio: terminal (only closing the object is
// safe after), partial (side effects reported through the handler, such as
// the bytes written so far) or total (no observable effect).
type CancellationType uint32

const (
	CancelNone     CancellationType = 0
	CancelTerminal CancellationType = 1
	CancelPartial  CancellationType = 2
	CancelTotal    CancellationType = 4
	CancelAll      CancellationType = 7
)

// canceller is what an operation installs in a slot: the backend queue or
// composed operation that can take it back. key tells a stale request (for
// an op that already completed and was recycled) from a live one.
type canceller interface {
	cancelOp(o *op, key uint64, t CancellationType)
}

// CancellationSignal is the emitting side of a per-operation cancellation:
// bind its Slot to an operation with BindCancellationSlot, then Emit. A
// signal serves one operation at a time and may be reused for later ones.
// Emit is safe from any goroutine.
type CancellationSignal struct {
	mu  sync.Mutex
	c   canceller
	o   *op
	key uint64
	fn  func(CancellationType)
}

// NewCancellationSignal returns a signal with no operation attached.
func NewCancellationSignal() *CancellationSignal { return &CancellationSignal{} }

// Emit asks the attached operation, if any, to cancel with type t. An
// operation reacts only to the types it supports; emits before it starts or
// after it completes do nothing.
func (s *CancellationSignal) Emit(t CancellationType) {
	s.mu.Lock()
	c, o, key, fn := s.c, s.o, s.key, s.fn
	s.mu.Unlock()
	switch {
	case c != nil:
		c.cancelOp(o, key, t)
	case fn != nil:
		fn(t)
	}
}

// Slot returns the slot to bind to an operation.
func (s *CancellationSignal) Slot() CancellationSlot { return CancellationSlot{s} }

func (s *CancellationSignal) install(c canceller, o *op, key uint64) {
	s.mu.Lock()
	s.c, s.o, s.key, s.fn = c, o, key, nil
	s.mu.Unlock()
}

// clear detaches o if it is still the attached operation.
func (s *CancellationSignal) clear(o *op, key uint64) {
	s.mu.Lock()
	if s.o == o && s.key == key {
		s.c, s.o, s.key = nil, nil, 0
	}
	s.mu.Unlock()
}

// CancellationSlot is the receiving side of a CancellationSignal. The zero
// slot is not connected; binding it does nothing.
type CancellationSlot struct{ sig *CancellationSignal }

// IsConnected reports whether the slot belongs to a signal.
func (s CancellationSlot) IsConnected() bool { return s.sig != nil }

// Assign installs f as the slot's handler, replacing any operation or
// handler attached before; it is how a composed operation of the user's own
// receives the requests emitted on its slot.
func (s CancellationSlot) Assign(f func(CancellationType)) {
	if s.sig == nil {
		return
	}
	s.sig.mu.Lock()
	s.sig.c, s.sig.o, s.sig.key, s.sig.fn = nil, nil, 0, f
	s.sig.mu.Unlock()
}

// Clear removes whatever handler or operation is attached to the slot.
func (s CancellationSlot) Clear() {
	if s.sig == nil {
		return
	}
	s.sig.mu.Lock()
	s.sig.c, s.sig.o, s.sig.key, s.sig.fn = nil, nil, 0, nil
	s.sig.mu.Unlock()
}
