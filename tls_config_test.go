package asio_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"net"
	"strings"
	"testing"

	"github.com/goasio/asio"
)

// tlServe runs fn on the crypto/tls server side of conn on a goroutine and
// returns its result.
func tlServe(conn net.Conn, cfg *tls.Config, fn func(*tls.Conn) error) <-chan error {
	ch := make(chan error, 1)
	go func() {
		c := tls.Server(conn, cfg)
		err := c.Handshake()
		if err == nil && fn != nil {
			err = fn(c)
		}
		ch <- err
	}()
	return ch
}

// TestTLSStreamSNIAndGetCertificate: the server picks its certificate by
// the client's server name with GetCertificate; the context given with
// WithContext reaches the callback.
func TestTLSStreamSNIAndGetCertificate(t *testing.T) {
	certs := tlCertificates(t)
	type key struct{}
	for _, name := range []string{"example.com", "other.test"} {
		t.Run(name, func(t *testing.T) {
			ctx, runID := tlContext(t)
			sock, peerConn := tlDialPeer(t, ctx)
			var seen string
			var ctxValue any
			cfg := &tls.Config{GetCertificate: func(hi *tls.ClientHelloInfo) (*tls.Certificate, error) {
				seen, ctxValue = hi.ServerName, hi.Context().Value(key{})
				if hi.ServerName == "other.test" {
					return &certs.other, nil
				}
				return &certs.server, nil
			}}
			peerErr := make(chan error, 1)
			go func() {
				c := tls.Client(peerConn, &tls.Config{RootCAs: certs.pool, ServerName: name})
				peerErr <- c.Handshake()
			}()
			s := asio.NewTLSStream(sock, cfg)
			hctx := context.WithValue(context.Background(), key{}, "v")
			if err := tlHandshake(t, s, asio.HandshakeServer, runID, asio.WithContext(hctx)); err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if err := tlWaitErr(t, peerErr, "peer"); err != nil {
				t.Fatalf("peer: %v", err)
			}
			if seen != name || s.ConnectionState().ServerName != name || ctxValue != "v" {
				t.Errorf("server name %q / %q, context value %v", seen, s.ConnectionState().ServerName, ctxValue)
			}
		})
	}
}

// TestTLSStreamClientAuth: a TLSStream client presents its certificate to
// a server that requires one, and a TLSStream server verifies one, and
// refuses a client with none.
func TestTLSStreamClientAuth(t *testing.T) {
	certs := tlCertificates(t)
	requireCert := func(cfg *tls.Config) *tls.Config {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, certs.pool
		return cfg
	}
	for _, ver := range tlVersions {
		t.Run(ver.name+"/client", func(t *testing.T) {
			ctx, runID := tlContext(t)
			sock, peerConn := tlDialPeer(t, ctx)
			var peerCN string
			peerErr := tlServe(peerConn, requireCert(tlServerConfig(t, ver.v)), func(c *tls.Conn) error {
				peerCN = c.ConnectionState().PeerCertificates[0].Subject.CommonName
				_, err := c.Write([]byte("hi"))
				return err
			})
			cfg := tlClientConfig(t, ver.v)
			cfg.Certificates = []tls.Certificate{certs.client}
			s := asio.NewTLSStream(sock, cfg)
			if err := tlHandshake(t, s, asio.HandshakeClient, runID); err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if r := tlRead(t, s, make([]byte, 2), runID); r.err != nil {
				t.Fatalf("read: %v", r.err)
			}
			if err := tlWaitErr(t, peerErr, "peer"); err != nil || peerCN != "asio client" {
				t.Fatalf("peer: %v, saw %q", err, peerCN)
			}
		})
		t.Run(ver.name+"/server", func(t *testing.T) {
			for _, withCert := range []bool{true, false} {
				ctx, runID := tlContext(t)
				sock, peerConn := tlDialPeer(t, ctx)
				go func() {
					cfg := tlClientConfig(t, ver.v)
					if withCert {
						cfg.Certificates = []tls.Certificate{certs.client}
					}
					c := tls.Client(peerConn, cfg)
					c.Handshake()
					c.Read(make([]byte, 1)) // TLS 1.3: the server's verdict comes after the client's handshake
				}()
				s := asio.NewTLSStream(sock, requireCert(tlServerConfig(t, ver.v)))
				err := tlHandshake(t, s, asio.HandshakeServer, runID)
				switch {
				case withCert && err != nil:
					t.Fatalf("handshake: %v", err)
				case withCert && s.ConnectionState().PeerCertificates[0].Subject.CommonName != "asio client":
					t.Error("no client certificate in ConnectionState")
				case !withCert && err == nil:
					t.Fatal("a client without a certificate was accepted")
				}
			}
		})
	}
}

// TestTLSStreamSessionResumption: session tickets work both ways, in TLS
// 1.2 (ticket in the handshake) and 1.3 (a post-handshake NewSessionTicket,
// which a TLSStream client takes in during its first read).
func TestTLSStreamSessionResumption(t *testing.T) {
	for _, ver := range tlVersions {
		t.Run(ver.name+"/client", func(t *testing.T) {
			ctx, runID := tlContext(t)
			cfg := tlClientConfig(t, ver.v)
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			scfg := tlServerConfig(t, ver.v)
			for i := range 2 {
				sock, peerConn := tlDialPeer(t, ctx)
				peerErr := tlServe(peerConn, scfg, func(c *tls.Conn) error {
					_, err := c.Write([]byte("x"))
					return err
				})
				s := asio.NewTLSStream(sock, cfg)
				if err := tlHandshake(t, s, asio.HandshakeClient, runID); err != nil {
					t.Fatalf("handshake %d: %v", i, err)
				}
				if r := tlRead(t, s, make([]byte, 1), runID); r.err != nil {
					t.Fatalf("read %d: %v", i, r.err)
				}
				if err := tlWaitErr(t, peerErr, "peer"); err != nil {
					t.Fatal(err)
				}
				if got := s.ConnectionState().DidResume; got != (i == 1) {
					t.Errorf("connection %d: DidResume %v", i, got)
				}
			}
		})
		t.Run(ver.name+"/server", func(t *testing.T) {
			ctx, runID := tlContext(t)
			ccfg := tlClientConfig(t, ver.v)
			ccfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			scfg := tlServerConfig(t, ver.v)
			for i := range 2 {
				sock, peerConn := tlDialPeer(t, ctx)
				resumed := make(chan bool, 1)
				go func() {
					c := tls.Client(peerConn, ccfg)
					c.Read(make([]byte, 1)) // handshake, ticket, one byte
					resumed <- c.ConnectionState().DidResume
				}()
				s := asio.NewTLSStream(sock, scfg)
				if err := tlHandshake(t, s, asio.HandshakeServer, runID); err != nil {
					t.Fatalf("handshake %d: %v", i, err)
				}
				if r := tlWrite(t, s, []byte("x"), runID); r.err != nil {
					t.Fatal(r.err)
				}
				if got := <-resumed; got != (i == 1) || s.ConnectionState().DidResume != (i == 1) {
					t.Errorf("connection %d: peer DidResume %v, server %v", i, got, s.ConnectionState().DidResume)
				}
			}
		})
	}
}

// TestTLSStreamKeyUpdate: a TLS 1.3 peer sends a KeyUpdate that requests
// one back, then data under its next key. crypto/tls has no API to send a
// KeyUpdate, so the test writes the record itself, under the client's
// traffic secret from KeyLogWriter, on the client's socket. The TLSStream
// server must take the update during a read, answer with its own KeyUpdate
// before what it writes next, and read the data under the new key; the
// crypto/tls client then reads the reply under the server's new key.
func TestTLSStreamKeyUpdate(t *testing.T) {
	ctx, runID := tlContext(t)
	sock, peerConn := tlDialPeer(t, ctx)
	var keyLog bytes.Buffer
	ccfg := tlClientConfig(t, tls.VersionTLS13)
	ccfg.KeyLogWriter = &keyLog
	client := tls.Client(peerConn, ccfg)
	hsErr := make(chan error, 1)
	go func() { hsErr <- client.Handshake() }()
	s := asio.NewTLSStream(sock, tlServerConfig(t, tls.VersionTLS13))
	if err := tlHandshake(t, s, asio.HandshakeServer, runID); err != nil {
		t.Fatal(err)
	}
	if err := tlWaitErr(t, hsErr, "client handshake"); err != nil {
		t.Fatal(err)
	}
	suite := client.ConnectionState().CipherSuite
	var newHash func() hash.Hash
	var keyLen int
	switch suite {
	case tls.TLS_AES_128_GCM_SHA256:
		newHash, keyLen = sha256.New, 16
	case tls.TLS_AES_256_GCM_SHA384:
		newHash, keyLen = sha512.New384, 32
	default:
		t.Skipf("negotiated %s: this test can seal AES-GCM records only", tls.CipherSuiteName(suite))
	}
	secret := tlKeyLogSecret(t, keyLog.String(), "CLIENT_TRAFFIC_SECRET_0")

	// Seq 0 under secret 0 is the client's "ping"; the KeyUpdate is seq 1.
	if _, err := client.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if r := tlRead(t, s, buf, runID); r.err != nil || string(buf[:r.n]) != "ping" {
		t.Fatalf("read ping: %q, %v", buf[:r.n], r.err)
	}
	keyUpdate := []byte{24, 0, 0, 1, 1} // key_update, update_requested
	rec := tlSeal(t, newHash, keyLen, secret, 1, keyUpdate, 22)
	next := tlExpandLabel(t, newHash, secret, "traffic upd", newHash().Size())
	rec = append(rec, tlSeal(t, newHash, keyLen, next, 0, []byte("after update"), 23)...)
	if _, err := peerConn.Write(rec); err != nil {
		t.Fatal(err)
	}
	if r := tlRead(t, s, buf, runID); r.err != nil || string(buf[:r.n]) != "after update" {
		t.Fatalf("read after the KeyUpdate: %q, %v", buf[:r.n], r.err)
	}
	if r := tlWrite(t, s, []byte("pong"), runID); r.err != nil {
		t.Fatal(r.err)
	}
	n, err := client.Read(buf)
	if err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("client read: %q, %v (the server's KeyUpdate must come before its reply)", buf[:n], err)
	}
}

func tlKeyLogSecret(t *testing.T, log, label string) []byte {
	for _, line := range strings.Split(log, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == label {
			b, err := hex.DecodeString(f[2])
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no %s in the key log", label)
	return nil
}

// tlExpandLabel is TLS 1.3's HKDF-Expand-Label with an empty context
// (RFC 8446, section 7.1).
func tlExpandLabel(t *testing.T, h func() hash.Hash, secret []byte, label string, n int) []byte {
	full := "tls13 " + label
	info := binary.BigEndian.AppendUint16(nil, uint16(n))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0)
	out, err := hkdf.Expand(h, secret, string(info), n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tlSeal makes a TLS 1.3 record of content type typ under the traffic
// secret, with sequence number seq (RFC 8446, section 5.2).
func tlSeal(t *testing.T, h func() hash.Hash, keyLen int, secret []byte, seq uint64, content []byte, typ byte) []byte {
	key := tlExpandLabel(t, h, secret, "key", keyLen)
	iv := tlExpandLabel(t, h, secret, "iv", 12)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := append([]byte(nil), iv...)
	for i := range 8 {
		nonce[4+i] ^= byte(seq >> (56 - 8*i))
	}
	inner := append(append([]byte(nil), content...), typ)
	hdr := []byte{23, 3, 3, 0, 0}
	binary.BigEndian.PutUint16(hdr[3:], uint16(len(inner)+aead.Overhead()))
	return aead.Seal(hdr, nonce, inner, hdr)
}
