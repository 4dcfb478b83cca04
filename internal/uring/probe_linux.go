package uring

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrUnavailable is what every refusal of io_uring satisfies with errors.Is:
// the kernel has no io_uring, denies it to this process, or lacks an opcode
// or feature the backend needs.
var ErrUnavailable = errors.New("uring: io_uring is not available")

// UnavailableError says why io_uring cannot be used. errors.Is(err,
// ErrUnavailable) holds, and errors.Is(err, syscall.EPERM) and the like hold
// for the system call error it carries.
type UnavailableError struct {
	Reason string // what refused or what is missing, in words
	Err    error  // the system call error, if one said it
}

func (e *UnavailableError) Error() string {
	s := "uring: io_uring is not available: " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is makes errors.Is(err, ErrUnavailable) hold.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns the system call error.
func (e *UnavailableError) Unwrap() error { return e.Err }

// requiredOps are the opcodes the asio backend prepares.
var requiredOps = [...]struct {
	op   uint8
	name string
}{
	{OpNop, "NOP"}, {OpPollAdd, "POLL_ADD"}, {OpSendmsg, "SENDMSG"}, {OpRecvmsg, "RECVMSG"},
	{OpTimeout, "TIMEOUT"}, {OpAccept, "ACCEPT"}, {OpAsyncCancel, "ASYNC_CANCEL"},
	{OpLinkTimeout, "LINK_TIMEOUT"}, {OpConnect, "CONNECT"}, {OpClose, "CLOSE"},
	{OpRead, "READ"}, {OpSend, "SEND"}, {OpRecv, "RECV"}, {OpShutdown, "SHUTDOWN"},
}

var (
	forced    atomic.Pointer[UnavailableError]
	available = sync.OnceValue(probeKernel)
)

// Available reports whether this kernel can run the io_uring backend: nil,
// or an error satisfying errors.Is(err, ErrUnavailable) that says why not
// (ENOSYS: no io_uring in this kernel or sandbox; EPERM: denied by
// kernel.io_uring_disabled or a seccomp profile; an opcode, feature or setup
// flag missing: the kernel is older than 6.0). The first call sets up a
// small ring, probes its opcodes and runs one multishot receive into a
// buffer ring over a socketpair; later calls return the cached answer. It is
// safe from any goroutine.
func Available() error {
	if err := forcedRefusal(); err != nil {
		return err
	}
	return available()
}

// ForceRefusal makes Available and New fail with err wrapped in an
// UnavailableError, as on a kernel that refuses io_uring, until restore is
// called. It is a test seam (for the asio package's fallback tests) and
// safe from any goroutine.
func ForceRefusal(err error) (restore func()) {
	forced.Store(&UnavailableError{Reason: "refused for a test (ForceRefusal)", Err: err})
	return func() { forced.Store(nil) }
}

func forcedRefusal() error {
	if e := forced.Load(); e != nil {
		return e
	}
	return nil
}

func probeKernel() error {
	r, err := New(Config{Entries: 8, Flags: SetupCoopTaskrun | SetupTaskrunFlag})
	if err != nil {
		return err
	}
	defer r.Close()
	if r.features&FeatFastPoll == 0 {
		return &UnavailableError{Reason: "the kernel lacks IORING_FEAT_FAST_POLL (Linux 5.7+)"}
	}
	p, err := r.Probe()
	if err != nil {
		return &UnavailableError{Reason: "IORING_REGISTER_PROBE failed", Err: err}
	}
	var missing []string
	for _, o := range requiredOps {
		if !p.Supports(o.op) {
			missing = append(missing, o.name)
		}
	}
	if len(missing) > 0 {
		return &UnavailableError{Reason: "the kernel lacks opcodes " + strings.Join(missing, ", ")}
	}
	if err := SetupSupported(SetupSingleIssuer); err != nil {
		return &UnavailableError{Reason: "the kernel lacks IORING_SETUP_SINGLE_ISSUER, so it predates multishot receive (Linux 6.0)", Err: errors.Unwrap(err)}
	}
	return checkMultishotRecv(r)
}

// checkMultishotRecv runs the feature no flag or opcode reports: a
// multishot receive (Linux 6.0) into a provided buffer ring (5.19).
func checkMultishotRecv(r *Ring) error {
	br, err := r.NewBufRing(0, 1, 64)
	if err != nil {
		return &UnavailableError{Reason: "IORING_REGISTER_PBUF_RING failed (Linux 5.19+ has it)", Err: err}
	}
	defer br.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socketpair", err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if _, err := unix.Write(fds[1], []byte{1}); err != nil {
		return os.NewSyscallError("write", err)
	}
	s := r.GetSQE()
	s.PrepRecvMultishot(fds[0], br.Group(), 0, 1)
	var c [4]CQE
	for i := 0; i < 20 && r.Reap(c[:1]) == 0; i++ {
		if _, err := r.SubmitAndWait(100 * time.Millisecond); err != nil {
			return &UnavailableError{Reason: "io_uring_enter failed", Err: err}
		}
	}
	if c[0].Res != 1 || c[0].Flags&CQEFBuffer == 0 {
		return &UnavailableError{Reason: "a multishot receive into a buffer ring did not work (Linux 6.0+ needed)", Err: c[0].Err()}
	}
	if c[0].More() {
		// Still armed: cancel it before the buffer ring goes.
		cs := r.GetSQE()
		cs.PrepCancel(1, 0, 2)
		for i, done := 0, false; !done && i < 20; i++ {
			if _, err := r.SubmitAndWait(100 * time.Millisecond); err != nil {
				return err
			}
			n := r.Reap(c[:])
			for i := range n {
				done = done || (c[i].UserData == 1 && !c[i].More())
			}
		}
	}
	return nil
}

// SetupSupported reports whether the kernel accepts a ring with setup flags
// f (nil), or why not.
func SetupSupported(f Flags) error {
	r, err := New(Config{Entries: 1, Flags: f})
	if err != nil {
		return err
	}
	return r.Close()
}

// setupError classifies an io_uring_setup failure: a refusal or a missing
// flag is an UnavailableError; running out of memory or descriptors is not.
func setupError(err error, f Flags) error {
	switch err {
	case syscall.ENOSYS:
		return &UnavailableError{Reason: "io_uring_setup is not implemented (a kernel without CONFIG_IO_URING, or a sandbox that hides it)" + disabledNote(), Err: err}
	case syscall.EPERM, syscall.EACCES:
		return &UnavailableError{Reason: "io_uring_setup was denied" + deniedNote(), Err: err}
	case syscall.EINVAL:
		return &UnavailableError{Reason: fmt.Sprintf("the kernel rejected setup flags %#x (it predates one of them)", uint32(f|setupAlwaysDefault)), Err: err}
	}
	return os.NewSyscallError("io_uring_setup", err)
}

// disabledSysctl returns kernel.io_uring_disabled (Linux 6.6+), or "".
func disabledSysctl() string {
	b, err := os.ReadFile("/proc/sys/kernel/io_uring_disabled")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func deniedNote() string {
	switch disabledSysctl() {
	case "2":
		return " (kernel.io_uring_disabled is 2: io_uring is off for every process)"
	case "1":
		return " (kernel.io_uring_disabled is 1: only processes in kernel.io_uring_group or with CAP_SYS_ADMIN may use it)"
	}
	return " (by a seccomp profile, as container runtimes install by default, or a security module)"
}

func disabledNote() string {
	if v := disabledSysctl(); v != "" && v != "0" {
		return "; kernel.io_uring_disabled is " + v
	}
	return ""
}

// Probe is the kernel's list of supported opcodes (IORING_REGISTER_PROBE).
type Probe struct {
	last  uint8
	flags [probeOps]uint16
}

// Probe asks the kernel which opcodes it supports.
func (r *Ring) Probe() (*Probe, error) {
	raw := new(ioURingProbe)
	if _, err := register(r.fd, registerProbe, unsafe.Pointer(raw), probeOps); err != nil {
		return nil, err
	}
	p := &Probe{last: raw.lastOp}
	for i := 0; i < int(raw.opsLen) && i < probeOps; i++ {
		p.flags[raw.ops[i].op] = raw.ops[i].flags
	}
	return p, nil
}

// Supports reports whether the kernel supports opcode op.
func (p *Probe) Supports(op uint8) bool {
	return op <= p.last && p.flags[op]&ioURingOpSupported != 0
}
