// Package readiness is the state behind `depprobe serve`: it keeps probing
// every target in the background (one goroutine each, see probe.Watch),
// remembers each target's verdict and last diagnosis, and serves them as
// /readyz, /livez and /metrics.
//
// Its handlers only read that state: they never dial, so a slow dependency
// never slows a kubelet probe. It registers its metrics in a registry of its
// own, never the global one.
//
// It imports probe, never the reverse. It must not know about environment
// variables, exit codes, signals or the listening socket: cmd/depprobe owns
// those, and gives a Monitor its targets, policy and logger.
package readiness

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/depprobe/depprobe/probe"
)

// Config is how a Monitor probes and reports. Interval is required; the
// other fields have usable zero values.
type Config struct {
	// Policy is each attempt's time limit and the backoff while a target is
	// not ready. MaxTimeouts never stops the probing: it is where attempts
	// slow down to one per Interval (see probe.Watch).
	Policy probe.Policy
	// Interval is the period between attempts of a ready target; more
	// than 0.
	Interval time.Duration
	// Log receives one line per change of a target's state, as wait logs
	// them (probe.Reporter); nil discards them.
	Log *slog.Logger
	// Remind is how often a target that stays not ready is mentioned in the
	// log; zero means probe.DefaultRemind.
	Remind time.Duration
	// Version is the depprobe version for depprobe_build_info.
	Version string
	// MetricsMaxAge is how long a rendered /metrics page is served again to
	// other scrapers; zero means DefaultMetricsMaxAge, a negative value
	// renders every scrape (tests).
	MetricsMaxAge time.Duration
	// Now is the clock for since, last_success and /livez; nil means
	// time.Now.
	Now func() time.Time
}

// State is what a Monitor knows about one target at one moment.
type State struct {
	Name     string // the target's name
	URL      string // the target's URL, redacted
	Optional bool   // not counted towards /readyz as a whole (probe.Target.Optional)
	// Probed is false until the first attempt has ended; a target that has
	// not been probed is not ready.
	Probed bool
	Ready  bool
	// Last is the last attempt's result; zero until Probed.
	Last probe.Result
	// Since is when the current verdict began: the first ready result, the
	// first failure after being ready, or, while never ready, when the
	// Monitor was made.
	Since time.Time
	// LastSuccess is when the target was last found ready; zero if never.
	LastSuccess time.Time
	// ConsecutiveFailures counts the failed attempts since the last ready
	// one.
	ConsecutiveFailures int
	// Attempts counts every attempt that ended.
	Attempts int
}

// Summary is the few words /readyz prints for the target:
// "ok", "connect refused", "not probed yet".
func (s State) Summary() string {
	if !s.Probed {
		return "not probed yet"
	}
	return s.Last.Summary()
}

// Monitor probes a fixed set of targets in the background and holds their
// states. Its methods are safe for concurrent use. Run must be called once.
type Monitor struct {
	targets []*probe.Target
	cfg     Config
	now     func() time.Time
	rep     *probe.Reporter
	metrics *metrics
	stale   []time.Duration // per loop: silent for longer, it is stuck; 0: never

	mu      sync.RWMutex
	states  []State
	beats   []time.Time // each loop's last sign of life
	stopped bool        // Run has returned
}

// New makes a Monitor for targets, whose names are unique (probe.Targets
// sees to that). A target's Optional field says whether /readyz as a whole
// waits for it. It reports a configuration problem: an Interval that is not
// more than 0.
func New(targets []*probe.Target, c Config) (*Monitor, error) {
	if c.Interval <= 0 {
		return nil, fmt.Errorf("interval %s: must be more than 0", c.Interval)
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Monitor{
		targets: targets,
		cfg:     c,
		now:     now,
		rep:     probe.NewReporter(log, c.Remind, now),
		metrics: newMetrics(targets, c.Version, c.MetricsMaxAge, now),
		stale:   make([]time.Duration, len(targets)),
		states:  make([]State, len(targets)),
		beats:   make([]time.Time, len(targets)),
	}
	start := now()
	for i, t := range targets {
		m.states[i] = State{Name: t.Name, URL: t.URL(), Optional: t.Optional, Since: start}
		m.beats[i] = start
		m.stale[i] = staleAfter(c, t)
	}
	return m, nil
}

// staleAfter is how long t's loop may stay silent before /livez calls it
// stuck: three times the longest a healthy loop can take between two
// attempts' ends (the longest wait, jittered, plus one attempt: t's own
// time limit, attempt_timeout= when set, and the cluster step's after it
// when t has the API; the backoff's ceiling grows up to Backoff.Late, and
// a k8s:// target's up to probe.APIBackoffMax). Without an attempt time
// limit an attempt may last as long as the dependency keeps it, so the
// loop is never called stuck.
func staleAfter(c Config, t *probe.Target) time.Duration {
	attempt := t.AttemptLimit(c.Policy.AttemptTimeout)
	if attempt <= 0 {
		return 0
	}
	ceiling := max(c.Policy.Backoff.Max, c.Policy.Backoff.Late)
	if _, object := t.Object(); object {
		ceiling = max(ceiling, probe.APIBackoffMax) // not multiplied: its pace is the API's
	} else {
		ceiling *= probe.CostlyFactor
		if t.API != nil {
			attempt += probe.ClusterTimeout
		}
	}
	longest := max(c.Interval, ceiling)
	longest = time.Duration(float64(longest) * (1 + c.Policy.Backoff.Jitter))
	return 3 * (longest + attempt)
}

// Run probes every target, each on its own goroutine (probe.Watch), until
// ctx is done, and returns once every loop has returned.
func (m *Monitor) Run(ctx context.Context) {
	start := m.now()
	m.mu.Lock()
	for i := range m.beats {
		m.beats[i] = start
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for i, t := range m.targets {
		wg.Go(func() {
			probe.Watch(ctx, t, m.cfg.Policy, m.cfg.Interval, func(r probe.Result) { m.observe(ctx, i, r) })
		})
	}
	wg.Wait()
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
}

// observe records the result of target i's attempt.
func (m *Monitor) observe(ctx context.Context, i int, r probe.Result) {
	now := m.now()
	m.mu.Lock()
	s := &m.states[i]
	if s.Ready != r.Ready() {
		s.Since = now
	}
	s.Probed, s.Ready, s.Last = true, r.Ready(), r
	s.Attempts++
	if r.Ready() {
		s.LastSuccess, s.ConsecutiveFailures = now, 0
	} else {
		s.ConsecutiveFailures++
	}
	m.beats[i] = now
	m.mu.Unlock()
	m.metrics.observe(r)
	m.rep.Observe(ctx, r)
}

// States is a snapshot of every target's state, in the targets' order.
func (m *Monitor) States() []State {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return slices.Clone(m.states)
}

// Ready reports whether every target that is not optional is ready.
func (m *Monitor) Ready() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return allReady(m.states)
}

func allReady(states []State) bool {
	for _, s := range states {
		if !s.Ready && !s.Optional {
			return false
		}
	}
	return true
}

// Alive reports whether the probing loops run: Run has not returned, and
// no loop has been silent for longer than a healthy loop can be. When not
// alive, why says so in a few words.
func (m *Monitor) Alive() (ok bool, why string) {
	for _, c := range m.liveness() {
		if !c.ok {
			return false, c.why
		}
	}
	return true, ""
}

// liveness is /livez's checks: "probing" (Run has not returned) and one
// "loop/NAME" per target (its loop finished an attempt lately).
func (m *Monitor) liveness() []check {
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	checks := make([]check, 0, 1+len(m.beats))
	probing := check{name: "probing", ok: !m.stopped}
	if m.stopped {
		probing.why = "probing has stopped"
	}
	checks = append(checks, probing)
	for i, beat := range m.beats {
		c := check{name: "loop/" + m.states[i].Name, ok: true}
		if silent, stale := now.Sub(beat), m.stale[i]; stale > 0 && !m.stopped && silent > stale {
			c.ok = false
			c.why = fmt.Sprintf("the loop of %q has not finished an attempt for %s (limit %s)", m.states[i].Name, probe.RoundDuration(silent), stale)
		}
		checks = append(checks, c)
	}
	return checks
}
