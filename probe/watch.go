package probe

import (
	"context"
	"math/rand/v2"
	"time"
)

// Watch probes t until ctx is done, for a process that reports readiness
// (the serve command) rather than waits for it. It runs Wait's loop with
// another policy, and never gives up because of the dependency:
//
//   - while t is not ready, attempts follow p's backoff, like Wait's
//     (CostlyFactor times longer after a costly outcome), whose ceiling
//     grows with the time t has been unready (Backoff.Ceiling) and starts
//     over when t was ready in between;
//   - while t is ready, it is probed again every interval;
//   - when waiting rarely helps, after a fatal outcome (cert_invalid,
//     auth_failed: a rotated certificate or Secret may still fix it) or
//     after p.MaxTimeouts consecutive timed-out attempts (where Wait would
//     give up: a firewall seldom opens by itself), attempts slow down to
//     one every interval, so that a dead dependency costs one attempt per
//     interval, and a fixed one is noticed within an interval.
//
// Every wait is randomized by p.Backoff.Jitter, so that targets and pods
// that started together spread out. interval must be more than 0.
//
// observe is called from Watch's goroutine with every attempt's result, but
// not for an attempt cut short by ctx. Watch returns when ctx is done,
// after the attempt in flight has closed its connections.
func Watch(ctx context.Context, t *Target, p Policy, interval time.Duration, observe func(Result)) {
	p.loop(ctx, t, interval, observe, func(r Result, streak int) decision {
		switch {
		case r.Ready():
			return decision{ready: true, slow: true}
		case r.Fatal():
			return decision{slow: true}
		}
		return decision{slow: p.MaxTimeouts > 0 && streak >= p.MaxTimeouts}
	})
}

// AttemptLimit is the time limit of one attempt of t: its
// attempt_timeout=, else def.
func (t *Target) AttemptLimit(def time.Duration) time.Duration {
	if t.AttemptTimeout > 0 {
		return t.AttemptTimeout
	}
	return def
}

// attemptOnce runs one attempt under its own deadline (none when limit is 0).
func attemptOnce(ctx context.Context, t *Target, limit time.Duration) Result {
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	return t.Probe(ctx)
}

// jitter randomizes d by ± fraction f.
func jitter(d time.Duration, f float64) time.Duration {
	if f <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + f*(2*rand.Float64()-1)))
}

// realTimer is the timer of production: a time.Timer.
type realTimer struct{ t *time.Timer }

func (r *realTimer) Start(d time.Duration) {
	if r.t == nil {
		r.t = time.NewTimer(d)
		return
	}
	r.t.Reset(d)
}

func (r *realTimer) Stop() {
	if r.t != nil {
		r.t.Stop()
	}
}

func (r *realTimer) C() <-chan time.Time { return r.t.C }

func (r *realTimer) Now() time.Time { return time.Now() }
