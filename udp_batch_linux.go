package asio

import (
	"sync"
	"syscall"

	"github.com/goasio/asio/internal/sys"
)

// batchScratch pools the headers, addresses and iovecs of sendmmsg/recvmmsg
// calls. They are needed only during the call, so one pool serves every
// socket and an idle socket holds none.
var batchScratch = sync.Pool{New: func() any { return new(sys.MsgBatch) }}

// performBatch is perform for opSendBatch and opRecvBatch (d.mu held): one
// sendmmsg or recvmmsg over o.batch. It reports false on EAGAIN, which
// consumes the edge as it does for the other ops.
func (o *op) performBatch(d *fdState) bool {
	msgs := o.x.batch
	if len(msgs) > sys.MaxBatch {
		msgs = msgs[:sys.MaxBatch]
	}
	if len(msgs) == 0 {
		o.n, o.err = 0, nil
		return true
	}
	b := batchScratch.Get().(*sys.MsgBatch)
	var n int
	var err error
	if o.kind == opSendBatch {
		n, err = sendBatch(b, d, msgs)
	} else {
		n, err = recvBatch(b, int(d.fd), msgs)
	}
	b.Clear()
	batchScratch.Put(b)
	if err == syscall.EAGAIN {
		d.markEmpty(o)
		return false
	}
	o.n, o.err = int32(n), err
	return true
}

func sendBatch(b *sys.MsgBatch, d *fdState, msgs []Message) (int, error) {
	b.Reset(len(msgs))
	for i := range msgs {
		if err := b.AddSend(msgs[i].Buffers, msgs[i].Addr, d.family()); err != nil {
			if i == 0 {
				return 0, err
			}
			break // send what comes before; the next call reports the error
		}
	}
	n, err := b.Send(int(d.fd), 0)
	for i := 0; i < n; i++ {
		msgs[i].N = b.Len(i)
		msgs[i].Truncated = false
	}
	return n, err
}

func recvBatch(b *sys.MsgBatch, fd int, msgs []Message) (int, error) {
	b.Reset(len(msgs))
	for i := range msgs {
		b.AddRecv(msgs[i].Buffers)
	}
	n, err := b.Recv(fd, 0)
	for i := 0; i < n; i++ {
		msgs[i].N = b.Len(i)
		msgs[i].Addr = b.From(i)
		msgs[i].Truncated = b.Truncated(i)
	}
	return n, err
}
