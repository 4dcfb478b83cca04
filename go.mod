module github.com/goasio/asio

go 1.24

require golang.org/x/sys v0.49.0
