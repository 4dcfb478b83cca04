package httpsserver

import (
	"bytes"
	"errors"
	"strconv"
)

// The HTTP/1.1 of this example: just what a keep-alive server needs, kept
// apart from the TLS so that it can serve any asio.AsyncStream.

// request is what the server uses of a request head.
type request struct {
	method, target []byte
	length         int  // Content-Length, 0 if none
	close          bool // the connection closes after the reply
}

var (
	errBadRequest    = errors.New("bad request")
	errNotChunked    = errors.New("transfer-encoding not supported")
	headEnd          = []byte("\r\n\r\n")
	crlf             = []byte("\r\n")
	http11           = []byte("HTTP/1.1")
	http10           = []byte("HTTP/1.0")
	helloBody        = []byte("Hello, World!")
	badRequestReply  = []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	tooLargeReply    = []byte("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	notImplemented   = []byte("HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	plainToTLSAnswer = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)

// parseRequest reads a head (up to and including its blank line).
func parseRequest(head []byte) (request, error) {
	var r request
	line, rest, _ := bytes.Cut(head, crlf)
	f := bytes.Fields(line)
	if len(f) != 3 {
		return r, errBadRequest
	}
	r.method, r.target = f[0], f[1]
	switch {
	case bytes.Equal(f[2], http11):
	case bytes.Equal(f[2], http10):
		r.close = true
	default:
		return r, errBadRequest
	}
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, crlf)
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return r, errBadRequest
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 {
				return r, errBadRequest
			}
			r.length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return r, errNotChunked
		case bytes.EqualFold(name, []byte("Connection")):
			switch {
			case bytes.EqualFold(value, []byte("close")):
				r.close = true
			case bytes.EqualFold(value, []byte("keep-alive")):
				r.close = false
			}
		}
	}
	return r, nil
}

// appendReply appends the reply to r (with its body) to b.
func appendReply(b []byte, r *request, body []byte) []byte {
	status, text, out := 200, "OK", helloBody
	switch {
	case string(r.target) == "/" && (string(r.method) == "GET" || string(r.method) == "HEAD"):
	case string(r.target) == "/echo" && string(r.method) == "POST":
		out = body
	default:
		status, text, out = 404, "Not Found", []byte("not found\n")
	}
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, text...)
	b = append(b, "\r\nContent-Type: text/plain\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(out)), 10)
	if r.close {
		b = append(b, "\r\nConnection: close"...)
	}
	b = append(b, "\r\n\r\n"...)
	if string(r.method) != "HEAD" {
		b = append(b, out...)
	}
	return b
}
