package httpserver

import (
	"bytes"
	"errors"
)

// Request is the part of an HTTP/1.x request head that the server acts on.
// Method and Target point into the head passed to Parse and are
// valid only as long as it is.
type Request struct {
	Method, Target []byte
	Minor          int   // HTTP/1.Minor: 0 or 1
	ContentLength  int64 // 0 when the request has no body
	KeepAlive      bool  // the connection stays open after the reply
	Continue       bool  // "Expect: 100-continue": the client waits for 100 Continue before the body
}

// Errors of Parse, each answered with its own status.
var (
	ErrBadRequest     = errors.New("httpserver: malformed request")                    // 400
	ErrVersion        = errors.New("httpserver: HTTP version not supported")           // 505
	ErrNotImplemented = errors.New("httpserver: Transfer-Encoding is not implemented") // 501

	// The server's limits (Config.MaxHeader, Config.MaxBody).
	ErrHeaderTooLarge = errors.New("httpserver: request head too large") // 431
	ErrBodyTooLarge   = errors.New("httpserver: request body too large") // 413
)

var crlf = []byte("\r\n")

// Parse parses a request head into req: the request line and the header
// fields, each line ending in CRLF, up to and including the empty line
// (head ends with "\r\n\r\n"). It does not allocate. On an error, req's
// fields are unspecified.
func (req *Request) Parse(head []byte) error {
	*req = Request{}
	line, rest, ok := bytes.Cut(head, crlf)
	if !ok {
		return ErrBadRequest
	}
	// request-line = method SP request-target SP HTTP-version
	method, line, ok1 := bytes.Cut(line, []byte{' '})
	target, version, ok2 := bytes.Cut(line, []byte{' '})
	if !ok1 || !ok2 || len(method) == 0 || len(target) == 0 || !isToken(method) {
		return ErrBadRequest
	}
	switch string(version) {
	case "HTTP/1.1":
		req.Minor, req.KeepAlive = 1, true
	case "HTTP/1.0":
		req.Minor = 0
	default:
		if bytes.HasPrefix(version, []byte("HTTP/")) {
			return ErrVersion
		}
		return ErrBadRequest
	}
	req.Method, req.Target = method, target

	seenLength := false
	for {
		line, rest, ok = bytes.Cut(rest, crlf)
		if !ok {
			return ErrBadRequest
		}
		if len(line) == 0 {
			break // the empty line ends the head
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok || !isToken(name) { // no space before the colon either
			return ErrBadRequest
		}
		value = bytes.Trim(value, " \t")
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, ok := parseLength(value)
			if !ok || (seenLength && n != req.ContentLength) {
				return ErrBadRequest
			}
			req.ContentLength, seenLength = n, true
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return ErrNotImplemented
		case bytes.EqualFold(name, []byte("Expect")):
			req.Continue = bytes.EqualFold(value, []byte("100-continue"))
		case bytes.EqualFold(name, []byte("Connection")):
			switch {
			case hasToken(value, "close"):
				req.KeepAlive = false
			case hasToken(value, "keep-alive"):
				req.KeepAlive = true
			}
		}
	}
	return nil
}

// isToken reports whether b is an HTTP token (RFC 9110, 5.6.2).
func isToken(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), c) >= 0 {
			return false
		}
	}
	return len(b) > 0
}

// hasToken reports whether the comma-separated list v holds tok, ignoring
// case.
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var item []byte
		item, v, _ = bytes.Cut(v, []byte{','})
		if bytes.EqualFold(bytes.Trim(item, " \t"), []byte(tok)) {
			return true
		}
	}
	return false
}

// parseLength parses a Content-Length value: decimal digits only, at most
// 18 of them (so no overflow).
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
