//go:build !race

package asio

const raceEnabled = false
