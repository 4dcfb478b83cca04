//go:build unix && !linux && !solaris && !illumos && !aix

package sys

import "golang.org/x/sys/unix"

func reusePort() (int, int, bool) { return unix.SOL_SOCKET, unix.SO_REUSEPORT, true }
