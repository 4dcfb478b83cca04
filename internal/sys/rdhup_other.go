//go:build unix && !linux

package sys

const pollRDHup = 0 // POLLRDHUP is Linux's; a peer's FIN shows as POLLHUP
