package asio

// DynamicBuffer is a growable read buffer for AsyncReadUntil: readable bytes
// followed by free space, with an optional maximum size. It is not safe for
// concurrent use; an operation owns it until its handler runs.
//
// Its methods never panic on a bad count: a negative count is taken as 0 and
// a count past what there is as all there is, as each method says.
//
// An emptied buffer gives memory back: when Consume removes the last
// readable byte, a backing array larger than 4 KiB is dropped, so a
// connection that once took a 1 MiB message does not keep 1 MiB while it
// waits for the next one. Arrays up to 4 KiB are kept: AsyncReadUntil's
// first offer into an empty buffer is 4 KiB, so a connection of lines and
// headers shorter than that reads them all into one array, allocation free.
type DynamicBuffer struct {
	buf  []byte
	r, w int // readable bytes are buf[r:w]
	prep int // bytes after w that the last Prepare returned and Commit may still make readable
	max  int // 0: no limit; < 0: holds nothing

	found untilFound // AsyncReadUntil's completion when the delimiter was already in
	read  untilRead  // AsyncReadUntil's reads, when it has no options
}

// keepCap is the largest backing array an emptied buffer keeps.
const keepCap = 4 << 10

// minAlloc is the smallest backing array a growing buffer allocates.
const minAlloc = 512

// NewDynamicBuffer returns an empty buffer that holds at most max bytes
// (0: no limit). A negative max lets it hold nothing, as io.LimitReader with
// a negative limit reads nothing: every AsyncReadUntil into it completes
// with ErrMessageTooLong.
func NewDynamicBuffer(max int) *DynamicBuffer { return &DynamicBuffer{max: max} }

// Bytes returns the readable bytes; the slice is valid until the next call
// that changes the buffer.
func (b *DynamicBuffer) Bytes() []byte { return b.buf[b.r:b.w] }

// Len returns the number of readable bytes.
func (b *DynamicBuffer) Len() int { return b.w - b.r }

// Max returns the maximum size given to NewDynamicBuffer (0: no limit).
func (b *DynamicBuffer) Max() int { return b.max }

// Cap returns the size of the backing array: the memory the buffer holds.
func (b *DynamicBuffer) Cap() int { return cap(b.buf) }

// room returns how many more bytes the buffer may hold under its maximum.
func (b *DynamicBuffer) room() int {
	switch {
	case b.max == 0:
		return noBound
	case b.max < 0:
		return 0
	}
	return max(b.max-b.Len(), 0)
}

// Consume removes the first n readable bytes: all of them if n >= Len,
// none if n <= 0. Removing the last one empties the buffer, which drops a
// backing array larger than 4 KiB and ends the space of an earlier Prepare
// (a Commit after it makes nothing readable).
func (b *DynamicBuffer) Consume(n int) {
	if n <= 0 {
		return
	}
	if n < b.w-b.r {
		b.r += n
		return
	}
	b.r, b.w, b.prep = 0, 0, 0
	if cap(b.buf) > keepCap {
		b.buf = nil
	}
}

// Write appends p, growing the buffer, up to the maximum: when p does not
// fit it appends what does and returns ErrMessageTooLong with the count
// appended (io.Writer's contract). It ends the space of an earlier Prepare.
func (b *DynamicBuffer) Write(p []byte) (int, error) {
	dst := b.Prepare(len(p))
	n := copy(dst, p)
	b.Commit(n)
	b.prep = 0
	if n < len(p) {
		return n, ErrMessageTooLong
	}
	return n, nil
}

// Prepare returns free space after the readable bytes for a read to fill,
// growing or compacting the buffer as needed; Commit then makes the bytes
// written there readable. The space is n bytes, or less when the maximum
// leaves less room: never more than Max()-Len() bytes, so a buffer at its
// maximum returns an empty slice and never grows past it. A negative n is
// taken as 0. The space is valid until the next call that changes the
// buffer other than Commit.
func (b *DynamicBuffer) Prepare(n int) []byte {
	n = min(max(n, 0), b.room())
	if cap(b.buf)-b.w < n {
		if b.r > 0 && cap(b.buf)-(b.w-b.r) >= n {
			copy(b.buf[:cap(b.buf)], b.buf[b.r:b.w])
		} else {
			size := max(2*cap(b.buf), b.w-b.r+n, minAlloc)
			if b.max > 0 {
				size = min(size, b.max) // b.w-b.r+n <= b.max: it still fits
			}
			nb := make([]byte, size)
			copy(nb, b.buf[b.r:b.w])
			b.buf = nb
		}
		b.w -= b.r
		b.r = 0
	}
	b.buf = b.buf[:cap(b.buf)]
	b.prep = n
	return b.buf[b.w : b.w+n]
}

// Commit makes the first n bytes of the space the last Prepare returned
// readable: at most what is left of that space (a count past it commits
// all of it), nothing if n <= 0. Several Commits may share one Prepare's
// space, in order.
func (b *DynamicBuffer) Commit(n int) {
	n = min(max(n, 0), b.prep)
	b.w += n
	b.prep -= n
}
