package uring

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

func TestAvailable(t *testing.T) {
	err := Available()
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("io_uring refused by this kernel: %v", err)
	}
	if err != nil {
		t.Fatalf("Available: %v (not an ErrUnavailable)", err)
	}
}

func TestForceRefusal(t *testing.T) {
	restore := ForceRefusal(syscall.EPERM)
	err := Available()
	_, newErr := New(Config{})
	restore()
	for _, e := range []error{err, newErr} {
		if !errors.Is(e, ErrUnavailable) || !errors.Is(e, syscall.EPERM) {
			t.Errorf("forced refusal gave %v, want ErrUnavailable wrapping EPERM", e)
		}
		if e != nil && !strings.Contains(e.Error(), "ForceRefusal") {
			t.Errorf("error %q does not say the refusal was forced", e)
		}
	}
	if err := Available(); err != nil && !errors.Is(err, ErrUnavailable) {
		t.Errorf("after restore: %v", err)
	}
}

func TestSetupErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		errno       syscall.Errno
		unavailable bool
		says        string
	}{
		{syscall.ENOSYS, true, "not implemented"},
		{syscall.EPERM, true, "denied"},
		{syscall.EACCES, true, "denied"},
		{syscall.EINVAL, true, "setup flags"},
		{syscall.ENOMEM, false, "io_uring_setup"},
		{syscall.EMFILE, false, "io_uring_setup"},
	} {
		err := setupError(tc.errno, SetupCoopTaskrun)
		if errors.Is(err, ErrUnavailable) != tc.unavailable || !errors.Is(err, tc.errno) {
			t.Errorf("%v: %v; want unavailable=%v and errors.Is the errno", tc.errno, err, tc.unavailable)
		}
		if !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%v: %q does not say %q", tc.errno, err, tc.says)
		}
	}
}

func TestProbe(t *testing.T) {
	r := newRing(t, Config{Entries: 2})
	p, err := r.Probe()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range requiredOps {
		if !p.Supports(o.op) {
			t.Errorf("%s (%d) not supported", o.name, o.op)
		}
	}
	if p.Supports(255) {
		t.Error("opcode 255 reported supported")
	}
}

func TestSetupSupported(t *testing.T) {
	newRing(t, Config{Entries: 1}) // skips where io_uring is refused
	if err := SetupSupported(SetupSingleIssuer | SetupDeferTaskrun | SetupTaskrunFlag); err != nil {
		t.Errorf("SINGLE_ISSUER|DEFER_TASKRUN|TASKRUN_FLAG: %v", err)
	}
	// DEFER_TASKRUN requires SINGLE_ISSUER: the kernel says EINVAL.
	if err := SetupSupported(SetupDeferTaskrun); !errors.Is(err, ErrUnavailable) || !errors.Is(err, syscall.EINVAL) {
		t.Errorf("DEFER_TASKRUN alone: %v, want an EINVAL refusal", err)
	}
}
