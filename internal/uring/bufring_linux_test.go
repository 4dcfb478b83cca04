package uring

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRecvMultishotBufRing runs a multishot receive into a 2-buffer ring
// until the ring is empty (ENOBUFS ends it), recycles the buffers, re-arms
// it, and follows it to the end of the stream.
func TestRecvMultishotBufRing(t *testing.T) {
	r := newRing(t, Config{Entries: 8})
	br, err := r.NewBufRing(3, 2, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	a, b := socketpair(t, unix.SOCK_STREAM)
	data := []byte("0123456789abcdefghijklmnopqrstuvwxyzABCD") // 40 bytes
	if _, err := unix.Write(b, data); err != nil {
		t.Fatal(err)
	}
	sqe(t, r).PrepRecvMultishot(a, br.Group(), 0, 1)
	cs := collect(t, r, 3)
	var got []byte
	var ids []uint16
	for i, c := range cs[:2] {
		id, ok := c.Buffer()
		if c.Res != 16 || !ok || !c.More() {
			t.Fatalf("completion %d: %+v, want 16 bytes in a buffer, CQEFMore", i, c)
		}
		buf := br.Buffer(id, int(c.Res))
		if back, ok := br.ID(buf); !ok || back != id {
			t.Errorf("ID(Buffer(%d)) = %d, %v", id, back, ok)
		}
		got = append(got, buf...)
		ids = append(ids, id)
	}
	if ids[0] == ids[1] {
		t.Fatalf("both completions used buffer %d", ids[0])
	}
	if c := cs[2]; c.Err() != syscall.ENOBUFS || c.More() {
		t.Fatalf("third completion: %+v, want ENOBUFS ending the receive", c)
	}
	if string(got) != string(data[:32]) {
		t.Fatalf("received %q, want %q", got, data[:32])
	}

	for _, id := range ids {
		br.Recycle(id)
	}
	sqe(t, r).PrepRecvMultishot(a, br.Group(), 0, 2)
	c := collect(t, r, 1)[0]
	id, _ := c.Buffer()
	if c.Res != 8 || !c.More() || string(br.Buffer(id, 8)) != string(data[32:]) {
		t.Fatalf("after recycling: %+v %q, want the last 8 bytes", c, br.Buffer(id, max(int(c.Res), 0)))
	}
	br.Recycle(id)
	unix.Shutdown(b, unix.SHUT_WR)
	if c := collect(t, r, 1)[0]; c.Res != 0 || c.More() {
		t.Fatalf("at end of stream: %+v, want 0 without CQEFMore", c)
	}
	if _, ok := br.ID(make([]byte, 4)); ok {
		t.Error("ID accepted a slice that is not one of the ring's buffers")
	}
}

func TestBufRingArguments(t *testing.T) {
	r := newRing(t, Config{Entries: 2})
	for _, tc := range []struct {
		entries uint32
		size    int
	}{{0, 16}, {3, 16}, {1 << 16, 16}, {4, 0}} {
		if br, err := r.NewBufRing(1, tc.entries, tc.size); err == nil {
			br.Close()
			t.Errorf("NewBufRing(%d entries, %d bytes) succeeded", tc.entries, tc.size)
		}
	}
	br, err := r.NewBufRing(1, 4, 32)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.NewBufRing(1, 4, 32); err == nil {
		t.Error("a second ring with the same group id was accepted")
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	if err := br.Close(); err == nil {
		t.Error("second Close returned nil")
	}
}
