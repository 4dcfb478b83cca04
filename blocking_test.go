package asio

import (
	"bytes"
	"errors"
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
