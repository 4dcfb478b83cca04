package asio

import (
	"sync"
	"sync/atomic"

	"github.com/goasio/asio/internal/reactor"
	"golang.org/x/sys/unix"
)

// newBackend returns the backend b names on Linux.
func newBackend(c *IOContext, b Backend, cfg contextConfig) (backend, error) {
	switch b {
	case BackendAuto, BackendEpoll:
		return newEpollBackend(c, cfg.runtimePoller)
	}
	return nil, ErrBackendUnavailable
}

// epollBackend is the reactor: the epoll poller plus a table from the
// poller's tokens to descriptors. A token is slot | generation<<32: the slot
// finds the fdState without a Go pointer in epoll_data, the generation tells
// an event of a closed and reused descriptor from a live one.
type epollBackend struct {
	c      *IOContext
	p      *reactor.Poller
	events [128]reactor.Event // used only by the goroutine inside wait
	table  fdTable
}

func newEpollBackend(c *IOContext, runtimePoller bool) (*epollBackend, error) {
	p, err := reactor.Open()
	if err != nil {
		return nil, err
	}
	if runtimePoller {
		if err := p.UseRuntime(); err != nil {
			p.Close()
			return nil, err
		}
	}
	return &epollBackend{c: c, p: p}, nil
}

func (b *epollBackend) kind() Backend { return BackendEpoll }

func (b *epollBackend) register(d *fdState) error {
	token, ok := b.table.insert(d)
	if !ok {
		return ErrContextClosed
	}
	d.token = token
	if err := b.p.Add(int(d.fd), d.token); err != nil {
		b.table.remove(d.token)
		return err
	}
	return nil
}

func (b *epollBackend) deregister(d *fdState, out *opList) {
	b.table.remove(d.token)
	b.p.Del(int(d.fd))
	d.abortLocked(out)
}

func (b *epollBackend) start(d *fdState, o *op, dir int) {
	d.start(o, dir)
}

func (b *epollBackend) wait(timeoutMs int, out *opList) {
	n := b.p.Wait(b.events[:], timeoutMs)
	for i := 0; i < n; i++ {
		ev := &b.events[i]
		token := reactor.Token(ev)
		if token == reactor.WakeToken {
			b.p.Drain()
			continue
		}
		d := b.table.lookup(token)
		if d == nil {
			continue
		}
		d.ready(token, readiness(ev.Events))
	}
}

// readiness maps an epoll mask to the queues it unblocks: errors and hang-ups
// wake every queue, so that waiting ops see the error in their syscall.
func readiness(e uint32) int {
	r := 0
	if e&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		r |= readyRead
	}
	if e&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		r |= readyWrite
	}
	if e&(unix.EPOLLPRI|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		r |= readyExcept
	}
	if e&(unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		r |= readyHangUp
	}
	return r
}

func (b *epollBackend) wake() { b.p.Wake() }

func (b *epollBackend) shutdown(out *opList) error {
	b.table.close()
	b.table.each(func(d *fdState) {
		d.mu.Lock()
		if d.fd >= 0 && d.c == b.c {
			b.p.Del(int(d.fd))
			d.abortLocked(out)
			closeFD(int(d.fd))
			d.fd = -1
		}
		d.mu.Unlock()
	})
	return b.p.Close()
}

// fdTable maps slots to descriptors. Lookups are lock-free (two atomic
// loads); inserts and removals take mu. It grows by chunks and never moves
// an entry, so a lookup racing with growth is safe.
type fdTable struct {
	mu     sync.Mutex
	chunks [tableChunks]atomic.Pointer[[chunkSize]atomic.Pointer[fdState]]
	free   []uint32
	next   uint32 // slots ever used
	gen    uint32
	closed bool // shutdown began: no more inserts
}

const (
	chunkSize   = 1024
	tableChunks = 4096 // 4M descriptors per context
)

// insert gives d a slot and returns its token; false once the table is
// closed, so that no descriptor is registered behind a shutdown's back.
func (t *fdTable) insert(d *fdState) (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, false
	}
	var slot uint32
	if n := len(t.free); n > 0 {
		slot = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		slot = t.next
		t.next++
	}
	ch := t.chunks[slot/chunkSize].Load()
	if ch == nil {
		ch = new([chunkSize]atomic.Pointer[fdState])
		t.chunks[slot/chunkSize].Store(ch)
	}
	ch[slot%chunkSize].Store(d)
	t.gen++
	if t.gen == 0 || t.gen == ^uint32(0) {
		t.gen = 1
	}
	return uint64(slot) | uint64(t.gen)<<32, true
}

func (t *fdTable) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}

func (t *fdTable) remove(token uint64) {
	slot := uint32(token)
	t.mu.Lock()
	defer t.mu.Unlock()
	ch := t.chunks[slot/chunkSize].Load()
	if ch == nil || ch[slot%chunkSize].Load() == nil {
		return
	}
	ch[slot%chunkSize].Store(nil)
	t.free = append(t.free, slot)
}

func (t *fdTable) lookup(token uint64) *fdState {
	slot := uint32(token)
	if slot/chunkSize >= tableChunks {
		return nil
	}
	ch := t.chunks[slot/chunkSize].Load()
	if ch == nil {
		return nil
	}
	return ch[slot%chunkSize].Load()
}

func (t *fdTable) each(f func(d *fdState)) {
	t.mu.Lock()
	n := t.next
	t.mu.Unlock()
	for slot := uint32(0); slot < n; slot++ {
		if d := t.lookup(uint64(slot)); d != nil {
			f(d)
		}
	}
}
