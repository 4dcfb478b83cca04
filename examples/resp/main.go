// Resp is a key-value server that speaks enough of the Redis protocol
// (RESP2) for redis-cli and redis-benchmark -t ping,set,get: PING, ECHO,
// SET, GET, DEL and QUIT, as multibulk arrays or inline commands, pipelined
// or not, on one IOContext per core.
//
// Each protocol line (*N, $len, or an inline command) is one AsyncReadUntil
// of CRLF into a DynamicBuffer whose maximum is the longest line allowed
// (-max-inline); a bulk string is taken from the buffer, or read with one
// AsyncReadCond when it is not all there yet; each reply is one
// WriteQueue.AsyncWrite. A protocol error (a bad or huge length, a line
// over the maximum) gets "-ERR Protocol error: ..." and the connection
// closes after it, as Redis does; a wrong command or arity gets -ERR and
// the connection goes on. The server code is the importable package
// respserver (the bench module measures it with redis-benchmark).
//
// Try it:
//
//	go run ./examples/resp                     # listens on 127.0.0.1:6379
//	redis-cli -p 6379 set greeting hello       # in another terminal
//	redis-cli -p 6379 get greeting
//	redis-benchmark -p 6379 -t ping,set,get -P 16 -q
//
// Ctrl-C (SIGINT) or SIGTERM shuts it down: it stops accepting, closes the
// connections that wait for a command, lets the commands in progress
// finish, and exits when they are done (at most 5 s).
package main

import (
	"flag"
	"runtime"

	"github.com/goasio/asio/examples/internal/connserver"
	"github.com/goasio/asio/examples/resp/respserver"
)

func main() {
	var cfg respserver.Config
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:6379", "address to listen on")
	flag.IntVar(&cfg.Contexts, "contexts", runtime.GOMAXPROCS(0), "IOContexts, one goroutine each")
	flag.IntVar(&cfg.MaxInline, "max-inline", 64<<10, "longest protocol line in bytes")
	flag.IntVar(&cfg.MaxBulk, "max-bulk", 8<<20, "longest bulk string in bytes")
	flag.Parse()
	connserver.ServeUntilSignal("RESP", func() (*respserver.Server, error) { return respserver.Listen(cfg) })
}
