// Package cxx embeds the source of the C++ Asio echo server (src/asio_echo.cpp),
// which runbench compiles with g++ and compares as the peers cxxasio@epoll
// and cxxasio@iouring. It is embedded so that runbench finds it wherever it
// runs from.
package cxx

import _ "embed"

// EchoSource is src/asio_echo.cpp.
//
//go:embed src/asio_echo.cpp
var EchoSource string
