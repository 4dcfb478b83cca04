package asio_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goasio/asio"
)

// tlStreamPair returns a client and a server TLSStream over a socket pair
// of ctx, handshaken with cfgs (nil: the usual pair at version v).
func tlStreamPair(t testing.TB, ctx *asio.IOContext, runID uint64, v uint16) (client, server *asio.TLSStream) {
	return tlStreamPairOver(t, ctx, tlNexts[0], v)
}

// tlStreamPairOver is tlStreamPair over the next layer next makes.
func tlStreamPairOver(t testing.TB, ctx *asio.IOContext, next tlNext, v uint16) (client, server *asio.TLSStream) {
	t.Helper()
	a, b := tlSocketPair(t, ctx)
	client = asio.NewTLSStream(next.wrap(a), tlClientConfig(t, v))
	server = asio.NewTLSStream(next.wrap(b), tlServerConfig(t, v))
	ch := make(chan error, 2)
	server.AsyncHandshake(asio.HandshakeServer, func(err error) { ch <- err })
	client.AsyncHandshake(asio.HandshakeClient, func(err error) { ch <- err })
	for range 2 {
		if err := tlWaitErr(t, ch, "handshake"); err != nil {
			t.Fatalf("handshake: %v", err)
		}
	}
	return client, server
}

func tlPattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed + i>>11)
	}
	return b
}

// TestTLSStreamBulkBothWays moves 1 MiB each way at once between two
// TLSStreams with the composed AsyncWrite (a gather of three buffers) and
// AsyncRead: many records, partial records per read, writes larger than
// one AsyncWriteSome.
func TestTLSStreamBulkBothWays(t *testing.T) {
	for _, next := range tlNexts {
		for _, ver := range tlVersions {
			t.Run(next.name+"/"+ver.name, func(t *testing.T) { tlBulk(t, next, ver.v) })
		}
	}
}

func tlBulk(t *testing.T, next tlNext, v uint16) {
	ctx, _ := tlContext(t)
	client, server := tlStreamPairOver(t, ctx, next, v)
	const size = 1 << 20
	type res struct {
		what string
		n    int
		err  error
	}
	ch := make(chan res, 4)
	up, down := tlPattern(size, 1), tlPattern(size, 2)
	gotUp, gotDown := make([]byte, size), make([]byte, size)
	// Three buffers: a small one (gathered), a large one, a small one.
	asio.AsyncWrite(client, asio.Buffers{up[:100], up[100 : size-10], up[size-10:]}, func(n int, err error) { ch <- res{"client write", n, err} })
	asio.AsyncWrite(server, asio.Buffers{down}, func(n int, err error) { ch <- res{"server write", n, err} })
	asio.AsyncRead(server, asio.Buffers{gotUp[:size/2], gotUp[size/2:]}, func(n int, err error) { ch <- res{"server read", n, err} })
	asio.AsyncRead(client, asio.Buffers{gotDown}, func(n int, err error) { ch <- res{"client read", n, err} })
	for range 4 {
		var r res
		select {
		case r = <-ch:
		case <-time.After(tlWait):
			t.Fatal("bulk transfer: no completion")
		}
		if r.err != nil || r.n != size {
			t.Fatalf("%s: %d, %v", r.what, r.n, r.err)
		}
	}
	if !bytes.Equal(gotUp, up) || !bytes.Equal(gotDown, down) {
		t.Fatal("data differ")
	}
}

// TestTLSStreamReadUntilAndWriteQueue serves pipelined lines over TLS:
// AsyncReadUntil finds each line (several per record, and lines split
// across records), and a WriteQueue shared by writers on other goroutines
// answers each, whole and in order.
func TestTLSStreamReadUntilAndWriteQueue(t *testing.T) {
	ctx, runID := tlContext(t)
	client, server := tlStreamPair(t, ctx, runID, 0)

	const lines = 200
	var sent strings.Builder
	for i := range lines {
		fmt.Fprintf(&sent, "line %d %s\n", i, strings.Repeat("x", i*37%500))
	}
	// The client writes all the lines in one go; TLS cuts them into records
	// wherever it likes.
	wch := make(chan tlResult, 1)
	asio.AsyncWrite(client, asio.Buffers{[]byte(sent.String())}, func(n int, err error) { wch <- tlResult{n, err} })

	q := asio.NewWriteQueue(server)
	buf := asio.NewDynamicBuffer(0)
	var got []string
	done := make(chan error, 1)
	var wg sync.WaitGroup
	var readLine func()
	readLine = func() {
		asio.AsyncReadUntil(server, buf, []byte("\n"), func(n int, err error) {
			if err != nil {
				done <- err
				return
			}
			line := string(buf.Bytes()[:n])
			buf.Consume(n)
			got = append(got, line)
			wg.Add(1)
			go func() { // a writer on another goroutine
				reply := []byte("ok " + line)
				q.AsyncWrite(asio.Buffers{reply[:3], reply[3:]}, func(_ int, err error) {
					if err != nil {
						t.Errorf("queued write: %v", err)
					}
					wg.Done()
				})
			}()
			if len(got) == lines {
				done <- nil
				return
			}
			readLine()
		})
	}
	server.Executor().Post(readLine)
	if err := tlWaitErr(t, done, "read lines"); err != nil {
		t.Fatalf("read until: %v", err)
	}
	if r := tlWaitN(t, wch, "client write"); r.err != nil || r.n != sent.Len() {
		t.Fatalf("client write: %d, %v", r.n, r.err)
	}
	if strings.Join(got, "") != sent.String() {
		t.Fatal("lines differ")
	}
	// The replies: one per line, each whole (the writers raced, so the
	// order is theirs); read them back on the client.
	wg.Wait()
	cbuf := asio.NewDynamicBuffer(0)
	replies := map[string]bool{}
	for range lines {
		ch := make(chan tlResult, 1)
		asio.AsyncReadUntil(client, cbuf, []byte("\n"), func(n int, err error) { ch <- tlResult{n, err} })
		r := tlWaitN(t, ch, "read reply")
		if r.err != nil {
			t.Fatalf("read reply: %v", r.err)
		}
		replies[string(cbuf.Bytes()[:r.n])] = true
		cbuf.Consume(r.n)
	}
	for _, l := range got {
		if !replies["ok "+l] {
			t.Fatalf("no reply for %q", l)
		}
	}
}

// TestTLSStreamConcurrentWritersRefused: a second AsyncWriteSome while one
// is pending completes with ErrOperationInProgress and moves nothing; so
// does a second read; a read or write before the handshake gets
// ErrHandshakeRequired.
func TestTLSStreamRefusals(t *testing.T) {
	ctx, runID := tlContext(t)
	a, _ := tlSocketPair(t, ctx)
	s := asio.NewTLSStream(a, tlClientConfig(t, 0))
	if r := tlRead(t, s, make([]byte, 1), runID); r.err != asio.ErrHandshakeRequired {
		t.Errorf("read before handshake: %v", r.err)
	}
	if r := tlWrite(t, s, []byte("x"), runID); r.err != asio.ErrHandshakeRequired {
		t.Errorf("write before handshake: %v", r.err)
	}
	ch := make(chan error, 1)
	s.AsyncShutdown(func(err error) { ch <- err })
	if err := tlWaitErr(t, ch, "shutdown"); err != asio.ErrHandshakeRequired {
		t.Errorf("shutdown before handshake: %v", err)
	}
	srv := asio.NewTLSStream(a, nil)
	srv.AsyncHandshake(asio.HandshakeServer, func(err error) { ch <- err })
	if err := tlWaitErr(t, ch, "server handshake without config"); err == nil {
		t.Error("a server handshake without a config succeeded")
	}

	client, server := tlStreamPair(t, ctx, runID, 0)
	rch := make(chan tlResult, 2)
	server.AsyncReadSome(asio.Buffers{make([]byte, 10)}, func(n int, err error) { rch <- tlResult{n, err} })
	server.AsyncReadSome(asio.Buffers{make([]byte, 10)}, func(n int, err error) { rch <- tlResult{n, err} })
	if r := tlWaitN(t, rch, "second read"); r.err != asio.ErrOperationInProgress {
		t.Errorf("second read: %v, want ErrOperationInProgress", r.err)
	}
	if r := tlRead(t, server, nil, runID); r.err != nil || r.n != 0 {
		t.Errorf("empty read while one is pending: %d, %v", r.n, r.err)
	}
	if r := tlWrite(t, client, []byte("0123456789"), runID); r.err != nil {
		t.Fatal(r.err)
	}
	if r := tlWaitN(t, rch, "first read"); r.err != nil || r.n != 10 {
		t.Errorf("first read: %d, %v", r.n, r.err)
	}
	hch := make(chan error, 1)
	client.AsyncHandshake(asio.HandshakeClient, func(err error) { hch <- err })
	if err := tlWaitErr(t, hch, "second handshake"); err != nil {
		t.Errorf("handshake after a successful one: %v, want its result (nil)", err)
	}
	for _, f := range []func(){
		func() { client.AsyncReadSome(nil, nil) },
		func() { client.AsyncWriteSome(nil, nil) },
		func() { client.AsyncShutdown(nil) },
		func() { client.AsyncHandshake(asio.HandshakeClient, nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("a nil handler did not panic")
				}
			}()
			f()
		}()
	}
}
