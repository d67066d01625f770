package faults

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logLine is one JSON line of depprobe's log.
type logLine map[string]any

func (l logLine) str(key string) string {
	switch v := l[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func (l logLine) num(key string) int {
	v, _ := l[key].(float64)
	return int(v)
}

func (l logLine) msg() string { return l.str("msg") }

func (l logLine) String() string {
	b, _ := json.Marshal(l)
	return string(b)
}

// proc is one depprobe run inside a client namespace.
type proc struct {
	t     *testing.T
	cmd   *exec.Cmd
	args  []string
	env   map[string]string
	start time.Time

	mu      sync.Mutex
	lines   []logLine
	other   []string      // stderr lines that are not JSON
	changed chan struct{} // closed and replaced on every new line and at exit
	stdout  bytes.Buffer

	done chan struct{} // closed when the process has exited
	exit int
	took time.Duration // from start to exit
}

// baseEnv is what every run gets unless the cell says otherwise: a short
// attempt timeout, a deadline no cell should reach by accident, and a
// termination log of the test's own.
func baseEnv(t *testing.T) map[string]string {
	return map[string]string{
		"PATH":                     "/usr/bin:/bin",
		"DEPPROBE_ATTEMPT_TIMEOUT": "500ms",
		"DEPPROBE_TIMEOUT":         "60s",
		"DEPPROBE_TERMINATION_LOG": filepath.Join(t.TempDir(), "termination-log"),
	}
}

// depprobe starts `ip netns exec CLIENT depprobe args...` with baseEnv
// updated by env (an empty value removes the variable, so depprobe uses its
// default). t.Cleanup kills it if it still runs.
func depprobe(t *testing.T, client *host, env map[string]string, args ...string) *proc {
	t.Helper()
	e := baseEnv(t)
	for k, v := range env {
		if v == "" {
			delete(e, k)
		} else {
			e[k] = v
		}
	}
	cmd := exec.Command(ipCmd, append([]string{"netns", "exec", client.name, binary}, args...)...)
	p := &proc{t: t, cmd: cmd, args: args, env: e, changed: make(chan struct{}), done: make(chan struct{})}
	for _, k := range slices.Sorted(maps.Keys(e)) {
		cmd.Env = append(cmd.Env, k+"="+e[k])
	}
	// If the test process dies, so does depprobe (serve would run on).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout = &lockedWriter{mu: &p.mu, w: &p.stdout}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start depprobe: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l logLine
			p.mu.Lock()
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				p.lines = append(p.lines, l)
			} else {
				p.other = append(p.other, sc.Text())
			}
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		err := cmd.Wait()
		p.mu.Lock()
		p.took = time.Since(p.start)
		p.exit = cmd.ProcessState.ExitCode()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			p.other = append(p.other, "wait: "+err.Error())
		}
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("depprobe %s log:\n%s", strings.Join(args, " "), p.log())
		}
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(b)
}

// log is everything depprobe wrote to stderr, for failure messages.
func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, l := range p.lines {
		b.WriteString(l.String() + "\n")
	}
	for _, s := range p.other {
		b.WriteString(s + "\n")
	}
	if p.stdout.Len() > 0 {
		b.WriteString("stdout:\n" + p.stdout.String())
	}
	return b.String()
}

// await returns the first log line that match accepts, waiting at most
// limit for it; it fails the test if none comes (or depprobe exits first).
func (p *proc) await(limit time.Duration, what string, match func(logLine) bool) logLine {
	p.t.Helper()
	l, ok := p.find(limit, what, match)
	if !ok {
		p.t.Fatalf("depprobe exited (code %d) without logging %s", p.exit, what)
	}
	return l
}

// find is await that returns false instead of failing when depprobe exits
// without logging such a line.
func (p *proc) find(limit time.Duration, what string, match func(logLine) bool) (logLine, bool) {
	p.t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for seen := 0; ; {
		p.mu.Lock()
		for ; seen < len(p.lines); seen++ {
			if match(p.lines[seen]) {
				l := p.lines[seen]
				p.mu.Unlock()
				return l, true
			}
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-p.done:
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if seen == n {
				return nil, false
			}
		case <-deadline.C:
			p.t.Fatalf("depprobe logged no %s within %s", what, limit)
		}
	}
}

// wait waits at most limit for depprobe to exit and returns its exit code
// and how long it ran.
func (p *proc) wait(limit time.Duration) (int, time.Duration) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		p.t.Fatalf("depprobe %s still runs after %s", strings.Join(p.args, " "), limit)
	}
	return p.exit, p.took
}

// signal sends sig to depprobe (`ip netns exec` has exec'd it, so the
// pid is depprobe's).
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// exited returns the exit code and run time, or -1 while depprobe runs.
func (p *proc) exited() (int, time.Duration) {
	select {
	case <-p.done:
		return p.exit, p.took
	default:
		return -1, 0
	}
}

// all returns the log lines with message msg, or every line when msg is "".
func (p *proc) all(msg string) []logLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []logLine
	for _, l := range p.lines {
		if msg == "" || l.msg() == msg {
			out = append(out, l)
		}
	}
	return out
}

// last returns the last log line with message msg; it fails the test when
// there is none.
func (p *proc) last(msg string) logLine {
	p.t.Helper()
	ls := p.all(msg)
	if len(ls) == 0 {
		p.t.Fatalf("no %q line in the log", msg)
	}
	return ls[len(ls)-1]
}

// output is what depprobe printed on stdout (check's ladder).
func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

// terminationLog is what wait wrote to DEPPROBE_TERMINATION_LOG ("" when
// nothing).
func (p *proc) terminationLog() string {
	b, _ := os.ReadFile(p.env["DEPPROBE_TERMINATION_LOG"])
	return string(b)
}

// want is what a cell expects of a not-ready line.
type want struct {
	step, outcome, addr string
	orStep              string   // another step the kernel's timing may show, with the same outcome
	hint                []string // words the hint must contain
	err                 []string // words the err must contain
}

// isNotReady matches the first "not ready" line with the wanted step and
// outcome.
func (w want) isNotReady(l logLine) bool {
	return l.msg() == "not ready" && l.str("step") == w.step && l.str("outcome") == w.outcome
}

// check compares a not-ready or gave-up line with w.
func (w want) check(t *testing.T, l logLine) {
	t.Helper()
	if got := l.str("step"); got != w.step && (w.orStep == "" || got != w.orStep) {
		t.Errorf("%s: step = %q, want %q (or %q)", l.msg(), got, w.step, w.orStep)
	}
	if got := l.str("outcome"); got != w.outcome {
		t.Errorf("%s: outcome = %q, want %q", l.msg(), got, w.outcome)
	}
	if got := l.str("addr"); got != w.addr {
		t.Errorf("%s: addr = %q, want %q", l.msg(), got, w.addr)
	}
	for _, word := range w.hint {
		if !strings.Contains(l.str("hint"), word) {
			t.Errorf("%s: hint = %q, want it to mention %q", l.msg(), l.str("hint"), word)
		}
	}
	for _, word := range w.err {
		if !strings.Contains(l.str("err"), word) {
			t.Errorf("%s: err = %q, want it to mention %q", l.msg(), l.str("err"), word)
		}
	}
}

// wantExit fails the test when the exit code is not code.
func wantExit(t *testing.T, got, code int) {
	t.Helper()
	if got != code {
		t.Errorf("exit code = %d, want %d", got, code)
	}
}
