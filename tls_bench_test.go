package asio_test

import (
	"testing"

	"github.com/goasio/asio"
)

// tlPingPong bounces a message between two TLSStreams, driven by the
// handlers alone, so that a benchmark measures the streams, not wakeups.
type tlPingPong struct {
	client, server                                           *asio.TLSStream
	msg, sbuf, cbuf                                          []byte
	left                                                     int
	err                                                      error
	wb, sb, cb, rb                                           asio.Buffers
	onClientWrite, onServerRead, onServerWrite, onClientRead func(int, error)
	roundH                                                   func()
}

func newTLPingPong(client, server *asio.TLSStream, size int) *tlPingPong {
	p := &tlPingPong{client: client, server: server, msg: make([]byte, size), sbuf: make([]byte, 2*size), cbuf: make([]byte, 2*size)}
	p.wb, p.sb, p.cb, p.rb = asio.Buffers{p.msg}, asio.Buffers{p.sbuf}, asio.Buffers{p.cbuf}, make(asio.Buffers, 1)
	p.onClientWrite = func(_ int, err error) { p.fail(err) }
	p.roundH = p.round
	p.onServerRead = func(n int, err error) {
		if p.fail(err) {
			return
		}
		p.rb[0] = p.sbuf[:n]
		p.server.AsyncWriteSome(p.rb, p.onServerWrite)
	}
	p.onServerWrite = func(_ int, err error) { p.fail(err) }
	p.onClientRead = func(_ int, err error) {
		if p.fail(err) {
			return
		}
		p.left--
		if p.left > 0 {
			p.round()
		}
	}
	return p
}

func (p *tlPingPong) fail(err error) bool {
	if err != nil && p.err == nil {
		p.err = err
	}
	return err != nil
}

func (p *tlPingPong) round() {
	p.server.AsyncReadSome(p.sb, p.onServerRead)
	p.client.AsyncReadSome(p.cb, p.onClientRead)
	p.client.AsyncWriteSome(p.wb, p.onClientWrite)
}

func (p *tlPingPong) run(ctx *asio.IOContext, n int) {
	p.left = n
	ctx.Executor().Post(p.roundH)
	ctx.Run()
	ctx.Restart()
}

func tlUnrunContext(tb testing.TB) *asio.IOContext {
	ctx, err := asio.NewIOContext()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ctx.Close() })
	return ctx
}

// tlPairOn makes a handshaken pair on ctx, running ctx here until done.
func tlPairOn(tb testing.TB, ctx *asio.IOContext, v uint16) (*asio.TLSStream, *asio.TLSStream) {
	a, b := tlSocketPair(tb, ctx)
	a.SetNoDelay(true)
	b.SetNoDelay(true)
	client := asio.NewTLSStream(a, tlClientConfig(tb, v))
	server := asio.NewTLSStream(b, tlServerConfig(tb, v))
	var errs []error
	server.AsyncHandshake(asio.HandshakeServer, func(err error) { errs = append(errs, err) })
	client.AsyncHandshake(asio.HandshakeClient, func(err error) { errs = append(errs, err) })
	ctx.Run()
	ctx.Restart()
	if len(errs) != 2 || errs[0] != nil || errs[1] != nil {
		tb.Fatalf("handshake: %v", errs)
	}
	return client, server
}

// BenchmarkTLSStreamPingPong: a 64-byte message there and back between two
// TLSStreams (TLS 1.3, AES-GCM) on one context: 2 encryptions and 2
// decryptions per op.
func BenchmarkTLSStreamPingPong(b *testing.B) {
	ctx := tlUnrunContext(b)
	client, server := tlPairOn(b, ctx, 0)
	p := newTLPingPong(client, server, 64)
	p.run(ctx, 100)
	b.ReportAllocs()
	b.ResetTimer()
	p.run(ctx, b.N)
	if p.err != nil {
		b.Fatal(p.err)
	}
}
