package asio

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestDynamicBufferBadCounts: no count panics or breaks the buffer; each is
// clamped as its method documents. Every case starts from a buffer holding
// "hello".
func TestDynamicBufferBadCounts(t *testing.T) {
	cases := []struct {
		name    string
		max     int
		do      func(b *DynamicBuffer) any // returns what the call returned, if anything
		want    string                     // readable bytes after
		wantRet any
	}{
		{name: "Consume(-1) brings nothing back", do: func(b *DynamicBuffer) any { b.Consume(2); b.Consume(-1); return nil }, want: "llo"},
		{name: "Consume(-5)", do: func(b *DynamicBuffer) any { b.Consume(-5); return nil }, want: "hello"},
		{name: "Consume(0)", do: func(b *DynamicBuffer) any { b.Consume(0); return nil }, want: "hello"},
		{name: "Consume past Len empties", do: func(b *DynamicBuffer) any { b.Consume(100); return b.Len() }, want: "", wantRet: 0},
		{name: "Commit(-1)", do: func(b *DynamicBuffer) any { b.Prepare(4); b.Commit(-1); return b.Len() }, want: "hello", wantRet: 5},
		{name: "Commit past the prepared space", do: func(b *DynamicBuffer) any {
			copy(b.Prepare(3), "abc")
			b.Commit(100)
			return b.Len()
		}, want: "helloabc", wantRet: 8},
		{name: "Commit without Prepare", do: func(b *DynamicBuffer) any { b.Commit(3); return b.Len() }, want: "hello", wantRet: 5},
		{name: "Commits share one Prepare", do: func(b *DynamicBuffer) any {
			copy(b.Prepare(4), "abcd")
			b.Commit(2)
			b.Commit(2)
			b.Commit(1)
			return b.Len()
		}, want: "helloabcd", wantRet: 9},
		{name: "Commit after an emptying Consume", do: func(b *DynamicBuffer) any {
			b.Prepare(4)
			b.Consume(5)
			b.Commit(4)
			return b.Len()
		}, want: "", wantRet: 0},
		{name: "Prepare(-1)", do: func(b *DynamicBuffer) any { return len(b.Prepare(-1)) }, want: "hello", wantRet: 0},
		{name: "Prepare past max", max: 8, do: func(b *DynamicBuffer) any { return len(b.Prepare(10)) }, want: "hello", wantRet: 3},
		{name: "Prepare at max", max: 5, do: func(b *DynamicBuffer) any { return len(b.Prepare(1)) }, want: "hello", wantRet: 0},
		{name: "Prepare past max never grows past it", max: 100, do: func(b *DynamicBuffer) any {
			b.Prepare(1 << 20)
			return b.Cap() <= 100
		}, want: "hello", wantRet: true},
		{name: "Write past max", max: 8, do: func(b *DynamicBuffer) any {
			n, err := b.Write([]byte("world"))
			return fmt.Sprint(n, errors.Is(err, ErrMessageTooLong))
		}, want: "hellowor", wantRet: "3 true"},
		{name: "Write within max", max: 10, do: func(b *DynamicBuffer) any {
			n, err := b.Write([]byte("world"))
			return fmt.Sprint(n, err)
		}, want: "helloworld", wantRet: "5 <nil>"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := NewDynamicBuffer(c.max)
			if n, err := b.Write([]byte("hello")); n != 5 || err != nil {
				t.Fatalf("Write(hello) = %d, %v", n, err)
			}
			ret := c.do(b)
			if ret != c.wantRet {
				t.Errorf("returned %v, want %v", ret, c.wantRet)
			}
			if got := string(b.Bytes()); got != c.want || b.Len() != len(c.want) {
				t.Errorf("buffer holds %q (Len %d), want %q", got, b.Len(), c.want)
			}
		})
	}
}

// TestDynamicBufferNegativeMax: a negative max holds nothing.
func TestDynamicBufferNegativeMax(t *testing.T) {
	b := NewDynamicBuffer(-1)
	if n, err := b.Write([]byte("x")); n != 0 || !errors.Is(err, ErrMessageTooLong) {
		t.Fatalf("Write = %d, %v; want 0, ErrMessageTooLong", n, err)
	}
	if p := b.Prepare(10); len(p) != 0 || b.Cap() != 0 {
		t.Fatalf("Prepare gave %d bytes, Cap %d", len(p), b.Cap())
	}
}

// TestDynamicBufferGivesMemoryBack: emptied by Consume, a buffer that grew
// past 4 KiB drops its array; one of 4 KiB or less keeps it (and reuses
// it: no allocation). A buffer with bytes left keeps its array.
func TestDynamicBufferGivesMemoryBack(t *testing.T) {
	b := NewDynamicBuffer(0)
	big := bytes.Repeat([]byte("m"), 1<<20)
	b.Write(big)
	b.Consume(1<<20 - 10)
	if b.Cap() < 1<<20 {
		t.Fatalf("Cap %d with bytes left, want the array kept", b.Cap())
	}
	b.Consume(10)
	if b.Cap() != 0 {
		t.Fatalf("Cap %d once emptied, want the 1 MiB array dropped", b.Cap())
	}
	b.Write([]byte("small"))
	if b.Cap() > 4<<10 {
		t.Fatalf("Cap %d for 5 bytes after the drop", b.Cap())
	}

	small := NewDynamicBuffer(0)
	copy(small.Prepare(4096), strings.Repeat("s", 4096))
	small.Commit(4096)
	small.Consume(4096)
	if small.Cap() != 4096 {
		t.Fatalf("Cap %d after emptying a 4 KiB buffer, want it kept", small.Cap())
	}
	if allocs := testing.AllocsPerRun(100, func() {
		copy(small.Prepare(4096), "line\n")
		small.Commit(5)
		small.Consume(5)
	}); allocs != 0 {
		t.Fatalf("%.1f allocs per Prepare/Commit/Consume on a kept 4 KiB array", allocs)
	}
}

// TestAsyncReadUntilGivesMemoryBack: a connection that read a 1 MiB line
// holds no more than 4 KiB once it consumed it and read a short one.
func TestAsyncReadUntilGivesMemoryBack(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)
	db := NewDynamicBuffer(0)
	go func() {
		Write(c, Buffers{append(bytes.Repeat([]byte("b"), 1<<20), '\n')})
	}()
	h, ch := resultChan()
	AsyncReadUntil(s, db, []byte("\n"), h)
	if r := runFor1(t, ctx, ch); r.err != nil || r.n != 1<<20+1 {
		t.Fatalf("1 MiB line: (%d, %v)", r.n, r.err)
	}
	if db.Cap() < 1<<20 {
		t.Fatalf("Cap %d holding a 1 MiB line", db.Cap())
	}
	db.Consume(1<<20 + 1)
	if _, err := c.WriteSome(Buffers{[]byte("short\n")}); err != nil {
		t.Fatal(err)
	}
	AsyncReadUntil(s, db, []byte("\n"), h)
	if r := runFor1(t, ctx, ch); r.err != nil || r.n != 6 {
		t.Fatalf("short line: (%d, %v)", r.n, r.err)
	}
	if db.Cap() > 4<<10 {
		t.Fatalf("Cap %d after the 1 MiB line was consumed and a short one read, want <= 4 KiB", db.Cap())
	}
}

// TestReadUntilHeaderPastMax: a header longer than the buffer's max over a
// socket: ErrMessageTooLong, the buffer full to its max and no larger, for
// the asynchronous and the blocking form.
func TestReadUntilHeaderPastMax(t *testing.T) {
	for _, blocking := range []bool{false, true} {
		t.Run(fmt.Sprintf("blocking=%v", blocking), func(t *testing.T) {
			ctx := newTestContext(t)
			c, s := connectedPair(t, ctx)
			if _, err := c.WriteSome(Buffers{bytes.Repeat([]byte("h"), 100<<10)}); err != nil {
				t.Fatal(err)
			}
			db := NewDynamicBuffer(3000)
			var err error
			if blocking {
				_, err = ReadUntil(s, db, []byte("\r\n\r\n"))
			} else {
				h, ch := resultChan()
				AsyncReadUntil(s, db, []byte("\r\n\r\n"), h)
				err = runFor1(t, ctx, ch).err
			}
			if !errors.Is(err, ErrMessageTooLong) {
				t.Fatalf("%v, want ErrMessageTooLong", err)
			}
			if db.Len() != 3000 || db.Cap() > 3000 {
				t.Fatalf("Len %d Cap %d, want the buffer full at its max of 3000 and no larger", db.Len(), db.Cap())
			}
		})
	}
}
