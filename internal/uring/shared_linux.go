package uring

import (
	"time"
	"unsafe"
)

// A ring shared by several goroutines: any of them may prepare SQEs and
// submit them (GetSQE, NextSQE, the Prep methods and Submit, under one lock
// the caller holds: the submission lock), while one of them at a time, the
// waiter, waits for completions and reaps them. PrepareWait and Wait split
// SubmitAndWaitMin for that: the waiter takes the submission lock for
// PrepareWait only, so that others keep preparing and submitting while it
// is blocked in the kernel. A submitter that finds Waiting true submits what
// it prepared itself (Submit), since the blocked waiter will not.
//
// Such a ring is set up without SetupSingleIssuer: every thread that
// submits runs the completion work of its own requests (with
// SetupCoopTaskrun, at its next entry into the kernel; a sleeping one is
// woken for it).

// WaitPlan is what PrepareWait decided for the Wait that follows it.
type WaitPlan struct {
	toSubmit uint32
	timeout  time.Duration // 0: do not block
	fallback bool          // a TIMEOUT SQE bounds the wait (no IORING_FEAT_EXT_ARG)
}

// Blocks reports whether the wait will block.
func (p WaitPlan) Blocks() bool { return p.timeout != 0 }

// PrepareWait readies a Wait of up to timeout (< 0: no limit, 0: do not
// block): it arms the wakeup read, announces the wait to Wake and
// submitters (Waiting), and publishes the prepared SQEs. Call it with the
// submission lock held, then Wait without it. A Wake since the last wait
// makes the plan a non-blocking one.
func (r *Ring) PrepareWait(timeout time.Duration) WaitPlan {
	if timeout != 0 && !r.prepareToBlock() {
		timeout = 0
	}
	p := WaitPlan{timeout: timeout}
	if timeout > 0 && r.features&FeatExtArg == 0 {
		r.armFallbackTimeout(timeout)
		p.fallback = true
	}
	p.toSubmit = r.flush()
	return p
}

// Waiting reports whether the waiter is blocked in the kernel or about to
// be (between PrepareWait and the end of Wait): SQEs prepared meanwhile are
// not submitted by it.
func (r *Ring) Waiting() bool { return r.wstate.Load()&stateWaiting != 0 }

// Wait submits what PrepareWait published and, if the plan blocks, waits
// until want completions are ready, or minWait has passed and at least one
// is (Linux 6.12; before, as soon as one is), or the plan's timeout passes,
// or Wake is called. keepP > 0 keeps the goroutine's P for the first keepP
// of the wait (a raw system call, see Config.WaitKeepsP) and hands it back
// for the rest: a short wait costs no runtime bookkeeping, a long one does
// not hold other goroutines off for longer than keepP. It needs no lock and
// returns how many SQEs the kernel consumed.
func (r *Ring) Wait(p WaitPlan, want uint32, minWait, keepP time.Duration) (int, error) {
	if p.timeout == 0 {
		if p.toSubmit == 0 && !r.enterToPoll && r.sqFlags.Load()&(sqCQOverflow|sqTaskrun) == 0 {
			return 0, nil
		}
		return r.enter(p.toSubmit, 0, enterGetEvents, nil, 0)
	}
	defer r.wstate.Store(0)
	if want == 0 || minWait <= 0 || r.features&FeatMinTimeout == 0 {
		want, minWait = 1, 0
	}
	if p.fallback {
		return r.enterKeep(p.toSubmit, want, enterGetEvents, nil, 0, false)
	}
	timeout := p.timeout
	submitted := 0
	if keepP > 0 && (timeout < 0 || timeout > keepP) {
		n, err := r.waitFor(p.toSubmit, want, minWait, keepP, true)
		if err != nil || r.Ready() > 0 || r.wstate.Load()&stateWoken != 0 {
			return n, err
		}
		submitted, p.toSubmit = n, 0
		if timeout > 0 {
			timeout -= keepP
		}
	}
	n, err := r.waitFor(p.toSubmit, want, minWait, timeout, false)
	return submitted + n, err
}

// waitFor is one blocking enter with an EXT_ARG timeout (< 0: none).
func (r *Ring) waitFor(toSubmit, want uint32, minWait, timeout time.Duration, keepP bool) (int, error) {
	s := r.scratch
	s.arg = geteventsArg{minWaitUsec: uint32(min(minWait/time.Microsecond, 1<<31))}
	if timeout > 0 {
		s.waitTS = durationTimespec(timeout)
		s.arg.ts = uint64(uintptr(unsafe.Pointer(&s.waitTS)))
	}
	if timeout < 0 && minWait == 0 {
		return r.enterKeep(toSubmit, want, enterGetEvents, nil, 0, keepP)
	}
	return r.enterKeep(toSubmit, want, enterGetEvents|enterExtArg, unsafe.Pointer(&s.arg), sizeofGeteventsArg, keepP)
}
