package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/goasio/asio/examples/resp/respserver"
)

const maxBulk = 8 << 20 // the asio server's default

// serveNetRESP is the same RESP server written on Go's net and bufio: a
// goroutine per connection, a bufio.Reader for the commands, a
// bufio.Writer for the replies flushed once no further command is
// buffered. It executes the commands with the example's own Store.
func serveNetRESP(ln net.Listener, store *respserver.Store) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go respConn(c, store)
	}
}

func respConn(c net.Conn, store *respserver.Store) {
	defer c.Close()
	br := bufio.NewReader(c)
	bw := bufio.NewWriter(c)
	var args [][]byte
	var arena []byte
	protoErr := func(msg string) {
		bw.WriteString("-ERR Protocol error: " + msg + "\r\n")
		bw.Flush()
	}
	for {
		line, err := readLine(br)
		if err != nil {
			return
		}
		arena, args = arena[:0], args[:0]
		if len(line) > 0 && line[0] == '*' {
			argc, err := strconv.Atoi(string(line[1:]))
			if err != nil || argc > 1<<20 {
				protoErr("invalid multibulk length")
				return
			}
			var ends []int
			for range argc {
				line, err := readLine(br)
				if err != nil {
					return
				}
				if len(line) == 0 || line[0] != '$' {
					protoErr("expected '$'")
					return
				}
				n, err := strconv.Atoi(string(line[1:]))
				if err != nil || n < 0 || n > maxBulk {
					protoErr("invalid bulk length")
					return
				}
				start := len(arena)
				arena = append(arena, make([]byte, n+2)...)
				if _, err := io.ReadFull(br, arena[start:]); err != nil {
					return
				}
				arena = arena[:start+n]
				ends = append(ends, len(arena))
			}
			start := 0
			for _, end := range ends {
				args = append(args, arena[start:end:end])
				start = end
			}
		} else {
			args = append(args, bytes.Fields(line)...)
		}
		if len(args) == 0 {
			continue
		}
		reply, quit := store.Exec(args)
		bw.Write(reply)
		if quit {
			bw.Flush()
			return
		}
		if br.Buffered() == 0 {
			if bw.Flush() != nil {
				return
			}
		}
	}
}

// readLine returns the next line without its CRLF; it is valid until the
// next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'}), nil
}
