package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/depprobe/depprobe/probe"
)

// config is every DEPPROBE_* variable. `depprobe help` is generated from
// these tags, so the help cannot drift from what is read.
type config struct {
	Targets           string        `env:"DEPPROBE_TARGETS" help:"targets, separated by commas or newlines: [NAME=]URL [OPTION=VALUE ...]"`
	TargetsFile       string        `env:"DEPPROBE_TARGETS_FILE" help:"a file with more targets, same syntax (e.g. a mounted Secret)"`
	Timeout           time.Duration `env:"DEPPROBE_TIMEOUT" envDefault:"5m" help:"wait gives up after this long; 0 = never"`
	AttemptTimeout    time.Duration `env:"DEPPROBE_ATTEMPT_TIMEOUT" envDefault:"2s" help:"time limit of one attempt, all steps together; at least 10ms"`
	MaxTimeouts       int           `env:"DEPPROBE_MAX_TIMEOUTS" envDefault:"3" help:"consecutive timed-out attempts of one target that make wait give up (serve: then one attempt per interval); 0 = never"`
	BackoffInitial    time.Duration `env:"DEPPROBE_BACKOFF_INITIAL" envDefault:"10ms" help:"first wait between attempts of a target; at least 1ms"`
	BackoffMax        time.Duration `env:"DEPPROBE_BACKOFF_MAX" envDefault:"100ms" help:"longest wait between attempts after a refused connect (5x after a costly not_ready) while a target has been unready for less than 100 times this"`
	BackoffLate       time.Duration `env:"DEPPROBE_BACKOFF_LATE" helpDefault:"300ms, serve 800ms" help:"then the longest wait grows as 1% of the time the target has been unready, up to this"`
	BackoffMultiplier float64       `env:"DEPPROBE_BACKOFF_MULTIPLIER" envDefault:"2" help:"each wait is this many times the one before"`
	BackoffJitter     float64       `env:"DEPPROBE_BACKOFF_JITTER" envDefault:"0.1" help:"randomize each wait by this fraction (0 to 1)"`
	Interval          time.Duration `env:"DEPPROBE_INTERVAL" envDefault:"5s" help:"serve: period between attempts of a target that is ready; at least 100ms"`
	Listen            string        `env:"DEPPROBE_LISTEN" envDefault:":3377" help:"serve: address of /readyz, /livez and /metrics"`
	LogFormat         string        `env:"DEPPROBE_LOG_FORMAT" envDefault:"json" help:"json or text"`
	LogLevel          string        `env:"DEPPROBE_LOG_LEVEL" envDefault:"info" help:"debug, info, warn or error"`
	KubeDiagnosis     bool          `env:"DEPPROBE_KUBE_DIAGNOSIS" envDefault:"true" help:"in a pod: ask the API why a Service name fails (the cluster step); false for check as an exec probe"`
	KubeEvents        bool          `env:"DEPPROBE_KUBE_EVENTS" envDefault:"false" help:"in a pod: publish the verdict as Events on this pod"`
	PodName           string        `env:"DEPPROBE_POD_NAME" help:"in a pod: its name (from metadata.name); default: HOSTNAME"`
	TerminationLog    string        `env:"DEPPROBE_TERMINATION_LOG" envDefault:"/dev/termination-log" help:"wait writes why it gave up here, for kubectl describe pod; written only if it exists when it is the default"`
}

// loadConfig reads the variables from env and checks every value. All
// problems are reported together, each naming its variable and value.
func loadConfig(environ map[string]string) (config, error) {
	var (
		c      config
		errs   []error
		failed = map[string]bool{} // variables that did not parse
	)
	if err := env.ParseWithOptions(&c, env.Options{Environment: environ}); err != nil {
		var agg env.AggregateError
		if !errors.As(err, &agg) {
			return c, err
		}
		for _, e := range agg.Errors {
			name, err := describeParseError(e, environ)
			failed[name] = true
			errs = append(errs, err)
		}
	}
	check := func(ok bool, name string, value any, why string) {
		if !ok && !failed[name] {
			errs = append(errs, fmt.Errorf("%s=%q: %s", name, fmt.Sprint(value), why))
		}
	}
	for _, name := range unknownVariables(environ) {
		errs = append(errs, fmt.Errorf("%s: no such variable; did you mean %s? (depprobe help lists them)", name, closestVariable(name)))
	}
	check(c.Timeout >= 0, "DEPPROBE_TIMEOUT", c.Timeout, "must not be negative (0 = never give up)")
	check(c.AttemptTimeout >= probe.MinAttemptTimeout, "DEPPROBE_ATTEMPT_TIMEOUT", c.AttemptTimeout, fmt.Sprintf("must be at least %s", probe.MinAttemptTimeout))
	check(c.MaxTimeouts >= 0, "DEPPROBE_MAX_TIMEOUTS", c.MaxTimeouts, "must not be negative (0 = never give up on timeouts)")
	check(c.BackoffInitial >= minBackoffInitial, "DEPPROBE_BACKOFF_INITIAL", c.BackoffInitial, fmt.Sprintf("must be at least %s", minBackoffInitial))
	check(c.BackoffMax >= c.BackoffInitial, "DEPPROBE_BACKOFF_MAX", c.BackoffMax, fmt.Sprintf("must be at least DEPPROBE_BACKOFF_INITIAL (%s)", c.BackoffInitial))
	if v, set := environ["DEPPROBE_BACKOFF_LATE"]; set && !failed["DEPPROBE_BACKOFF_LATE"] {
		check(v != "" && c.BackoffLate >= c.BackoffMax, "DEPPROBE_BACKOFF_LATE", v, fmt.Sprintf("must be at least DEPPROBE_BACKOFF_MAX (%s)", c.BackoffMax))
	}
	check(c.BackoffMultiplier >= 1, "DEPPROBE_BACKOFF_MULTIPLIER", c.BackoffMultiplier, "must be at least 1")
	check(c.BackoffJitter >= 0 && c.BackoffJitter < 1, "DEPPROBE_BACKOFF_JITTER", c.BackoffJitter, "must be from 0 up to (not including) 1")
	check(c.Interval >= minInterval, "DEPPROBE_INTERVAL", c.Interval, fmt.Sprintf("must be at least %s", minInterval))
	_, port, err := net.SplitHostPort(c.Listen)
	check(err == nil && port != "", "DEPPROBE_LISTEN", c.Listen, "want host:port or :port, e.g. :3377")
	check(c.LogFormat == "json" || c.LogFormat == "text", "DEPPROBE_LOG_FORMAT", c.LogFormat, "want json or text")
	_, ok := logLevels[c.LogLevel]
	check(ok, "DEPPROBE_LOG_LEVEL", c.LogLevel, "want debug, info, warn or error")
	return c, errors.Join(errs...)
}

// Floors of the durations: below them a setting is a typo or a flood
// (DEPPROBE_INTERVAL=1ns made 15,000 connections in 3 s), never a wish.
// DEPPROBE_ATTEMPT_TIMEOUT's is probe.MinAttemptTimeout, which the
// attempt_timeout= and timeout= options share.
const (
	minInterval       = 100 * time.Millisecond
	minBackoffInitial = time.Millisecond
)

// unknownVariables lists the DEPPROBE_ variables of environ that config
// does not read, sorted: a typo (DEPPROBE_TARGET_FILE) would otherwise be
// ignored in silence, and the wait would go on without what it names.
func unknownVariables(environ map[string]string) []string {
	known := reflectEnvNames()
	var unknown []string
	for name := range environ {
		if strings.HasPrefix(name, "DEPPROBE_") && !slices.Contains(known, name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	return unknown
}

// closestVariable is the variable config reads whose name is the fewest
// edits away from name, case aside.
func closestVariable(name string) string {
	best, bestD := "", -1
	for _, k := range reflectEnvNames() {
		if d := editDistance(strings.ToUpper(name), k); bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, sub)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// describeParseError names the variable and the value that did not parse.
func describeParseError(err error, environ map[string]string) (string, error) {
	var pe env.ParseError
	if !errors.As(err, &pe) {
		return "", err
	}
	f, _ := reflect.TypeFor[config]().FieldByName(pe.Name)
	name := f.Tag.Get("env")
	value := environ[name]
	switch f.Type {
	case reflect.TypeFor[time.Duration]():
		return name, fmt.Errorf("%s=%q: not a duration: write a number with a unit, e.g. 500ms, 2s, 1m30s", name, value)
	case reflect.TypeFor[int]():
		return name, fmt.Errorf("%s=%q: not a whole number", name, value)
	case reflect.TypeFor[float64]():
		return name, fmt.Errorf("%s=%q: not a number", name, value)
	}
	return name, fmt.Errorf("%s=%q: %v", name, value, pe.Err)
}

// The defaults of DEPPROBE_BACKOFF_LATE, by command (docs/performance.md
// shows the arithmetic).
const (
	// waitLate keeps wait's reaction to a dependency that comes after a
	// minute near 150 ms (half a wait, on average; the budget is 250 ms,
	// and a median over a few runs wanders by tens of ms), and a refused
	// target's attempts at 3.3 a second once it has been down for 30 s.
	waitLate = 300 * time.Millisecond
	// serveLate keeps a flip from down to up visible on /readyz within
	// 1 s (800 ms + 10% jitter + the attempt), at 1.25 attempts a second
	// per refused target once down for 80 s.
	serveLate = 800 * time.Millisecond
)

// forCommand fills in what the variables left to the command: the late
// ceiling of the backoff.
func (c config) forCommand(cmd string) config {
	if c.BackoffLate == 0 {
		c.BackoffLate = waitLate
		if cmd == "serve" {
			c.BackoffLate = serveLate
		}
	}
	return c
}

// describeBackoff is the backoff as the first log line shows it.
func (c config) describeBackoff() string {
	return fmt.Sprintf("%s..%s..%s x%g ±%g", c.BackoffInitial, c.BackoffMax, c.BackoffLate, c.BackoffMultiplier, c.BackoffJitter)
}

// policy is the retry policy the variables describe.
func (c config) policy() probe.Policy {
	return probe.Policy{
		Coalesce:       true,
		AttemptTimeout: c.AttemptTimeout,
		MaxTimeouts:    c.MaxTimeouts,
		Backoff: probe.Backoff{
			Initial:    c.BackoffInitial,
			Max:        c.BackoffMax,
			Late:       c.BackoffLate,
			Multiplier: c.BackoffMultiplier,
			Jitter:     c.BackoffJitter,
		},
	}
}

// targets gathers the targets of DEPPROBE_TARGETS, DEPPROBE_TARGETS_FILE and
// the arguments, in that order. Every problem is reported.
func (c config) targets(args []string, inPod bool) ([]*probe.Target, error) {
	var (
		specs []probe.Spec
		errs  []error
	)
	add := func(source, text string) {
		s, err := probe.ParseSpecs(source, text)
		specs = append(specs, s...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	add("DEPPROBE_TARGETS", c.Targets)
	if c.TargetsFile != "" {
		b, err := readTargetsFile(c.TargetsFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("DEPPROBE_TARGETS_FILE=%q: %v", c.TargetsFile, err))
		}
		add("DEPPROBE_TARGETS_FILE", string(b))
	}
	add("arguments", joinArgs(args))
	targets, err := probe.Targets(specs)
	if err != nil {
		errs = append(errs, err)
	}
	if len(specs) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no targets: set DEPPROBE_TARGETS or DEPPROBE_TARGETS_FILE, or give targets as arguments, e.g. depprobe check tcp://db:5432"))
	}
	for _, t := range targets {
		t.Kubernetes = t.Kubernetes || inPod
		t.Version = versionString() // User-Agent: the version `depprobe version` prints
	}
	return targets, errors.Join(errs...)
}

// maxTargetsFile caps DEPPROBE_TARGETS_FILE: thousands of targets fit in
// it, and /dev/zero named by mistake cannot fill the memory.
const maxTargetsFile = 1 << 20

// readTargetsFile reads a targets file: a regular file (a symbolic link
// to one counts: a mounted Secret's files are links) of at most
// maxTargetsFile bytes. It is opened without blocking and checked once
// open, so a FIFO or a device can neither hang nor flood the start.
func readTargetsFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, pathCause(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, pathCause(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s): want a file of targets", fileKind(fi.Mode()))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTargetsFile+1))
	if err != nil {
		return nil, pathCause(err)
	}
	if len(b) > maxTargetsFile {
		return nil, fmt.Errorf("more than %d bytes (1 MiB): not a file of targets", maxTargetsFile)
	}
	return b, nil
}

// pathCause is err without the path, which the message names already.
func pathCause(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fileKind names a file's type as ls -l would say it.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	}
	return "a special file"
}

// joinArgs makes the arguments one text for ParseSpecs: an argument with
// "://" starts a new target, any other (OPTION=VALUE) belongs to the target
// before it, so `check https://api status=204` works unquoted.
func joinArgs(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			if strings.Contains(a, "://") {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString(a)
	}
	return b.String()
}

// writeVariables prints every variable with its default, from the tags.
func writeVariables(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	t := reflect.TypeFor[config]()
	for i := range t.NumField() {
		f := t.Field(i)
		def, ok := f.Tag.Lookup("envDefault")
		if !ok {
			def, ok = f.Tag.Lookup("helpDefault") // the command's own
		}
		if !ok {
			def = "(none)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.Tag.Get("env"), def, f.Tag.Get("help"))
	}
	tw.Flush()
}

// reflectEnvNames lists every variable config reads.
func reflectEnvNames() []string {
	t := reflect.TypeFor[config]()
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = t.Field(i).Tag.Get("env")
	}
	return names
}
