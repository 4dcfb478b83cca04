// Package uring holds the io_uring primitives under the asio io_uring
// backend: rings set up with io_uring_setup(2) and mapped with mmap(2),
// submission queue entries (SQEs) prepared in place, completion queue
// entries (CQEs) reaped without allocation, provided buffer rings for
// multishot receives, wakeups from other goroutines, and the probe that
// tells whether this kernel can run the backend at all.
//
// The package is pure Go (no cgo) and builds only on Linux; on other systems
// it is empty.
//
// # Ownership and goroutines
//
// A Ring is driven by one goroutine at a time, its owner: GetSQE, the Prep
// methods, Submit, SubmitAndWait and Reap are not safe for concurrent use.
// Wake is safe from any goroutine. A ring set up with SetupSingleIssuer (and
// so SetupDeferTaskrun) must moreover be entered from one OS thread, the one
// that created it (or enabled it, see SetupRDisabled and Ring.Enable): its
// owner calls runtime.LockOSThread for the ring's whole life.
//
// # One system call per loop turn
//
// A loop turn is: prepare SQEs (GetSQE and a Prep method each), then
// SubmitAndWait, which submits them and waits for completions in one
// io_uring_enter (the timeout goes in the IORING_ENTER_EXT_ARG argument, or
// in a TIMEOUT SQE on a kernel without it), then Reap until it returns 0.
// SubmitAndWaitMin waits for a batch (min_wait, Linux 6.12), and
// Config.WaitKeepsP keeps the Go runtime from handing the goroutine's P
// away for the wait; with both, an echo server spends about 0.15 system
// calls per message. Wake, from any goroutine, writes the ring's eventfd
// only when the owner is blocked or about to block.
//
// # Memory the kernel reads or writes later
//
// An SQE carries addresses, not Go references. Go's heap does not move
// objects, but goroutine stacks do, so every Prep method that takes a buffer
// or a structure makes it escape to the heap, and the caller keeps a
// reference to it (typically in its operation object) for as long as the
// kernel may use it:
//
//   - until the Submit or SubmitAndWait call that consumed the SQE returns
//     (IORING_FEAT_SUBMIT_STABLE): the msghdr, iovec array and msg_name of a
//     SENDMSG, the address of a CONNECT, the timespec of a TIMEOUT or
//     LINK_TIMEOUT;
//   - until the SQE's final CQE: every payload buffer (SEND, RECV, the
//     buffers an iovec names), the msg_control of a SENDMSG (read at issue,
//     not at submission), and for a RECVMSG everything: the kernel writes the
//     msghdr (msg_namelen, msg_controllen, msg_flags), the name and the
//     control buffers back when the receive completes; the address and
//     address length of a single ACCEPT likewise.
//
// Memory the package itself hands the kernel (the rings, the wait arguments,
// the wakeup buffer, provided buffer rings and their buffers) is mapped with
// mmap outside the Go heap.
//
// # user_data
//
// The 64-bit user_data of an SQE comes back in its CQEs. It is never a Go
// pointer: callers use a token (a slot and a generation, as the epoll
// backend's descriptor table does). The values at and above ReservedUserData
// belong to the package (its wakeup read and its fallback wait timeout) and
// never appear in what Reap returns.
package uring
