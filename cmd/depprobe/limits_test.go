package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
)

// TestTargetLimits: a target's own timeout= ends the wait before
// DEPPROBE_TIMEOUT and says so; attempt_timeout= bounds its attempts
// instead of DEPPROBE_ATTEMPT_TIMEOUT; bad values are configuration errors.
func TestTargetLimits(t *testing.T) {
	down := loopback.Refused(t)
	start := time.Now()
	res := runWith(t, map[string]string{"DEPPROBE_TIMEOUT": "2m"}, "wait", "db=tcp://"+down, "timeout=300ms")
	if res.code != exitNotReady || !strings.Contains(res.stderr, "timeout=300ms") || time.Since(start) > time.Minute {
		t.Errorf("wait with timeout=300ms: exit code %d after %s, stderr:\n%s", res.code, time.Since(start), res.stderr)
	}

	// A peer that accepts and never answers: the protocol step waits for
	// the attempt's limit, attempt_timeout= rather than the 30 s default.
	res = runWith(t, map[string]string{"DEPPROBE_ATTEMPT_TIMEOUT": "30s"}, "check", "silent=redis://"+loopback.Silent(t), "attempt_timeout=150ms")
	if res.code != exitNotReady || !strings.Contains(res.stdout, "got no answer within 150ms") {
		t.Errorf("check with attempt_timeout=150ms: exit code %d, stdout:\n%s", res.code, res.stdout)
	}

	for _, bad := range []string{"timeout=5", "attempt_timeout=-1s", "until=up", "timeout=0s"} {
		res := runWith(t, nil, "check", "tcp://"+down, bad)
		name, _, _ := strings.Cut(bad, "=")
		if res.code != exitUsage || !strings.Contains(res.stderr, "option "+name+"=") {
			t.Errorf("check %s: exit code %d, stderr:\n%s", bad, res.code, res.stderr)
		}
	}
}

// TestUntilDown: until=down waits until nothing answers: a port that is
// refused, a socket file not there, a file:// path absent. A port that
// accepts is not ready, and wait gives up on it as on any other.
func TestUntilDown(t *testing.T) {
	up, down := loopback.Up(t), loopback.Refused(t)
	dir := t.TempDir()
	lock := filepath.Join(dir, "lock")
	os.WriteFile(lock, nil, 0o600)

	res := runWith(t, nil, "check", "old=tcp://"+down, "until=down", "sock=unix://"+filepath.Join(dir, "none.sock"), "until=down", "gone=file://"+filepath.Join(dir, "absent"), "until=down")
	if res.code != exitReady || strings.Count(res.stdout, "down, as until=down wants") != 3 || !strings.Contains(res.stdout, "✗ connect") {
		t.Errorf("check until=down of three absent things: exit code %d, stdout:\n%s", res.code, res.stdout)
	}
	res = runWith(t, fast(map[string]string{}), "wait", "port=tcp://"+up, "until=down", "lock=file://"+lock, "until=down")
	if res.code != exitNotReady || !strings.Contains(res.stderr, "still accepts connections") || !strings.Contains(res.stderr, "still exists") {
		t.Errorf("wait until=down of a listening port and a present file: exit code %d, stderr:\n%s", res.code, res.stderr)
	}
	res = runWith(t, map[string]string{"DEPPROBE_TIMEOUT": "1m"}, "wait", "port=tcp://"+down, "until=down")
	if res.code != exitReady {
		t.Errorf("wait until=down of a refused port: exit code %d, stderr:\n%s", res.code, res.stderr)
	}
}

// TestExpectationsGolden: three answers that are not yet what the options
// want (a JSON value, a substring of the body, a response header), as
// wait's termination message says them (the README quotes them).
func TestExpectationsGolden(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/_cluster/health":
			io.WriteString(w, `{"cluster_name":"logs","status":"red","unassigned_shards":4}`)
		case "/actuator/health":
			io.WriteString(w, `{"status":"OUT_OF_SERVICE","components":{"db":{"status":"DOWN"}}}`)
		default:
			w.Header().Set("X-Migrations", "pending")
			io.WriteString(w, "ok")
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	term := filepath.Join(t.TempDir(), "termination-log")
	env := map[string]string{"DEPPROBE_TIMEOUT": "1s", "DEPPROBE_TERMINATION_LOG": term}
	res := runWith(t, env, "wait",
		"search=http://"+host+"/_cluster/health", "json=.status=green|yellow",
		"orders=http://"+host+"/actuator/health", `expect=%22status%22:%22UP%22`,
		"api=http://"+host+"/", "expect_header=X-Migrations:done",
	)
	if res.code != exitNotReady {
		t.Errorf("exit code %d, want %d", res.code, exitNotReady)
	}
	msg, err := os.ReadFile(term)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "expectations.golden", string(msg))
}
