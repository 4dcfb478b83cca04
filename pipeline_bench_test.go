package asio

import (
	"bytes"
	"testing"
)

// memStream is an in-memory stream for measuring the library's own cost
// per request without a socket, with a client that behaves as wrk's
// pipelining does: it sends a round of requests, and the next round once
// it has every reply of the last. AsyncReadSome fills what it is offered
// from the round sent (and waits when there is none), AsyncWriteSome takes
// everything; both complete through a task posted to the executor, as a
// socket's would after its syscall.
type memStream struct {
	ex      Executor
	in      []byte // one round of requests
	replies int    // bytes of the replies to one round
	rounds  int    // rounds the client still sends
	off     int    // of in, read so far; len(in): the round is read
	got     int    // bytes of replies the client has of the current round

	rh, wh func(int, error)
	rb     []byte
	rn, wn int
	rf, wf func()
}

func newMemStream(ex Executor, round []byte, replies, rounds int) *memStream {
	s := &memStream{ex: ex, in: round, replies: replies, rounds: rounds - 1}
	s.rf = func() { h := s.rh; s.rh = nil; h(s.rn, nil) }
	s.wf = func() { h := s.wh; s.wh = nil; h(s.wn, nil) }
	return s
}

func (s *memStream) Executor() Executor { return s.ex }

func (s *memStream) AsyncReadSome(b Buffers, h func(int, error), _ ...OpOption) {
	s.rh, s.rb = h, b[0]
	s.tryRead()
}

func (s *memStream) tryRead() {
	if s.rh == nil || s.rb == nil || s.off == len(s.in) {
		return // nothing sent yet: the read waits (forever once the client is done)
	}
	s.rn = copy(s.rb, s.in[s.off:])
	s.off += s.rn
	s.rb = nil
	s.ex.Post(s.rf)
}

func (s *memStream) AsyncWriteSome(b Buffers, h func(int, error), _ ...OpOption) {
	s.wh, s.wn = h, b.Len()
	if s.got += s.wn; s.got == s.replies && s.rounds > 0 {
		s.got, s.off = 0, 0
		s.rounds--
		s.tryRead()
	}
	s.ex.Post(s.wf)
}

// BenchmarkPipelinedRequests is the natural server loop that
// examples/http runs, over in-memory streams: one AsyncReadUntil per
// request head and one WriteQueue.AsyncWrite per reply, 50 connections
// with 16 requests pipelined on each. It measures what the library costs
// per request.
func BenchmarkPipelinedRequests(b *testing.B) {
	const depth, conns = 16, 50
	head := []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")
	reply := []byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!")
	round := bytes.Repeat(head, depth)
	delim := []byte("\r\n\r\n")
	run := func(rounds int) {
		ctx, err := NewIOContext()
		if err != nil {
			b.Fatal(err)
		}
		defer ctx.Close()
		served := 0
		for range conns {
			s := newMemStream(ctx.Executor(), round, depth*len(reply), rounds)
			buf := NewDynamicBuffer(8 << 10)
			wq := NewWriteQueue(s)
			onWrite := func(int, error) {}
			var onHead func(int, error)
			onHead = func(n int, err error) {
				if err != nil {
					b.Fatal(err)
				}
				buf.Consume(n)
				if served++; served == conns*depth*rounds {
					ctx.Stop()
				}
				wq.AsyncWrite(Buffers{reply}, onWrite)
				AsyncReadUntil(s, buf, delim, onHead)
			}
			AsyncReadUntil(s, buf, delim, onHead)
		}
		g := NewWorkGuard(ctx.Executor()) // the streams' reads are no work of the context
		ctx.Run()
		g.Reset()
	}
	run(20) // warm the pools
	b.ReportAllocs()
	b.ResetTimer()
	run(max(b.N/(depth*conns), 1))
}
