package probe_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
)

// testCA is a certificate authority of the test's own, with a server
// certificate for 127.0.0.1 and client certificates it signed, all as PEM
// files in dir.
type testCA struct {
	dir                  string
	caFile               string // the CA's certificate
	serverCert, srvKey   string // for 127.0.0.1 and localhost
	clientCert, cliKey   string // signed by the CA, for client authentication
	expiredCert, expKey  string // signed by the CA, expired
	strangerCert, strKey string // self-signed: not from the CA
	pool                 *x509.CertPool
	server               tls.Certificate
}

// newTestCA makes the CA and its certificates in a new directory, readable
// by account (a server that runs as another user).
func newTestCA(t testing.TB, account string) *testCA {
	t.Helper()
	dir := serverDir(t, account)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "depprobe test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	ca := &testCA{dir: dir, pool: x509.NewCertPool()}
	ca.pool.AddCert(caCert)
	ca.caFile = writePEM(t, dir, "ca.pem", account, "CERTIFICATE", caDER)

	issue := func(name string, serial int64, server bool, notAfter time.Time, signer *x509.Certificate, signerKey *ecdsa.PrivateKey) (string, string, tls.Certificate) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.DNSNames, tmpl.IPAddresses = []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}
		}
		if signer == nil {
			signer, signerKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		cf := writePEM(t, dir, name+".pem", account, "CERTIFICATE", der)
		kf := writePEM(t, dir, name+"-key.pem", account, "EC PRIVATE KEY", kder)
		cert, err := tls.LoadX509KeyPair(cf, kf)
		if err != nil {
			t.Fatal(err)
		}
		return cf, kf, cert
	}
	later := time.Now().Add(time.Hour)
	ca.serverCert, ca.srvKey, ca.server = issue("server", 2, true, later, caCert, caKey)
	ca.clientCert, ca.cliKey, _ = issue("client", 3, false, later, caCert, caKey)
	ca.expiredCert, ca.expKey, _ = issue("expired", 4, false, time.Now().Add(-time.Hour), caCert, caKey)
	ca.strangerCert, ca.strKey, _ = issue("stranger", 5, false, later, nil, nil)
	return ca
}

func writePEM(t testing.TB, dir, name, account, typ string, der []byte) string {
	t.Helper()
	f := filepath.Join(dir, name)
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	chown(t, f, account)
	return f
}

// serverTLS is a server config that requires a client certificate from
// the CA, with TLS versions up to max.
func (ca *testCA) serverTLS(max uint16) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{ca.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.pool,
		MaxVersion:   max,
	}
}

// client is the options that present the CA's client certificate.
func (ca *testCA) client() string {
	return " ca=" + ca.caFile + " cert=" + ca.clientCert + " key=" + ca.cliKey
}

// TestClientCertificates: every TLS scheme presents cert= and key= to a
// real server that verifies clients against the test's CA. No
// certificate, an expired one and one from another CA are auth_failed
// (fatal), with a hint that speaks of the client certificate.
func TestClientCertificates(t *testing.T) {
	ca := newTestCA(t, "")
	noCert := " ca=" + ca.caFile
	expired := noCert + " cert=" + ca.expiredCert + " key=" + ca.expKey
	stranger := noCert + " cert=" + ca.strangerCert + " key=" + ca.strKey

	// The rejections, for a URL: ready with the CA's client certificate,
	// auth_failed without one or with a bad one.
	rejections := func(t *testing.T, url string, step probe.Step) {
		t.Helper()
		r := attempt(t, target(t, url+ca.client()), 2*time.Second)
		checkResult(t, r, step, probe.OK)
		for _, tc := range []struct{ name, opts, hint string }{
			{"no certificate", noCert, "set cert= and key="},
			{"expired", expired, "refused the client certificate"},
			{"another CA", stranger, "refused the client certificate"},
		} {
			r := attempt(t, target(t, url+tc.opts), 2*time.Second)
			if r.Outcome != probe.AuthFailed || !r.Outcome.Fatal() {
				t.Errorf("%s: %s: outcome %s in step %s (%v), want auth_failed", url, tc.name, r.Outcome, r.Step, r.Err)
				continue
			}
			checkText(t, r, tc.hint)
		}
	}

	for _, v := range []struct {
		name string
		max  uint16
	}{{"TLS 1.2", tls.VersionTLS12}, {"TLS 1.3", tls.VersionTLS13}} {
		t.Run("tls "+v.name, func(t *testing.T) {
			ln, err := tls.Listen("tcp", "127.0.0.1:0", ca.serverTLS(v.max))
			if err != nil {
				t.Fatal(err)
			}
			loopback.Serve(t, ln, func(c net.Conn) {
				go func() {
					defer c.Close()
					c.SetDeadline(time.Now().Add(5 * time.Second))
					// Complete the handshake (the verdict), then wait
					// for the client to hang up.
					if c.(*tls.Conn).Handshake() == nil {
						io.Copy(io.Discard, c)
					}
				}()
			})
			rejections(t, "tls://"+ln.Addr().String(), probe.TLS)
			// send= without expect= reads nothing: the verdict is awaited
			// all the same.
			rejections(t, "tls://"+ln.Addr().String()+" send=PING%0D%0A", probe.Protocol)
		})
	}
	t.Run("tls, certificate optional", func(t *testing.T) {
		// A TLS 1.3 server that asks for a certificate but lets clients
		// without one in: the wait for its verdict ends in silence, ready.
		cfg := ca.serverTLS(tls.VersionTLS13)
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
		if err != nil {
			t.Fatal(err)
		}
		loopback.Serve(t, ln, func(c net.Conn) {
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					io.Copy(io.Discard, c)
				}
			}()
		})
		checkResult(t, attempt(t, target(t, "tls://"+ln.Addr().String()+noCert), 2*time.Second), probe.TLS, probe.OK)
		checkResult(t, attempt(t, target(t, "tls://"+ln.Addr().String()+ca.client()), 2*time.Second), probe.TLS, probe.OK)
	})
	t.Run("https", func(t *testing.T) {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", ca.serverTLS(tls.VersionTLS13))
		if err != nil {
			t.Fatal(err)
		}
		loopback.Serve(t, ln, func(c net.Conn) {
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 4096)
				if _, err := c.Read(buf); err == nil {
					io.WriteString(c, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
				}
			}()
		})
		rejections(t, "https://"+ln.Addr().String()+"/", probe.Protocol)
	})
	t.Run("rediss", func(t *testing.T) {
		addr := startRedis(t, ca.dir, "--tls-cert-file", ca.serverCert, "--tls-key-file", ca.srvKey,
			"--tls-ca-cert-file", ca.caFile, "--tls-auth-clients", "yes")
		rejections(t, "rediss://"+addr, probe.Protocol)
	})
	t.Run("mqtts", func(t *testing.T) {
		addr, _ := startMosquitto(t, "certfile "+ca.serverCert, "keyfile "+ca.srvKey,
			"cafile "+ca.caFile, "require_certificate true", "allow_anonymous true")
		rejections(t, "mqtts://"+addr, probe.Protocol)
	})
	t.Run("grpcs", func(t *testing.T) {
		addr := grpcServer(t, true, grpc.Creds(credentials.NewTLS(ca.serverTLS(tls.VersionTLS13))))
		rejections(t, "grpcs://"+addr, probe.Protocol)
	})
}

// TestClientCertificateFiles: cert= and key= are read when the
// configuration is built; a missing, empty or mismatched file, or one
// without the other, is a configuration error that names the option.
func TestClientCertificateFiles(t *testing.T) {
	ca := newTestCA(t, "")
	empty := filepath.Join(t.TempDir(), "empty.pem")
	os.WriteFile(empty, nil, 0o600)
	for _, tc := range []struct{ opts, want string }{
		{" cert=" + ca.clientCert, "needs key="},
		{" key=" + ca.cliKey, "needs cert="},
		{" cert=/nonexistent/c.pem key=" + ca.cliKey, `cert="/nonexistent/c.pem": no such file`},
		{" cert=" + ca.clientCert + " key=/nonexistent/k.pem", `key="/nonexistent/k.pem": no such file`},
		{" cert=" + empty + " key=" + ca.cliKey, "PEM"},
		{" cert=" + ca.clientCert + " key=" + ca.strKey, "private key does not match public key"},
	} {
		specs, err := probe.ParseSpecs("T", "tls://127.0.0.1:1"+tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = probe.New(specs[0])
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q) = %v, want an error with %q", tc.opts, err, tc.want)
		}
	}
	// A scheme without TLS has no cert=.
	specs, _ := probe.ParseSpecs("T", "tcp://127.0.0.1:1 cert="+ca.clientCert)
	if _, err := probe.New(specs[0]); err == nil || !strings.Contains(err.Error(), `unknown option "cert"`) {
		t.Errorf("tcp:// with cert=: %v, want unknown option", err)
	}
}

// TestGRPCHeaders: header= sends request metadata, inline (with %XX
// escapes) or from a file read at every attempt; a server that checks the
// token sees it, and a rotated file is picked up.
func TestGRPCHeaders(t *testing.T) {
	const want = "Bearer s3cret-GRPC"
	addr := grpcServer(t, true, grpc.UnaryInterceptor(grpcAuth(want)))
	token := filepath.Join(t.TempDir(), "token")
	os.WriteFile(token, []byte(want+"\n"), 0o600)

	for _, tc := range []struct {
		opts string
		want probe.Outcome
	}{
		{" header=authorization:Bearer%20s3cret-GRPC header=X-Tenant:a%2Cb", probe.OK},
		{" header=authorization:@" + token + " header=x-tenant:a%2Cb", probe.OK},
		{" header=x-tenant:a%2Cb", probe.Unexpected}, // UNAUTHENTICATED
	} {
		r := attempt(t, target(t, "grpc://"+addr+tc.opts), 2*time.Second)
		checkResult(t, r, probe.Protocol, tc.want)
		if strings.Contains(r.Diagnosis()+r.Hint, "s3cret") {
			t.Errorf("the diagnosis shows the token: %s / %s", r.Diagnosis(), r.Hint)
		}
	}
	tg := target(t, "grpc://"+addr+" header=authorization:@"+token+" header=x-tenant:a%2Cb")
	os.WriteFile(token, []byte("Bearer rotated\n"), 0o600)
	checkResult(t, attempt(t, tg, 2*time.Second), probe.Protocol, probe.Unexpected)
	os.WriteFile(token, []byte(want), 0o600)
	checkResult(t, attempt(t, tg, 2*time.Second), probe.Protocol, probe.OK)
	os.Remove(token)
	r := attempt(t, tg, 2*time.Second)
	checkResult(t, r, probe.Protocol, probe.Unexpected)
	checkText(t, r, "header authorization", token, "no such file")
}

// grpcAuth lets a call through only with the metadata authorization: want
// and x-tenant: a,b.
func grpcAuth(want string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		if !slices.Equal(md.Get("authorization"), []string{want}) || !slices.Equal(md.Get("x-tenant"), []string{"a,b"}) {
			return nil, status.Error(codes.Unauthenticated, "no valid token")
		}
		return handler(ctx, req)
	}
}
