package asio

import "sync"

// Ciphertext buffers of TLS streams come from pools by size class and go
// back as soon as crypto/tls has taken their bytes (input) or the next layer
// has written them (output), so that an idle stream holds none beyond its
// pending read's.
//
// The classes: a small one for the read an idle stream keeps pending (a
// request of a few hundred bytes fits, and a quiet connection holds no
// more), one for a whole record (16 KiB of plaintext plus what TLS 1.3 or
// an AEAD suite of TLS 1.2 adds), and one for the output of a write of
// several records (tlsMaxWriteChunk).
var tlsBufClasses = [...]int{512, 4 << 10, 17 << 10, 64 << 10}

var tlsBufPools [len(tlsBufClasses)]sync.Pool

// tlsBuf is a pooled buffer: the pointer is what the pool holds, so that
// giving it back allocates nothing.
type tlsBuf struct {
	b     []byte
	class int8 // index in tlsBufClasses, -1 for a buffer too large for any
}

// getTLSBuf returns a buffer of at least n bytes (len == cap).
func getTLSBuf(n int) *tlsBuf {
	for i, size := range tlsBufClasses {
		if n <= size {
			if p, ok := tlsBufPools[i].Get().(*tlsBuf); ok {
				return p
			}
			return &tlsBuf{b: make([]byte, size), class: int8(i)}
		}
	}
	return &tlsBuf{b: make([]byte, n), class: -1}
}

// putTLSBuf gives p back; a buffer of no class is left to the collector.
func putTLSBuf(p *tlsBuf) {
	if p != nil && p.class >= 0 {
		tlsBufPools[p.class].Put(p)
	}
}

// tlsRecordHeaderLen is the size of a TLS record header: type, version,
// length.
const tlsRecordHeaderLen = 5

// recordTracker follows the TLS record boundaries of the ciphertext handed
// to crypto/tls. The transport hands over at most the rest of the current
// record per Read, so crypto/tls never buffers more than the record it is
// decoding: when a Read of crypto/tls returns less than it was asked for,
// nothing is left inside it, and the stream knows exactly whether
// plaintext is available without more input.
type recordTracker struct {
	hdr  int // bytes of the current record's header handed over (0..5)
	left int // bytes of the current record's body not handed over yet
}

// take returns how many of the first max bytes of b belong to the current
// record (and the ones after it, up to its end), and advances past them.
func (t *recordTracker) take(b []byte, max int) int {
	if len(b) > max {
		b = b[:max]
	}
	n := 0
	for t.hdr < tlsRecordHeaderLen && n < len(b) {
		switch t.hdr {
		case 3:
			t.left = int(b[n]) << 8
		case 4:
			t.left |= int(b[n])
		}
		t.hdr++
		n++
	}
	if t.hdr < tlsRecordHeaderLen {
		return n
	}
	k := min(t.left, len(b)-n)
	t.left -= k
	n += k
	if t.left == 0 {
		t.hdr = 0
	}
	return n
}

// atBoundary reports whether the next byte starts a record.
func (t *recordTracker) atBoundary() bool { return t.hdr == 0 }

// need returns how many more bytes the current record needs, at least one
// header when at a boundary.
func (t *recordTracker) need() int {
	if t.hdr < tlsRecordHeaderLen {
		return tlsRecordHeaderLen - t.hdr
	}
	return t.left
}
