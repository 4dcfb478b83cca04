//go:build race

package asio_test

// tlRace: the race detector makes sync.Pool drop items at random, so the
// TLS allocation counts mean nothing under it.
const tlRace = true
