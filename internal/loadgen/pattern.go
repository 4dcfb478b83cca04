package loadgen

import (
	"encoding/binary"
	"fmt"
)

// A message of connection conn with sequence number seq is a run of 64-bit
// little-endian words: word 0 is seq itself, word j > 0 is seed(conn, seq)
// + j*step. The last word is cut to fit the size; a message shorter than 8
// bytes carries the cut word 1 only, so it is checked against the pattern
// without a sequence number. Words rather than bytes keep filling and
// checking cheap for large messages.

const step = 0x9e3779b97f4a7c15 // odd, so consecutive words never repeat

// seed mixes conn and seq (SplitMix64's finalizer), so that neighbouring
// messages and connections share no word.
func seed(conn int, seq uint64) uint64 {
	z := seq ^ uint64(conn+1)*0xbf58476d1ce4e5b9
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// fill writes message (conn, seq) into b.
func fill(b []byte, conn int, seq uint64) {
	w := seed(conn, seq)
	i := 0
	if len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, seq)
		i = 8
	}
	for ; i+8 <= len(b); i += 8 {
		w += step
		binary.LittleEndian.PutUint64(b[i:], w)
	}
	if i < len(b) {
		w += step
		for ; i < len(b); i++ {
			b[i] = byte(w)
			w >>= 8
		}
	}
}

// verify reports whether b is message (conn, seq), and if not, where it
// first differs.
func verify(b []byte, conn int, seq uint64) error {
	w := seed(conn, seq)
	i := 0
	if len(b) >= 8 {
		if got := binary.LittleEndian.Uint64(b); got != seq {
			return fmt.Errorf("echo of message %d carries sequence number %d (bytes lost, reordered or corrupted)", seq, got)
		}
		i = 8
	}
	for ; i+8 <= len(b); i += 8 {
		w += step
		if binary.LittleEndian.Uint64(b[i:]) != w {
			return mismatch(b, conn, seq, i)
		}
	}
	if i < len(b) {
		w += step
		for j := i; j < len(b); j++ {
			if b[j] != byte(w) {
				return mismatch(b, conn, seq, i)
			}
			w >>= 8
		}
	}
	return nil
}

// mismatch builds the error for a message that differs somewhere at or
// after offset from; it runs once per run, so it may allocate.
func mismatch(b []byte, conn int, seq uint64, from int) error {
	want := make([]byte, len(b))
	fill(want, conn, seq)
	for i := from; i < len(b); i++ {
		if b[i] != want[i] {
			return fmt.Errorf("echo of message %d (%d bytes) differs at byte %d: got %#02x, want %#02x", seq, len(b), i, b[i], want[i])
		}
	}
	return fmt.Errorf("echo of message %d differs", seq) // not reached
}
