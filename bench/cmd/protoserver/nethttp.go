package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"time"

	"github.com/goasio/asio/examples/http/httpserver"
)

// The limits of the asio server's defaults.
const (
	maxHeader = 8 << 10
	maxBody   = 1 << 20
)

// serveNetHTTP is the same HTTP server written the way Go's net and bufio
// invite: a goroutine per connection, a bufio.Reader for the requests and a
// bufio.Writer for the replies, flushed once the reader has no further
// request buffered (so pipelined replies leave together, and a lone reply
// at once). It parses and answers with the example's own code.
func serveNetHTTP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(100 * time.Millisecond) // EMFILE and the like
			continue
		}
		go httpConn(c)
	}
}

func httpConn(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	bw := bufio.NewWriter(c)
	var head, body []byte
	for {
		var err error
		head, err = readHead(br, head[:0])
		if err != nil {
			if errors.Is(err, httpserver.ErrHeaderTooLarge) {
				bw.Write(httpserver.ErrorReply(err))
				bw.Flush()
			}
			return
		}
		var req httpserver.Request
		err = req.Parse(head)
		if err == nil && req.ContentLength > maxBody {
			err = httpserver.ErrBodyTooLarge
		}
		if err != nil {
			bw.Write(httpserver.ErrorReply(err))
			bw.Flush()
			return
		}
		route := httpserver.Lookup(&req)
		body = append(body[:0], make([]byte, req.ContentLength)...)
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		bw.Write(httpserver.Respond(route, &req, body))
		if !req.KeepAlive {
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

// readHead appends the lines of a request head to head, up to and
// including the empty line.
func readHead(br *bufio.Reader, head []byte) ([]byte, error) {
	for {
		line, err := br.ReadSlice('\n')
		if len(head)+len(line) > maxHeader || errors.Is(err, bufio.ErrBufferFull) {
			return head, httpserver.ErrHeaderTooLarge
		}
		if err != nil {
			return head, err
		}
		head = append(head, line...)
		if bytes.Equal(line, []byte("\r\n")) {
			return head, nil
		}
	}
}
