package probe_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
)

// TestHTTPExpectations: method=, body=, body_file=, header=, expect=,
// expect_re=, json=, expect_header= and redirects= against an HTTP test
// server that checks what it was sent.
func TestHTTPExpectations(t *testing.T) {
	var (
		mu       sync.Mutex
		lastAuth string // what the other origin was sent
	)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastAuth = r.Header.Get("Authorization") + r.Header.Get("X-Token")
		mu.Unlock()
		if r.URL.Path == "/locked" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"status":"green"}`)
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			w.Header().Set("X-Ready", "no")
			w.Header().Set("Set-Cookie", "session=s3cret-COOKIE")
			io.WriteString(w, `{"status":"red","checks":[{"name":"db","ok":true}],"n":1.0,"token":"padding-padding-padding-BODYSECRET"}`)
		case "/green":
			w.Header().Set("X-Ready", "yes, all")
			io.WriteString(w, `{"status":"green"}`)
		case "/text":
			io.WriteString(w, "OK\n")
		case "/auth":
			if r.Header.Get("Authorization") != "Bearer tok-123" || r.Header.Get("X-Tenant") != "a,b" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			io.WriteString(w, "welcome")
		case "/post":
			b, _ := io.ReadAll(r.Body)
			if r.Method != http.MethodPost || string(b) != `{"ping": 1}` || r.Header.Get("Content-Type") != "application/json" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			io.WriteString(w, "pong")
		case "/method":
			io.WriteString(w, r.Method)
		case "/vhost":
			io.WriteString(w, r.Host+" "+r.UserAgent())
		case "/redirect":
			http.Redirect(w, r, "/green", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/away":
			http.Redirect(w, r, other.URL+"/x?sig=QUERYSECRET", http.StatusTemporaryRedirect)
		case "/away-locked":
			http.Redirect(w, r, other.URL+"/locked", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("Bearer tok-123\n"), 0o600)
	bodyFile := filepath.Join(dir, "body.json")
	os.WriteFile(bodyFile, []byte(`{"ping": 1}`), 0o600)
	base := srv.URL

	for _, tc := range []struct {
		name, spec string
		want       probe.Outcome
		text       []string
	}{
		{"expect", base + "/green expect=%22green%22", probe.OK, nil},
		{"expect mismatch", base + "/health expect=%22green%22", probe.NotReady, []string{`expected the body to contain "\"green\"", found "{\"status\":\"red\",\"checks\":[{\"name"…`, "not yet as expect= wants"}},
		{"expect_re", base + "/text expect_re=^OK\\s*$", probe.OK, nil},
		{"expect_re mismatch", base + "/health expect_re=^OK$", probe.NotReady, []string{"expected the body to match /^OK$/"}},
		{"json", base + "/health json=.checks[0].ok=true json=.n=1.0", probe.OK, nil},
		{"json one of", base + "/green json=.status=green|yellow", probe.OK, nil},
		{"json mismatch", base + "/health json=.status=green|yellow", probe.NotReady, []string{`expected .status to be green or yellow, found "red"`, "json="}},
		{"json number as written", base + "/health json=.n=1", probe.NotReady, []string{`found "1.0"`}},
		{"json missing key", base + "/health json=.checks[0].state=up", probe.NotReady, []string{`found no key "state" at .checks[0]`}},
		{"json index out of range", base + "/health json=.checks[3].ok=true", probe.NotReady, []string{"found no [3] at .checks"}},
		{"not json", base + "/text json=.status=green", probe.NotReady, []string{"not JSON"}},
		{"expect_header", base + "/green expect_header=X-Ready:yes", probe.OK, nil},
		{"expect_header mismatch", base + "/health expect_header=X-Ready:yes", probe.NotReady, []string{`expected header X-Ready to contain "yes", found "no"`}},
		{"expect_header absent", base + "/text expect_header=X-Ready", probe.NotReady, []string{"found no such header"}},
		{"a cookie is never shown", base + "/health expect_header=Set-Cookie:other", probe.NotReady, []string{"found a value of 21 bytes"}},
		{"head", base + "/method method=HEAD", probe.OK, nil},
		{"Host and User-Agent from header=", base + "/vhost header=Host:api.internal header=User-Agent:probe/1 expect=api.internal%20probe/1", probe.OK, nil},
		{"post", base + "/method method=post expect=POST", probe.OK, nil},
		{"body", base + "/post body=%7B%22ping%22:%201%7D header=Content-Type:application/json expect=pong", probe.OK, nil},
		{"body_file", base + "/post body_file=" + bodyFile + " header=Content-Type:application/json expect=pong", probe.OK, nil},
		{"header inline", base + "/auth header=Authorization:Bearer%20tok-123 header=X-Tenant:a%2Cb", probe.OK, nil},
		{"header from a file", base + "/auth header=Authorization:@" + token + " header=X-Tenant:a%2Cb", probe.OK, nil},
		{"header missing", base + "/auth header=X-Tenant:a%2Cb", probe.Unexpected, []string{"HTTP 401", "wants credentials"}},
		// A 401 to a request with credentials: they were rejected, which
		// waiting will not fix.
		{"header rejected", base + "/auth header=Authorization:Bearer%20nope header=X-Tenant:a%2Cb", probe.AuthFailed, []string{"HTTP 401", "rejected the credentials"}},
		{"user info rejected", "http://user:nope@" + strings.TrimPrefix(base, "http://") + "/auth", probe.AuthFailed, []string{"HTTP 401", "rejected the credentials"}},
		// The credentials stay at home: the other origin's 401 answers a
		// request without them.
		{"401 elsewhere", "http://user:nope@" + strings.TrimPrefix(base, "http://") + "/away-locked redirects=1", probe.Unexpected, []string{"HTTP 401", "wants credentials"}},
		{"3xx ready without redirects=", base + "/redirect", probe.OK, nil},
		{"redirect followed", base + "/redirect redirects=2 json=.status=green", probe.OK, nil},
		{"redirect judged", base + "/redirect redirects=1 json=.status=red", probe.NotReady, []string{"after 1 redirects", "/green"}},
		{"redirect loop", base + "/loop redirects=3", probe.Unexpected, []string{"more than redirects=3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := attempt(t, target(t, tc.spec), 2*time.Second)
			checkResult(t, r, probe.Protocol, tc.want)
			checkText(t, r, tc.text...)
			for _, secret := range []string{"BODYSECRET", "s3cret-COOKIE", "tok-123"} {
				if strings.Contains(r.Diagnosis()+r.Hint, secret) {
					t.Errorf("the result shows %q: %s / %s", secret, r.Diagnosis(), r.Hint)
				}
			}
		})
	}

	t.Run("credentials stay at home", func(t *testing.T) {
		r := attempt(t, target(t, "http://user:pw@"+strings.TrimPrefix(base, "http://")+"/away redirects=1 header=X-Token:tok-123 json=.status=red"), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.NotReady)
		checkText(t, r, "sig=xxxxx")
		if strings.Contains(r.Diagnosis(), "QUERYSECRET") {
			t.Errorf("the final URL is not redacted: %s", r.Diagnosis())
		}
		mu.Lock()
		defer mu.Unlock()
		if lastAuth != "" {
			t.Errorf("the other origin was sent %q, want no credentials", lastAuth)
		}
	})
}

// TestHTTPOptionErrors: options that cannot go together, and bad values,
// are configuration errors.
func TestHTTPOptionErrors(t *testing.T) {
	for _, tc := range []struct{ opts, want string }{
		{"method=GET body=x", "go with method=POST"},
		{"method=HEAD expect=x", "HEAD has no body"},
		{"body=x body_file=/etc/hostname", "not both"},
		{"method=PUT", "want GET, HEAD or POST"},
		{"json=status=green", "write .path=value"},
		{"json=.a..b=1", "empty key"},
		{"json=.a[x]=1", "not an index"},
		{"json=.a=", "an empty value"},
		{"redirects=11", "from 0 to 10"},
		{"body_file=/nonexistent/body", "no such file"},
		{"expect_re=(", "missing closing )"},
		{"expect_header=:x", "write Name or Name:value"},
		{"header=Content-Length:5", "set by the probe itself"},
		{"header=Transfer-Encoding:chunked", "set by the probe itself"},
	} {
		specs, err := probe.ParseSpecs("T", "http://127.0.0.1:1/ "+tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := probe.New(specs[0]); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q) = %v, want an error with %q", tc.opts, err, tc.want)
		}
	}
}

// TestHTTPRedirectConnectionClosed: a redirect's own connection is closed
// when the request to send on it cannot be built (here a header= file
// that disappeared after the first answer), not left open.
func TestHTTPRedirectConnectionClosed(t *testing.T) {
	token := filepath.Join(t.TempDir(), "token")
	os.WriteFile(token, []byte("tok-123"), 0o600)
	ln := loopback.Listen(t)
	second := make(chan error, 1)
	var conns atomic.Int32
	loopback.Serve(t, ln, func(c net.Conn) {
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if conns.Add(1) > 1 { // the redirect's connection: does the probe close it?
				_, err := c.Read(make([]byte, 1))
				second <- err
				return
			}
			if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
				return
			}
			os.Remove(token)
			io.WriteString(c, "HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n")
		}()
	})
	r := attempt(t, target(t, "http://"+ln.Addr().String()+"/ redirects=1 header=X-Token:@"+token), 2*time.Second)
	checkResult(t, r, probe.Protocol, probe.Unexpected)
	checkText(t, r, token)
	if err := <-second; !errors.Is(err, io.EOF) {
		t.Errorf("the redirect's connection, read by the server: %v, want EOF: the probe left it open", err)
	}
}
