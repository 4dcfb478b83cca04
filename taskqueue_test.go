package asio

import "testing"

func TestTaskQueueFIFOAndFront(t *testing.T) {
	var q taskQueue
	var got []int
	mk := func(i int) runnable { return funcTask(func() { got = append(got, i) }) }
	for i := 0; i < 40; i++ { // past the first growth
		q.push(mk(i))
	}
	for i := 0; i < 5; i++ {
		r, _ := q.pop()
		r.run(nil)
	}
	q.pushFront(mk(-1))
	q.pushFront(mk(-2))
	for r, ok := q.pop(); ok; r, ok = q.pop() {
		r.run(nil)
	}
	if len(got) != 42 || got[4] != 4 || got[5] != -2 || got[6] != -1 || got[7] != 5 || got[41] != 39 {
		t.Fatalf("order %v", got)
	}
}
