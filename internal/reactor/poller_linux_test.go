package reactor

import (
	"runtime"
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

// TestPollerKeepP: a Wait that keeps its P for KeepPMs still reports an
// event that comes after that (in the part of the wait that hands the P
// back), and a Wake during the kept part. With GOMAXPROCS=1 the goroutine
// that makes the event can only run once the waiter hands its P back: the
// wait returning that event shows it does, long before its timeout.
func TestPollerKeepP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, keep := range []int{0, 1, 3} {
		p, err := Open()
		if err != nil {
			t.Fatal(err)
		}
		p.KeepPMs = keep
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Add(fds[0], 1); err != nil {
			t.Fatal(err)
		}
		events := make([]Event, 8)
		p.Wait(events, 100) // the registration's writability edge
		go unix.Write(fds[1], []byte("x"))
		n := 0
		for n == 0 { // EINTR (a preemption signal) returns early with none
			n = p.Wait(events, 10000)
		}
		if n != 1 || Token(&events[0]) != 1 || events[0].Events&unix.EPOLLIN == 0 {
			t.Fatalf("KeepPMs %d: %d events, token %#x, mask %#x", keep, n, Token(&events[0]), events[0].Events)
		}
		go p.Wake()
		n = 0
		for n == 0 {
			n = p.Wait(events, 10000)
		}
		if n != 1 || Token(&events[0]) != WakeToken {
			t.Fatalf("KeepPMs %d: wake: %d events, token %#x", keep, n, Token(&events[0]))
		}
		unix.Close(fds[0])
		unix.Close(fds[1])
		p.Close()
	}
}
