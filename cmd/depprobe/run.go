package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/depprobe/depprobe/probe"
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

// execve replaces the process with the command after `wait --`; tests
// replace it.
var execve = defaultExecve

func defaultExecve(path string, argv, env []string) error { return syscall.Exec(path, argv, env) }

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
	if err := errors.Join(errs...); err != nil {
		return usage(stderr, err)
	}
	log := newLogger(c, stderr)
	if cmd != "serve" && env["GOMAXPROCS"] == "" {
		// wait and check spend their time waiting on sockets; one thread
		// for Go code saves a third of their CPU (threads waking and
		// parking), measured by the bench. serve keeps all: its handlers
		// must answer while the probes run.
		runtime.GOMAXPROCS(1)
	}
	switch cmd {
	case "check":
		return check(ctx, c, targets, stdout)
	case "serve":
		return serve(ctx, c, targets, log)
	}
	if err := wait(ctx, c, targets, log); err != nil {
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

// wait probes every target concurrently until all are ready (nil), or
// gives up: DEPPROBE_TIMEOUT, a target's fatal outcome or too many timeouts
// (which end the whole wait: the app cannot start without that target), or
// a signal. Giving up logs one ERROR line per unready target and writes the
// termination message.
func wait(ctx context.Context, c config, targets []*probe.Target, log *slog.Logger) error {
	rep := probe.NewReporter(log, 0, nil) // elapsed counts from here
	log.Info("waiting for dependencies",
		slog.String("targets", describeTargets(targets)),
		slog.String("timeout", c.Timeout.String()),
		slog.String("attempt_timeout", c.AttemptTimeout.String()),
		slog.Int("max_timeouts", c.MaxTimeouts),
		slog.String("backoff", fmt.Sprintf("%s..%s x%g ±%g", c.BackoffInitial, c.BackoffMax, c.BackoffMultiplier, c.BackoffJitter)),
	)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.Timeout > 0 {
		wctx, cancel = context.WithTimeout(wctx, c.Timeout)
		defer cancel()
	}
	// Optional targets are probed and logged alongside, but not waited for:
	// their probing stops once the others are done and each has had its
	// first attempt, so the log says how they were.
	octx, stopOptional := context.WithCancel(wctx)
	defer stopOptional()
	var (
		results             = make([]probe.Result, len(targets))
		errs                = make([]error, len(targets))
		wg, optWG, optFirst sync.WaitGroup
	)
	for i, t := range targets {
		if t.Optional {
			optFirst.Add(1)
			first := sync.OnceFunc(optFirst.Done)
			optWG.Go(func() {
				defer first()
				probe.Wait(octx, t, c.policy(), func(r probe.Result) { rep.Observe(ctx, r); first() })
			})
			continue
		}
		wg.Go(func() {
			results[i], errs[i] = probe.Wait(wctx, t, c.policy(), func(r probe.Result) { rep.Observe(ctx, r) })
			if errs[i] != nil && wctx.Err() == nil {
				cancel() // this target cannot become ready: stop waiting for the others
			}
		})
	}
	wg.Wait()
	optFirst.Wait()
	stopOptional()
	optWG.Wait()
	elapsed := rep.Elapsed().Round(time.Millisecond)

	var unready []int
	for i, t := range targets {
		if errs[i] != nil && !t.Optional {
			unready = append(unready, i)
		}
	}
	if len(unready) == 0 {
		log.Info("all dependencies ready", slog.Int("targets", len(targets)), slog.String("elapsed", elapsed.String()))
		return nil
	}
	// Why the wait ended: the first target's own reason, else the deadline
	// or the signal.
	var why error
	for _, i := range unready {
		if errors.Is(errs[i], probe.ErrTimeouts) {
			errs[i] = fmt.Errorf("%w (DEPPROBE_MAX_TIMEOUTS=%d)", errs[i], c.MaxTimeouts)
		}
	}
	for _, i := range unready {
		if !errors.Is(errs[i], context.Canceled) && !errors.Is(errs[i], context.DeadlineExceeded) {
			why = errs[i]
			break
		}
	}
	switch {
	case why != nil:
	case ctx.Err() != nil:
		why = errors.New("interrupted by a signal")
	default:
		why = fmt.Errorf("DEPPROBE_TIMEOUT=%s reached", c.Timeout)
	}
	var lines []string
	for _, i := range unready {
		r, reason := results[i], errs[i]
		if !errors.Is(reason, probe.ErrFatal) && !errors.Is(reason, probe.ErrTimeouts) {
			reason = why
		}
		// A target whose first attempt the end of the wait cut short is
		// reported as not yet checked (probe.Wait returns that attempt).
		rep.GaveUp(ctx, r, reason)
		lines = append(lines, fmt.Sprintf("%s: %s", r.Target, r.Diagnosis()), "  hint: "+r.Hint)
	}
	// The key sentence must fit Kubernetes' 4096 bytes whole: name eight
	// targets at most.
	var names []string
	for j, i := range unready {
		if j == 8 {
			names = append(names, fmt.Sprintf("and %d more", len(unready)-j))
			break
		}
		names = append(names, fmt.Sprintf("%s (%s)", targets[i].Name, results[i].Summary()))
	}
	key := fmt.Sprintf("depprobe gave up after %s (%s): not ready: %s", elapsed, why, strings.Join(names, ", "))
	writeTerminationLog(c.TerminationLog, lines, key, log)
	return errNotReady
}

// terminationLimit is what Kubernetes keeps of a termination message.
const terminationLimit = 4096

// defaultTerminationLog is where Kubernetes reads a container's
// termination message from.
const defaultTerminationLog = "/dev/termination-log"

// writeTerminationLog writes the diagnosis for `kubectl describe pod`: the
// details, then the key sentence last, cut from the front to 4096 bytes.
// The default path is only written when it exists (Kubernetes creates it),
// so that a run outside Kubernetes, even as root, leaves nothing in /dev; a
// path of the user's choosing is created, and a missing directory is no
// error.
func writeTerminationLog(path string, lines []string, key string, log *slog.Logger) {
	if path == "" {
		return
	}
	msg := strings.Join(append(lines, key), "\n") + "\n"
	if len(msg) > terminationLimit {
		msg = "…" + msg[len(msg)-terminationLimit+len("…"):]
	}
	flags := os.O_WRONLY | os.O_TRUNC
	if path != defaultTerminationLog {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err == nil {
		_, err = f.WriteString(msg)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("cannot write the termination message", slog.String("path", path), slog.String("err", err.Error()))
	}
}

func describeTargets(targets []*probe.Target) string {
	parts := make([]string, len(targets))
	for i, t := range targets {
		parts[i] = t.Name + "=" + t.URL()
	}
	return strings.Join(parts, ", ")
}

func writeHelp(w io.Writer) {
	fmt.Fprint(w, `depprobe waits until an app's dependencies answer, and says why they don't.

usage:
  depprobe wait [TARGET ...] [-- COMMAND [ARG ...]]
      probe until every target is ready, then exit 0 (or exec COMMAND);
      exit 1 when it gives up
  depprobe check [TARGET ...]
      one round: print each target's diagnosis ladder; exit 0 if all are
      ready, 1 if not
  depprobe serve [TARGET ...]
      keep probing; serve /readyz, /livez and /metrics on DEPPROBE_LISTEN
  depprobe help | version

TARGET is [NAME=]URL [OPTION=VALUE ...]; targets are separated by commas or
newlines, e.g. DEPPROBE_TARGETS='db=postgres://db:5432,api=https://api/healthz status=200-299'

schemes: `+strings.Join(probe.Schemes(), " ")+`

environment (default in the second column):
`)
	writeVariables(w)
	fmt.Fprint(w, `
exit codes: 0 ready; 1 not ready (check) or gave up (wait); 2 invalid
configuration or command line; after wait -- COMMAND, the command's own, or
126 (cannot execute it) and 127 (not found) as a shell says.
`)
}
