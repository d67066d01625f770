package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
)

// TestUnknownVariable: a DEPPROBE_ variable that depprobe does not read is
// a configuration error naming it and the closest one, never ignored (a
// wait went ready without the targets of DEPPROBE_TARGET_FILE); its value,
// which may hold a password, is not echoed.
func TestUnknownVariable(t *testing.T) {
	up := loopback.Up(t)
	path := filepath.Join(t.TempDir(), "targets")
	if err := os.WriteFile(path, []byte("db=tcp://"+loopback.Refused(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, variable, value, want string
	}{
		{"a typo of TARGETS_FILE", "DEPPROBE_TARGET_FILE", path, "DEPPROBE_TARGET_FILE: no such variable; did you mean DEPPROBE_TARGETS_FILE?"},
		{"a typo of TARGETS with a password", "DEPPROBE_TARGET", "db=postgres://app:s3cr3t-pw@db:5432", "DEPPROBE_TARGET: no such variable; did you mean DEPPROBE_TARGETS?"},
		{"a word left out", "DEPPROBE_BACKOFF", "1s", "DEPPROBE_BACKOFF: no such variable; did you mean DEPPROBE_BACKOFF_MAX?"},
		{"lower case is another name", "DEPPROBE_timeout", "1m", "DEPPROBE_timeout: no such variable; did you mean DEPPROBE_TIMEOUT?"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"DEPPROBE_TARGETS": "up=tcp://" + up, tc.variable: tc.value}
			res := runWith(t, env, "wait")
			if res.code != exitUsage || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit code %d, want %d with %q:\n%s", res.code, exitUsage, tc.want, res.stderr)
			}
			if strings.Contains(res.stderr, "s3cr3t") || strings.Contains(res.stderr, "waiting for") {
				t.Errorf("the value was echoed or the wait started:\n%s", res.stderr)
			}
		})
	}
	// Other prefixes are not depprobe's.
	res := runWith(t, map[string]string{"DEPPROBE": "x", "XDEPPROBE_TIMEOUT": "x", "DB_HOST": "db"}, "check", "tcp://"+up)
	if res.code != exitReady {
		t.Errorf("exit code %d with variables that are not DEPPROBE_*, want %d:\n%s", res.code, exitReady, res.stderr)
	}
}

// TestTargetsFileBounded: DEPPROBE_TARGETS_FILE must be a regular file of
// at most 1 MiB, or a symbolic link to one (a mounted Secret's files are
// links into ..data); anything else is a configuration error naming the
// variable and the file, at once (a FIFO hung the start, /dev/zero filled
// the memory).
func TestTargetsFileBounded(t *testing.T) {
	dir := t.TempDir()
	up := loopback.Up(t)
	// A Secret as the kubelet mounts it: targets -> ..data/targets.
	if err := os.MkdirAll(filepath.Join(dir, "..2026_11_30", ""), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "..2026_11_30", "targets"), []byte("api=tcp://"+up+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for old, link := range map[string]string{"..2026_11_30": "..data", "..data/targets": "targets"} {
		if err := os.Symlink(old, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	res := runWith(t, map[string]string{"DEPPROBE_TARGETS_FILE": filepath.Join(dir, "targets")}, "check")
	if res.code != exitReady || !strings.Contains(res.stdout, "✓ api") {
		t.Errorf("a Secret's symbolic link: exit code %d, want %d:\n%s%s", res.code, exitReady, res.stdout, res.stderr)
	}

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Release a reader that blocked on it (the code before the fix).
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	big := filepath.Join(dir, "big")
	line := "api=tcp://" + up + "\n"
	if err := os.WriteFile(big, []byte(strings.Repeat(line, (1<<20)/len(line)+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	atLimit := filepath.Join(dir, "at-limit")
	if err := os.WriteFile(atLimit, []byte(line+strings.Repeat("#", 1<<20-len(line))), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
		code             int
	}{
		{"a named pipe", fifo, `DEPPROBE_TARGETS_FILE="` + fifo + `": not a regular file (a named pipe)`, exitUsage},
		{"a character device", "/dev/zero", `DEPPROBE_TARGETS_FILE="/dev/zero": not a regular file (a character device)`, exitUsage},
		{"a directory", dir, `DEPPROBE_TARGETS_FILE="` + dir + `": not a regular file (a directory)`, exitUsage},
		{"more than 1 MiB", big, `DEPPROBE_TARGETS_FILE="` + big + `": more than 1048576 bytes (1 MiB)`, exitUsage},
		{"1 MiB exactly", atLimit, "", exitReady},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan result, 1)
			go func() { done <- runWith(t, map[string]string{"DEPPROBE_TARGETS_FILE": tc.path}, "check") }()
			var res result
			select {
			case res = <-done:
			case <-time.After(10 * time.Second): // a correctness bound: it hung
				t.Fatalf("check with DEPPROBE_TARGETS_FILE=%s has not returned after 10s", tc.path)
			}
			if res.code != tc.code || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit code %d, want %d with %q:\n%s%s", res.code, tc.code, tc.want, res.stdout, res.stderr)
			}
		})
	}
}

// TestDurationFloors: a duration below its floor is a configuration error
// (DEPPROBE_INTERVAL=1ns made 15,000 connections in 3 s); the floors
// themselves are accepted.
func TestDurationFloors(t *testing.T) {
	up := loopback.Up(t)
	res := runWith(t, map[string]string{
		"DEPPROBE_INTERVAL":        "1ns",
		"DEPPROBE_ATTEMPT_TIMEOUT": "9ms",
		"DEPPROBE_BACKOFF_INITIAL": "999us",
	}, "check", "a=tcp://"+up+" attempt_timeout=1ns", "b=tcp://"+up+" timeout=5ms")
	for _, want := range []string{
		`DEPPROBE_INTERVAL="1ns": must be at least 100ms`,
		`DEPPROBE_ATTEMPT_TIMEOUT="9ms": must be at least 10ms`,
		`DEPPROBE_BACKOFF_INITIAL="999µs": must be at least 1ms`,
		`option attempt_timeout="1ns": want a duration of at least 10ms`,
		`option timeout="5ms": want a duration of at least 10ms`,
	} {
		if res.code != exitUsage || !strings.Contains(res.stderr, want) {
			t.Errorf("exit code %d, want %d with %q:\n%s", res.code, exitUsage, want, res.stderr)
		}
	}
	res = runWith(t, map[string]string{
		"DEPPROBE_INTERVAL":        "100ms",
		"DEPPROBE_ATTEMPT_TIMEOUT": "10ms",
		"DEPPROBE_BACKOFF_INITIAL": "1ms",
	}, "check", "tcp://"+up+" attempt_timeout=10ms timeout=10ms")
	if res.code != exitReady {
		t.Errorf("the floors themselves: exit code %d, want %d:\n%s%s", res.code, exitReady, res.stdout, res.stderr)
	}
}
