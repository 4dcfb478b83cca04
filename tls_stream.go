package asio

import (
	"crypto/tls"
	"errors"
	"sync"
)

// HandshakeType says which side of the TLS handshake a stream takes.
type HandshakeType int

const (
	// HandshakeClient makes the stream a TLS client (crypto/tls's Client).
	HandshakeClient HandshakeType = iota
	// HandshakeServer makes the stream a TLS server (crypto/tls's Server).
	HandshakeServer
)

func (t HandshakeType) String() string {
	switch t {
	case HandshakeClient:
		return "client"
	case HandshakeServer:
		return "server"
	}
	return "HandshakeType(?)"
}

// ErrHandshakeRequired completes a read, write or shutdown of a TLSStream
// whose handshake has not completed (not started, or still running).
var ErrHandshakeRequired = errors.New("asio: TLS handshake not done")

// tlsPhase is where a TLSStream is in its life.
type tlsPhase uint8

const (
	tlsNew         tlsPhase = iota // no handshake yet
	tlsHandshaking                 // the handshake's goroutine runs
	tlsEstablished                 // records move through the next layer's async ops
	tlsFailed                      // the handshake failed: hsErr
)

// TLSStream is Asio's ssl::stream (Beast's ssl_stream): TLS over any
// AsyncStream — a TCPSocket, a TCPStream for deadlines, or a user's stream —
// on the standard library's crypto/tls. Certificates, GetCertificate, ALPN,
// SNI, client authentication, session tickets, TLS 1.2 and 1.3 come from
// the tls.Config, as Go users know them; ConnectionState reports what was
// negotiated.
//
// The handshake (AsyncHandshake) runs crypto/tls's Handshake on a goroutine
// of its own that lives only as long as the handshake: its reads wait for
// the ciphertext that the stream's async reads on the next layer bring in,
// its writes are sent by async writes, and its result is delivered to the
// handler on the executor, never on that goroutine; Run is never blocked.
// Once established, a stream holds no goroutine: AsyncReadSome hands the
// ciphertext its next-layer read brought in to crypto/tls's Conn.Read,
// which decrypts it into the caller's buffers (a "not yet" from the
// transport, when a record is incomplete, leaves crypto/tls usable and
// starts the next read); AsyncWriteSome encrypts with Conn.Write into a
// ciphertext buffer of the stream's own and completes, with the count of
// plaintext bytes, once the next layer has written it all. TLS 1.3's
// post-handshake messages (session tickets, KeyUpdate) are handled by
// crypto/tls during reads, and what it answers is written in order with
// the stream's writes. Ciphertext buffers are pooled: an idle stream keeps
// only the small buffer of its pending read.
//
// The five rules of the package hold. At most one read and one write
// (AsyncWriteSome or AsyncShutdown) may be pending; another completes with
// ErrOperationInProgress. Reads, writes and shutdowns before the handshake
// has completed complete with ErrHandshakeRequired, after a failed one with
// its error. A peer's close_notify reads as io.EOF; a stream cut without
// one reads as crypto/tls reports it (io.EOF at a record boundary,
// io.ErrUnexpectedEOF inside a record). Handshake failures keep
// crypto/tls's errors: tls.RecordHeaderError, *tls.CertificateVerificationError,
// and a peer's alert as crypto/tls reports it over TCP (a *net.OpError
// "remote error"; its tls.AlertError is QUIC's); a handshake cancelled or
// closed under completes with ErrOperationAborted, and errors of the next
// layer (ErrTimeout from a TCPStream's deadline) come through as they are.
//
// Per-operation options are honoured as by the package's own operations
// and forwarded to the next layer's operations of each step (the handler's
// executor and immediate executor, cancellation). A pending read supports
// the cancellation types the next layer's read supports (terminal, partial
// and total on the package's streams): the bytes of a record read so far
// stay buffered and the stream stays usable. A write supports terminal
// cancellation only: a record cut in the middle cannot be resumed, so a
// cancelled write leaves the write side unusable (later writes complete
// with ErrOperationAborted); close the stream. A handshake supports
// terminal cancellation.
//
// A TLSStream satisfies AsyncStream, so AsyncWrite, AsyncRead,
// AsyncReadUntil and WriteQueue work over it; deadlines and rate limits
// are the next layer's (a TCPStream's deadline ends a stalled handshake
// with ErrTimeout). Renegotiation (TLS 1.2) is not supported. Every method
// is safe from any goroutine.
type TLSStream struct {
	next AsyncStream
	ex   Executor
	cfg  *tls.Config
	t    tlsTransport // the net.Conn that crypto/tls reads and writes

	mu     sync.Mutex
	conn   *tls.Conn
	phase  tlsPhase
	hsErr  error         // why the handshake failed, in phase tlsFailed
	hs     *tlsHandshake // the handshake in progress, or waiting for its output to go out
	closed bool

	// Ciphertext in: inb.b[inOff:inEnd] has not been handed to crypto/tls.
	inb          *tlsBuf
	inOff, inEnd int
	rec          recordTracker
	rerr         error // io.EOF once the next layer reported it (any error during the handshake)

	// Ciphertext out: out[outOff:] is still to be written to the next layer.
	outb        *tlsBuf
	out         []byte
	outOff      int
	outReserve  int  // room to reserve for the write being encrypted
	encrypting  int  // writes being encrypted: they start the flush themselves
	flushing    bool // a next-layer write of out is in flight
	flushOwned  bool // ... issued with the options of the pending write
	flushStep   [1][]byte
	flushH      func(n int, err error)
	werr        error // the write side is broken: a write failed or was cancelled
	closeOnDone bool  // Close once the output is written (tlsTransport.Close)

	rd, wr tlsOp
}

// NewTLSStream returns a stream that runs TLS with cfg over next, which it
// owns from now on; AsyncHandshake starts it. A nil cfg is crypto/tls's
// default client configuration (a server needs certificates). cfg must not
// be modified after the stream has started its handshake; one cfg may serve
// many streams, as with crypto/tls.
func NewTLSStream(next AsyncStream, cfg *tls.Config) *TLSStream {
	if next == nil {
		panic("asio: NewTLSStream over a nil stream")
	}
	s := &TLSStream{next: next, ex: next.Executor(), cfg: cfg}
	s.t.s = s
	s.flushH = s.onFlush
	s.rd.init(s, CancelAll)
	s.wr.init(s, CancelTerminal)
	s.rd.stepH = s.onReadStep
	return s
}

// NextLayer returns the stream TLS runs over (Beast's next_layer). Reading
// or writing it directly while TLS is in use breaks the TLS session.
func (s *TLSStream) NextLayer() AsyncStream { return s.next }

// Executor returns the executor the stream's handlers run on by default:
// the next layer's.
func (s *TLSStream) Executor() Executor { return s.ex }

// ConnectionState returns crypto/tls's state of the connection: the
// version, cipher suite, ALPN protocol, server name, peer certificates and
// whether the session was resumed. Before the handshake has ended it is the
// zero state (it never waits for the handshake).
func (s *TLSStream) ConnectionState() tls.ConnectionState {
	s.mu.Lock()
	c, phase := s.conn, s.phase
	s.mu.Unlock()
	if c == nil || phase == tlsHandshaking {
		return tls.ConnectionState{}
	}
	return c.ConnectionState()
}

// Close closes the next layer (if it has a Close method): pending
// operations complete with ErrOperationAborted (a handshake too), later
// ones with ErrBadDescriptor. It sends no close_notify: AsyncShutdown does.
func (s *TLSStream) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.abortHandshake(ErrOperationAborted)
	if c, ok := s.next.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// usableLocked returns why a read, write or shutdown cannot start, or nil.
func (s *TLSStream) usableLocked() error {
	switch {
	case s.closed:
		return ErrBadDescriptor
	case s.phase == tlsEstablished:
		return nil
	case s.phase == tlsFailed:
		return s.hsErr
	}
	return ErrHandshakeRequired
}

// refuseN and refuseErr complete a refused operation with err; they keep
// the closure out of the callers, whose err would otherwise live on the
// heap on every call.
func (s *TLSStream) refuseN(opts []OpOption, h func(int, error), err error) {
	s.refuse(opts, func() { h(0, err) })
}

func (s *TLSStream) refuseErr(opts []OpOption, h func(error), err error) {
	s.refuse(opts, func() { h(err) })
}

// refuse completes an operation that did not start, as an immediate
// completion: posted to the handler's executor, or dispatched to its bound
// immediate executor. The closure allocates; refusals are not a hot path.
func (s *TLSStream) refuse(opts []OpOption, f func()) {
	st := ReadOpOptions(opts...)
	if st.ImmediateExecutor != nil {
		st.ImmediateExecutor.Dispatch(f)
		return
	}
	ex := s.ex
	if st.Executor != nil {
		ex = st.Executor
	}
	ex.Post(f)
}
