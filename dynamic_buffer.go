package asio

// DynamicBuffer is a growable read buffer for AsyncReadUntil: readable bytes
// followed by free space, with an optional maximum size. It is not safe for
// concurrent use; an operation owns it until its handler runs.
type DynamicBuffer struct {
	buf  []byte
	r, w int // readable bytes are buf[r:w]
	max  int // 0: no limit
}

// NewDynamicBuffer returns an empty buffer that holds at most max bytes
// (0: no limit).
func NewDynamicBuffer(max int) *DynamicBuffer { return &DynamicBuffer{max: max} }

// Bytes returns the readable bytes; the slice is valid until the next call
// that changes the buffer.
func (b *DynamicBuffer) Bytes() []byte { return b.buf[b.r:b.w] }

// Len returns the number of readable bytes.
func (b *DynamicBuffer) Len() int { return b.w - b.r }

// Max returns the maximum size, 0 for none.
func (b *DynamicBuffer) Max() int { return b.max }

// Consume removes the first n readable bytes (all of them if n > Len).
func (b *DynamicBuffer) Consume(n int) {
	if n >= b.w-b.r {
		b.r, b.w = 0, 0
		return
	}
	b.r += n
}

// Write appends p, growing the buffer; it ignores the maximum.
func (b *DynamicBuffer) Write(p []byte) (int, error) {
	copy(b.Prepare(len(p)), p)
	b.Commit(len(p))
	return len(p), nil
}

// Prepare returns n bytes of free space after the readable bytes, growing or
// compacting the buffer as needed. Commit makes written bytes readable.
func (b *DynamicBuffer) Prepare(n int) []byte {
	if cap(b.buf)-b.w < n {
		if b.r > 0 && cap(b.buf)-(b.w-b.r) >= n {
			copy(b.buf[:cap(b.buf)], b.buf[b.r:b.w])
		} else {
			nb := make([]byte, max(2*cap(b.buf), b.w-b.r+n, 512))
			copy(nb, b.buf[b.r:b.w])
			b.buf = nb
		}
		b.w -= b.r
		b.r = 0
	}
	b.buf = b.buf[:cap(b.buf)]
	return b.buf[b.w : b.w+n]
}

// Commit makes n bytes of the space returned by Prepare readable.
func (b *DynamicBuffer) Commit(n int) { b.w += n }
