package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strings"
)

// Exit codes. The README's table mirrors this block.
const (
	// exitReady: every target is ready (wait, check); help and version.
	exitReady = 0
	// exitNotReady: check found a target not ready, or wait gave up
	// (deadline, too many timeouts, a fatal outcome, a signal).
	exitNotReady = 1
	// exitUsage: the configuration or the command line is invalid. Docker
	// reserves 2 for healthchecks, so check never uses it for a dependency.
	// A command after -- that is not found or cannot be executed as far as
	// can be told before waiting is one of these.
	exitUsage = 2
	// exitCannotExecute: every target was ready, but the command after --
	// could not be executed (permission denied, not a program), as a shell
	// says 126.
	exitCannotExecute = 126
	// exitCommandNotFound: every target was ready, but the command after --
	// was not there any more, as a shell says 127.
	exitCommandNotFound = 127
)

// usageError is an invalid configuration or command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// execError is a command after `wait --` that could not be executed once
// every target was ready.
type execError struct {
	path     string
	err      error
	notFound bool // the file itself is gone (a missing #! interpreter is 126, as bash says)
}

func (e execError) Error() string { return fmt.Sprintf("cannot execute %q: %v", e.path, e.err) }
func (e execError) Unwrap() error { return e.err }

// errNotReady ends a run whose dependencies are not ready; what and why
// has been logged or printed already.
var errNotReady = errors.New("not ready")

// exitCode maps run's error to the process's exit code.
func exitCode(err error) int {
	var (
		ue usageError
		ee execError
	)
	switch {
	case err == nil:
		return exitReady
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ee) && ee.notFound:
		return exitCommandNotFound
	case errors.As(err, &ee):
		return exitCannotExecute
	}
	return exitNotReady
}

// version is stamped by the build: -ldflags "-X main.version=v1.2.3".
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// run is the whole program: it parses args and env, runs a command and
// returns nil (exit 0), a usageError (exit 2) or another error (exit 1).
// It never exits and writes only to stdout and stderr.
func run(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) error {
	cmd, rest := "", args
	if len(args) > 0 {
		cmd, rest = args[0], args[1:]
	}
	switch cmd {
	case "help", "-h", "-help", "--help":
		writeHelp(stdout)
		return nil
	case "version", "--version":
		fmt.Fprintf(stdout, "depprobe %s\n", versionString())
		return nil
	case "wait", "check", "serve":
	case "":
		writeHelp(stderr)
		return usageError{errors.New("no command: use wait, check, serve, help or version")}
	default:
		return usage(stderr, fmt.Errorf("unknown command %q: use wait, check, serve, help or version", cmd))
	}

	var command []string
	var commandPath string
	if i := slices.Index(rest, "--"); i >= 0 {
		rest, command = rest[:i], rest[i+1:]
	}
	var errs []error
	c, err := loadConfig(env)
	c = c.forCommand(cmd)
	errs = append(errs, err)
	targets, err := c.targets(rest, env["KUBERNETES_SERVICE_HOST"] != "")
	errs = append(errs, err)
	if command != nil {
		if cmd != "wait" {
			errs = append(errs, fmt.Errorf("%s does not run a command: only wait -- COMMAND [ARG ...] does", cmd))
		} else if len(command) == 0 {
			errs = append(errs, errors.New("nothing after --: write wait -- COMMAND [ARG ...]"))
		} else if path, err := lookPath(command[0], env["PATH"]); err != nil {
			errs = append(errs, fmt.Errorf("command %q after --: %v", command[0], err))
		} else {
			commandPath = path
		}
	}
	log := newLogger(c, stderr)
	client, why := inCluster(env, log)
	if client != nil {
		defer client.Close()
	}
	errs = append(errs, attachCluster(client, why, targets, c.KubeDiagnosis, log))
	if err := errors.Join(errs...); err != nil {
		return usage(stderr, err)
	}
	switch cmd {
	case "check":
		return check(ctx, c, targets, stdout, client)
	case "serve":
		return serve(ctx, c, targets, log)
	}
	if err := wait(ctx, c, targets, log, client); err != nil {
		return err
	}
	if command == nil {
		return nil
	}
	// argv[0] stays as written, as a shell would pass it. execve returns
	// only when it failed.
	if err := execve(commandPath, command, environ(env)); err != nil {
		_, statErr := os.Stat(commandPath)
		err = execError{path: commandPath, err: err, notFound: errors.Is(statErr, os.ErrNotExist)}
		log.Error("cannot run the command", slog.String("command", commandPath), slog.String("err", err.Error()))
		return err
	}
	return nil
}

// usage prints the problems, one a line, and returns them as a usageError.
func usage(stderr io.Writer, err error) error {
	fmt.Fprintln(stderr, "depprobe: invalid configuration:")
	for line := range strings.SplitSeq(err.Error(), "\n") {
		fmt.Fprintf(stderr, "  %s\n", line)
	}
	fmt.Fprintln(stderr, "run depprobe help for the variables and the target syntax")
	return usageError{err}
}

var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

func newLogger(c config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: logLevels[c.LogLevel]}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
