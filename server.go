package asio

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrServerClosed is returned by Serve, ListenAndServe and Listen once
// Shutdown or Close has been called.
var ErrServerClosed = errors.New("asio: server closed")

// ErrInHandler is returned by Shutdown and Close called from a handler
// running on one of the server's own contexts, which cannot wait for its
// own Run to return: the shutdown has begun and goes on without the caller
// (Serve returns when it is over).
var ErrInHandler = errors.New("asio: Server.Shutdown or Close called from one of the server's handlers: begun, not waited for")

// Server is a TCP server on a pool of IOContexts: what a server on this
// package otherwise writes by hand. It creates Contexts contexts, each run
// by a goroutine of its own, accepts connections and hands each accepted
// socket to Handler on the socket's own context, backs off on accept errors
// such as EMFILE, and shuts down gracefully or at once.
//
// Accepting: by default one acceptor, on the first context, hands the
// sockets it accepts to the contexts in turn (round robin, so that they
// spread evenly). With ReusePort every context has an acceptor of its own
// listening on the same endpoint with SO_REUSEPORT, and the kernel spreads
// the connections (by a hash of their addresses: evenly on average only).
//
// Work: the server holds a WorkGuard on every context while it accepts, so
// that a context without connections keeps running (the idiom every
// program with a context that waits for work from outside needs: without
// work, Run returns and the context stops). Shutdown releases the guards
// once the acceptors are closed; from then on a context's Run returns when
// its work runs out, that is when every operation of its connections has
// completed and every handler has run.
//
// Once Shutdown has released the guards, a context whose work has run out
// stops (Asio's rule): an operation initiated on it afterwards, from a
// handler of another context say, is accepted, but its handler runs only
// when the server closes that context, after every Run has returned (with
// the operation's result, or ErrOperationAborted if it was still pending).
// Keep a connection's operations on its own context.
//
// Lifecycle: Listen, then Serve (or ListenAndServe for both); Shutdown or
// Close, from any goroutine, end it; a Server is not reused after that.
// Configure the fields before Listen and do not change them after.
// Handlers must not Stop, Restart, Close or Run the server's contexts:
// a context stopped or closed from outside makes the server close.
//
// Every method is safe from any goroutine.
type Server struct {
	// Handler is called exactly once for every accepted connection, on the
	// executor of the socket's own context, and owns the socket: it starts
	// the connection's operations and closes it when done. It must not
	// block. Required.
	Handler func(s *TCPSocket)

	// Contexts is how many IOContexts serve connections, each run by one
	// goroutine; 0 means runtime.GOMAXPROCS(0).
	Contexts int

	// ReusePort gives every context an acceptor of its own, listening with
	// SO_REUSEPORT on the same endpoint; otherwise one acceptor spreads the
	// sockets over the contexts in turn. Note that SO_REUSEPORT lets
	// another process of the same user listen on the endpoint too.
	ReusePort bool

	// ContextOptions configure each new IOContext (WithBackend, ...).
	ContextOptions []ContextOption

	// ListenOptions configure each acceptor (Backlog, V6Only, ...);
	// ReusePort adds the ReusePort option itself.
	ListenOptions []ListenOption

	// OnShutdown, if set, is called once on each context's executor when
	// Shutdown begins: the place to close the context's idle connections
	// (kept-alive connections waiting for a request), which would otherwise
	// keep the server waiting until Shutdown's ctx ends. Handlers can also
	// ask ShuttingDown before they wait for another request. If Shutdown's
	// ctx has already ended, the call happens while the contexts close.
	OnShutdown func(ex Executor)

	// AcceptBackoffMin and AcceptBackoffMax bound the wait before retrying
	// a failed accept (EMFILE, ENFILE, ENOBUFS, ENOMEM, a network error):
	// it starts at AcceptBackoffMin (default 5ms), doubles at each failure
	// in a row up to AcceptBackoffMax (default 1s), and starts over after a
	// success. The wait is a Timer on the acceptor's context: no busy loop,
	// no goroutine.
	AcceptBackoffMin time.Duration
	AcceptBackoffMax time.Duration

	// OnAcceptError, if set, is called on the acceptor's context for every
	// accept that failed and will be retried, with the error (a *net.OpError
	// wrapping the syscall.Errno, so errors.Is(err, syscall.EMFILE) works)
	// and the wait before the retry. By default the error is logged with
	// the log package.
	OnAcceptError func(err error, retryIn time.Duration)

	mu       sync.Mutex
	state    serverState
	ctxs     []*IOContext
	accs     []*TCPAcceptor
	loops    []*acceptLoop
	addr     netip.AddrPort
	served   bool          // Serve started the Run goroutines
	running  int           // Run goroutines that have not returned
	done     chan struct{} // closed when every context is closed
	err      error         // why the server ended, if not Shutdown or Close
	stopping atomic.Bool   // Shutdown or Close began: accept no more
	hard     atomic.Bool   // Close (or a fault): close accepted sockets at once
}

type serverState uint8

const (
	serverNew       serverState = iota
	serverListening             // Listen succeeded
	serverServing               // Serve started the Run goroutines
	serverStopping              // Shutdown or Close began
	serverDone                  // every context closed
)

// Defaults of the accept back-off.
const (
	defaultAcceptBackoffMin = 5 * time.Millisecond
	defaultAcceptBackoffMax = time.Second
)

// ListenAndServe is Listen followed by Serve.
func (s *Server) ListenAndServe(ep netip.AddrPort) error {
	if err := s.Listen(ep); err != nil {
		return err
	}
	return s.Serve()
}

// Listen creates the contexts and the acceptors and listens on ep; Addr
// tells the endpoint (with the port the system chose for port 0).
// Connections wait in the listen queue until Serve. An error names the
// address and wraps the system's: errors.Is(err, syscall.EADDRINUSE) tells
// an endpoint in use. After Shutdown or Close it returns ErrServerClosed.
func (s *Server) Listen(ep netip.AddrPort) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case serverNew:
	case serverStopping, serverDone:
		return ErrServerClosed
	default:
		return fmt.Errorf("asio: Server.Listen: already listening on %v", s.addr)
	}
	if s.Handler == nil {
		return fmt.Errorf("asio: Server.Handler is nil: %w", ErrInvalidArgument)
	}
	n := s.Contexts
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	if n < 0 {
		return fmt.Errorf("asio: Server.Contexts is %d: %w", n, ErrInvalidArgument)
	}
	for range n {
		c, err := NewIOContext(s.ContextOptions...)
		if err != nil {
			s.abandonLocked()
			return err
		}
		s.ctxs = append(s.ctxs, c)
	}
	if err := s.listenLocked(ep); err != nil {
		s.abandonLocked()
		return err
	}
	s.done = make(chan struct{})
	s.state = serverListening
	return nil
}

// listenLocked opens the acceptors: one on the first context, or one per
// context on the same endpoint with ReusePort.
func (s *Server) listenLocked(ep netip.AddrPort) error {
	opts := s.ListenOptions
	n := 1
	if s.ReusePort {
		opts = append(opts[:len(opts):len(opts)], ReusePort())
		n = len(s.ctxs)
	}
	for i := range n {
		a, err := ListenTCP(s.ctxs[i].Executor(), ep, opts...)
		if err != nil {
			return &net.OpError{Op: "listen", Net: "tcp", Addr: net.TCPAddrFromAddrPort(ep), Err: err}
		}
		s.accs = append(s.accs, a)
		if i == 0 {
			s.addr = a.LocalEndpoint()
			ep = s.addr // the others share the port chosen for port 0
		}
	}
	return nil
}

// abandonLocked undoes a failed Listen.
func (s *Server) abandonLocked() {
	for _, a := range s.accs {
		a.Close()
	}
	for _, c := range s.ctxs {
		c.Close()
	}
	s.accs, s.ctxs, s.addr = nil, nil, netip.AddrPort{}
}

// Serve accepts connections and runs the contexts until the server ends,
// and returns once every context is closed, every Run goroutine has
// returned and every handler has run: ErrServerClosed after Shutdown or
// Close. If accepting fails for good (the listening socket broke), or a
// context was stopped or closed by something other than the server, the
// server closes as by Close and Serve returns that error. Serve before
// Listen, or a second Serve, returns an error at once.
func (s *Server) Serve() error {
	s.mu.Lock()
	switch s.state {
	case serverListening:
	case serverStopping, serverDone:
		s.mu.Unlock()
		return ErrServerClosed
	case serverNew:
		s.mu.Unlock()
		return errors.New("asio: Server.Serve before Listen")
	default:
		s.mu.Unlock()
		return errors.New("asio: Server.Serve called twice")
	}
	for i, c := range s.ctxs {
		if c.Stopped() {
			// A stopped context's Run returns at once: serving would
			// drop the connections it is given.
			err := fmt.Errorf("asio: Server.Serve: IOContext %d is stopped or closed: %w", i, ErrContextClosed)
			s.err = err
			s.mu.Unlock()
			s.close()
			return err
		}
	}
	s.state = serverServing
	s.served = true
	s.startLoopsLocked()
	s.running = len(s.ctxs)
	for i, c := range s.ctxs {
		go s.run(i, c)
	}
	done := s.done
	s.mu.Unlock()

	<-done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	return ErrServerClosed
}

// startLoopsLocked creates the accept loops and their work guards, and
// starts each loop's first accept.
func (s *Server) startLoopsLocked() {
	lo, hi := s.AcceptBackoffMin, s.AcceptBackoffMax
	if lo <= 0 {
		lo = defaultAcceptBackoffMin
	}
	if hi <= 0 {
		hi = defaultAcceptBackoffMax
	}
	hi = max(hi, lo)
	if s.ReusePort {
		for i, a := range s.accs {
			s.loops = append(s.loops, newAcceptLoop(s, a, s.ctxs[i:i+1], lo, hi))
		}
	} else {
		s.loops = append(s.loops, newAcceptLoop(s, s.accs[0], s.ctxs, lo, hi))
	}
	for _, l := range s.loops {
		l.accept()
	}
}

// run is the goroutine of context i. Run returns when the context's work
// runs out after Shutdown released the guards, or when it is stopped or
// closed; the last goroutine to return closes the contexts.
func (s *Server) run(i int, c *IOContext) {
	c.Run()
	s.mu.Lock()
	s.running--
	last := s.running == 0
	outside := !s.stopping.Load()
	if outside && s.err == nil {
		s.err = fmt.Errorf("asio: server IOContext %d stopped outside Shutdown or Close: %w", i, ErrContextClosed)
	}
	s.mu.Unlock()
	if outside {
		s.close() // not a handler any more: Run has returned
	}
	if last {
		s.finish()
	}
}

// finish closes every context (at once: their work has run out, or Close
// already did it) and marks the server done.
func (s *Server) finish() {
	for _, c := range s.ctxs {
		c.Close()
	}
	s.mu.Lock()
	s.state = serverDone
	s.mu.Unlock()
	close(s.done)
}

// Shutdown ends the server gracefully: it stops accepting (closing the
// acceptors), calls OnShutdown on each context, releases the server's work
// guards and waits until every context's work has run out, that is until
// every live connection has finished on its own; then it closes the
// contexts and returns nil. If ctx ends first, Shutdown closes the server
// as Close does (every pending operation completes with
// ErrOperationAborted, its handler running on the calling goroutine) and
// returns ctx.Err(); a ctx that has already ended does so at once.
//
// Calls may overlap: the shutdown begins once, and each call waits under
// its own ctx. A call after the server has ended returns nil, and so does a
// call before Listen (the server is then closed); a nil ctx never ends.
// Called from a handler running on one of the server's contexts, Shutdown
// begins the shutdown, hands the waiting (and the close when ctx ends) to a
// goroutine of its own and returns ErrInHandler at once; Serve returns when
// it is over. Safe from any goroutine.
func (s *Server) Shutdown(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	done, ok := s.begin(false)
	if !ok {
		return nil
	}
	if s.inHandler() {
		go s.await(ctx, done)
		return ErrInHandler
	}
	return s.await(ctx, done)
}

// await waits for the server to end; when ctx ends first it closes it.
func (s *Server) await(ctx context.Context, done chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	select {
	case <-done:
		return nil // ended on its own meanwhile
	default:
	}
	s.close()
	<-done
	return ctx.Err()
}

// Close ends the server at once: it stops accepting and closes every
// context, so that every pending operation completes with
// ErrOperationAborted (its handler running on the calling goroutine) and
// every socket is closed; it returns when every context is closed. A call
// after the server has ended, or before Listen, returns nil. Called from a
// handler running on one of the server's contexts, it closes them from a
// goroutine of its own and returns ErrInHandler at once. Safe from any
// goroutine.
func (s *Server) Close() error {
	done, ok := s.begin(true)
	if !ok {
		return nil
	}
	if s.inHandler() {
		go s.close()
		return ErrInHandler
	}
	s.close()
	<-done
	return nil
}

// begin stops accepting, once: it closes the acceptors, cancels the
// back-off waits and posts OnShutdown to each context (the first time
// only). It returns the channel closed when the server has ended, and
// false if there is nothing to wait for (never listened, already ended).
// A server that listened but never served is closed here.
func (s *Server) begin(hard bool) (chan struct{}, bool) {
	s.mu.Lock()
	if hard {
		s.hard.Store(true)
	}
	st := s.state
	switch st {
	case serverNew, serverDone:
		s.state = serverDone
		s.mu.Unlock()
		return nil, false
	case serverListening, serverServing:
		s.state = serverStopping
		s.stopping.Store(true)
		if s.OnShutdown != nil && !hard {
			for _, c := range s.ctxs {
				ex := c.Executor()
				ex.Post(func() { s.OnShutdown(ex) })
			}
		}
	}
	done := s.done
	s.mu.Unlock()

	for _, a := range s.accs {
		a.Close() // a pending accept completes with ErrOperationAborted
	}
	for _, l := range s.loops {
		l.timer.Cancel()
	}
	if st == serverListening {
		s.finish() // no Run goroutine: close here
	}
	return done, true
}

// close stops accepting and closes every context; the Run goroutines
// return, and the last one marks the server done.
func (s *Server) close() {
	s.mu.Lock()
	s.hard.Store(true)
	s.stopping.Store(true)
	idle := s.state == serverListening // no Run goroutine to finish
	if s.state == serverListening || s.state == serverServing {
		s.state = serverStopping
	}
	s.mu.Unlock()
	for _, a := range s.accs {
		a.Close()
	}
	for _, c := range s.ctxs {
		c.Close()
	}
	if idle {
		s.finish()
	}
}

// inHandler reports whether the caller runs a handler of one of the
// server's contexts (and so cannot wait for their Run to return).
func (s *Server) inHandler() bool {
	s.mu.Lock()
	ctxs := s.ctxs
	if !s.served || s.state == serverDone {
		ctxs = nil // no Run goroutine, no handler of ours running
	}
	s.mu.Unlock()
	for _, c := range ctxs {
		if runningIn(c) {
			return true
		}
	}
	return false
}

// runningIn reports whether the calling goroutine runs one of c's handlers
// (inside Run, or inside Close's drain): Dispatch runs f inline exactly
// then. Elsewhere f is posted, and records another goroutine when it runs.
func runningIn(c *IOContext) bool {
	me := goid()
	var ran atomic.Uint64
	c.Executor().Dispatch(func() { ran.Store(goid()) })
	return ran.Load() == me
}

// ShuttingDown reports whether Shutdown or Close has begun: a handler asks
// it before waiting for another request on a kept-alive connection, and
// closes the connection instead. Safe from any goroutine.
func (s *Server) ShuttingDown() bool { return s.stopping.Load() }

// Addr returns the endpoint the server listens on (with the port the system
// chose for port 0), or the zero AddrPort before Listen.
func (s *Server) Addr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// IOContexts returns the server's contexts (nil before Listen), for work of
// the application's own on them: posting, timers, client connections.
// The server runs and closes them; do not Stop, Restart, Close or Run them.
func (s *Server) IOContexts() []*IOContext {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*IOContext(nil), s.ctxs...)
}

// fail ends the server on an error accepting cannot recover from: it
// records the error for Serve and closes the server from a goroutine of its
// own (fail runs in a handler, which cannot wait for its own context).
func (s *Server) fail(err error) {
	s.mu.Lock()
	if s.stopping.Load() {
		s.mu.Unlock()
		return
	}
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	go s.close()
}

func (s *Server) acceptError(err error, retryIn time.Duration) {
	if s.OnAcceptError != nil {
		s.OnAcceptError(err, retryIn)
		return
	}
	log.Printf("asio: %v; retrying in %v", err, retryIn)
}

// acceptLoop keeps one accept pending on an acceptor, or one back-off wait
// after a failure, never both; all of its methods run on the acceptor's
// context, one at a time.
type acceptLoop struct {
	s        *Server
	acc      *TCPAcceptor
	timer    *Timer
	targets  []Executor   // where accepted sockets go, in turn
	guards   []*WorkGuard // keep the targets running; released when the loop ends
	next     int          // index in targets of the next socket
	delay    time.Duration
	lo, hi   time.Duration
	onAccept func(*TCPSocket, error)
	onTimer  func(error)
}

func newAcceptLoop(s *Server, a *TCPAcceptor, targets []*IOContext, lo, hi time.Duration) *acceptLoop {
	l := &acceptLoop{s: s, acc: a, timer: NewTimer(a.Executor()), lo: lo, hi: hi}
	for _, c := range targets {
		l.targets = append(l.targets, c.Executor())
		l.guards = append(l.guards, NewWorkGuard(c.Executor()))
	}
	l.onAccept, l.onTimer = l.accepted, l.retry
	return l
}

func (l *acceptLoop) accept() {
	l.acc.AsyncAcceptOn(l.targets[l.next], l.onAccept)
}

// accepted hands the socket over and accepts the next, or ends the loop
// once the server stops accepting.
func (l *acceptLoop) accepted(sock *TCPSocket, err error) {
	if err == nil {
		l.delay = 0
		l.next = (l.next + 1) % len(l.targets)
		l.handOff(sock)
		if l.s.stopping.Load() {
			l.end()
			return
		}
		l.accept()
		return
	}
	if l.s.stopping.Load() {
		l.end()
		return
	}
	if errors.Is(err, ErrOperationAborted) || errors.Is(err, ErrBadDescriptor) {
		// Only the server closes its acceptors, and it is not stopping:
		// the context was closed from outside.
		err = fmt.Errorf("asio: server IOContext closed outside Shutdown or Close: %w (%w)", ErrContextClosed, err)
	}
	err = &net.OpError{Op: "accept", Net: "tcp", Addr: net.TCPAddrFromAddrPort(l.acc.LocalEndpoint()), Err: err}
	if fatalAcceptError(err) {
		l.s.fail(err)
		l.end()
		return
	}
	l.backOff(err)
}

// handOff gives the socket to Handler on the socket's own context: at once
// when that is this context, through its executor otherwise. A socket
// accepted while the server closes is closed instead.
func (l *acceptLoop) handOff(sock *TCPSocket) {
	if l.s.hard.Load() {
		sock.Close()
		return
	}
	h := l.s.Handler
	ex := sock.Executor()
	if ex.Context() == l.acc.Executor().Context() {
		h(sock)
		return
	}
	ex.Post(func() { h(sock) }) // counts as work before the guards go
}

// backOff waits before the next accept: lo, then twice as long after each
// failure in a row, up to hi.
func (l *acceptLoop) backOff(err error) {
	l.delay = min(max(2*l.delay, l.lo), l.hi)
	l.s.acceptError(err, l.delay)
	l.timer.ExpiresAfter(l.delay)
	l.timer.AsyncWait(l.onTimer)
	if l.s.stopping.Load() {
		// Shutdown may have cancelled the timer before this wait began.
		l.timer.Cancel()
	}
}

func (l *acceptLoop) retry(error) {
	if l.s.stopping.Load() {
		l.end()
		return
	}
	l.accept()
}

// end releases the loop's work guards: no socket will be handed to the
// targets any more, so their Run may return when their work runs out.
func (l *acceptLoop) end() {
	for _, g := range l.guards {
		g.Reset()
	}
}

// fatalAcceptError reports whether an accept error means the listening
// socket cannot accept any more (closed, not listening): every other error
// (out of descriptors or memory, a network error of the pending
// connection) is retried after a back-off, as accept(2) advises.
func fatalAcceptError(err error) bool {
	for _, e := range []error{ErrBadDescriptor, ErrOperationAborted, ErrContextClosed,
		syscall.EBADF, syscall.EINVAL, syscall.ENOTSOCK, syscall.EFAULT} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
