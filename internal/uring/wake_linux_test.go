package uring

import (
	"runtime"
	"testing"
)

// BenchmarkWake compares ways for another goroutine to wake a ring's owner
// blocked in SubmitAndWait: Wake (an eventfd write completing the ring's
// read) and IORING_OP_MSG_RING from a ring of the waker's own. Each
// iteration is a round trip: wake, the owner returns and acknowledges on a
// channel. (A NOP cannot do it: it completes on the ring that submits it.)
func BenchmarkWake(b *testing.B) {
	b.Run("eventfd", func(b *testing.B) {
		benchWake(b, func(r *Ring) func() { return r.Wake })
	})
	b.Run("msg_ring", func(b *testing.B) {
		benchWake(b, func(r *Ring) func() {
			w := newRing(b, Config{Entries: 4})
			var c [4]CQE
			return func() {
				s := w.GetSQE()
				s.PrepMsgRing(r.Fd(), 0, 1, 2)
				s.Flags |= SQECQESkipSuccess
				w.Submit()
				w.Reap(c[:])
			}
		})
	})
}

func benchWake(b *testing.B, waker func(*Ring) func()) {
	ready := make(chan *Ring)
	ack := make(chan struct{})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		// The owner closes its ring itself, on its own thread, once the
		// benchmark has stopped it.
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		r, err := New(Config{Entries: 8, Flags: SetupSingleIssuer | SetupDeferTaskrun | SetupTaskrunFlag})
		if err != nil {
			b.Error(err)
			close(ready)
			return
		}
		defer r.Close()
		ready <- r
		var c [8]CQE
		for {
			if _, err := r.SubmitAndWait(-1); err != nil {
				b.Error(err)
				return
			}
			r.Reap(c[:])
			select {
			case ack <- struct{}{}:
			case <-stop:
				return
			}
		}
	}()
	r := <-ready
	if r == nil {
		return
	}
	wake := waker(r)
	b.ResetTimer()
	for range b.N {
		wake()
		<-ack
	}
	b.StopTimer()
	b.ReportMetric(float64(r.wakeWrites.Load())/float64(b.N), "eventfd-writes/op")
	close(stop)
	wake()
	<-done
}
