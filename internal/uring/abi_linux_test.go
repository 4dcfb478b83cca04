package uring

import (
	"testing"
	"unsafe"

	"github.com/goasio/asio/internal/sys"
)

// TestABISizes checks the layouts against the kernel's struct sizes.
func TestABISizes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"io_uring_sqe", unsafe.Sizeof(SQE{}), 64},
		{"io_uring_cqe", unsafe.Sizeof(CQE{}), 16},
		{"io_uring_params", unsafe.Sizeof(ioURingParams{}), sizeofIOURingParams},
		{"io_uring_getevents_arg", unsafe.Sizeof(geteventsArg{}), sizeofGeteventsArg},
		{"io_uring_buf_reg", unsafe.Sizeof(ioURingBufReg{}), sizeofIOURingBufReg},
		{"io_uring_buf", unsafe.Sizeof(ioURingBuf{}), 16},
		{"io_uring_probe", unsafe.Offsetof(ioURingProbe{}.ops), sizeofIOURingProbeHead},
		{"io_uring_probe_op", unsafe.Sizeof(ioURingProbeOp{}), 8},
		{"__kernel_timespec", unsafe.Sizeof(Timespec{}), 16},
		{"sqe.user_data offset", unsafe.Offsetof(SQE{}.UserData), 32},
		{"sqe.buf_index offset", unsafe.Offsetof(SQE{}.BufIndex), 40},
		{"sqe.addr3 offset", unsafe.Offsetof(SQE{}.Addr3), 48},
		// PrepAccept gives the kernel all of a sys.Sockaddr but its Len.
		{"sys.Sockaddr room", unsafe.Sizeof(sys.Sockaddr{}) - unsafe.Sizeof(uint32(0)), uintptr(sockaddrCap)},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %d bytes, want %d", tc.name, tc.got, tc.want)
		}
	}
}
