package asio

import (
	"errors"
	"io"
)

// AsyncReadSome reads some plaintext into b and passes the count to h: what
// crypto/tls has already decrypted, else the next record once the next
// layer has brought it in (as many next-layer reads as the record needs).
// io.EOF reports the peer's close_notify, or a stream cut at a record
// boundary; io.ErrUnexpectedEOF a stream cut inside a record. An empty b
// completes with (0, nil). It supports the cancellation types of the next
// layer's AsyncReadSome; a cancelled read leaves what it received buffered
// for the next one.
func (s *TLSStream) AsyncReadSome(b Buffers, h func(n int, err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	r := &s.rd
	s.mu.Lock()
	err := s.usableLocked()
	empty := b.Len() == 0
	if err == nil && r.pending && !empty {
		err = ErrOperationInProgress
	}
	if err != nil || (empty && r.pending) {
		s.mu.Unlock()
		s.refuseN(opts, h, err)
		return
	}
	r.h = h
	r.bufs = append(r.bufs[:0], b...)
	if r.beginLocked(opts) {
		d := r.resultLocked(0, ErrOperationAborted, true)
		s.mu.Unlock()
		d.post()
		return
	}
	if empty {
		// (0, nil), posted through the op, allocating nothing: what
		// AsyncReadUntil's last step over a found delimiter does.
		d := r.resultLocked(0, nil, true)
		s.mu.Unlock()
		d.post()
		return
	}
	buffered := s.inOff < s.inEnd || r.more
	s.mu.Unlock()
	if buffered {
		if n, err := s.decrypt(r); n > 0 || err != errWouldBlock {
			s.mu.Lock()
			d := r.resultLocked(n, err, true)
			s.mu.Unlock()
			d.post()
			return
		}
	}
	s.readMore()
}

// decrypt reads plaintext into the op's buffers with crypto/tls's
// Conn.Read, as long as it has some without more input. It returns
// errWouldBlock when it has none.
func (s *TLSStream) decrypt(r *tlsOp) (int, error) {
	total := 0
	for _, b := range r.bufs {
		if len(b) == 0 {
			continue
		}
		n, err := s.conn.Read(b)
		total += n
		r.more = err == nil && n == len(b)
		switch {
		case err != nil && total > 0:
			// Not yet, or an error crypto/tls keeps for the next read.
			return total, nil
		case err != nil:
			if errors.Is(err, errWouldBlock) {
				return 0, errWouldBlock
			}
			return 0, err
		case n < len(b):
			return total, nil
		}
	}
	return total, nil
}

// readMore starts a next-layer read of ciphertext for the pending read: a
// small buffer at a record boundary (what a quiet stream keeps pending),
// room for the rest of the record inside one, a whole record when the last
// read filled its buffer.
func (s *TLSStream) readMore() {
	r := &s.rd
	s.mu.Lock()
	want := tlsBufClasses[0]
	if r.bulk {
		want = tlsBufClasses[2]
	}
	if !s.rec.atBoundary() {
		want = max(want, s.rec.need()+tlsRecordHeaderLen)
	}
	r.step[0] = s.inputSpaceLocked(want)
	gen, watched := r.gen, r.watched()
	s.mu.Unlock()
	s.next.AsyncReadSome(r.step[:], r.stepH, r.opts()...)
	if watched {
		r.reEmit(gen)
	}
}

// onReadStep runs on the handler's executor when a next-layer read ends:
// it hands the ciphertext to crypto/tls and completes the read, or reads
// more when the record is not complete yet.
func (s *TLSStream) onReadStep(n int, err error) {
	r := &s.rd
	s.mu.Lock()
	s.inEnd += n
	r.bulk = n > 0 && n == len(r.step[0])
	r.step[0] = nil
	if err != nil && errors.Is(err, io.EOF) {
		// crypto/tls decides what a cut stream means (io.EOF at a record
		// boundary, io.ErrUnexpectedEOF inside one) and keeps it.
		s.rerr, err = io.EOF, nil
	}
	if err == nil && n == 0 && s.rerr == nil {
		err = io.ErrNoProgress // a next-layer read of nothing, which would spin
	}
	asked := r.asked()
	s.mu.Unlock()

	m, derr := s.decrypt(r)
	if m == 0 && derr == errWouldBlock {
		if err == nil && asked == 0 {
			s.readMore()
			return
		}
		if err == nil {
			err = ErrOperationAborted
		}
		derr = err
	}
	s.mu.Lock()
	s.releaseInputLocked()
	s.mu.Unlock()
	if m > 0 {
		derr = nil
	}
	r.finish(m, derr)
}
