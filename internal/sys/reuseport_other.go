//go:build solaris || illumos || aix

package sys

func reusePort() (int, int, bool) { return 0, 0, false }
