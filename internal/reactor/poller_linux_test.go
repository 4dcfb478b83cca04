package reactor

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPollerEventsAndWake: a registered descriptor's readiness comes back
// with its token, edge-triggered (once per edge); Wake makes a Wait return
// at once with the wake token, from another goroutine too.
func TestPollerEventsAndWake(t *testing.T) {
	p, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	const token = 42 | 7<<32
	if err := p.Add(fds[0], token); err != nil {
		t.Fatal(err)
	}
	events := make([]Event, 8)
	n := p.Wait(events, 100) // the registration reports writability
	if n != 1 || Token(&events[0]) != token || events[0].Events&unix.EPOLLOUT == 0 {
		t.Fatalf("first wait: %d events, token %#x, mask %#x", n, Token(&events[0]), events[0].Events)
	}
	if n := p.Wait(events, 0); n != 0 {
		t.Fatalf("no new edge, yet %d events (edge-triggered)", n)
	}
	unix.Write(fds[1], []byte("x"))
	if n := p.Wait(events, 1000); n != 1 || events[0].Events&unix.EPOLLIN == 0 {
		t.Fatalf("after a write: %d events, mask %#x", n, events[0].Events)
	}
	go func() {
		time.Sleep(10 * time.Millisecond) // let Wait block; the wake must end it either way
		p.Wake()
	}()
	n = p.Wait(events, 10000)
	if n != 1 || Token(&events[0]) != WakeToken {
		t.Fatalf("wake: %d events, token %#x", n, Token(&events[0]))
	}
	p.Drain()
	p.Wake() // before the wait: it returns at once
	if n := p.Wait(events, 10000); n != 1 || Token(&events[0]) != WakeToken {
		t.Fatalf("wake before wait: %d events", n)
	}
	p.Drain()
	p.Del(fds[0])
	unix.Write(fds[1], []byte("y"))
	if n := p.Wait(events, 0); n != 0 {
		t.Fatalf("a removed descriptor still reports %d events", n)
	}
}
