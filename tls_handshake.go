package asio

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"
)

// tlsHandshake is the state of a handshake in progress. It lives from
// AsyncHandshake until the handler is called.
//
// The handshake runs crypto/tls's HandshakeContext on a goroutine of its
// own, whose transport reads wait on wake for the next-layer reads the
// goroutine starts (their handler runs on the executor and only buffers the
// ciphertext). The end is always delivered through the loop: a wait on a
// timer that never expires is pending for as long as the goroutine lives;
// the goroutine cancels it when the handshake returns, and its handler
// completes the handshake on the executor. The wait also counts as work, so
// Run does not return while the goroutine computes, and IOContext.Close,
// which aborts it, reaches a handshake in any state: its handler then ends
// the handshake, waits for the goroutine (which fails at its next transport
// call) and calls the handler on Close's goroutine, as Close promises.
type tlsHandshake struct {
	h     func(err error)
	ex    Executor // where h runs
	timer *Timer
	wake  chan struct{} // the loop tells the goroutine that input or an error came
	done  chan struct{} // closed when the goroutine returns

	reading   bool // a next-layer read for the goroutine is in flight
	step      [1][]byte
	readH     func(n int, err error)
	readOpts  [1]OpOption
	rsig      CancellationSignal // cancels the read in flight
	finished  bool               // the goroutine's HandshakeContext returned err
	err       error
	dead      error // a cancellation or Close ended the handshake: every transport call fails with it
	waitFlush bool  // the result waits for the output to be written

	slot CancellationSlot
	stop func() bool
}

// handshakeForever is the expiry of the handshake's timer wait: never, in
// practice, without overflowing the context's clock.
const handshakeForever = 100 * 365 * 24 * time.Hour

// AsyncHandshake performs the TLS handshake as a client or a server, and
// passes h nil once it has completed and its last flight has been written
// to the next layer, or the error that ended it: crypto/tls's own
// (tls.RecordHeaderError for a peer that does not speak TLS,
// *tls.CertificateVerificationError for a certificate that does not
// verify, a *net.OpError "remote error" for a peer's alert), the next
// layer's (io.EOF,
// ErrTimeout from a TCPStream's deadline), or ErrOperationAborted when
// cancelled or closed. A server needs a tls.Config with certificates.
//
// It runs crypto/tls's handshake on a goroutine that ends with it; h runs
// on the executor. A WithContext context's values reach crypto/tls's
// callbacks (ClientHelloInfo.Context); its cancellation, and a terminal
// cancellation through a slot, abort the handshake. A second AsyncHandshake
// completes with ErrOperationInProgress while one runs, and with the first
// one's result after it.
func (s *TLSStream) AsyncHandshake(t HandshakeType, h func(err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	st := ReadOpOptions(opts...)
	s.mu.Lock()
	if err := s.handshakeRefusalLocked(t, st.Context); err != nil || s.phase == tlsEstablished {
		s.mu.Unlock()
		s.refuseErr(opts, h, err)
		return
	}
	hs := &tlsHandshake{h: h, ex: s.ex, wake: make(chan struct{}, 1), done: make(chan struct{})}
	hs.readH = func(n int, err error) { s.onHandshakeRead(hs, n, err) }
	hs.readOpts[0] = BindCancellationSlot(hs.rsig.Slot())
	var waitOpts []OpOption
	if st.Executor != nil {
		hs.ex = st.Executor
		waitOpts = []OpOption{BindExecutor(st.Executor)}
	}
	if t == HandshakeServer {
		s.conn = tls.Server(&s.t, s.cfg)
	} else {
		s.conn = tls.Client(&s.t, s.cfg)
	}
	s.phase, s.hs = tlsHandshaking, hs
	hs.timer = NewTimer(s.ex)
	hs.timer.ExpiresAfter(handshakeForever)
	s.mu.Unlock()

	hs.timer.AsyncWait(s.onHandshakeEnd, waitOpts...)
	s.watchHandshake(hs, st)
	ctx := context.Background()
	if st.Context != nil {
		ctx = context.WithoutCancel(st.Context) // values, but no watcher goroutine in crypto/tls
	}
	go s.handshake(hs, s.conn, ctx)
}

// handshakeRefusalLocked says why a handshake cannot start, or nil.
func (s *TLSStream) handshakeRefusalLocked(t HandshakeType, ctx context.Context) error {
	switch {
	case s.closed:
		return ErrBadDescriptor
	case s.phase == tlsHandshaking:
		return ErrOperationInProgress
	case s.phase == tlsEstablished:
		return nil
	case s.phase == tlsFailed:
		return s.hsErr
	case t != HandshakeClient && t != HandshakeServer:
		return fmt.Errorf("%w: handshake type %d", ErrInvalidArgument, int(t))
	case t == HandshakeServer && s.cfg == nil:
		return fmt.Errorf("%w: a TLS server needs a tls.Config", ErrInvalidArgument)
	case ctx != nil && ctx.Err() != nil:
		return ErrOperationAborted
	}
	return nil
}

// watchHandshake connects the handshake to its caller's slot and context:
// either aborts it.
func (s *TLSStream) watchHandshake(hs *tlsHandshake, st OpSettings) {
	if !st.Slot.IsConnected() && st.Context == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if hs.finished {
		return
	}
	if st.Slot.IsConnected() {
		hs.slot = st.Slot
		st.Slot.Assign(func(t CancellationType) {
			if t&CancelTerminal != 0 {
				s.abortHandshake(ErrOperationAborted)
			}
		})
	}
	if st.Context != nil && st.Context.Done() != nil {
		hs.stop = context.AfterFunc(st.Context, func() { s.abortHandshake(ErrOperationAborted) })
	}
}

// handshake is the goroutine: it runs crypto/tls's handshake, records the
// result and ends the timer wait, whose handler completes the operation.
func (s *TLSStream) handshake(hs *tlsHandshake, c *tls.Conn, ctx context.Context) {
	err := c.HandshakeContext(ctx)
	s.mu.Lock()
	hs.finished, hs.err = true, err
	s.mu.Unlock()
	close(hs.done)
	hs.timer.Cancel()
}

// handshakeFailedLocked says why a read of the goroutine's must fail once
// the buffered input is used up, or nil: the handshake was aborted, or the
// next layer failed a read or a write.
func (s *TLSStream) handshakeFailedLocked() error {
	switch {
	case s.hs.dead != nil:
		return s.hs.dead
	case s.rerr != nil:
		return s.rerr
	}
	return s.werr
}

// signal wakes the goroutine if it waits for input; never blocks.
func (hs *tlsHandshake) signal() {
	select {
	case hs.wake <- struct{}{}:
	default:
	}
}

// onHandshakeRead buffers what a next-layer read brought in for the
// goroutine and wakes it.
func (s *TLSStream) onHandshakeRead(hs *tlsHandshake, n int, err error) {
	s.mu.Lock()
	hs.reading = false
	hs.step[0] = nil
	if s.hs != hs || s.phase != tlsHandshaking {
		// Close aborted the handshake first; the buffer was let go.
		s.mu.Unlock()
		return
	}
	s.inEnd += n
	if err == nil && n == 0 {
		err = errors.New("asio: the next layer read nothing")
	}
	if err != nil && s.rerr == nil {
		s.rerr = err
	}
	s.mu.Unlock()
	hs.signal()
}

// abortHandshake ends a handshake in progress with err: the goroutine's
// transport calls fail from now on, and the read in flight is cancelled.
func (s *TLSStream) abortHandshake(err error) {
	s.mu.Lock()
	hs := s.hs
	if s.phase != tlsHandshaking || hs.finished || hs.dead != nil {
		s.mu.Unlock()
		return
	}
	hs.dead = err
	reading := hs.reading
	s.mu.Unlock()
	if reading {
		hs.rsig.Emit(CancelAll)
	}
	hs.signal()
}

// onHandshakeEnd is the handler of the timer wait: the goroutine has
// returned (it cancelled the wait), or Close aborted the wait first.
func (s *TLSStream) onHandshakeEnd(error) {
	s.mu.Lock()
	hs := s.hs
	if !hs.finished {
		s.mu.Unlock()
		s.abortHandshake(ErrOperationAborted)
		<-hs.done // not long: the goroutine's next transport call fails
		s.mu.Lock()
	}
	err := hs.err
	if hs.dead != nil {
		err = hs.dead
	}
	if hs.slot.IsConnected() {
		hs.slot.Clear()
	}
	if hs.stop != nil {
		hs.stop()
	}
	if err != nil {
		s.phase, s.hsErr = tlsFailed, err
	} else {
		s.phase = tlsEstablished
	}
	if hs.reading {
		// Aborted under a read in flight (Close): its buffer is not ours to
		// reuse until it completes; leave it to the collector.
		s.inb, s.inOff, s.inEnd = nil, 0, 0
	} else {
		s.releaseInputLocked()
	}
	if s.flushing && hs.dead == nil {
		hs.waitFlush = true // onFlush calls h once the last flight is out
		s.mu.Unlock()
		return
	}
	s.hs = nil
	s.mu.Unlock()
	hs.h(err)
}

// flushedHandshakeLocked completes a handshake that waited for its output:
// werr, if writing it failed, becomes the handshake's result. The handler
// is posted to its executor, since the write ran on the stream's.
func (s *TLSStream) flushedHandshakeLocked(werr error) func() {
	hs := s.hs
	if hs == nil || !hs.waitFlush {
		return nil
	}
	s.hs = nil
	err := s.hsErr
	if werr != nil && err == nil {
		err = werr
		s.phase, s.hsErr = tlsFailed, werr
	}
	return func() { hs.ex.Post(func() { hs.h(err) }) }
}
