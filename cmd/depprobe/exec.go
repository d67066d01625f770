package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
)

// execve replaces the process with the command after `wait --`; tests
// replace it.
var execve = defaultExecve

func defaultExecve(path string, argv, env []string) error { return syscall.Exec(path, argv, env) }

// lookPath finds a command in the PATH of env (not of this process, so
// tests stay hermetic).
func lookPath(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		return name, executable(name)
	}
	for dir := range strings.SplitSeq(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + name
		if runnable(p) == nil { // the first a shell would run
			return p, executable(p)
		}
	}
	return "", exec.ErrNotFound
}

// executable checks what can be checked before waiting, so that a command
// that cannot run is a configuration error now rather than a failure after
// the wait: a regular file that this user may execute (access(2), which
// knows the user and the mount), and, for a script, a #! interpreter that
// exists and may be executed.
func executable(p string) error {
	if err := runnable(p); err != nil {
		return err
	}
	interp, ok := interpreter(p)
	if !ok {
		return nil
	}
	if err := runnable(interp); err != nil {
		return fmt.Errorf("its #! interpreter %q: %v", interp, err)
	}
	return nil
}

// runnable reports why this process may not execute the file p.
func runnable(p string) error {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return errors.Unwrap(err)
	case !fi.Mode().IsRegular():
		return errors.New("not an executable file")
	case syscall.Access(p, 1 /* X_OK */) != nil:
		return errors.New("not executable by this user (no execute permission, or a noexec mount)")
	}
	return nil
}

// interpreter reads a script's "#!" line and returns the interpreter it
// names; ok is false when p does not start with "#!" or cannot be read
// (executing a binary needs no read permission).
func interpreter(p string) (path string, ok bool) {
	f, err := os.Open(p)
	if err != nil {
		return "", false
	}
	defer f.Close()
	var buf [256]byte // Linux reads at most 256 bytes of a #! line (BINPRM_BUF_SIZE)
	n, _ := io.ReadFull(f, buf[:])
	line, found := strings.CutPrefix(string(buf[:n]), "#!")
	if !found {
		return "", false
	}
	line, _, _ = strings.Cut(line, "\n")
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return "", false
	}
	return fields[0], true
}

// environ is env as the KEY=VALUE list exec wants, sorted.
func environ(env map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}
