package asio_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/goasio/asio"
)

// tlNext makes the next layer a test runs TLS over, from a connected
// socket.
type tlNext struct {
	name string
	wrap func(s *asio.TCPSocket) asio.AsyncStream
}

var tlNexts = []tlNext{
	{"TCPSocket", func(s *asio.TCPSocket) asio.AsyncStream { return s }},
	{"TCPStream", func(s *asio.TCPSocket) asio.AsyncStream {
		st := asio.WrapTCPStream(s)
		st.ExpiresAfter(time.Minute)
		return st
	}},
	{"UserStream", func(s *asio.TCPSocket) asio.AsyncStream { return &tlUserStream{s: s} }},
}

// tlUserStream is a user's own AsyncStream: it forwards to a socket with
// the options (as ReadOpOptions says a user's stream must honour them) and
// counts the operations.
type tlUserStream struct {
	s             *asio.TCPSocket
	reads, writes int
}

func (u *tlUserStream) Executor() asio.Executor { return u.s.Executor() }
func (u *tlUserStream) AsyncReadSome(b asio.Buffers, h func(int, error), opts ...asio.OpOption) {
	u.reads++
	u.s.AsyncReadSome(b, h, opts...)
}
func (u *tlUserStream) AsyncWriteSome(b asio.Buffers, h func(int, error), opts ...asio.OpOption) {
	u.writes++
	u.s.AsyncWriteSome(b, h, opts...)
}
func (u *tlUserStream) Close() error { return u.s.Close() }

var tlVersions = []struct {
	name string
	v    uint16
}{{"TLS12", tls.VersionTLS12}, {"TLS13", tls.VersionTLS13}}

// TestTLSStreamEchoWithCryptoTLS runs a TLSStream against crypto/tls over
// a real socket, as client and as server, over each next layer and each
// version: handshake, a message each way, what ConnectionState says.
func TestTLSStreamEchoWithCryptoTLS(t *testing.T) {
	for _, next := range tlNexts {
		for _, ver := range tlVersions {
			for _, role := range []asio.HandshakeType{asio.HandshakeClient, asio.HandshakeServer} {
				t.Run(next.name+"/"+ver.name+"/"+role.String(), func(t *testing.T) {
					tlEcho(t, next, ver.v, role)
				})
			}
		}
	}
}

func tlEcho(t *testing.T, next tlNext, v uint16, role asio.HandshakeType) {
	ctx, runID := tlContext(t)
	sock, peerConn := tlDialPeer(t, ctx)
	var cfg *tls.Config
	var peer *tls.Conn
	if role == asio.HandshakeClient {
		cfg = tlClientConfig(t, v)
		cfg.NextProtos = []string{"h2", "http/1.1"}
		scfg := tlServerConfig(t, v)
		scfg.NextProtos = []string{"http/1.1"}
		peer = tls.Server(peerConn, scfg)
	} else {
		cfg = tlServerConfig(t, v)
		cfg.NextProtos = []string{"http/1.1"}
		ccfg := tlClientConfig(t, v)
		ccfg.NextProtos = []string{"http/1.1"}
		peer = tls.Client(peerConn, ccfg)
	}
	// The peer echoes one message, then closes with close_notify.
	peerDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		n, err := peer.Read(buf)
		if err == nil {
			_, err = peer.Write(bytes.ToUpper(buf[:n]))
		}
		if err == nil {
			err = peer.Close()
		}
		peerDone <- err
	}()
	s := asio.NewTLSStream(next.wrap(sock), cfg)
	if err := tlHandshake(t, s, role, runID); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	st := s.ConnectionState()
	if st.Version != v || !st.HandshakeComplete || st.NegotiatedProtocol != "http/1.1" {
		t.Errorf("state: version %x complete %v alpn %q", st.Version, st.HandshakeComplete, st.NegotiatedProtocol)
	}
	if role == asio.HandshakeClient && len(st.PeerCertificates) == 0 {
		t.Error("no peer certificate")
	}
	if r := tlWrite(t, s, []byte("hello"), runID); r.err != nil || r.n != 5 {
		t.Fatalf("write: %d, %v", r.n, r.err)
	}
	buf := make([]byte, 64)
	if r := tlRead(t, s, buf, runID); r.err != nil || string(buf[:r.n]) != "HELLO" {
		t.Fatalf("read: %q, %v", buf[:r.n], r.err)
	}
	if r := tlRead(t, s, buf, runID); r.err != io.EOF {
		t.Fatalf("read after close_notify: %d, %v; want io.EOF", r.n, r.err)
	}
	if r := tlRead(t, s, buf, runID); r.err != io.EOF {
		t.Fatalf("second read after close_notify: %v; want io.EOF again", r.err)
	}
	if err := tlWaitErr(t, peerDone, "peer"); err != nil {
		t.Fatalf("peer: %v", err)
	}
	if s.NextLayer() == nil || s.Executor() != ctx.Executor() {
		t.Error("NextLayer or Executor wrong")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if r := tlRead(t, s, buf, runID); !errors.Is(r.err, asio.ErrBadDescriptor) {
		t.Errorf("read after Close: %v, want ErrBadDescriptor", r.err)
	}
}

var _ net.Conn = (*tls.Conn)(nil)
