//go:build !unix

package asio

import (
	"errors"
	"time"
)

// On platforms without unix calls the tests that look at a socket's OS
// descriptor fail with this error rather than pass without checking.
var errNoUnix = errors.New("this test looks at the OS descriptor with unix calls")

const pollIn = 1

func osFD(d *fdState) (int, error)                              { return -1, errNoUnix }
func pollFD(fd int, events int16, timeoutMs int) (int16, error) { return 0, errNoUnix }
func writeUntilFull(fd int) error                               { return errNoUnix }

func tsRaiseFileLimit()        {}
func tsCPUTime() time.Duration { return 0 }
