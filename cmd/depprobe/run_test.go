package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// result is what one run of the program did.
type result struct {
	err            error
	code           int
	stdout, stderr string
}

// runWith runs the program as main would, with env as its whole
// environment.
func runWith(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return runCtx(t, t.Context(), env, args...)
}

func runCtx(t *testing.T, ctx context.Context, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["DEPPROBE_TERMINATION_LOG"]; !ok {
		env["DEPPROBE_TERMINATION_LOG"] = filepath.Join(t.TempDir(), "termination-log")
	}
	err := run(ctx, args, env, &stdout, &stderr)
	return result{err, exitCode(err), stdout.String(), stderr.String()}
}

// fast keeps wait's give-up quick in tests.
func fast(env map[string]string) map[string]string {
	env["DEPPROBE_TIMEOUT"] = "300ms"
	env["DEPPROBE_ATTEMPT_TIMEOUT"] = "200ms"
	return env
}

// TestExitCodes reaches every exit code through run.
func TestExitCodes(t *testing.T) {
	up, down := loopback.Up(t), loopback.Refused(t)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want int
	}{
		{"help", nil, []string{"help"}, exitReady},
		{"version", nil, []string{"version"}, exitReady},
		{"check ready", nil, []string{"check", "tcp://" + up}, exitReady},
		{"wait ready", nil, []string{"wait", "tcp://" + up}, exitReady},
		{"targets from the variable", map[string]string{"DEPPROBE_TARGETS": "up=tcp://" + up}, []string{"check"}, exitReady},
		{"check not ready", nil, []string{"check", "tcp://" + up, "tcp://" + down}, exitNotReady},
		{"wait gives up", fast(map[string]string{}), []string{"wait", "tcp://" + down}, exitNotReady},
		{"no command", nil, nil, exitUsage},
		{"unknown command", nil, []string{"probe"}, exitUsage},
		{"no targets", nil, []string{"check"}, exitUsage},
		{"bad target", nil, []string{"check", "db:5432"}, exitUsage},
		{"bad variable", map[string]string{"DEPPROBE_TIMEOUT": "30"}, []string{"wait", "tcp://" + up}, exitUsage},
		{"command after check", nil, []string{"check", "tcp://" + up, "--", "true"}, exitUsage},
		{"nothing after --", nil, []string{"wait", "tcp://" + up, "--"}, exitUsage},
		{"command not found", map[string]string{"PATH": t.TempDir()}, []string{"wait", "tcp://" + up, "--", "no-such-command"}, exitUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runWith(t, tc.env, tc.args...)
			if res.code != tc.want {
				t.Errorf("exit code = %d, want %d\nstdout: %s\nstderr: %s", res.code, tc.want, res.stdout, res.stderr)
			}
		})
	}
}

func TestConfigErrorsAllReported(t *testing.T) {
	env := map[string]string{
		"DEPPROBE_TIMEOUT":            "5",
		"DEPPROBE_ATTEMPT_TIMEOUT":    "-1s",
		"DEPPROBE_MAX_TIMEOUTS":       "three",
		"DEPPROBE_BACKOFF_MULTIPLIER": "0.5",
		"DEPPROBE_BACKOFF_JITTER":     "x",
		"DEPPROBE_BACKOFF_LATE":       "50ms",
		"DEPPROBE_LOG_FORMAT":         "yaml",
		"DEPPROBE_LOG_LEVEL":          "verbose",
		"DEPPROBE_LISTEN":             "3377",
		"DEPPROBE_TARGETS":            "db=tcp://db, cache=foo://cache:1",
		"DEPPROBE_TARGETS_FILE":       "/nonexistent/targets",
	}
	res := runWith(t, env, "wait", "https://api status=abc")
	if res.code != exitUsage {
		t.Fatalf("exit code = %d, want %d", res.code, exitUsage)
	}
	for _, want := range []string{
		`DEPPROBE_TIMEOUT="5": not a duration`,
		`DEPPROBE_ATTEMPT_TIMEOUT="-1s": must be at least 10ms`,
		`DEPPROBE_MAX_TIMEOUTS="three": not a whole number`,
		`DEPPROBE_BACKOFF_MULTIPLIER="0.5": must be at least 1`,
		`DEPPROBE_BACKOFF_JITTER="x": not a number`,
		`DEPPROBE_BACKOFF_LATE="50ms": must be at least DEPPROBE_BACKOFF_MAX (100ms)`,
		`DEPPROBE_LOG_FORMAT="yaml": want json or text`,
		`DEPPROBE_LOG_LEVEL="verbose": want debug, info, warn or error`,
		`DEPPROBE_LISTEN="3377": want host:port or :port`,
		`DEPPROBE_TARGETS, target 1: "tcp://db": needs a port`,
		`DEPPROBE_TARGETS, target 2: "foo://cache:1": unknown scheme "foo"`,
		`DEPPROBE_TARGETS_FILE="/nonexistent/targets": no such file or directory`,
		`arguments, target 1: option status="abc"`,
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if strings.Contains(res.stderr, "waiting") {
		t.Error("a configuration error must not start waiting")
	}
}

func TestTargetsFile(t *testing.T) {
	up := loopback.Up(t)
	path := filepath.Join(t.TempDir(), "targets")
	os.WriteFile(path, []byte("# from a Secret\napi=tcp://"+up+"\n"), 0o600)
	res := runWith(t, map[string]string{"DEPPROBE_TARGETS_FILE": path}, "check")
	if res.code != exitReady || !strings.Contains(res.stdout, "✓ api") {
		t.Errorf("check with DEPPROBE_TARGETS_FILE: code %d, stdout:\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// logLines decodes the JSON log.
func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(s) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestWaitLogs(t *testing.T) {
	up, down := loopback.Up(t), loopback.Refused(t)
	term := filepath.Join(t.TempDir(), "termination-log")
	env := fast(map[string]string{"DEPPROBE_TERMINATION_LOG": term})
	res := runWith(t, env, "wait", "up=tcp://"+up, "down=tcp://"+down)
	if res.code != exitNotReady {
		t.Fatalf("exit code = %d, want 1; stderr:\n%s", res.code, res.stderr)
	}
	lines := logLines(t, res.stderr)
	var msgs []string
	for _, l := range lines {
		msgs = append(msgs, l["level"].(string)+" "+l["msg"].(string)+" "+str(l["target"]))
	}
	slices.Sort(msgs[1:3]) // the two first results come in either order
	want := []string{"INFO waiting for dependencies ", "INFO ready up", "WARN not ready down", "ERROR gave up down"}
	if !slices.Equal(msgs, want) {
		t.Errorf("log lines = %q, want %q", msgs, want)
	}
	first, last := lines[0], lines[len(lines)-1]
	if !strings.Contains(str(first["targets"]), "down=tcp://"+down) || first["timeout"] == nil || first["max_timeouts"] == nil {
		t.Errorf("first line %v does not say what is probed with which limits", first)
	}
	if last["outcome"] != "refused" || last["step"] != "connect" || last["reason"] != "DEPPROBE_TIMEOUT=300ms reached" || str(last["hint"]) == "" {
		t.Errorf("give-up line = %v", last)
	}
	msg, err := os.ReadFile(term)
	if err != nil {
		t.Fatalf("termination log: %v", err)
	}
	text := strings.TrimSpace(string(msg))
	keyLine := text[strings.LastIndexByte(text, '\n')+1:]
	if !strings.HasPrefix(keyLine, "depprobe gave up after ") || !strings.Contains(keyLine, "not ready: down (connect refused)") {
		t.Errorf("termination message's last line = %q, want the key sentence", keyLine)
	}
	if !strings.Contains(text, "hint: nothing listens on "+down) {
		t.Errorf("termination message lacks the hint:\n%s", text)
	}
}

func str(v any) string { s, _ := v.(string); return s }

func TestWaitFatalEndsWaitForAll(t *testing.T) {
	// A TLS target whose certificate cannot verify: give up at once, not
	// after DEPPROBE_TIMEOUT, although the other target might come up.
	tlsUp := tlsServer(t)
	env := map[string]string{"DEPPROBE_TIMEOUT": "1m"}
	res := runWith(t, env, "wait", "api=https://"+tlsUp, "down=tcp://"+loopback.Refused(t))
	if res.code != exitNotReady {
		t.Fatalf("exit code = %d, want 1", res.code)
	}
	var gaveUp []string
	for _, l := range logLines(t, res.stderr) {
		if l["msg"] == "gave up" {
			gaveUp = append(gaveUp, str(l["target"])+" "+str(l["outcome"])+" "+str(l["reason"]))
		}
	}
	slices.Sort(gaveUp)
	// down's first attempt (a refused connect) usually ends before api's
	// TLS handshake; when it does not, down is "not yet checked" (canceled).
	want := []string{"api cert_invalid waiting cannot fix it: cert_invalid", "down refused waiting cannot fix it: cert_invalid"}
	if len(gaveUp) == 2 && gaveUp[1] == "down canceled waiting cannot fix it: cert_invalid" {
		want[1] = gaveUp[1]
	}
	if !slices.Equal(gaveUp, want) {
		t.Errorf("gave up lines = %q, want %q", gaveUp, want)
	}
}

func TestWaitSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	res := runCtx(t, ctx, map[string]string{}, "wait", "tcp://"+loopback.Refused(t))
	if res.code != exitNotReady || !strings.Contains(res.stderr, `"reason":"interrupted by a signal"`) {
		t.Errorf("exit code %d, stderr:\n%s", res.code, res.stderr)
	}
}

func TestWaitExecsCommand(t *testing.T) {
	bin := t.TempDir()
	tool := filepath.Join(bin, "app")
	os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o755)
	var gotPath string
	var gotArgs, gotEnv []string
	execve = func(path string, args, env []string) error {
		gotPath, gotArgs, gotEnv = path, args, env
		return nil
	}
	t.Cleanup(func() { execve = defaultExecve })
	env := map[string]string{"PATH": bin, "APP_MODE": "prod"}
	res := runWith(t, env, "wait", "tcp://"+loopback.Up(t), "--", "app", "--port", "8080")
	if res.code != exitReady {
		t.Fatalf("exit code = %d; stderr:\n%s", res.code, res.stderr)
	}
	if gotPath != tool || !slices.Equal(gotArgs, []string{"app", "--port", "8080"}) || !slices.Contains(gotEnv, "APP_MODE=prod") {
		t.Errorf("exec(%q, %q, %q), want %q with its args and the environment", gotPath, gotArgs, gotEnv, tool)
	}
}

// normalize hides what changes from run to run: times, durations, ports,
// attempt counts, and the padding that tabwriter derives from them.
func normalize(s string) string {
	s = regexp.MustCompile(`"time":"[^"]*"`).ReplaceAllString(s, `"time":"T"`)
	s = regexp.MustCompile(`"(since|last_success)": "[^"]*"`).ReplaceAllString(s, `"$1": "T"`)
	s = regexp.MustCompile(`(?m)^(Date|Content-Length): .*$`).ReplaceAllString(s, `$1: X`)
	s = regexp.MustCompile(`"attempt":\d+`).ReplaceAllString(s, `"attempt":N`)
	s = regexp.MustCompile(`"(attempts|consecutive_failures)": \d+`).ReplaceAllString(s, `"$1": N`)
	s = regexp.MustCompile(`"duration_ms": [0-9.e+-]+`).ReplaceAllString(s, `"duration_ms": D`)
	s = regexp.MustCompile(`(?m)^(depprobe_\w+_total\{[^}]*\}) \d+$`).ReplaceAllString(s, `$1 N`)
	s = regexp.MustCompile(`goversion="[^"]*"`).ReplaceAllString(s, `goversion="V"`)
	s = regexp.MustCompile(`\d+(\.\d+)?(ns|µs|ms|s)\b`).ReplaceAllString(s, "D")
	s = regexp.MustCompile(`(127\.0\.0\.1|localhost):\d+`).ReplaceAllString(s, "$1:PORT")
	s = regexp.MustCompile(`-\d{4,5}\b`).ReplaceAllString(s, "-PORT")
	s = regexp.MustCompile(`port \d+`).ReplaceAllString(s, "port PORT")
	s = regexp.MustCompile(`[ \t]+`).ReplaceAllString(s, " ")
	return s
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if normalize(got) != normalize(string(want)) {
		t.Errorf("output differs from %s (go test ./cmd/depprobe -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestHelpGolden(t *testing.T) {
	res := runWith(t, nil, "help")
	golden(t, "help.golden", res.stdout)
	for _, f := range reflectEnvNames() {
		if !strings.Contains(res.stdout, f) {
			t.Errorf("help lacks %s", f)
		}
	}
}

func TestCheckGolden(t *testing.T) {
	args := []string{"check", "db=tcp://" + loopback.Up(t), "cache=tcp://" + loopback.Refused(t)}
	res := runWith(t, nil, args...)
	golden(t, "check.golden", commandLine(nil, args)+res.stdout)
}

// tlsServer is a TLS listener with a self-signed certificate nobody trusts.
func tlsServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// TestWaitGolden: the log a person sees while a dependency starts late.
func TestWaitGolden(t *testing.T) {
	addr := loopback.Refused(t)
	ln := make(chan net.Listener, 1)
	timer := time.AfterFunc(300*time.Millisecond, func() {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen on %s: %v", addr, err)
		}
		ln <- l
	})
	defer timer.Stop()
	res := runWith(t, nil, "wait", "db=tcp://"+addr)
	if l := <-ln; l != nil {
		l.Close()
	}
	if res.code != exitReady {
		t.Fatalf("exit code %d, stderr:\n%s", res.code, res.stderr)
	}
	golden(t, "wait-late.golden", res.stderr)

	term := filepath.Join(t.TempDir(), "termination-log")
	res = runWith(t, map[string]string{"DEPPROBE_TIMEOUT": "1s", "DEPPROBE_TERMINATION_LOG": term}, "wait", "cache=tcp://"+loopback.Refused(t))
	golden(t, "wait-gave-up.golden", res.stderr)
	msg, err := os.ReadFile(term)
	if err != nil {
		t.Fatalf("no termination message: %v", err)
	}
	golden(t, "termination.golden", string(msg))
}

func TestConfigErrorGolden(t *testing.T) {
	env := map[string]string{"DEPPROBE_TIMEOUT": "30", "DEPPROBE_LOG_LEVEL": "verbose"}
	args := []string{"wait", "db=tcp://db"}
	shown := commandLine(env, args) // before run adds its termination log
	res := runWith(t, env, args...)
	if res.code != exitUsage {
		t.Fatalf("exit code = %d, want %d", res.code, exitUsage)
	}
	golden(t, "config-error.golden", shown+res.stderr)
}

func TestTerminationMessageLimit(t *testing.T) {
	var targets []string
	for i := range 60 {
		targets = append(targets, fmt.Sprintf("a-rather-long-target-name-number-%02d=tcp://%s", i, loopback.Refused(t)))
	}
	term := filepath.Join(t.TempDir(), "termination-log")
	res := runWith(t, map[string]string{"DEPPROBE_TIMEOUT": "100ms", "DEPPROBE_TERMINATION_LOG": term}, append([]string{"wait"}, targets...)...)
	msg, err := os.ReadFile(term)
	if err != nil || res.code != exitNotReady {
		t.Fatalf("exit code %d, termination log: %v", res.code, err)
	}
	if len(msg) > 4096 {
		t.Errorf("termination message is %d bytes, want at most 4096", len(msg))
	}
	if !strings.Contains(string(msg), "depprobe gave up after") || !strings.HasSuffix(string(msg), "number-07 (connect refused), and 52 more\n") {
		t.Errorf("termination message does not end with the key sentence:\n%s", msg)
	}
}

func TestTerminationLogMissingDirectory(t *testing.T) {
	env := map[string]string{"DEPPROBE_TIMEOUT": "100ms", "DEPPROBE_TERMINATION_LOG": filepath.Join(t.TempDir(), "no", "such", "dir")}
	res := runWith(t, env, "wait", "tcp://"+loopback.Refused(t))
	if res.code != exitNotReady || strings.Contains(res.stderr, "termination message") {
		t.Errorf("exit code %d; a missing directory must not be reported:\n%s", res.code, res.stderr)
	}
}

// TestOptionalTargets: an optional target is probed and shown, but neither
// wait nor check's exit code waits for it.
func TestOptionalTargets(t *testing.T) {
	up, down := loopback.Up(t), loopback.Refused(t)
	res := runWith(t, map[string]string{"DEPPROBE_TIMEOUT": "1m"}, "wait", "db=tcp://"+up, "metrics=tcp://"+down, "optional=true")
	if res.code != exitReady || !strings.Contains(res.stderr, `"target":"metrics"`) {
		t.Errorf("wait with an optional target down: exit code %d, stderr:\n%s", res.code, res.stderr)
	}
	res = runWith(t, nil, "check", "db=tcp://"+up, "metrics=tcp://"+down, "optional=true")
	if res.code != exitReady || !strings.Contains(res.stdout, "✗ metrics (optional)") || !strings.Contains(res.stdout, "ready: 1 required target; optional, not ready: metrics") {
		t.Errorf("check with an optional target down: exit code %d, stdout:\n%s", res.code, res.stdout)
	}
}

// TestQuickStartGolden: the README's first command, against the machine's
// PostgreSQL (which CI starts).
func TestQuickStartGolden(t *testing.T) {
	conn, err := net.DialTimeout("tcp", "127.0.0.1:5432", time.Second)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no PostgreSQL on 127.0.0.1:5432 under CI: %v", err)
		}
		t.Skipf("no PostgreSQL on 127.0.0.1:5432: %v", err)
	}
	conn.Close()
	res := runWith(t, nil, "check", "db=postgres://127.0.0.1:5432")
	if res.code != exitReady {
		t.Fatalf("exit code %d:\n%s", res.code, res.stdout)
	}
	golden(t, "quickstart.golden", res.stdout)
}
