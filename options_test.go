package asio

import (
	"context"
	"testing"
)

func TestReadOpOptions(t *testing.T) {
	ctx := newTestContext(t)
	sig := NewCancellationSignal()
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewStrand(ctx.Executor())
	got := ReadOpOptions(BindExecutor(s), BindImmediateExecutor(ctx.Executor()), BindCancellationSlot(sig.Slot()), WithContext(cctx))
	if got.Executor != Executor(s) || got.ImmediateExecutor != ctx.Executor() || got.Slot != sig.Slot() || got.Context != cctx {
		t.Fatalf("ReadOpOptions = %+v", got)
	}
	if z := ReadOpOptions(); z.Executor != nil || z.Slot.IsConnected() || z.Context != nil {
		t.Fatalf("no options: %+v", z)
	}
}
