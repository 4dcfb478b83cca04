package asio

import "io"

// SyncWriteStream is a stream with a blocking WriteSome (TCPSocket has one).
type SyncWriteStream interface {
	WriteSome(b Buffers) (int, error)
}

// SyncReadStream is a stream with a blocking ReadSome (TCPSocket has one).
type SyncReadStream interface {
	ReadSome(b Buffers) (int, error)
}

// Write is the blocking form of AsyncWrite: it writes all of b or stops at
// the first error, and returns the total written. Its steps are offered as
// AsyncWrite's: the whole rest on the package's own sockets, 64 KiB on
// other streams.
func Write(s SyncWriteStream, b Buffers) (int, error) { return WriteCond(s, b, transferAll) }

// WriteCond is the blocking form of AsyncWriteCond.
func WriteCond(s SyncWriteStream, b Buffers, c CompletionCondition) (int, error) {
	return transferBlocking(offersWhole(s), s.WriteSome, b, c)
}

// Read is the blocking form of AsyncRead: it fills b or stops at the first
// error (io.EOF for an orderly close), and returns the total read.
func Read(s SyncReadStream, b Buffers) (int, error) { return ReadCond(s, b, transferAll) }

// ReadCond is the blocking form of AsyncReadCond.
func ReadCond(s SyncReadStream, b Buffers, c CompletionCondition) (int, error) {
	return transferBlocking(offersWhole(s), s.ReadSome, b, c)
}

// transferBlocking runs Asio's composed algorithm with a blocking *Some,
// in a pooled transferOp (for its buffer bookkeeping only).
func transferBlocking(own bool, some func(Buffers) (int, error), b Buffers, c CompletionCondition) (int, error) {
	if c == nil {
		c = transferAll
	}
	t := transferPool.Get().(*transferOp)
	t.own = own
	t.bufs = append(t.bufs[:0], b...)
	defer t.release()
	max := c(nil, 0)
	for {
		t.prepare(max)
		n, err := some(t.step)
		all := t.consume(n)
		if (err == nil && n == 0) || all {
			return t.total, err
		}
		if max = c(err, t.total); max == 0 {
			return t.total, err
		}
	}
}

// ReadUntil is the blocking form of AsyncReadUntil, with the same results
// and the same reads: ErrMessageTooLong without growth past buf's maximum,
// ErrInvalidArgument for a nil buf.
func ReadUntil(s SyncReadStream, buf *DynamicBuffer, delim []byte) (int, error) {
	if buf == nil {
		return 0, ErrInvalidArgument
	}
	if len(delim) == 0 {
		return 0, nil
	}
	search := 0
	for {
		data := buf.Bytes()
		if i := indexDelim(data[search:], delim); i >= 0 {
			return search + i + len(delim), nil
		}
		search = max(0, len(data)-len(delim)+1)
		room := buf.untilRoom()
		if room == 0 {
			return 0, ErrMessageTooLong
		}
		n, err := s.ReadSome(Buffers{buf.Prepare(room)})
		buf.Commit(n)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, io.ErrNoProgress
		}
	}
}
