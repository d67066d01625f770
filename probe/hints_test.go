package probe_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depprobe/depprobe/probe"
)

// hintHas fails unless the hint names every want and none of not.
func hintHas(t *testing.T, r probe.Result, want []string, not ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(r.Hint, w) {
			t.Errorf("Hint = %q, want it to mention %q", r.Hint, w)
		}
	}
	for _, n := range not {
		if strings.Contains(r.Hint, n) {
			t.Errorf("Hint = %q, want it not to say %q", r.Hint, n)
		}
	}
}

// TestHintsPointTheRightWay: each hint names the likely cause of its own
// failure, not a neighbour's.
func TestHintsPointTheRightWay(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/login":
			w.WriteHeader(http.StatusUnauthorized)
		case "/private":
			w.WriteHeader(http.StatusForbidden)
		case "/broken":
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/missing?token=s3cret", []string{"nothing at /missing", "path"}},
		{"/login", []string{"wants credentials for /login", "user:password@"}},
		{"/private", []string{"forbids /private"}},
		{"/broken", []string{"its own error", "logs"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := attempt(t, target(t, srv.URL+tc.path), time.Second)
			checkResult(t, r, probe.Protocol, probe.Unexpected)
			hintHas(t, r, tc.want, "right port and scheme", "s3cret")
		})
	}
	t.Run("401 with credentials", func(t *testing.T) {
		r := attempt(t, target(t, strings.Replace(srv.URL, "http://", "http://app:hunter2@", 1)+"/login"), time.Second)
		checkResult(t, r, probe.Protocol, probe.AuthFailed)
		hintHas(t, r, []string{"rejected the credentials"}, "hunter2")
	})

	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer tlsSrv.Close()
	addr := strings.TrimPrefix(tlsSrv.URL, "https://")
	t.Run("self-signed, names match", func(t *testing.T) {
		// httptest's certificate is for 127.0.0.1 and signs itself.
		r := attempt(t, target(t, "tls://"+addr), time.Second)
		checkResult(t, r, probe.TLS, probe.CertInvalid)
		hintHas(t, r, []string{"self-signed", "set ca="}, "fix servername=")
	})
	t.Run("names do not match", func(t *testing.T) {
		r := attempt(t, target(t, "tls://"+addr+" servername=db.example"), time.Second)
		checkResult(t, r, probe.TLS, probe.CertInvalid)
		hintHas(t, r, []string{"names do not match", "servername="})
	})

	t.Run("IPv6 refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "[::1]:0")
		if err != nil {
			missing(t, "no IPv6 loopback (::1): %v", err)
		}
		a := ln.Addr().String()
		ln.Close()
		r := attempt(t, target(t, "tcp://"+a), time.Second)
		checkResult(t, r, probe.Connect, probe.Refused)
		hintHas(t, r, []string{"[::]", "::1"}, "0.0.0.0", "127.0.0.1")
	})

	t.Run("unix path is a regular file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "app.sock")
		if err := os.WriteFile(p, []byte("not a socket"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := attempt(t, target(t, "unix://"+p), time.Second)
		checkResult(t, r, probe.Connect, probe.Refused)
		hintHas(t, r, []string{"not a socket but a regular file"}, "nothing listens")
	})
}

// TestHintBurst: with hundreds of connects of its own under way, a connect
// timeout says that depprobe's own burst may be the cause, not only a
// firewall. The server's accept queue is full (backlog 1, never
// accepting), so the kernel drops every SYN.
func TestHintBurst(t *testing.T) {
	tg := target(t, "tcp://"+net.JoinHostPort("127.0.0.1", acceptNever(t, [4]byte{127, 0, 0, 1})))

	const n = 300
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []probe.Result
	)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	for range n {
		wg.Go(func() {
			r := tg.Probe(ctx)
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		})
	}
	wg.Wait()
	burst := 0
	for _, r := range results {
		if r.Outcome == probe.Timeout && strings.Contains(r.Hint, "connects under way") {
			burst++
		}
	}
	if burst == 0 {
		t.Errorf("none of %d timed-out connects names depprobe's own burst; a hint: %q", n, results[len(results)-1].Hint)
	}
}
