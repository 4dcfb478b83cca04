package uring

// The kernel's io_uring ABI (include/uapi/linux/io_uring.h), the parts this
// package uses. Layouts are checked against the kernel's sizes in
// abi_linux_test.go.

// Opcodes (enum io_uring_op).
const (
	OpNop         = 0
	OpPollAdd     = 6
	OpSendmsg     = 9
	OpRecvmsg     = 10
	OpTimeout     = 11
	OpAccept      = 13
	OpAsyncCancel = 14
	OpLinkTimeout = 15
	OpConnect     = 16
	OpClose       = 19
	OpRead        = 22
	OpSend        = 26
	OpRecv        = 27
	OpShutdown    = 34
	OpMsgRing     = 40
)

// SQE flags (sqe->flags).
const (
	SQEFixedFile      = 1 << 0
	SQEIODrain        = 1 << 1
	SQEIOLink         = 1 << 2 // the next SQE starts only when this one succeeds
	SQEIOHardlink     = 1 << 3
	SQEAsync          = 1 << 4
	SQEBufferSelect   = 1 << 5 // take the buffer from the group in BufIndex
	SQECQESkipSuccess = 1 << 6 // post no CQE if the request succeeds
)

// Setup flags (io_uring_params.flags).
const (
	SetupClamp         Flags = 1 << 4
	SetupRDisabled     Flags = 1 << 6  // start disabled; Ring.Enable binds the issuer (5.10)
	SetupSubmitAll     Flags = 1 << 7  // keep submitting past a failing SQE (5.18)
	SetupCoopTaskrun   Flags = 1 << 8  // no IPI to run completion work; it runs at the next kernel entry (5.19)
	SetupTaskrunFlag   Flags = 1 << 9  // with CoopTaskrun or DeferTaskrun: IORING_SQ_TASKRUN tells work is pending (5.19)
	SetupSingleIssuer  Flags = 1 << 12 // one thread submits (6.0)
	SetupDeferTaskrun  Flags = 1 << 13 // completion work runs only in io_uring_enter(GETEVENTS) (6.1)
	setupCQSize        Flags = 1 << 3
	setupAlwaysDefault       = SetupSubmitAll | SetupClamp
)

// Features (io_uring_params.features).
const (
	FeatSingleMmap   = 1 << 0
	FeatNodrop       = 1 << 1
	FeatSubmitStable = 1 << 2
	FeatFastPoll     = 1 << 5
	FeatExtArg       = 1 << 8
	FeatNativeWorker = 1 << 9
	FeatCQESkip      = 1 << 11
	FeatLinkedFile   = 1 << 12
	FeatMinTimeout   = 1 << 15 // min_wait_usec in the wait argument (6.12)
)

// io_uring_enter flags.
const (
	enterGetEvents = 1 << 0
	enterExtArg    = 1 << 3
)

// SQ ring flags (sq_ring->flags).
const (
	sqCQOverflow = 1 << 1 // completions wait in the kernel's overflow list
	sqTaskrun    = 1 << 2 // completion work is pending; an enter with GETEVENTS runs it
)

// CQE flags.
const (
	CQEFBuffer       = 1 << 0 // the upper 16 bits of Flags are a provided buffer's id
	CQEFMore         = 1 << 1 // the SQE will post more CQEs (multishot)
	CQEFSockNonempty = 1 << 2
	cqeBufferShift   = 16
)

// POLL_ADD command flags, in sqe->len.
const (
	pollAddMulti = 1 << 0
)

// Per-opcode flags in sqe->ioprio.
const (
	recvsendPollFirst = 1 << 0
	recvMultishot     = 1 << 1
	acceptMultishot   = 1 << 0
)

// ASYNC_CANCEL flags (sqe->cancel_flags).
const (
	CancelAll = 1 << 0 // every request that matches, not just the first
	CancelFD  = 1 << 1 // match on the descriptor in Fd, not on user_data
	CancelAny = 1 << 2 // match every request
)

// TIMEOUT flags (sqe->timeout_flags).
const (
	TimeoutAbs          = 1 << 0
	TimeoutBoottime     = 1 << 2
	TimeoutRealtime     = 1 << 3
	TimeoutEtimeSuccess = 1 << 5
)

// io_uring_register opcodes.
const (
	registerProbe          = 8
	registerEnableRings    = 12
	registerPbufRing       = 22
	unregisterPbufRing     = 23
	ioURingOpSupported     = 1 << 0
	probeOps               = 256
	pbufRingMaxEntries     = 1 << 15
	mmapOffSQRing          = 0
	mmapOffSQEs            = 0x10000000
	ioringMsgData          = 0
	defaultEntries         = 256
	sizeofIOURingParams    = 120
	sizeofGeteventsArg     = 24
	sizeofIOURingBufReg    = 40
	sizeofIOURingProbeHead = 16
)

// ioSqringOffsets is struct io_sqring_offsets.
type ioSqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

// ioCqringOffsets is struct io_cqring_offsets.
type ioCqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// ioURingParams is struct io_uring_params.
type ioURingParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  ioSqringOffsets
	cqOff                                                                  ioCqringOffsets
}

// geteventsArg is struct io_uring_getevents_arg, for IORING_ENTER_EXT_ARG.
type geteventsArg struct {
	sigmask     uint64
	sigmaskSz   uint32
	minWaitUsec uint32
	ts          uint64
}

// Timespec is struct __kernel_timespec: 64-bit fields on every
// architecture, unlike unix.Timespec.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// ioURingBufReg is struct io_uring_buf_reg, for IORING_REGISTER_PBUF_RING.
type ioURingBufReg struct {
	ringAddr    uint64
	ringEntries uint32
	bgid        uint16
	flags       uint16
	resv        [3]uint64
}

// ioURingBuf is struct io_uring_buf, one entry of a provided buffer ring.
// The tail of the ring overlays resv of entry 0.
type ioURingBuf struct {
	addr uint64
	len  uint32
	bid  uint16
	resv uint16
}

// ioURingProbe is struct io_uring_probe followed by its ops.
type ioURingProbe struct {
	lastOp uint8
	opsLen uint8
	resv   uint16
	resv2  [3]uint32
	ops    [probeOps]ioURingProbeOp
}

type ioURingProbeOp struct {
	op    uint8
	resv  uint8
	flags uint16
	resv2 uint32
}
