package httpserver

import "strconv"

// Route is what the server does with a request, decided from its head
// before the body is read.
type Route int

// The routes of the example application.
const (
	RouteHello    Route = iota // GET /: "Hello, World!"
	RouteHead                  // HEAD /: the same headers, no body
	RouteEcho                  // POST /echo: the body back
	RouteNotFound              // any other target: 404
	RouteMethod                // / or /echo with another method: 405
)

// Lookup routes req.
func Lookup(req *Request) Route {
	switch string(req.Target) {
	case "/":
		switch string(req.Method) {
		case "GET":
			return RouteHello
		case "HEAD":
			return RouteHead
		}
		return RouteMethod
	case "/echo":
		if string(req.Method) == "POST" {
			return RouteEcho
		}
		return RouteMethod
	}
	return RouteNotFound
}

// Prebuilt replies: immutable, shared by every connection, so the common
// case writes them without building anything.
var (
	helloBody      = "Hello, World!"
	helloKeepAlive = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n" + helloBody)
	headKeepAlive  = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n")
)

// Continue is the interim reply to a request with "Expect: 100-continue"
// whose body has not arrived: the client sends the body once it reads it.
var Continue = []byte("HTTP/1.1 100 Continue\r\n\r\n")

// Respond returns the reply to req, whose route is rt and whose body is
// body (read for RouteEcho only). Replies are HTTP/1.1, as RFC 9112 allows
// for an HTTP/1.0 request, with "Connection: keep-alive" for an HTTP/1.0
// client that asked for it and "Connection: close" when the connection
// ends after the reply. The returned bytes must not be modified: the
// common replies are shared.
func Respond(rt Route, req *Request, body []byte) []byte {
	conn := ""
	switch {
	case !req.KeepAlive:
		conn = "close"
	case req.Minor == 0:
		conn = "keep-alive"
	}
	switch rt {
	case RouteHello:
		if conn == "" {
			return helloKeepAlive
		}
		return appendReply(nil, 200, "text/plain", []byte(helloBody), conn, true)
	case RouteHead:
		if conn == "" {
			return headKeepAlive
		}
		return appendReply(nil, 200, "text/plain", []byte(helloBody), conn, false)
	case RouteEcho:
		return appendReply(make([]byte, 0, 128+len(body)), 200, "application/octet-stream", body, conn, true)
	case RouteMethod:
		return appendReply(nil, 405, "text/plain", []byte("method not allowed\n"), conn, true)
	}
	return appendReply(nil, 404, "text/plain", []byte("not found\n"), conn, true)
}

// ErrorReply returns the reply to a request the server cannot serve, with
// the status that err (of Request.Parse, or ErrHeaderTooLarge,
// ErrBodyTooLarge) calls for; the connection closes after it.
func ErrorReply(err error) []byte {
	status := 400
	switch err {
	case ErrVersion:
		status = 505
	case ErrNotImplemented:
		status = 501
	case ErrHeaderTooLarge:
		status = 431
	case ErrBodyTooLarge:
		status = 413
	}
	return appendReply(nil, status, "text/plain", []byte(err.Error()+"\n"), "close", true)
}

// appendReply appends a reply with a Content-Length to b; conn is the
// Connection header's value, or "" for none.
func appendReply(b []byte, status int, ctype string, body []byte, conn string, withBody bool) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, statusText(status)...)
	b = append(b, "\r\nContent-Type: "...)
	b = append(b, ctype...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	if conn != "" {
		b = append(b, "\r\nConnection: "...)
		b = append(b, conn...)
	}
	b = append(b, "\r\n\r\n"...)
	if withBody {
		b = append(b, body...)
	}
	return b
}

func statusText(status int) string {
	switch status {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 413:
		return "Content Too Large"
	case 431:
		return "Request Header Fields Too Large"
	case 501:
		return "Not Implemented"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Unknown"
}
