package asio

import (
	"testing"
	"time"
)

// TestRuntimePoller runs an echo, a timer and a Stop from another goroutine
// on a context that waits in the Go runtime's poller. (The whole suite also
// passes with ASIO_RUNTIME_POLL=1.)
func TestRuntimePoller(t *testing.T) {
	ctx, err := NewIOContext(WithRuntimePoller())
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	c, s := connectedPair(t, ctx)
	buf := make([]byte, 5)
	var got string
	var timerErr error = ErrBadDescriptor
	tm := NewTimer(ctx.Executor())
	tm.ExpiresAfter(20 * time.Millisecond)
	tm.AsyncWait(func(err error) { timerErr = err })
	AsyncRead(s, Buffers{buf}, func(n int, err error) { got = string(buf[:n]) })
	AsyncWrite(c, Buffers{[]byte("hello")}, func(int, error) {})
	if n := ctx.Run(); n != 3 || got != "hello" || timerErr != nil {
		t.Fatalf("Run ran %d handlers; read %q, timer %v", n, got, timerErr)
	}

	// A Run blocked in the runtime poller wakes for Stop.
	ctx.Restart()
	g := NewWorkGuard(ctx.Executor())
	defer g.Reset()
	done := make(chan int)
	go func() { done <- ctx.Run() }()
	ctx.Executor().Post(func() { ctx.Stop() })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Stop")
	}
}
