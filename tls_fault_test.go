package asio_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goasio/asio"
)

// TestTLSStreamPlainTextClient: a client that speaks HTTP to a TLS port
// fails the handshake with crypto/tls's RecordHeaderError, once; its Conn
// can answer in plain text and close, as net/http does.
func TestTLSStreamPlainTextClient(t *testing.T) {
	ctx, runID := tlContext(t)
	before := runtime.NumGoroutine()
	sock, peer := tlDialPeer(t, ctx)
	if _, err := io.WriteString(peer, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	s := asio.NewTLSStream(sock, tlServerConfig(t, 0))
	err := tlHandshake(t, s, asio.HandshakeServer, runID)
	var re tls.RecordHeaderError
	if !errors.As(err, &re) || re.Conn == nil {
		t.Fatalf("handshake: %v, want a tls.RecordHeaderError with a Conn", err)
	}
	io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
	re.Conn.Close()
	reply, _ := io.ReadAll(peer)
	if !strings.HasPrefix(string(reply), "HTTP/1.0 400") {
		t.Errorf("the plain answer: %q", reply)
	}
	if r := tlRead(t, s, make([]byte, 1), runID); !errors.Is(r.err, asio.ErrBadDescriptor) {
		t.Errorf("read after the failed handshake and Close: %v", r.err)
	}
	if g := tlGoroutines(before); g > before {
		t.Errorf("goroutines: %d before, %d after", before, g)
	}
}

// TestTLSStreamBadCertificate: a certificate that does not verify, and a
// server name the certificate does not cover, fail the client's handshake
// with *tls.CertificateVerificationError.
func TestTLSStreamBadCertificate(t *testing.T) {
	certs := tlCertificates(t)
	for _, c := range []struct {
		name       string
		serverCert tls.Certificate
		serverName string
	}{
		{"unknown authority", certs.selfSigned, "localhost"},
		{"wrong name", certs.server, "wrong.test"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, runID := tlContext(t)
			sock, peerConn := tlDialPeer(t, ctx)
			peerErr := tlServe(peerConn, &tls.Config{Certificates: []tls.Certificate{c.serverCert}}, nil)
			cfg := tlClientConfig(t, 0)
			cfg.ServerName = c.serverName
			s := asio.NewTLSStream(sock, cfg)
			err := tlHandshake(t, s, asio.HandshakeClient, runID)
			var ve *tls.CertificateVerificationError
			if !errors.As(err, &ve) {
				t.Fatalf("handshake: %v, want a *tls.CertificateVerificationError", err)
			}
			if perr := tlWaitErr(t, peerErr, "peer"); perr == nil || !strings.Contains(perr.Error(), "bad certificate") {
				t.Errorf("peer: %v, want the client's bad_certificate alert", perr)
			}
			if r := tlWrite(t, s, []byte("x"), runID); r.err != err {
				t.Errorf("write after the failed handshake: %v, want its error", r.err)
			}
		})
	}
}

// TestTLSStreamFaultsAfterHandshake feeds an established TLSStream what a
// broken or hostile peer sends, and checks the read's error: no panic, no
// goroutine left.
func TestTLSStreamFaultsAfterHandshake(t *testing.T) {
	for _, c := range []struct {
		name  string
		do    func(raw *net.TCPConn)
		check func(err error) bool
	}{
		{"close at a record boundary", func(raw *net.TCPConn) { raw.Close() },
			func(err error) bool { return err == io.EOF }},
		{"close inside a record", func(raw *net.TCPConn) { raw.Write([]byte{23, 3, 3, 0, 40, 1, 2, 3}); raw.Close() },
			func(err error) bool { return err == io.ErrUnexpectedEOF }},
		{"reset inside a record", func(raw *net.TCPConn) {
			raw.Write([]byte{23, 3, 3, 0, 40, 1, 2, 3})
			raw.SetLinger(0)
			raw.Close()
		}, func(err error) bool { return errors.Is(err, syscall.ECONNRESET) }},
		{"oversized record", func(raw *net.TCPConn) { raw.Write([]byte{23, 3, 3, 0xff, 0xff, 0}) },
			func(err error) bool { var re tls.RecordHeaderError; return errors.As(err, &re) }},
		{"garbage record", func(raw *net.TCPConn) { raw.Write(append([]byte{23, 3, 3, 0, 32}, make([]byte, 32)...)) },
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "bad record MAC") }},
	} {
		for _, ver := range tlVersions {
			t.Run(c.name+"/"+ver.name, func(t *testing.T) {
				ctx, runID := tlContext(t)
				before := runtime.NumGoroutine()
				sock, peerConn := tlDialPeer(t, ctx)
				peerErr := tlServe(peerConn, tlServerConfig(t, ver.v), func(pc *tls.Conn) error {
					_, err := pc.Write([]byte("ok"))
					return err
				})
				s := asio.NewTLSStream(sock, tlClientConfig(t, ver.v))
				if err := tlHandshake(t, s, asio.HandshakeClient, runID); err != nil {
					t.Fatal(err)
				}
				if err := tlWaitErr(t, peerErr, "peer"); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 16)
				if r := tlRead(t, s, buf, runID); r.err != nil || string(buf[:r.n]) != "ok" {
					t.Fatalf("read: %q, %v", buf[:r.n], r.err)
				}
				c.do(peerConn.(*net.TCPConn))
				r := tlRead(t, s, buf, runID)
				if !c.check(r.err) {
					t.Fatalf("read: %d, %v", r.n, r.err)
				}
				s.Close()
				if g := tlGoroutines(before); g > before {
					t.Errorf("goroutines: %d before, %d after", before, g)
				}
			})
		}
	}
}

// TestTLSStreamHandshakeDeadline: a peer that stalls in the middle of the
// handshake, or never answers, is ended by the TCPStream's deadline; the
// handshake completes with ErrTimeout and its goroutine is gone.
func TestTLSStreamHandshakeDeadline(t *testing.T) {
	for _, c := range []struct {
		name string
		role asio.HandshakeType
		peer func(net.Conn)
	}{
		{"server, client stalls in its hello", asio.HandshakeServer, func(c net.Conn) {
			c.Write([]byte{22, 3, 1, 0, 200, 1, 0, 0}) // a ClientHello record cut short
		}},
		{"client, server never answers", asio.HandshakeClient, func(c net.Conn) {
			bufio.NewReader(c).Peek(1) // takes the ClientHello in, says nothing
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, runID := tlContext(t)
			before := runtime.NumGoroutine()
			sock, peerConn := tlDialPeer(t, ctx)
			go c.peer(peerConn)
			st := asio.WrapTCPStream(sock)
			st.ExpiresAfter(100 * time.Millisecond)
			cfg := tlServerConfig(t, 0)
			if c.role == asio.HandshakeClient {
				cfg = tlClientConfig(t, 0)
			}
			s := asio.NewTLSStream(st, cfg)
			if err := tlHandshake(t, s, c.role, runID); !errors.Is(err, asio.ErrTimeout) {
				t.Fatalf("handshake: %v, want ErrTimeout", err)
			}
			peerConn.Close()
			if g := tlGoroutines(before); g > before {
				t.Errorf("goroutines: %d before, %d after", before, g)
			}
		})
	}
}

// TestTLSStreamReadDeadline: a TCPStream's deadline ends a pending TLS
// read with ErrTimeout.
func TestTLSStreamReadDeadline(t *testing.T) {
	ctx, runID := tlContext(t)
	sock, peerConn := tlDialPeer(t, ctx)
	peerErr := tlServe(peerConn, tlServerConfig(t, 0), nil)
	st := asio.WrapTCPStream(sock)
	s := asio.NewTLSStream(st, tlClientConfig(t, 0))
	if err := tlHandshake(t, s, asio.HandshakeClient, runID); err != nil {
		t.Fatal(err)
	}
	if err := tlWaitErr(t, peerErr, "peer"); err != nil {
		t.Fatal(err)
	}
	st.ExpiresAfter(50 * time.Millisecond)
	if r := tlRead(t, s, make([]byte, 8), runID); !errors.Is(r.err, asio.ErrTimeout) {
		t.Fatalf("read: %v, want ErrTimeout", r.err)
	}
}
