package asio

// taskQueue is a FIFO ring of runnables that grows as needed and never
// shrinks, so that queueing costs no allocation in the steady state.
type taskQueue struct {
	buf  []runnable
	head int
	n    int
}

func (q *taskQueue) len() int { return q.n }

func (q *taskQueue) push(t runnable) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = t
	q.n++
}

// pushFront puts t before every queued runnable.
func (q *taskQueue) pushFront(t runnable) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.head = (q.head - 1) & (len(q.buf) - 1)
	q.buf[q.head] = t
	q.n++
}

// popBack takes the runnable queued last.
func (q *taskQueue) popBack() (runnable, bool) {
	if q.n == 0 {
		return nil, false
	}
	i := (q.head + q.n - 1) & (len(q.buf) - 1)
	t := q.buf[i]
	q.buf[i] = nil
	q.n--
	return t, true
}

func (q *taskQueue) pop() (runnable, bool) {
	if q.n == 0 {
		return nil, false
	}
	t := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
	return t, true
}

func (q *taskQueue) grow() {
	size := 2 * len(q.buf)
	if size == 0 {
		size = 16
	}
	nb := make([]runnable, size)
	for i := 0; i < q.n; i++ {
		nb[i] = q.buf[(q.head+i)&(len(q.buf)-1)]
	}
	q.buf, q.head = nb, 0
}

// removeUnordered removes the first x from s by moving the last element into
// its place, and reports whether x was there.
func removeUnordered[T comparable](s []T, x T) ([]T, bool) {
	for i, v := range s {
		if v == x {
			last := len(s) - 1
			s[i] = s[last]
			var zero T
			s[last] = zero
			return s[:last], true
		}
	}
	return s, false
}
