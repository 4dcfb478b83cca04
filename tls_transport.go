package asio

import (
	"net"
	"net/netip"
	"time"
)

// tlsTransport is the net.Conn that a TLSStream's crypto/tls Conn reads
// ciphertext from and writes ciphertext to. It never touches a descriptor:
// reads take what the stream's next-layer reads brought in, writes append to
// the stream's output buffer, which the stream writes to the next layer.
//
// During the handshake, which runs on a goroutine of its own, a Read with
// nothing buffered starts a next-layer read and waits for it (crypto/tls
// keeps a handshake error for good, so the handshake must not see "not
// yet"). Once established, a Read with nothing buffered answers
// errWouldBlock, a net.Error whose Temporary is true: crypto/tls's record
// layer returns it without recording it (Go's crypto/tls conn.go,
// readRecordOrCCS), keeps the part of the record it has, and the next
// Conn.Read goes on from there. Writes never wait.
type tlsTransport struct{ s *TLSStream }

// tlsWouldBlock is the transport's "not yet".
type tlsWouldBlock struct{}

func (tlsWouldBlock) Error() string   { return "asio: no TLS input yet" }
func (tlsWouldBlock) Timeout() bool   { return false }
func (tlsWouldBlock) Temporary() bool { return true }

var errWouldBlock net.Error = tlsWouldBlock{}

// Read hands crypto/tls the buffered ciphertext, at most up to the end of
// the current record (see recordTracker).
func (t *tlsTransport) Read(p []byte) (int, error) {
	s := t.s
	s.mu.Lock()
	for {
		if s.inOff < s.inEnd {
			n := s.rec.take(s.inb.b[s.inOff:s.inEnd], len(p))
			copy(p, s.inb.b[s.inOff:s.inOff+n])
			s.inOff += n
			s.mu.Unlock()
			return n, nil
		}
		if s.phase != tlsHandshaking {
			err := s.rerr
			s.mu.Unlock()
			if err == nil {
				return 0, errWouldBlock
			}
			return 0, err
		}
		hs := s.hs
		if err := s.handshakeFailedLocked(); err != nil {
			s.mu.Unlock()
			return 0, err
		}
		if !hs.reading {
			hs.reading = true
			hs.step[0] = s.inputSpaceLocked(tlsBufClasses[2])
			s.mu.Unlock()
			s.next.AsyncReadSome(hs.step[:], hs.readH, hs.readOpts[:]...)
			s.mu.Lock()
			aborted := hs.dead != nil
			s.mu.Unlock()
			if aborted { // abortHandshake came before the read could hear it
				hs.rsig.Emit(CancelAll)
			}
		} else {
			s.mu.Unlock()
			<-hs.wake
		}
		s.mu.Lock()
	}
}

// Write appends ciphertext to the output and starts writing it, unless a
// next-layer write is in flight (its completion goes on with the rest) or a
// TLSStream write is encrypting (it starts the flush with its own options).
func (t *tlsTransport) Write(p []byte) (int, error) {
	s := t.s
	s.mu.Lock()
	if err := s.writeFailedLocked(); err != nil {
		s.mu.Unlock()
		return 0, err
	}
	s.appendOutLocked(p)
	if s.flushing || s.encrypting > 0 {
		s.mu.Unlock()
		return len(p), nil
	}
	s.flushStartLocked(false)
	s.mu.Unlock()
	s.issueFlush(nil)
	return len(p), nil
}

// writeFailedLocked says why no more ciphertext can be written.
func (s *TLSStream) writeFailedLocked() error {
	if s.werr != nil {
		return s.werr
	}
	if s.phase == tlsHandshaking {
		return s.hs.dead
	}
	return nil
}

// Close closes the stream once the output written so far is out: it is
// what a user calls on tls.RecordHeaderError's Conn after writing a plain
// answer to a client that does not speak TLS. crypto/tls never calls it
// here (the stream never calls Conn.Close).
func (t *tlsTransport) Close() error {
	s := t.s
	s.mu.Lock()
	if s.flushing {
		s.closeOnDone = true
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	return s.Close()
}

// LocalAddr and RemoteAddr are the next layer's endpoints when it has them
// (a TCPSocket or a TCPStream), for GetCertificate's ClientHelloInfo.Conn
// and the like.
func (t *tlsTransport) LocalAddr() net.Addr { return t.addr(true) }

func (t *tlsTransport) RemoteAddr() net.Addr { return t.addr(false) }

func (t *tlsTransport) addr(local bool) net.Addr {
	var sock *TCPSocket
	switch n := t.s.next.(type) {
	case *TCPSocket:
		sock = n
	case *TCPStream:
		sock = n.Socket()
	}
	if sock != nil {
		var ep netip.AddrPort
		var err error
		if local {
			ep, err = sock.LocalEndpoint()
		} else {
			ep, err = sock.RemoteEndpoint()
		}
		if err == nil {
			return net.TCPAddrFromAddrPort(ep)
		}
	}
	return tlsNoAddr{}
}

// tlsNoAddr stands for the address of a stream that has none to tell.
type tlsNoAddr struct{}

func (tlsNoAddr) Network() string { return "asio" }
func (tlsNoAddr) String() string  { return "asio-stream" }

// Deadlines are the next layer's business (a TCPStream's); crypto/tls sets
// one only around sending close_notify from Conn.Close, which the stream
// never calls.
func (t *tlsTransport) SetDeadline(time.Time) error      { return nil }
func (t *tlsTransport) SetReadDeadline(time.Time) error  { return nil }
func (t *tlsTransport) SetWriteDeadline(time.Time) error { return nil }

// inputSpaceLocked returns the free space the next read of ciphertext goes
// into, at least want bytes; everything buffered has been handed over.
func (s *TLSStream) inputSpaceLocked(want int) []byte {
	s.inOff, s.inEnd = 0, 0
	if s.inb != nil && (len(s.inb.b) < want || len(s.inb.b) > 4*want) {
		putTLSBuf(s.inb)
		s.inb = nil
	}
	if s.inb == nil {
		s.inb = getTLSBuf(want)
	}
	return s.inb.b
}

// releaseInputLocked gives the input buffer back once it is drained.
func (s *TLSStream) releaseInputLocked() {
	if s.inb != nil && s.inOff == s.inEnd {
		putTLSBuf(s.inb)
		s.inb = nil
		s.inOff, s.inEnd = 0, 0
	}
}

// appendOutLocked appends ciphertext to the output. The buffer comes from
// the pool, sized for the write being encrypted; if it must grow while a
// next-layer write holds it, the old one is left to the collector.
func (s *TLSStream) appendOutLocked(p []byte) {
	need := len(s.out) + len(p)
	switch {
	case s.outb == nil:
		s.outb = getTLSBuf(max(need, s.outReserve))
		s.out, s.outOff = s.outb.b[:0], 0
	case need > cap(s.out):
		nb := getTLSBuf(max(need, 2*cap(s.out)))
		copy(nb.b, s.out)
		if !s.flushing {
			putTLSBuf(s.outb)
		}
		s.outb, s.out = nb, nb.b[:len(s.out)]
	}
	s.out = append(s.out, p...)
}

// releaseOutputLocked gives the output buffer back; nothing is in flight.
func (s *TLSStream) releaseOutputLocked() {
	putTLSBuf(s.outb)
	s.outb, s.out, s.outOff = nil, nil, 0
}
