package asio

import (
	"testing"
	"unsafe"
)

// The op a pending read, write, pooled read or wait holds is one 80-byte
// allocation (a size class): a quiet connection's cost depends on it.
func TestOpSize(t *testing.T) {
	if got := unsafe.Sizeof(op{}); got != 80 {
		t.Fatalf("op is %d bytes, want 80", got)
	}
}

// setBuffer and buffer keep a buffer's bytes, its length and whether it is
// nil (a buffer past maxSingleBuffer, offered up to it, is not made here:
// the race detector's pointer checks refuse a fake one); pooled gives a
// pooled read's buffer its pool's capacity back.
func TestOpBuffer(t *testing.T) {
	arr := make([]byte, 16)
	cases := []struct {
		name    string
		b       []byte
		wantLen int
		wantNil bool
	}{
		{"nil", nil, 0, true},
		{"empty", arr[:0], 0, false},
		{"empty at the end", arr[16:], 0, false},
		{"some", arr[3:9], 6, false},
	}
	for _, c := range cases {
		var o op
		o.setBuffer(c.b)
		got := o.buffer()
		if len(got) != c.wantLen || (got == nil) != c.wantNil || o.size() != c.wantLen {
			t.Errorf("%s: buffer() len %d nil %v size %d, want len %d nil %v", c.name, len(got), got == nil, o.size(), c.wantLen, c.wantNil)
		}
		if len(got) > 0 && &got[0] != &c.b[0] {
			t.Errorf("%s: buffer() does not alias the buffer set", c.name)
		}
	}

	p := NewBufferPool(64, 1)
	b := p.tryGet()
	o := op{kind: opReadPooled, pool: p}
	o.setBuffer(b[:5])
	if got := o.pooled(); len(got) != 5 || cap(got) != 64 || &got[0] != &b[0] {
		t.Fatalf("pooled(): len %d cap %d, want 5 and the pool's 64", len(got), cap(got))
	}
	p.Put(o.pooled()) // accepted: it has the pool's capacity
	if p.Outstanding() != 0 {
		t.Fatalf("Put of pooled(): %d outstanding", p.Outstanding())
	}
}
