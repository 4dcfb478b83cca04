package uring

import (
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSharedRingSubmitWhileWaiting: a goroutine prepares and submits an SQE
// under the submission lock while the waiter is blocked in Wait (Waiting
// reports it); its completion ends the wait.
func TestSharedRingSubmitWhileWaiting(t *testing.T) {
	r := newRing(t, Config{Entries: 8, Flags: SetupCoopTaskrun | SetupTaskrunFlag})
	var mu sync.Mutex
	mu.Lock()
	plan := r.PrepareWait(5 * time.Second)
	mu.Unlock()
	if !plan.Blocks() || !r.Waiting() {
		t.Fatalf("PrepareWait: blocks %v, Waiting %v", plan.Blocks(), r.Waiting())
	}
	submitted := make(chan struct{})
	defer func() { <-submitted }() // before the ring is closed
	go func() {
		defer close(submitted)
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if !r.Waiting() {
			t.Error("Waiting is false while the waiter is blocked")
		}
		sqe(t, r).PrepNop(42)
		if _, err := r.Submit(); err != nil {
			t.Error(err)
		}
	}()
	start := time.Now()
	if _, err := r.Wait(plan, 1, 0, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("the wait lasted %v: another goroutine's submission did not end it", el)
	}
	var c [4]CQE
	if n := r.Reap(c[:]); n != 1 || c[0].UserData != 42 {
		t.Fatalf("reaped %d: %+v, want the NOP", n, c[:n])
	}
	if r.Waiting() {
		t.Error("Waiting after the wait returned")
	}
}

// TestProvidedRing: a buffer ring lent caller buffers; a multishot receive
// fills them in turn, a receive with a limit takes one with at most that
// many bytes.
func TestProvidedRing(t *testing.T) {
	r := newRing(t, Config{Entries: 8})
	br, err := r.NewProvidedRing(5, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	bufs := [][]byte{make([]byte, 8), make([]byte, 8)}
	for i, b := range bufs {
		br.Provide(uint16(10+i), b)
	}
	a, b := socketpair(t, unix.SOCK_STREAM)
	unix.Write(b, []byte("0123456789abcdefXY")) // 8 + 8, and 2 with no buffer left
	sqe(t, r).PrepRecvMultishot(a, br.Group(), 0, 1)
	cs := collect(t, r, 3)
	got := map[uint16]string{}
	for _, c := range cs[:2] {
		id, ok := c.Buffer()
		if !ok || c.Res != 8 {
			t.Fatalf("completion %+v, want 8 bytes in a provided buffer", c)
		}
		got[id] = string(bufs[id-10][:c.Res])
	}
	if got[10]+got[11] != "0123456789abcdef" && got[11]+got[10] != "0123456789abcdef" {
		t.Fatalf("the caller's buffers hold %v", got)
	}
	if cs[2].Res != -int32(unix.ENOBUFS) || cs[2].More() {
		t.Fatalf("third completion %+v, want ENOBUFS ending the receive", cs[2])
	}
	br.Provide(10, bufs[0])
	sqe(t, r).PrepRecvSelect(a, br.Group(), 1, 0, 2) // "XY" waits in the socket
	c := collect(t, r, 1)[0]
	if id, ok := c.Buffer(); !ok || id != 10 || c.Res != 1 || bufs[0][0] != 'X' {
		t.Fatalf("receive with a limit of 2: %+v %q", c, bufs[0][:max(c.Res, 0)])
	}
}
