package asio_test

// Helpers of the TLS tests (prefixed tl, to stay clear of other test files).
// The certificates are made at run time: a CA, a server certificate for
// localhost, example.com and 127.0.0.1, and a client certificate.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/goasio/asio"
)

const tlWait = 10 * time.Second

type tlCerts struct {
	pool         *x509.CertPool
	server       tls.Certificate // localhost, example.com, 127.0.0.1
	other        tls.Certificate // other.test only
	client       tls.Certificate
	selfSigned   tls.Certificate // localhost, signed by nobody the pool knows
	serverLeafDN string
}

var (
	tlOnce  sync.Once
	tlCache *tlCerts
)

func tlCertificates(t testing.TB) *tlCerts {
	t.Helper()
	tlOnce.Do(func() {
		caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		caTmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "asio test CA"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign,
		}
		caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
		if err != nil {
			panic(err)
		}
		ca, _ := x509.ParseCertificate(caDER)
		c := &tlCerts{pool: x509.NewCertPool()}
		c.pool.AddCert(ca)
		leaf := func(serial int64, signer *x509.Certificate, signerKey *ecdsa.PrivateKey, cn string, names []string, ips []net.IP, usage x509.ExtKeyUsage) tls.Certificate {
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(serial),
				Subject:      pkix.Name{CommonName: cn},
				NotBefore:    time.Now().Add(-time.Hour),
				NotAfter:     time.Now().Add(24 * time.Hour),
				DNSNames:     names,
				IPAddresses:  ips,
				KeyUsage:     x509.KeyUsageDigitalSignature,
				ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			}
			if signer == nil {
				signer, signerKey = tmpl, key
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
			if err != nil {
				panic(err)
			}
			return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
		}
		c.server = leaf(2, ca, caKey, "localhost", []string{"localhost", "example.com"}, []net.IP{net.IPv4(127, 0, 0, 1)}, x509.ExtKeyUsageServerAuth)
		c.other = leaf(3, ca, caKey, "other.test", []string{"other.test"}, nil, x509.ExtKeyUsageServerAuth)
		c.client = leaf(4, ca, caKey, "asio client", nil, nil, x509.ExtKeyUsageClientAuth)
		c.selfSigned = leaf(5, nil, nil, "localhost", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, x509.ExtKeyUsageServerAuth)
		c.serverLeafDN = "localhost"
		tlCache = c
	})
	return tlCache
}

// tlServerConfig and tlClientConfig are the usual pair, at TLS version v
// (0: crypto/tls's default range, which negotiates 1.3).
func tlServerConfig(t testing.TB, v uint16) *tls.Config {
	c := tlCertificates(t)
	return &tls.Config{Certificates: []tls.Certificate{c.server}, MinVersion: v, MaxVersion: v}
}

func tlClientConfig(t testing.TB, v uint16) *tls.Config {
	c := tlCertificates(t)
	return &tls.Config{RootCAs: c.pool, ServerName: "localhost", MinVersion: v, MaxVersion: v}
}

// tlContext returns a context Run by a goroutine of its own (kept alive by
// a work guard) and the id of that goroutine; cleanup closes it.
func tlContext(t testing.TB) (*asio.IOContext, uint64) {
	t.Helper()
	ctx, err := asio.NewIOContext()
	if err != nil {
		t.Fatal(err)
	}
	g := asio.NewWorkGuard(ctx.Executor())
	id := make(chan uint64, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		id <- tlGoroutineID()
		ctx.Run()
	}()
	t.Cleanup(func() {
		g.Reset()
		ctx.Stop()
		<-done
		ctx.Close()
	})
	return ctx, <-id
}

// tlGoroutineID parses the calling goroutine's id from runtime.Stack.
func tlGoroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		panic(err)
	}
	return id
}

// tlDialPeer connects a TCPSocket of ctx to a new net listener and returns
// it with the accepted net.Conn (the peer, for crypto/tls).
func tlDialPeer(t testing.TB, ctx *asio.IOContext) (*asio.TCPSocket, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sock := asio.NewTCPSocket(ctx.Executor())
	if err := sock.Connect(ln.Addr().(*net.TCPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close(); peer.Close() })
	return sock, peer
}

// tlSocketPair returns two connected TCPSockets of ctx.
func tlSocketPair(t testing.TB, ctx *asio.IOContext) (*asio.TCPSocket, *asio.TCPSocket) {
	t.Helper()
	acc, err := asio.ListenTCP(ctx.Executor(), netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	a := asio.NewTCPSocket(ctx.Executor())
	if err := a.Connect(acc.LocalEndpoint()); err != nil {
		t.Fatal(err)
	}
	b, err := acc.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// tlWaitErr and tlWaitN wait for a handler's result.
func tlWaitErr(t testing.TB, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(tlWait):
		t.Fatalf("%s: no completion after %v", what, tlWait)
	}
	return nil
}

type tlResult struct {
	n   int
	err error
}

func tlWaitN(t testing.TB, ch <-chan tlResult, what string) tlResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(tlWait):
		t.Fatalf("%s: no completion after %v", what, tlWait)
	}
	return tlResult{}
}

// tlChecker checks that a handler runs exactly once, on the goroutine of
// Run, and never inside its initiating function: the helpers below start
// their operation from a handler on Run's goroutine (posted), between
// setting and clearing inside, so an inline call would see inside set.
type tlChecker struct {
	t      testing.TB
	runID  uint64
	mu     sync.Mutex
	calls  int
	inside bool
}

func (c *tlChecker) check(what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.calls > 1 {
		c.t.Errorf("%s: handler called %d times", what, c.calls)
	}
	if c.inside {
		c.t.Errorf("%s: handler called inside its initiating function", what)
	}
	if c.runID != 0 && tlGoroutineID() != c.runID {
		c.t.Errorf("%s: handler ran outside Run", what)
	}
}

// start runs initiate on ex inside a handler, marking the call.
func (c *tlChecker) start(ex asio.Executor, initiate func()) {
	ex.Post(func() {
		c.mu.Lock()
		c.inside = true
		c.mu.Unlock()
		initiate()
		c.mu.Lock()
		c.inside = false
		c.mu.Unlock()
	})
}

// tlHandshake runs the handshake of s and waits for it, checking the rules.
func tlHandshake(t testing.TB, s *asio.TLSStream, role asio.HandshakeType, runID uint64, opts ...asio.OpOption) error {
	t.Helper()
	ch := make(chan error, 1)
	c := &tlChecker{t: t, runID: runID}
	c.start(s.Executor(), func() {
		s.AsyncHandshake(role, func(err error) { c.check("handshake"); ch <- err }, opts...)
	})
	return tlWaitErr(t, ch, "handshake")
}

func tlRead(t testing.TB, s asio.AsyncReadStream, b []byte, runID uint64, opts ...asio.OpOption) tlResult {
	t.Helper()
	ch := make(chan tlResult, 1)
	c := &tlChecker{t: t, runID: runID}
	c.start(s.Executor(), func() {
		s.AsyncReadSome(asio.Buffers{b}, func(n int, err error) { c.check("read"); ch <- tlResult{n, err} }, opts...)
	})
	return tlWaitN(t, ch, "read")
}

func tlWrite(t testing.TB, s asio.AsyncWriteStream, b []byte, runID uint64, opts ...asio.OpOption) tlResult {
	t.Helper()
	ch := make(chan tlResult, 1)
	c := &tlChecker{t: t, runID: runID}
	c.start(s.Executor(), func() {
		asio.AsyncWrite(s, asio.Buffers{b}, func(n int, err error) { c.check("write"); ch <- tlResult{n, err} }, opts...)
	})
	return tlWaitN(t, ch, "write")
}

// tlGoroutines waits until the number of goroutines is at most n (the
// handshake goroutines end just after their handlers run) and returns it.
func tlGoroutines(n int) int {
	deadline := time.Now().Add(tlWait)
	for {
		g := runtime.NumGoroutine()
		if g <= n || time.Now().After(deadline) {
			return g
		}
		time.Sleep(time.Millisecond)
	}
}
