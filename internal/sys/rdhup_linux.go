package sys

import "golang.org/x/sys/unix"

const pollRDHup = unix.POLLRDHUP
