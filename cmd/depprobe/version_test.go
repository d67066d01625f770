package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestVersionOneSource: the version stamped by the build (-ldflags
// "-X main.version=…" sets this variable) is the one `version` prints, the
// one metrics' build info carries and the one every HTTP request's
// User-Agent names.
func TestVersionOneSource(t *testing.T) {
	defer func(v string) { version = v }(version)
	version = "v9.9.9"

	var (
		mu  sync.Mutex
		uas []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		uas = append(uas, r.UserAgent())
		mu.Unlock()
	}))
	defer srv.Close()

	if r := runWith(t, nil, "version"); r.stdout != "depprobe v9.9.9\n" {
		t.Errorf("depprobe version printed %q, want %q", r.stdout, "depprobe v9.9.9\n")
	}
	if r := runWith(t, fast(map[string]string{}), "check", "api="+srv.URL+"/"); r.code != exitReady {
		t.Fatalf("check = %d, want %d; stdout:\n%s", r.code, exitReady, r.stdout)
	}
	s := startServe(t, map[string]string{"DEPPROBE_INTERVAL": "100ms"}, "api="+srv.URL+"/")
	awaitGet(t, s.base+"/readyz", 200, "ok")
	_, metrics := fetch(t, s.base+"/metrics")
	if want := `version="v9.9.9"`; !strings.Contains(metrics, want) {
		t.Errorf("/metrics has no build info with %s", want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(uas) < 2 {
		t.Fatalf("the server saw %d requests, want check's and serve's", len(uas))
	}
	for _, ua := range uas {
		if ua != "depprobe/v9.9.9" {
			t.Errorf("User-Agent = %q, want %q", ua, "depprobe/v9.9.9")
		}
	}
}
