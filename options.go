package asio

import (
	"context"
	"net/netip"

	"github.com/goasio/asio/internal/sys"
)

// OpOption changes how one operation completes: where its handler runs,
// which cancellation slot it listens to, which context cancels it.
type OpOption interface{ applyOp(*opConfig) }

// opConfig is what the options of one initiation say.
type opConfig struct {
	ex   Executor
	imm  Executor
	slot *CancellationSignal
	ctx  context.Context
}

func (c *opConfig) apply(opts []OpOption) {
	for _, o := range opts {
		if o != nil {
			o.applyOp(c)
		}
	}
}

type executorOption struct{ ex Executor }
type immediateOption struct{ ex Executor }
type slotOption struct{ s *CancellationSignal }
type contextOption struct{ ctx context.Context }

func (o executorOption) applyOp(c *opConfig)  { c.ex = o.ex }
func (o immediateOption) applyOp(c *opConfig) { c.imm = o.ex }
func (o slotOption) applyOp(c *opConfig)      { c.slot = o.s }
func (o contextOption) applyOp(c *opConfig)   { c.ctx = o.ctx }

// BindExecutor makes the handler run on ex instead of the I/O object's
// executor (a Strand, or another context's executor).
func BindExecutor(ex Executor) OpOption { return executorOption{ex} }

// BindImmediateExecutor makes an immediate completion (a result known inside
// the initiating function) be dispatched to ex instead of posted. An
// executor whose Dispatch runs inline makes the handler run before the
// initiating function returns: the caller accepts the recursion.
func BindImmediateExecutor(ex Executor) OpOption { return immediateOption{ex} }

// BindCancellationSlot connects the operation to s: an Emit on s's signal
// while the operation is pending cancels it, as far as the operation
// supports the emitted type.
func BindCancellationSlot(s CancellationSlot) OpOption { return slotOption{s.sig} }

// WithContext cancels the operation (terminal cancellation) when ctx is
// done. An operation started with a ctx that is already done completes with
// ErrOperationAborted.
func WithContext(ctx context.Context) OpOption { return contextOption{ctx} }

// OpSettings is what a list of per-op options says: for a user's own
// stream or composed operation, which must honour them as this package's
// operations do (run the handler on Executor, dispatch an immediate
// completion to ImmediateExecutor, install a handler in Slot, cancel when
// Context is done).
type OpSettings struct {
	Executor          Executor         // BindExecutor, or nil
	ImmediateExecutor Executor         // BindImmediateExecutor, or nil
	Slot              CancellationSlot // BindCancellationSlot, or the zero slot
	Context           context.Context  // WithContext, or nil
}

// ReadOpOptions returns the settings opts make.
func ReadOpOptions(opts ...OpOption) OpSettings {
	var c opConfig
	c.apply(opts)
	return OpSettings{Executor: c.ex, ImmediateExecutor: c.imm, Slot: CancellationSlot{c.slot}, Context: c.ctx}
}

// ContextOption configures NewIOContext.
type ContextOption func(*contextConfig)

type contextConfig struct {
	backend       Backend
	runtimePoller bool
	tracking      bool
}

// WithBackend selects the backend of a new IOContext.
func WithBackend(b Backend) ContextOption { return func(c *contextConfig) { c.backend = b } }

// WithRuntimePoller makes the epoll backend wait for readiness by parking the
// Run goroutine in the Go runtime's poller (the epoll descriptor is itself
// pollable) instead of blocking its thread in epoll_wait. Use it when the
// context shares its process with goroutines that keep every P busy (a
// server that also runs a load, a pool of workers): a thread blocked in a
// syscall loses its P and must queue for one when events arrive, a parked
// goroutine is woken like any network goroutine. On a core of its own
// (GOMAXPROCS=1, pinned), the default direct wait saves a syscall per
// wakeup; it keeps the thread's P for its first millisecond (so that a
// loop that waits often does not move between threads at every wait),
// after yielding to the goroutines ready to run; one readied during that
// millisecond waits for it to end. The ASIO_RUNTIME_POLL=1 environment
// variable turns the option on for every context.
func WithRuntimePoller() ContextOption { return func(c *contextConfig) { c.runtimePoller = true } }

// ListenOption configures ListenTCP.
type ListenOption func(*listenConfig)

type listenConfig struct {
	reuseAddr bool
	reusePort bool
	backlog   int // -1: the system's maximum
	v6Only    int // 0: system default, 1: on, -1: off
}

// sockOpt is one socket option to set.
type sockOpt struct {
	opt sys.Option
	v   int
}

// options returns the socket options to set on a listener for ep, before
// it is bound.
func (c *listenConfig) options(ep netip.AddrPort) []sockOpt {
	var out []sockOpt
	if c.reuseAddr {
		out = append(out, sockOpt{sys.OptReuseAddr, 1})
	}
	if c.reusePort {
		out = append(out, sockOpt{sys.OptReusePort, 1})
	}
	if c.v6Only != 0 && ep.Addr().Is6() && !ep.Addr().Is4In6() {
		out = append(out, sockOpt{sys.OptV6Only, boolInt(c.v6Only > 0)})
	}
	return out
}

// ReuseAddress sets SO_REUSEADDR on the listening socket. It is on by
// default, as in Asio's acceptor constructor.
func ReuseAddress() ListenOption { return func(c *listenConfig) { c.reuseAddr = true } }

// NoReuseAddress clears SO_REUSEADDR, which is otherwise set by default.
func NoReuseAddress() ListenOption { return func(c *listenConfig) { c.reuseAddr = false } }

// ReusePort sets SO_REUSEPORT, so that several acceptors (one per context,
// say) can listen on the same endpoint and the kernel spreads connections.
func ReusePort() ListenOption { return func(c *listenConfig) { c.reusePort = true } }

// Backlog sets the listen queue length (default: the system's maximum).
// The portable backend on Windows cannot set it.
func Backlog(n int) ListenOption { return func(c *listenConfig) { c.backlog = n } }

// V6Only sets IPV6_V6ONLY on an IPv6 listener; off, it also accepts IPv4.
func V6Only(on bool) ListenOption {
	return func(c *listenConfig) {
		c.v6Only = -1
		if on {
			c.v6Only = 1
		}
	}
}
