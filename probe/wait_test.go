package probe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
)

// fakeTimer fires at once and records the waits it was asked for, so that
// retry tests run in milliseconds and can check the backoff. Its clock
// is real time plus every wait so far, as if they had been slept.
type fakeTimer struct {
	mu     sync.Mutex
	waits  []time.Duration
	passed time.Duration
	c      chan time.Time
}

func newFakeTimer() *fakeTimer { return &fakeTimer{c: make(chan time.Time, 1)} }

func (f *fakeTimer) Start(d time.Duration) {
	f.mu.Lock()
	f.waits = append(f.waits, d)
	f.passed += d
	f.mu.Unlock()
	f.c <- time.Now()
}

func (f *fakeTimer) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.Now().Add(f.passed)
}
func (f *fakeTimer) Stop()               {}
func (f *fakeTimer) C() <-chan time.Time { return f.c }
func (f *fakeTimer) Waits() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.waits)
}

// policy is the tests' retry policy; with a fake timer its waits are not
// slept through, with nil they are real.
func policy(timer *fakeTimer) probe.Policy {
	p := probe.Policy{
		AttemptTimeout: time.Second,
		MaxTimeouts:    3,
		Backoff:        probe.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2},
	}
	if timer == nil {
		return p
	}
	return probe.WithTimer(p, timer)
}

func TestWaitRefusedThenReady(t *testing.T) {
	addr := loopback.Refused(t)
	tg := target(t, "tcp://"+addr)
	timer := newFakeTimer()
	var outcomes []probe.Outcome
	r, err := probe.Wait(t.Context(), tg, policy(timer), func(r probe.Result) {
		outcomes = append(outcomes, r.Outcome)
		if len(outcomes) == 6 { // the dependency starts listening
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("listen again on %s: %v", addr, err)
			}
			t.Cleanup(func() { ln.Close() })
		}
	})
	if err != nil || !r.Ready() {
		t.Fatalf("Wait = %v, %v; want ready", r.Outcome, err)
	}
	if want := []probe.Outcome{"refused", "refused", "refused", "refused", "refused", "refused", "ok"}; !slices.Equal(outcomes, want) {
		t.Errorf("outcomes = %v, want %v", outcomes, want)
	}
	ms := time.Millisecond
	if got, want := timer.Waits(), []time.Duration{10 * ms, 20 * ms, 40 * ms, 80 * ms, 100 * ms, 100 * ms}; !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v (exponential, capped at Max)", got, want)
	}
}

func TestWaitNotReadyBacksOffFurther(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	timer := newFakeTimer()
	n := 0
	r, err := probe.Wait(ctx, target(t, srv.URL), policy(timer), func(probe.Result) {
		if n++; n == 6 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || r.Outcome != probe.NotReady {
		t.Fatalf("Wait = %v, %v; want not_ready, context.Canceled", r.Outcome, err)
	}
	ms := time.Millisecond
	f := time.Duration(probe.CostlyFactor)
	if got, want := timer.Waits(), []time.Duration{f * 10 * ms, f * 20 * ms, f * 40 * ms, f * 80 * ms, f * 100 * ms}; !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v (CostlyFactor times the refused backoff)", got, want)
	}
}

func TestWaitGivesUpAfterMaxTimeouts(t *testing.T) {
	tg := target(t, "http://"+loopback.Silent(t))
	p := policy(newFakeTimer())
	p.AttemptTimeout = 30 * time.Millisecond
	attempts := 0
	r, err := probe.Wait(t.Context(), tg, p, func(probe.Result) { attempts++ })
	if !errors.Is(err, probe.ErrTimeouts) {
		t.Fatalf("Wait error = %v, want ErrTimeouts", err)
	}
	if attempts != 3 || r.Outcome != probe.Timeout || r.Step != probe.Protocol {
		t.Errorf("attempts, step, outcome = %d, %s, %s; want 3, protocol, timeout", attempts, r.Step, r.Outcome)
	}
	if !strings.Contains(err.Error(), "3 attempts in a row") {
		t.Errorf("error %q does not say how many", err)
	}

	// MaxTimeouts = 0: timeouts never end the wait; only ctx does.
	p.MaxTimeouts = 0
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	attempts = 0
	_, err = probe.Wait(ctx, tg, p, func(probe.Result) {
		if attempts++; attempts == 5 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || attempts != 5 {
		t.Errorf("with MaxTimeouts=0: %d attempts, error %v; want 5, context.Canceled", attempts, err)
	}
}

func TestWaitFatalGivesUpAtOnce(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	defer srv.Close()
	attempts := 0
	r, err := probe.Wait(t.Context(), target(t, srv.URL), policy(newFakeTimer()), func(probe.Result) { attempts++ })
	if !errors.Is(err, probe.ErrFatal) || attempts != 1 || r.Outcome != probe.CertInvalid {
		t.Errorf("Wait = %s after %d attempts, error %v; want cert_invalid after 1, ErrFatal", r.Outcome, attempts, err)
	}
}

func TestWaitDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	p := policy(nil) // a real timer: the deadline must cut the backoff's wait
	r, err := probe.Wait(ctx, target(t, "tcp://"+loopback.Refused(t)), p, nil)
	if !errors.Is(err, context.DeadlineExceeded) || r.Outcome != probe.Refused {
		t.Errorf("Wait = %s, %v; want refused, context.DeadlineExceeded", r.Outcome, err)
	}
}

// logLines decodes JSON log lines into maps.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.Lines(buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestReporter(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	rp := probe.NewReporter(slog.New(slog.NewJSONHandler(&buf, nil)), 5*time.Second, clock)
	refused := probe.Result{Target: "db", URL: "tcp://db:5432", Host: "db:5432", Step: probe.Connect, Outcome: probe.Refused, Addr: "10.0.0.7:5432", Hint: "nothing listens", Start: now}
	timeout := refused
	timeout.Outcome = probe.Timeout
	ok := probe.Result{Target: "db", URL: "tcp://db:5432", Step: probe.Connect, Outcome: probe.OK, Addr: "10.0.0.7:5432", Start: now}

	steps := []struct {
		advance time.Duration
		result  probe.Result
		want    string // the message logged, "" for none
	}{
		{0, refused, "not ready"},
		{100 * time.Millisecond, refused, ""},
		{4 * time.Second, refused, ""},
		{time.Second, refused, "still not ready"}, // 5s after the last line
		{time.Second, timeout, "not ready"},       // a new diagnosis
		{time.Second, timeout, ""},
		{time.Second, ok, "ready"},
		{10 * time.Second, ok, ""}, // no reminders while ready
		{time.Second, refused, "not ready"},
	}
	var want []string
	for _, s := range steps {
		now = now.Add(s.advance)
		rp.Observe(t.Context(), s.result)
		if s.want != "" {
			want = append(want, s.want)
		}
	}
	rp.GaveUp(t.Context(), refused, errors.New("DEPPROBE_TIMEOUT=5m reached"), rp.Elapsed())
	want = append(want, "gave up")

	lines := logLines(t, &buf)
	var got []string
	for _, l := range lines {
		got = append(got, l["msg"].(string))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("messages = %q, want %q", got, want)
	}
	first, last := lines[0], lines[len(lines)-1]
	for _, key := range []string{"target", "url", "step", "outcome", "addr", "attempt", "elapsed", "err", "hint"} {
		if _, ok := first[key]; !ok {
			t.Errorf("not-ready line lacks %q: %v", key, first)
		}
	}
	if last["level"] != "ERROR" || last["reason"] != "DEPPROBE_TIMEOUT=5m reached" {
		t.Errorf("give-up line = %v, want level ERROR and the reason", last)
	}
	// The ready line says what it took: 7 attempts over 8.1s since the
	// first.
	if ready := lines[3]; ready["attempt"] != float64(7) || ready["elapsed"] != "8.1s" {
		t.Errorf("ready line = %v, want attempt 7, elapsed 8.1s", ready)
	}
}

// TestWaitDeadlineNeverReady: a deadline that cuts an attempt short, at
// whatever moment, never turns into "ready".
func TestWaitDeadlineNeverReady(t *testing.T) {
	tg := target(t, "http://"+loopback.Silent(t))
	p := policy(nil)
	p.MaxTimeouts, p.AttemptTimeout = 0, 20*time.Millisecond
	for i := range 10 {
		ctx, cancel := context.WithTimeout(t.Context(), time.Duration(50+7*i)*time.Millisecond)
		r, err := probe.Wait(ctx, tg, p, nil)
		cancel()
		if err == nil || r.Ready() {
			t.Fatalf("run %d: Wait = %s, %v; want an error, never ready", i, r.Outcome, err)
		}
	}
}

// TestReporterElapsedAndAttempts: elapsed counts from the Reporter's start
// (the start of the wait) until a target changes between ready and not
// ready, then from that change; the first line after a change says attempt
// 1. (A first result that took 2s said "elapsed":"0s"; the first "not ready"
// line after a ready spell said "attempt":0.)
func TestReporterElapsedAndAttempts(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rp := probe.NewReporter(slog.New(slog.NewJSONHandler(&buf, nil)), 5*time.Second, func() time.Time { return now })
	timeout := probe.Result{Target: "db", URL: "tcp://db:5432", Step: probe.Connect, Outcome: probe.Timeout, Start: now}
	ok := probe.Result{Target: "db", URL: "tcp://db:5432", Step: probe.Connect, Outcome: probe.OK, Start: now}
	for _, s := range []struct {
		advance time.Duration
		r       probe.Result
	}{
		{2 * time.Second, timeout}, // the first attempt took its whole 2s
		{3 * time.Second, ok},
		{time.Minute, ok},
		{time.Second, timeout}, // down
	} {
		now = now.Add(s.advance)
		rp.Observe(t.Context(), s.r)
	}
	now = now.Add(4 * time.Second)
	rp.GaveUp(t.Context(), timeout, errors.New("reason"), rp.Elapsed())
	var got []string
	for _, l := range logLines(t, &buf) {
		got = append(got, fmt.Sprintf("%s attempt=%v elapsed=%v", l["msg"], l["attempt"], l["elapsed"]))
	}
	want := []string{
		"not ready attempt=1 elapsed=2s",
		"ready attempt=2 elapsed=5s",
		"not ready attempt=1 elapsed=0s",
		"gave up attempt=1 elapsed=4s",
	}
	if !slices.Equal(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
	if e := rp.Elapsed(); e != 70*time.Second {
		t.Errorf("Elapsed() = %s, want 1m10s", e)
	}
}

// TestWaitFirstAttemptCutShort: when ctx ends a target's first attempt,
// Wait returns that attempt as "not yet checked", with the time it took,
// the step it was in and a hint, never a zero result.
func TestWaitFirstAttemptCutShort(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	p := policy(newFakeTimer())
	p.AttemptTimeout = time.Hour
	r, err := probe.Wait(ctx, target(t, "h=http://"+loopback.Silent(t)), p, func(r probe.Result) {
		t.Errorf("observed %s; want no result from a cut-short attempt", r.Summary())
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait error = %v, want context.Canceled", err)
	}
	if r.Target != "h" || r.Outcome != probe.Canceled || r.Step != probe.Protocol || r.Duration < 100*time.Millisecond || r.Hint == "" {
		t.Errorf("Wait = %+v; want h's attempt: canceled in the protocol step after 100ms or more, with a hint", r)
	}
	if d := r.Diagnosis(); !strings.HasPrefix(d, "not yet checked: the attempt was cut short after ") || !strings.Contains(d, "in the protocol step") {
		t.Errorf("Diagnosis() = %q", d)
	}
	if r.Summary() != "not yet checked" {
		t.Errorf("Summary() = %q, want not yet checked", r.Summary())
	}
}

// TestCeiling: the backoff's ceiling is Max for the first Max/LateShare
// of being unready (10 s at 100ms), then LateShare of that time, up to
// Late; a Late of Max or less (or none) keeps it at Max.
func TestCeiling(t *testing.T) {
	ms, s := time.Millisecond, time.Second
	for _, tc := range []struct {
		late, unready, want time.Duration
	}{
		{400 * ms, 0, 100 * ms},
		{400 * ms, 5 * s, 100 * ms},
		{400 * ms, 10 * s, 100 * ms},
		{400 * ms, 20 * s, 200 * ms},
		{400 * ms, 35 * s, 350 * ms},
		{400 * ms, 40 * s, 400 * ms},
		{400 * ms, 5 * time.Minute, 400 * ms},
		{0, time.Hour, 100 * ms},
		{50 * ms, time.Hour, 100 * ms},
	} {
		b := probe.Backoff{Initial: 10 * ms, Max: 100 * ms, Late: tc.late, Multiplier: 2}
		if got := b.Ceiling(tc.unready); got != tc.want {
			t.Errorf("Backoff{Max: 100ms, Late: %s}.Ceiling(%s) = %s, want %s", tc.late, tc.unready, got, tc.want)
		}
	}
}

// TestWaitCeilingGrows: a target refused for a minute (of the fake
// timer's clock) is tried every Max for 10 s, then ever less often, never
// more than the ceiling allows, and every Late once the ceiling reached it.
func TestWaitCeilingGrows(t *testing.T) {
	began := time.Now()
	timer := newFakeTimer()
	p := policy(timer)
	p.Backoff.Late = 400 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	start := timer.Now()
	attempts := 0
	probe.Wait(ctx, target(t, "tcp://"+loopback.Refused(t)), p, func(probe.Result) {
		if attempts++; timer.Now().Sub(start) > time.Minute {
			cancel()
		}
	})
	var passed time.Duration // the fake clock's time at each wait, less the real time the test took
	for i, w := range timer.Waits() {
		if most := p.Backoff.Ceiling(passed + time.Since(began)); w > most {
			t.Errorf("wait %d after %s = %s, more than the ceiling %s", i, passed, w, most)
		}
		if passed < 10*time.Second && w > p.Backoff.Max {
			t.Errorf("wait %d after %s = %s, more than Max in the first 10 s", i, passed, w)
		}
		if passed > 41*time.Second && w != p.Backoff.Late {
			t.Errorf("wait %d after %s = %s, want Late (%s)", i, passed, w, p.Backoff.Late)
		}
		passed += w
	}
	// 10 s at 10/s, then 100·ln(4) while the ceiling grows from 100ms to
	// 400ms (10–40 s), then 20 s at 2.5/s: about 290.
	if attempts < 270 || attempts > 300 {
		t.Errorf("%d attempts in a minute, want about 290", attempts)
	}
}
