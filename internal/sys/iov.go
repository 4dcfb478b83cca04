package sys

// MaxIovecs is the most buffers one writev/readv/sendmsg/recvmsg takes
// (IOV_MAX: 1024 on Linux and the BSDs); longer sequences are split by the
// caller.
const MaxIovecs = 1024
