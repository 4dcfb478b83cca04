package uring

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestZeroAllocs: preparing, submitting, waiting and reaping allocate
// nothing, over real sends and receives.
func TestZeroAllocs(t *testing.T) {
	r := newRing(t, Config{Entries: 16})
	a, b := socketpair(t, unix.SOCK_STREAM)
	out, in := make([]byte, 64), make([]byte, 128)
	bufs := [][]byte{out[:20], out[20:]}
	msg, iov := new(unix.Msghdr), make([]unix.Iovec, 2)
	ts := &Timespec{Sec: 10}
	var cqes [16]CQE
	round := func() {
		r.GetSQE().PrepSend(b, out, 0, 1)
		SetIovecs(msg, iov, bufs)
		r.GetSQE().PrepSendmsg(b, msg, 0, 2)
		s := r.GetSQE()
		s.PrepRecv(a, in, unix.MSG_WAITALL, 3)
		r.GetSQE().PrepPollAdd(a, unix.POLLOUT, false, 4)
		r.GetSQE().PrepTimeout(ts, 1, 0, 5)
		r.GetSQE().PrepNop(6)
		r.Wake()
		for got := 0; got < 6; {
			if _, err := r.SubmitAndWait(-1); err != nil {
				t.Fatal(err)
			}
			got += r.Reap(cqes[:])
		}
	}
	round()
	if n := testing.AllocsPerRun(200, round); n != 0 {
		t.Errorf("%v allocations per round, want 0", n)
	}
}

func TestZeroAllocsMultishotRecv(t *testing.T) {
	r := newRing(t, Config{Entries: 8})
	br, err := r.NewBufRing(0, 4, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	a, b := socketpair(t, unix.SOCK_STREAM)
	r.GetSQE().PrepRecvMultishot(a, br.Group(), 0, 1)
	msg := make([]byte, 64)
	var cqes [8]CQE
	round := func() {
		r.GetSQE().PrepSend(b, msg, 0, 2)
		for got := 0; got < 2; {
			if _, err := r.SubmitAndWait(-1); err != nil {
				t.Fatal(err)
			}
			n := r.Reap(cqes[:])
			for _, c := range cqes[:n] {
				if id, ok := c.Buffer(); ok {
					if !c.More() {
						t.Fatalf("multishot receive ended: %+v", c)
					}
					br.Recycle(id)
				}
			}
			got += n
		}
	}
	round()
	if n := testing.AllocsPerRun(200, round); n != 0 {
		t.Errorf("%v allocations per round, want 0", n)
	}
}
