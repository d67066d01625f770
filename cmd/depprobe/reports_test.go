package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
)

// gaveUpLine is the gave-up log line of target name.
func gaveUpLine(t *testing.T, stderr, name string) map[string]any {
	t.Helper()
	for _, l := range logLines(t, stderr) {
		if l["msg"] == "gave up" && l["target"] == name {
			return l
		}
	}
	t.Fatalf("no gave-up line for %s:\n%s", name, stderr)
	return nil
}

// TestWaitReportsFirstAttemptCutShort: a target still in its first attempt
// when another target's fatal outcome ends the wait is reported as not yet
// checked, with the real time spent, a hint and why the wait ended (it was
// "canceled" with an elapsed of 2562047h47m16.85s, an empty hint, and
// "h ( )" in the termination message).
func TestWaitReportsFirstAttemptCutShort(t *testing.T) {
	term := filepath.Join(t.TempDir(), "termination-log")
	env := map[string]string{"DEPPROBE_TIMEOUT": "1m", "DEPPROBE_TERMINATION_LOG": term}
	res := runWith(t, env, "wait", "c=https://"+tlsServer(t), "h=http://"+loopback.Silent(t)+"/")
	if res.code != exitNotReady {
		t.Fatalf("exit code = %d, want 1; stderr:\n%s", res.code, res.stderr)
	}
	l := gaveUpLine(t, res.stderr, "h")
	elapsed, err := time.ParseDuration(str(l["elapsed"]))
	if err != nil || elapsed > 10*time.Second {
		t.Errorf("elapsed = %v (%v), want the short time the wait took", l["elapsed"], err)
	}
	if l["outcome"] != "canceled" || !strings.HasPrefix(str(l["err"]), "not yet checked: the attempt was cut short after ") || str(l["hint"]) == "" ||
		!strings.Contains(str(l["reason"]), "cert_invalid") {
		t.Errorf("gave-up line of h = %v; want not yet checked, with a hint and the reason", l)
	}
	msg, err := os.ReadFile(term)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg), "h (not yet checked)") || strings.Contains(string(msg), "( )") {
		t.Errorf("termination message does not say h was not yet checked:\n%s", msg)
	}
}

// slowLog is a log pipe that a reader drains slowly: each ERROR line
// takes pause to write, as when stderr is a full pipe.
type slowLog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	pause time.Duration
}

func (w *slowLog) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"level":"ERROR"`)) {
		time.Sleep(w.pause)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// TestWaitElapsedFromStart: every line's elapsed counts from the start of
// the wait, so the gave-up lines and the termination message say the same
// time (the first result of a target that times out said "0s", and its
// gave-up line one attempt timeout less than the termination message; then
// each gave-up line read the clock anew, after the lines before it and the
// analysis, which may ask the API for 2 s: a slow log made them differ).
func TestWaitElapsedFromStart(t *testing.T) {
	term := filepath.Join(t.TempDir(), "termination-log")
	env := map[string]string{"DEPPROBE_ATTEMPT_TIMEOUT": "200ms", "DEPPROBE_MAX_TIMEOUTS": "2", "DEPPROBE_TERMINATION_LOG": term}
	stderr := &slowLog{pause: 100 * time.Millisecond}
	err := run(t.Context(), []string{"wait", "h=http://" + loopback.Silent(t) + "/", "g=http://" + loopback.Silent(t) + "/"}, env, io.Discard, stderr)
	if code := exitCode(err); code != exitNotReady {
		t.Fatalf("exit code = %d, want 1; stderr:\n%s", code, stderr.buf.String())
	}
	var first map[string]any
	for _, l := range logLines(t, stderr.buf.String()) {
		if l["msg"] == "not ready" {
			first = l
			break
		}
	}
	if d, err := time.ParseDuration(str(first["elapsed"])); err != nil || d < 200*time.Millisecond {
		t.Errorf("first not-ready line's elapsed = %v, want at least the attempt's 200ms", first["elapsed"])
	}
	msg, _ := os.ReadFile(term)
	m := regexp.MustCompile(`gave up after (\S+) \(`).FindStringSubmatch(string(msg))
	if m == nil {
		t.Fatalf("termination message without its time:\n%s", msg)
	}
	said, _ := time.ParseDuration(m[1])
	if said < 400*time.Millisecond {
		t.Errorf("termination message's elapsed %s, want at least 2 × 200ms", said)
	}
	for _, name := range []string{"h", "g"} {
		l := gaveUpLine(t, stderr.buf.String(), name)
		if logged, _ := time.ParseDuration(str(l["elapsed"])); logged != said {
			t.Errorf("gave-up line of %s says elapsed %s, the termination message %s: want the same moment", name, logged, said)
		}
		if !strings.Contains(str(l["reason"]), "2 attempts in a row (DEPPROBE_MAX_TIMEOUTS=2)") {
			t.Errorf("reason = %q, want the count and the variable", l["reason"])
		}
	}
}
