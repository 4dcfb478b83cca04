package respserver

import (
	"strconv"
	"sync"
)

// Store is the key space: keys to values, shared by every connection and
// context. Safe from any goroutine.
type Store struct {
	mu sync.Mutex
	m  map[string][]byte // values are never modified in place, only replaced
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{m: make(map[string][]byte)} }

// Replies that need no building; shared, never modified.
var (
	replyPong    = []byte("+PONG\r\n")
	replyOK      = []byte("+OK\r\n")
	replyNil     = []byte("$-1\r\n")
	replyEmpty   = []byte("*0\r\n")
	replyInts    = [...][]byte{[]byte(":0\r\n"), []byte(":1\r\n")}
	replySyntax  = []byte("-ERR syntax error\r\n")
	configValues = map[string]string{"save": "", "appendonly": "no"}
)

// Exec runs one command, args[0] being its name (any case), and returns its
// RESP2 reply, and whether the connection should close after it (QUIT).
// The reply must not be modified: the common ones are shared. The
// commands: PING [message], ECHO message, SET key value, GET key,
// DEL key [key ...], QUIT, and enough of COMMAND and CONFIG GET for
// redis-cli and redis-benchmark to start.
func (s *Store) Exec(args [][]byte) (reply []byte, quit bool) {
	var lower [16]byte
	name := args[0]
	if len(name) > len(lower) {
		return unknown(args), false
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	cmd := string(lower[:len(name)]) // the switch compares without allocating
	switch cmd {
	case "ping":
		switch len(args) {
		case 1:
			return replyPong, false
		case 2:
			return appendBulk(nil, args[1]), false
		}
	case "echo":
		if len(args) == 2 {
			return appendBulk(nil, args[1]), false
		}
	case "set":
		if len(args) > 3 {
			return replySyntax, false // no options (EX, NX, ...) in this example
		}
		if len(args) == 3 {
			v := append([]byte(nil), args[2]...)
			s.mu.Lock()
			s.m[string(args[1])] = v
			s.mu.Unlock()
			return replyOK, false
		}
	case "get":
		if len(args) == 2 {
			s.mu.Lock()
			v, ok := s.m[string(args[1])]
			s.mu.Unlock()
			if !ok {
				return replyNil, false
			}
			return appendBulk(nil, v), false
		}
	case "del":
		if len(args) >= 2 {
			n := 0
			s.mu.Lock()
			for _, k := range args[1:] {
				if _, ok := s.m[string(k)]; ok {
					delete(s.m, string(k))
					n++
				}
			}
			s.mu.Unlock()
			if n < len(replyInts) {
				return replyInts[n], false
			}
			return append(strconv.AppendInt([]byte{':'}, int64(n), 10), "\r\n"...), false
		}
	case "quit":
		return replyOK, true
	case "command": // redis-cli asks for COMMAND DOCS: none here
		return replyEmpty, false
	case "config":
		if len(args) == 3 && equalFold(args[1], "get") {
			v, ok := configValues[string(args[2])]
			if !ok {
				return replyEmpty, false
			}
			b := append([]byte("*2\r\n"), appendBulk(nil, args[2])...)
			return appendBulk(b, []byte(v)), false
		}
		if len(args) >= 2 {
			return []byte("-ERR only CONFIG GET is supported\r\n"), false
		}
	default:
		return unknown(args), false
	}
	return appendError(nil, "ERR wrong number of arguments for '"+cmd+"' command"), false
}

// appendBulk appends v as a bulk string.
func appendBulk(b, v []byte) []byte {
	if b == nil {
		b = make([]byte, 0, len(v)+16)
	}
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, "\r\n"...)
	b = append(b, v...)
	return append(b, "\r\n"...)
}

// appendError appends an error reply; msg must hold no CR or LF.
func appendError(b []byte, msg string) []byte {
	b = append(b, '-')
	b = append(b, msg...)
	return append(b, "\r\n"...)
}

// unknown is Redis's reply to an unknown command, with its name and first
// arguments quoted safely (no CR or LF can reach the reply).
func unknown(args [][]byte) []byte {
	msg := "ERR unknown command '" + printable(args[0], 64) + "', with args beginning with: "
	for _, a := range args[1:] {
		if len(msg) > 200 {
			break
		}
		msg += "'" + printable(a, 64) + "' "
	}
	return appendError(nil, msg)
}

// printable returns at most max bytes of b with every byte outside
// printable ASCII shown as '?'.
func printable(b []byte, max int) string {
	out := make([]byte, 0, min(len(b), max))
	for _, c := range b[:min(len(b), max)] {
		if c < ' ' || c > '~' {
			c = '?'
		}
		out = append(out, c)
	}
	return string(out)
}

func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
