package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/depprobe/depprobe/internal/loopback"
)

// helperEnv makes the test binary run depprobe itself (see
// TestHelperDepprobe), so that `wait -- COMMAND` really execs.
const helperEnv = "DEPPROBE_TEST_AS_DEPPROBE"

// TestHelperDepprobe is not a test: run as a child with helperEnv set, it
// is depprobe, with the real execve, and exits with its code.
func TestHelperDepprobe(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return
	}
	args := os.Args[slices.Index(os.Args, "--")+1:]
	environ := env.ToMap(os.Environ())
	delete(environ, helperEnv)
	err := run(context.Background(), args, environ, os.Stdout, os.Stderr)
	os.Exit(exitCode(err))
}

// depprobeChild runs the test binary as depprobe with args, as uid when
// uid is not 0 (the binary is copied where that user can run it).
func depprobeChild(t *testing.T, dir string, uid int, environ []string, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "depprobe.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"-test.run=^TestHelperDepprobe$", "--"}, args...)...)
	cmd.Env = append(environ, helperEnv+"=1", "DEPPROBE_TERMINATION_LOG=")
	if uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	return cmd
}

// exitOf runs cmd (at most 30 s) and returns its exit code and stderr.
func exitOf(t *testing.T, cmd *exec.Cmd) (int, string) {
	t.Helper()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), stderr.String()
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s still runs after 30s; stderr:\n%s", cmd, stderr.String())
	}
	return -1, ""
}

// TestWaitCommandCannotRun: a command after `wait --` that cannot be run is
// found out before waiting when it can be (a configuration error, exit 2,
// naming why), and otherwise says why it failed in an ERROR line and exits
// 126 (cannot execute) or 127 (gone), as shells do; never exit 1 in silence.
func TestWaitCommandCannotRun(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // another user runs files in it below
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	up := "tcp://" + loopback.Up(t)
	// In this process a real exec would replace the test binary: the cases
	// run here must end before it.
	execve = func(path string, _, _ []string) error {
		t.Errorf("exec(%q) reached; want a configuration error before waiting", path)
		return syscall.EPERM
	}
	t.Cleanup(func() { execve = defaultExecve })

	t.Run("bad interpreter, before waiting", func(t *testing.T) {
		script := write("bad-interp", "#!/nonexistent/bin/interp -x\necho hi\n", 0o755)
		res := runWith(t, nil, "wait", up, "--", script)
		if res.code != exitUsage || !strings.Contains(res.stderr, `its #! interpreter "/nonexistent/bin/interp": no such file or directory`) {
			t.Errorf("exit code %d, stderr:\n%s\nwant %d naming the interpreter", res.code, res.stderr, exitUsage)
		}
	})
	t.Run("no execute bit, before waiting", func(t *testing.T) {
		res := runWith(t, nil, "wait", up, "--", write("plain", "#!/bin/sh\n", 0o644))
		if res.code != exitUsage || !strings.Contains(res.stderr, "not executable by this user") {
			t.Errorf("exit code %d, stderr:\n%s\nwant %d saying it is not executable", res.code, res.stderr, exitUsage)
		}
	})
	t.Run("no execute bit for this user, before waiting", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Log("not root: the file's owner is this user, covered by the case above")
			return
		}
		// Executable by its owner (root) only; depprobe runs as nobody.
		script := write("root-only", "#!/bin/sh\n", 0o744)
		code, stderr := exitOf(t, depprobeChild(t, dir, 65534, nil, "wait", up, "--", script))
		if code != exitUsage || !strings.Contains(stderr, "not executable by this user") {
			t.Errorf("exit code %d, stderr:\n%s\nwant %d saying it is not executable", code, stderr, exitUsage)
		}
	})
	t.Run("not a program, at exec", func(t *testing.T) {
		junk := write("junk", "\x00\x01\x02 not a program\n", 0o755)
		code, stderr := exitOf(t, depprobeChild(t, dir, 0, nil, "wait", up, "--", junk))
		if code != exitCannotExecute || !strings.Contains(stderr, `"msg":"cannot run the command"`) || !strings.Contains(stderr, "exec format error") {
			t.Errorf("exit code %d, stderr:\n%s\nwant %d and an ERROR line with the cause", code, stderr, exitCannotExecute)
		}
	})
	t.Run("gone while waiting", func(t *testing.T) {
		app := write("app", "#!/bin/sh\n", 0o755)
		flag := filepath.Join(dir, "go")
		cmd := depprobeChild(t, dir, 0, nil, "wait", "file://"+flag, "--", app)
		stderr := &lockedBuffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		// Once depprobe waits (its first line), the command goes and the
		// target comes.
		deadline := time.Now().Add(10 * time.Second)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for !strings.Contains(stderr.String(), "waiting for dependencies") && time.Now().Before(deadline) {
			<-tick.C
		}
		os.Remove(app)
		write("go", "", 0o644)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if code := cmd.ProcessState.ExitCode(); code != exitCommandNotFound || !strings.Contains(stderr.String(), `"msg":"cannot run the command"`) {
			t.Errorf("exit code %d, stderr:\n%s\nwant %d and an ERROR line", code, stderr.String(), exitCommandNotFound)
		}
	})
}
