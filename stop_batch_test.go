package asio

import "testing"

// TestStopInsideBatch: a handler that calls Stop is the last one Run runs,
// even when more handlers were ready at the same time.
func TestStopInsideBatch(t *testing.T) {
	ctx := newTestContext(t)
	ran := 0
	var order []int
	for i := 0; i < 10; i++ {
		ctx.Executor().Post(func() {
			ran++
			order = append(order, i)
			if ran == 3 {
				ctx.Stop()
				ctx.Executor().Post(func() { order = append(order, 100) })
			}
		})
	}
	if n := ctx.Run(); n != 3 || ran != 3 {
		t.Fatalf("Run ran %d handlers (returned %d), want 3: Stop must end Run after the current handler", ran, n)
	}
	ctx.Restart()
	if n := ctx.Run(); n != 8 || ran != 10 {
		t.Fatalf("after Restart, Run returned %d (total %d), want the 7 left and the one posted", n, ran)
	}
	// FIFO holds across the Stop: the handlers left over run before the one
	// posted by the handler that stopped.
	want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100}
	for i := range want {
		if i >= len(order) || order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
}
