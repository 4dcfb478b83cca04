package asio_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/big"
	"net/netip"
	"time"

	"github.com/goasio/asio"
)

// A TLS server and client on one IOContext: each is a TLSStream over a
// TCPSocket, on crypto/tls's configuration. The server answers one message
// in upper case and sends close_notify, which the client reads as io.EOF.
func ExampleTLSStream() {
	ctx, err := asio.NewIOContext()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ctx.Close()
	cert, roots := exampleCertificate("localhost")
	acc, err := asio.ListenTCP(ctx.Executor(), netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer acc.Close()

	acc.AsyncAccept(func(sock *asio.TCPSocket, err error) {
		if err != nil {
			fmt.Println("accept:", err)
			return
		}
		s := asio.NewTLSStream(sock, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"echo"}})
		s.AsyncHandshake(asio.HandshakeServer, func(err error) {
			if err != nil {
				fmt.Println("server handshake:", err)
				return
			}
			buf := make([]byte, 64)
			s.AsyncReadSome(asio.Buffers{buf}, func(n int, err error) {
				asio.AsyncWrite(s, asio.Buffers{bytes.ToUpper(buf[:n])}, func(int, error) {
					s.AsyncShutdown(func(error) {}) // close_notify
				})
			})
		})
	})

	sock := asio.NewTCPSocket(ctx.Executor())
	sock.AsyncConnect(acc.LocalEndpoint(), func(err error) {
		c := asio.NewTLSStream(sock, &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{"echo"}})
		c.AsyncHandshake(asio.HandshakeClient, func(err error) {
			if err != nil {
				fmt.Println("client handshake:", err)
				return
			}
			st := c.ConnectionState()
			fmt.Println(tls.VersionName(st.Version), st.NegotiatedProtocol)
			asio.AsyncWrite(c, asio.Buffers{[]byte("hello, tls")}, func(int, error) {
				buf := make([]byte, 64)
				c.AsyncReadSome(asio.Buffers{buf}, func(n int, err error) {
					fmt.Println(string(buf[:n]))
					c.AsyncReadSome(asio.Buffers{buf}, func(_ int, err error) {
						fmt.Println(err) // the server's close_notify
						c.Close()
					})
				})
			})
		})
	})
	ctx.Run()
	// Output:
	// TLS 1.3 echo
	// HELLO, TLS
	// EOF
}

// exampleCertificate makes a self-signed certificate for name, and a pool
// that trusts it.
func exampleCertificate(name string) (tls.Certificate, *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
