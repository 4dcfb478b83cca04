package asio

import (
	"context"
	"sync"
)

// Future is the completion token for code that wants to wait for an async
// operation from a goroutine: pass f.Complete (or f.CompleteErr) as the
// handler, then Wait. The handler still runs on the executor, so some Run
// must be going on.
type Future[T any] struct {
	once sync.Once
	done chan struct{}
	v    T
	err  error
}

// NewFuture returns a future not yet completed.
func NewFuture[T any]() *Future[T] { return &Future[T]{done: make(chan struct{})} }

// Complete records the result; later calls are ignored.
func (f *Future[T]) Complete(v T, err error) {
	f.once.Do(func() {
		f.v, f.err = v, err
		close(f.done)
	})
}

// CompleteErr is Complete for handlers of the form func(err error).
func (f *Future[T]) CompleteErr(err error) {
	var zero T
	f.Complete(zero, err)
}

// Wait blocks until the future completes or ctx is done; in the latter case
// it returns ctx.Err() and the operation goes on.
func (f *Future[T]) Wait(ctx context.Context) (T, error) {
	select {
	case <-f.done:
		return f.v, f.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Done is closed when the future completes.
func (f *Future[T]) Done() <-chan struct{} { return f.done }
