package asio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// The blocking forms need no Run: they wait with poll(2).
func TestBlockingWriteReadReadUntil(t *testing.T) {
	ctx := newTestContext(t)
	c, s := connectedPair(t, ctx)

	// 4 MiB in 300 buffers: more than the socket buffers hold, so Write
	// blocks until the reader goroutine drains it.
	var bufs Buffers
	var want []byte
	for i := 0; i < 300; i++ {
		b := bytes.Repeat([]byte{byte(i)}, 14000)
		bufs = append(bufs, b)
		want = append(want, b...)
	}
	got := make([]byte, len(want))
	done := make(chan error, 1)
	go func() {
		n, err := Read(s, Buffers{got[:1000], got[1000:]})
		if err == nil && n != len(got) {
			err = errors.New("short read")
		}
		done <- err
	}()
	n, err := Write(c, bufs)
	if err != nil || n != len(want) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(want))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes differ")
	}

	if _, err := Write(c, Buffers{[]byte("line one\nline two\n")}); err != nil {
		t.Fatal(err)
	}
	buf := NewDynamicBuffer(0)
	n, err = ReadUntil(s, buf, []byte("\n"))
	if err != nil || string(buf.Bytes()[:n]) != "line one\n" {
		t.Fatalf("ReadUntil = %d, %v (%q)", n, err, buf.Bytes())
	}
	buf.Consume(n)
	n, err = ReadUntil(s, buf, []byte("\n"))
	if err != nil || string(buf.Bytes()[:n]) != "line two\n" {
		t.Fatalf("second ReadUntil = %d, %v (%q)", n, err, buf.Bytes())
	}

	small := NewDynamicBuffer(8)
	if _, err := Write(c, Buffers{[]byte("0123456789")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadUntil(s, small, []byte("\n")); !errors.Is(err, ErrMessageTooLong) {
		t.Fatalf("ReadUntil past max: %v, want ErrMessageTooLong", err)
	}

	c.Shutdown(ShutdownSend)
	rest := make([]byte, 10)
	if n, err := Read(s, Buffers{rest}); !errors.Is(err, io.EOF) || n != 2 {
		t.Fatalf("Read at EOF = %d, %v; want 2, io.EOF", n, err)
	}
}

func TestBlockingFormsOnClosedSocket(t *testing.T) {
	ctx := newTestContext(t)
	s := NewTCPSocket(ctx.Executor())
	if _, err := s.WriteSome(Buffers{[]byte("x")}); !errors.Is(err, ErrBadDescriptor) {
		t.Errorf("WriteSome on a never-opened socket: %v", err)
	}
	if _, err := Read(s, Buffers{make([]byte, 1)}); !errors.Is(err, ErrBadDescriptor) {
		t.Errorf("Read on a never-opened socket: %v", err)
	}
}

// syncTestStream gives a test stream the blocking forms: each call starts
// the asynchronous one and runs the context until it completes.
type syncTestStream struct {
	st  *testStream
	ctx *IOContext
}

func (s syncTestStream) WriteSome(b Buffers) (int, error) { return s.wait(true, b) }
func (s syncTestStream) ReadSome(b Buffers) (int, error)  { return s.wait(false, b) }

func (s syncTestStream) wait(write bool, b Buffers) (int, error) {
	var n int
	var err error
	done := false
	h := func(m int, e error) { n, err, done = m, e, true }
	if write {
		s.st.AsyncWriteSome(b, h)
	} else {
		s.st.AsyncReadSome(b, h)
	}
	for !done {
		s.ctx.Restart()
		if s.ctx.Run() == 0 && !done {
			return 0, errors.New("the test stream's call would block for ever")
		}
	}
	return n, err
}

// ownSyncTestStream counts as one of the package's own sockets.
type ownSyncTestStream struct{ syncTestStream }

func (ownSyncTestStream) offersWhole() {}

// TestBlockingMatchesAsync: Write, WriteCond, Read and ReadCond make the
// calls of their asynchronous twins, with the same results, on a user's
// stream and on an own one (whole offers); ReadUntil reads as
// AsyncReadUntil does.
func TestBlockingMatchesAsync(t *testing.T) {
	for _, c := range transferCases() {
		t.Run("write/"+c.name, func(t *testing.T) { runTransferCaseAs(t, c, true, true) })
		t.Run("read/"+c.name, func(t *testing.T) { runTransferCaseAs(t, c, false, true) })
	}
	for _, c := range untilCases() {
		t.Run("until/"+c.name, func(t *testing.T) {
			async := reads(runUntilCase(t, c, false))
			blocking := reads(runUntilCase(t, c, true))
			if fmt.Sprint(async) != fmt.Sprint(blocking) {
				t.Fatalf("ReadUntil made the reads %v, AsyncReadUntil %v", blocking, async)
			}
		})
	}
}

// reads drops the empty calls from a call log: an asynchronous operation
// makes one to complete through the executor, a blocking one needs none.
func reads(calls []streamCall) []streamCall {
	var out []streamCall
	for _, c := range calls {
		if c.offered > 0 {
			out = append(out, c)
		}
	}
	return out
}
