//go:build !race

package asio_test

const tlRace = false
