package asio

import "io"

const (
	// tlsMaxWriteChunk is the most plaintext one AsyncWriteSome encrypts:
	// a few records, whose ciphertext fits the largest pooled buffer, so
	// that a large write costs one next-layer write per 60 KiB.
	tlsMaxWriteChunk = 60 << 10
	// tlsGatherMax is the size under which the buffers of a gather write
	// are copied together before encryption, so that a response written
	// as a header and a small body makes one record, not two.
	tlsGatherMax = 2 << 10
	// tlsRecordOverhead bounds what TLS adds to a record (header, explicit
	// nonce, tag or MAC and padding), for sizing the output buffer.
	tlsRecordOverhead = 96
	// tlsMinRecord is about the smallest record crypto/tls writes while it
	// ramps up its record size (maxPayloadSizeForWrite).
	tlsMinRecord = 1 << 10
)

// AsyncWriteSome encrypts some of b (at most 60 KiB) and passes h the
// count of plaintext bytes once their records have all been written to the
// next layer. An empty b completes with (0, nil). It supports terminal
// cancellation only: a cancelled write (or one that failed) leaves the
// write side unusable, since the peer cannot resume a cut record; later
// writes complete with the same error.
func (s *TLSStream) AsyncWriteSome(b Buffers, h func(n int, err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	s.startWrite(b, h, nil, opts)
}

// AsyncShutdown sends a close_notify alert, after whatever was written
// before, and passes h nil once it has been written to the next layer;
// later writes fail. It does not wait for the peer's close_notify (as
// crypto/tls's CloseWrite, unlike Asio's shutdown): read until io.EOF for
// that, then Close. It is a write: it waits for no pending write and
// supports terminal cancellation.
func (s *TLSStream) AsyncShutdown(h func(err error), opts ...OpOption) {
	if h == nil {
		panic("asio: nil handler")
	}
	s.startWrite(nil, nil, h, opts)
}

func (s *TLSStream) startWrite(b Buffers, h func(int, error), hErr func(error), opts []OpOption) {
	w := &s.wr
	shutdown := hErr != nil
	size := b.Len()
	s.mu.Lock()
	err := s.usableLocked()
	if err == nil && w.pending && (shutdown || size > 0) {
		err = ErrOperationInProgress
	}
	if err == nil && s.werr != nil {
		err = s.werr
	}
	if err != nil || (!shutdown && size == 0) {
		s.mu.Unlock()
		if shutdown {
			s.refuseErr(opts, hErr, err)
		} else {
			s.refuseN(opts, h, err)
		}
		return
	}
	w.h, w.hErr = h, hErr
	if w.beginLocked(opts) {
		d := w.resultLocked(0, ErrOperationAborted, true)
		s.mu.Unlock()
		d.post()
		return
	}
	plain := min(size, tlsMaxWriteChunk)
	s.outReserve = plain + (plain/tlsMinRecord+2)*tlsRecordOverhead
	s.encrypting++
	s.mu.Unlock()

	var n int
	if shutdown {
		err = s.conn.CloseWrite()
	} else {
		n, err = s.encrypt(b)
	}

	s.mu.Lock()
	s.encrypting--
	if err != nil && n == 0 {
		d := w.resultLocked(0, err, true)
		s.mu.Unlock()
		d.post()
		return
	}
	w.wrote, w.waiting = n, true
	switch {
	case s.flushing:
		s.mu.Unlock() // the write in flight goes on with this op's records
	case s.outOff == len(s.out):
		// A flush that was in flight wrote them already.
		w.waiting = false
		d := w.resultLocked(n, nil, true)
		s.mu.Unlock()
		d.post()
	default:
		s.flushStartLocked(true)
		s.mu.Unlock()
		s.issueFlush(w)
	}
}

// encrypt hands at most tlsMaxWriteChunk bytes of b to crypto/tls's
// Conn.Write, which encrypts them into the output through the transport.
// Small buffers are gathered first into a pooled scratch buffer (the copy
// lasts only until it is encrypted), so that they make one record.
func (s *TLSStream) encrypt(b Buffers) (int, error) {
	total, budget := 0, tlsMaxWriteChunk
	var scratch *tlsBuf
	used := 0
	defer func() { putTLSBuf(scratch) }()
	gather := len(b) > 1
	for _, p := range b {
		if budget == 0 {
			break
		}
		p = p[:min(len(p), budget)]
		if len(p) == 0 {
			continue
		}
		if gather && len(p) < tlsGatherMax {
			if scratch == nil {
				scratch = getTLSBuf(tlsBufClasses[2])
			}
			if used+len(p) > len(scratch.b) {
				n, err := s.conn.Write(scratch.b[:used])
				if total += n; err != nil {
					return total, err
				}
				used = 0
			}
			used += copy(scratch.b[used:], p)
			budget -= len(p)
			continue
		}
		if used > 0 {
			n, err := s.conn.Write(scratch.b[:used])
			if total += n; err != nil {
				return total, err
			}
			used = 0
		}
		n, err := s.conn.Write(p)
		if total += n; err != nil {
			return total, err
		}
		budget -= n
	}
	if used > 0 {
		n, err := s.conn.Write(scratch.b[:used])
		total += n
		return total, err
	}
	return total, nil
}

// flushStartLocked marks a next-layer write of the output in flight; owned
// says it is issued with the pending write's options.
func (s *TLSStream) flushStartLocked(owned bool) {
	s.flushing, s.flushOwned = true, owned
	s.flushStep[0] = s.out[s.outOff:]
}

// issueFlush starts the next-layer write flushStartLocked prepared, with
// the options of w (nil for a write of the stream's own: the handshake's,
// or crypto/tls's answer to a KeyUpdate or its alerts).
func (s *TLSStream) issueFlush(w *tlsOp) {
	if w == nil {
		s.next.AsyncWriteSome(s.flushStep[:], s.flushH)
		return
	}
	gen, watched := w.gen, w.watched()
	s.next.AsyncWriteSome(s.flushStep[:], s.flushH, w.opts()...)
	if watched {
		w.reEmit(gen)
	}
}

// onFlush goes on writing the output until it is all out, then completes
// the write (and a handshake) that waited for it. A failed or cancelled
// write breaks the write side for good.
func (s *TLSStream) onFlush(n int, err error) {
	w := &s.wr
	s.mu.Lock()
	s.outOff += n
	s.flushStep[0] = nil
	owned := s.flushOwned
	if err == nil && s.outOff < len(s.out) {
		switch {
		case n == 0:
			err = io.ErrNoProgress
		case w.waiting && w.asked() != 0:
			err = ErrOperationAborted
		default:
			owner := (*tlsOp)(nil)
			if w.waiting {
				owner = w
			}
			s.flushStartLocked(owner != nil)
			s.mu.Unlock()
			s.issueFlush(owner)
			return
		}
	}
	s.flushing = false
	if err != nil && s.werr == nil {
		s.werr = err
	}
	s.releaseOutputLocked()
	if s.phase == tlsHandshaking && err != nil {
		s.hs.signal() // the goroutine may wait for an answer that will not come
	}
	hsDone := s.flushedHandshakeLocked(err)
	closeNow := s.closeOnDone
	s.closeOnDone = false
	if !w.waiting {
		s.mu.Unlock()
		s.afterFlush(hsDone, closeNow)
		return
	}
	w.waiting = false
	rn, rerr := w.wrote, error(nil)
	if err != nil {
		rn, rerr = 0, err
	}
	if owned {
		w.n, w.err = rn, rerr
		c := w.endLocked()
		s.mu.Unlock()
		s.afterFlush(hsDone, closeNow)
		c.call()
		return
	}
	// The last write ran with no options of the op's: its handler may
	// belong to another executor.
	d := w.resultLocked(rn, rerr, false)
	s.mu.Unlock()
	d.post()
	s.afterFlush(hsDone, closeNow)
}

func (s *TLSStream) afterFlush(hsDone func(), closeNow bool) {
	if hsDone != nil {
		hsDone()
	}
	if closeNow {
		s.Close()
	}
}
