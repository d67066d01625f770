package probe_test

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
)

// attempt makes one attempt with a short deadline.
func attempt(t *testing.T, tg *probe.Target, limit time.Duration) probe.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	return tg.Probe(ctx)
}

func checkResult(t *testing.T, r probe.Result, step probe.Step, outcome probe.Outcome) {
	t.Helper()
	if r.Step != step || r.Outcome != outcome {
		t.Errorf("Step, Outcome = %s, %s, want %s, %s (err: %v)", r.Step, r.Outcome, step, outcome, r.Err)
	}
	if outcome != probe.OK && r.Hint == "" {
		t.Errorf("Hint is empty for %s %s", step, outcome)
	}
	if outcome == probe.OK && (r.Err != nil || r.Hint != "" || r.Diagnosis() != "") {
		t.Errorf("a ready result carries Err %v, Hint %q, Error %q", r.Err, r.Hint, r.Diagnosis())
	}
}

func TestTCP(t *testing.T) {
	ln := loopback.Listen(t)
	loopback.Serve(t, ln, func(c net.Conn) { c.Close() })

	r := attempt(t, target(t, "tcp://"+ln.Addr().String()), time.Second)
	checkResult(t, r, probe.Connect, probe.OK)
	if r.Addr != ln.Addr().String() {
		t.Errorf("Addr = %q, want %q", r.Addr, ln.Addr())
	}
	if len(r.Steps) != 2 || r.Steps[0].Step != probe.Resolve || r.Steps[1].Step != probe.Connect {
		t.Errorf("Steps = %+v, want resolve, connect", r.Steps)
	}

	addr := loopback.Refused(t)
	r = attempt(t, target(t, "db=tcp://"+addr), time.Second)
	checkResult(t, r, probe.Connect, probe.Refused)
	if !errors.Is(r.Err, syscall.ECONNREFUSED) {
		t.Errorf("Err = %v, want it to wrap ECONNREFUSED", r.Err)
	}
	if want := `refused: connect to "` + addr + `": connection refused`; r.Diagnosis() != want {
		t.Errorf("Diagnosis() = %q, want %q", r.Diagnosis(), want)
	}
	for _, cause := range []string{"started", "127.0.0.1", "port"} {
		if !strings.Contains(r.Hint, cause) {
			t.Errorf("Hint %q does not name the cause %q", r.Hint, cause)
		}
	}
}

func TestTCPIPv6Literal(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		missing(t, "no IPv6 loopback (::1): %v", err)
	}
	defer ln.Close()
	loopback.Serve(t, ln, func(c net.Conn) { c.Close() })
	r := attempt(t, target(t, "tcp://"+ln.Addr().String()), time.Second)
	checkResult(t, r, probe.Connect, probe.OK)
}

func TestUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.sock")
	tg := target(t, "unix://"+path)

	r := attempt(t, tg, time.Second)
	checkResult(t, r, probe.Connect, probe.Refused)
	if !strings.Contains(r.Hint, "socket") {
		t.Errorf("Hint %q does not mention the socket", r.Hint)
	}

	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	loopback.Serve(t, ln, func(c net.Conn) { c.Close() })
	r = attempt(t, tg, time.Second)
	checkResult(t, r, probe.Connect, probe.OK)
	if r.Addr != path {
		t.Errorf("Addr = %q, want %q", r.Addr, path)
	}
}

func TestHTTP(t *testing.T) {
	var gotUA, gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUA, gotAuth = r.UserAgent(), r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, "fine")
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusMovedPermanently)
		case "/starting":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	base := srv.URL

	tests := []struct {
		name    string
		line    string
		outcome probe.Outcome
	}{
		{"200", base + "/ok", probe.OK},
		{"redirect is ready like the kubelet", base + "/moved", probe.OK},
		{"503 is not ready", base + "/starting", probe.NotReady},
		{"404 is unexpected", base + "/missing", probe.Unexpected},
		{"status option", base + "/missing status=404", probe.OK},
		{"status range excludes", base + "/moved status=200-299", probe.Unexpected},
		{"single status", base + "/nocontent status=204", probe.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := attempt(t, target(t, tc.line), time.Second)
			checkResult(t, r, probe.Protocol, tc.outcome)
		})
	}
	if !strings.HasPrefix(gotUA, "depprobe/") {
		t.Errorf("User-Agent = %q, want depprobe/<version>", gotUA)
	}

	r := attempt(t, target(t, strings.Replace(base, "http://", "http://user:hunter2@", 1)+"/missing?token=s3cret"), time.Second)
	if gotAuth == "" {
		t.Error("no Authorization header for a URL with userinfo")
	}
	for _, s := range []string{r.Diagnosis(), r.Hint, r.URL, r.Summary()} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "s3cret") {
			t.Errorf("result text %q leaks a secret", s)
		}
	}
	if !strings.Contains(r.Diagnosis(), "HTTP 404 Not Found (want 200-399)") {
		t.Errorf("Diagnosis() = %q, want the status and the wanted range", r.Diagnosis())
	}
}

func TestHTTPConnectionFaults(t *testing.T) {
	tests := []struct {
		name    string
		handle  func(net.Conn)
		outcome probe.Outcome
	}{
		{"closed before answering", func(c net.Conn) {
			c.Read(make([]byte, 1024)) // closing with unread data would send RST
			c.Close()
		}, probe.Closed},
		{"reset before answering", func(c net.Conn) {
			c.Read(make([]byte, 1024))
			c.(*net.TCPConn).SetLinger(0) // close with RST
			c.Close()
		}, probe.Reset},
		{"not http", func(c net.Conn) {
			io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\n")
			c.Close()
		}, probe.Unexpected},
		{"never answers", func(c net.Conn) {
			t.Cleanup(func() { c.Close() })
		}, probe.Timeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln := loopback.Listen(t)
			loopback.Serve(t, ln, tc.handle)
			r := attempt(t, target(t, "http://"+ln.Addr().String()+"/"), 300*time.Millisecond)
			checkResult(t, r, probe.Protocol, tc.outcome)
			if tc.outcome == probe.Timeout && !strings.HasSuffix(r.Diagnosis(), "got no answer within 300ms") {
				t.Errorf("Diagnosis() = %q, want it to name the limit", r.Diagnosis())
			}
		})
	}
}

// writeCA writes the test server's certificate as a CA file.
func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHTTPS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes below are expected
	srv.StartTLS()
	defer srv.Close()
	ca := writeCA(t, srv)

	r := attempt(t, target(t, srv.URL+"/ ca="+ca), time.Second)
	checkResult(t, r, probe.Protocol, probe.OK)
	if len(r.Steps) != 4 || r.Steps[2].Step != probe.TLS {
		t.Errorf("Steps = %+v, want resolve, connect, tls, protocol", r.Steps)
	}

	r = attempt(t, target(t, srv.URL+"/"), time.Second)
	checkResult(t, r, probe.TLS, probe.CertInvalid)
	if !strings.Contains(r.Hint, "example.com") || !strings.Contains(r.Hint, "valid until") {
		t.Errorf("Hint %q does not name the certificate's names and expiry", r.Hint)
	}

	r = attempt(t, target(t, srv.URL+"/ ca="+ca+" servername=db.internal"), time.Second)
	checkResult(t, r, probe.TLS, probe.CertInvalid)
	if !strings.Contains(r.Hint, `wanted "db.internal"`) {
		t.Errorf("Hint %q does not name the wanted name", r.Hint)
	}

	r = attempt(t, target(t, srv.URL+"/ insecure=true"), time.Second)
	checkResult(t, r, probe.Protocol, probe.OK)

	// TLS against a plain HTTP server: the handshake fails, not a hang.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()
	r = attempt(t, target(t, strings.Replace(plain.URL, "http://", "https://", 1)), time.Second)
	checkResult(t, r, probe.TLS, probe.Unexpected)
}

// dnsServer is a DNS server of the test's own on loopback. zone maps a
// name to its A records; "missing." names answer NXDOMAIN, "broken." names
// SERVFAIL and "silent." names nothing at all.
func dnsServer(t *testing.T, zone map[string][]string) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		name := q.Question[0].Name
		m := new(dns.Msg)
		m.SetReply(q)
		switch {
		case strings.HasPrefix(name, "silent."):
			return
		case strings.HasPrefix(name, "broken."):
			m.Rcode = dns.RcodeServerFailure
		case zone[name] == nil:
			m.Rcode = dns.RcodeNameError
		case q.Question[0].Qtype == dns.TypeA:
			for _, ip := range zone[name] {
				if v4 := net.ParseIP(ip).To4(); v4 != nil {
					m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: v4})
				}
			}
		default: // "srv:PORT TARGET" and "txt:TEXT" records
			for _, v := range zone[name] {
				kind, rr, _ := strings.Cut(v, ":")
				switch {
				case kind == "srv" && q.Question[0].Qtype == dns.TypeSRV:
					port, target, _ := strings.Cut(rr, " ")
					p, _ := strconv.Atoi(port)
					m.Answer = append(m.Answer, &dns.SRV{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 1}, Port: uint16(p), Target: target})
				case kind == "txt" && q.Question[0].Qtype == dns.TypeTXT:
					m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 1}, Txt: []string{rr}})
				}
			}
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

func TestResolve(t *testing.T) {
	ln := loopback.Listen(t)
	loopback.Serve(t, ln, func(c net.Conn) { c.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	resolver := dnsServer(t, map[string][]string{
		"db.test.": {"127.0.0.1"},
		// The first address refuses (nothing listens on 127.0.0.2), the
		// second answers: ready, and Addr names the one that answered.
		"two.test.": {"127.0.0.2", "127.0.0.1"},
	})
	tests := []struct {
		host    string
		step    probe.Step
		outcome probe.Outcome
	}{
		{"db.test", probe.Connect, probe.OK},
		{"two.test", probe.Connect, probe.OK},
		{"missing.test", probe.Resolve, probe.NotFound},
		{"broken.test", probe.Resolve, probe.DNSError},
		{"silent.test", probe.Resolve, probe.Timeout},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			tg := target(t, "tcp://"+tc.host+":"+port)
			tg.Resolver = resolver
			r := attempt(t, tg, 500*time.Millisecond)
			checkResult(t, r, tc.step, tc.outcome)
			if tc.outcome == probe.OK && r.Addr != "127.0.0.1:"+port {
				t.Errorf("Addr = %q, want the address that answered, 127.0.0.1:%s", r.Addr, port)
			}
		})
	}

	tg := target(t, "tcp://two.test:"+port)
	tg.Resolver = resolver
	r := attempt(t, tg, time.Second)
	if got := strings.Join(r.Addrs, ","); got != "127.0.0.2,127.0.0.1" {
		t.Errorf("Addrs = %q, want both addresses", got)
	}
	var refused, ok int
	for _, s := range r.Steps {
		if s.Step == probe.Connect && s.Outcome == probe.Refused {
			refused++
		}
		if s.Step == probe.Connect && s.Outcome == probe.OK {
			ok++
		}
	}
	// Both addresses are dialed at once; the refusal is reported when it
	// came before the other answered.
	if refused > 1 || ok != 1 {
		t.Errorf("connect steps = %+v, want one ok and at most one refused", r.Steps)
	}

	tg = target(t, "tcp://missing.test:"+port)
	tg.Resolver = resolver
	tg.Kubernetes = true
	if r := attempt(t, tg, time.Second); !strings.Contains(r.Hint, "Service") || !strings.Contains(r.Hint, "namespace") {
		t.Errorf("Kubernetes hint %q does not speak of the Service and namespace", r.Hint)
	}
}

func TestProbeCanceled(t *testing.T) {
	ln := loopback.Listen(t)
	loopback.Serve(t, ln, func(net.Conn) {})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	r := target(t, "http://"+ln.Addr().String()).Probe(ctx)
	if r.Outcome != probe.Canceled {
		t.Errorf("Outcome = %s, want canceled", r.Outcome)
	}
}

// TestHTTPLongGarbageNotEchoed: an answer that is not HTTP is named by a
// few characters at most, never echoed whole.
func TestHTTPLongGarbageNotEchoed(t *testing.T) {
	ln := loopback.Listen(t)
	loopback.Serve(t, ln, func(c net.Conn) {
		c.Read(make([]byte, 1024))
		io.WriteString(c, strings.Repeat("SECRETBODY", 100)+"\r\n\r\n")
		c.Close()
	})
	r := attempt(t, target(t, "http://"+ln.Addr().String()+"/"), time.Second)
	checkResult(t, r, probe.Protocol, probe.Unexpected)
	if strings.Count(r.Diagnosis(), "SECRETBODY") > 2 || len(r.Diagnosis()) > 200 {
		t.Errorf("Diagnosis() = %q, want the answer named by a few characters at most", r.Diagnosis())
	}
}
