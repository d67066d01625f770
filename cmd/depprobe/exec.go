package main

import (
	"errors"
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
		if err := executable(name); err != nil {
			return "", err
		}
		return name, nil
	}
	for dir := range strings.SplitSeq(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + name
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

func executable(p string) error {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return errors.Unwrap(err)
	case fi.IsDir() || fi.Mode()&0o111 == 0:
		return errors.New("not an executable file")
	}
	return nil
}

// environ is env as the KEY=VALUE list exec wants, sorted.
func environ(env map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}
