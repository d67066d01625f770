package probe

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Watch probes t until ctx is done, for a process that reports readiness
// (the serve command) rather than waits for it. It never gives up because
// of the dependency:
//
//   - while t is not ready, attempts follow p's backoff, like Wait's
//     (CostlyFactor times longer after a costly outcome);
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
// not for an attempt cut short by ctx's cancellation. p.Timer, when not nil,
// replaces the real timer; a Timer is not safe for concurrent use, so give
// each concurrent Watch its own. Watch returns when ctx is done, after the
// attempt in flight has closed its connections.
func Watch(ctx context.Context, t *Target, p Policy, interval time.Duration, observe func(Result)) {
	var (
		bo       = &outcomeBackOff{b: p.Backoff.exponential()}
		timer    = p.Timer
		timeouts int
	)
	if timer == nil {
		timer = &realTimer{}
	}
	defer timer.Stop()
	for {
		r := attemptOnce(ctx, t, p.AttemptTimeout)
		if r.Outcome == Canceled || ctx.Err() != nil {
			return
		}
		if observe != nil {
			observe(r)
		}
		var (
			d    time.Duration
			slow bool // at least an interval
		)
		switch {
		case r.Ready():
			bo.Reset()
			timeouts, slow = 0, true
		case r.Outcome.Fatal():
			timeouts, slow = 0, true
			d = bo.next(r.Outcome)
		case r.Outcome.TimedOut():
			timeouts++
			slow = p.MaxTimeouts > 0 && timeouts >= p.MaxTimeouts
			d = bo.next(r.Outcome)
		default:
			timeouts = 0
			d = bo.next(r.Outcome)
		}
		if slow && d < interval {
			d = jitter(interval, p.Backoff.Jitter) // the backoff jitters its own waits
		}
		timer.Start(d)
		select {
		case <-ctx.Done():
			return
		case <-timer.C():
		}
	}
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

// next is the wait after an attempt that ended with o.
func (o *outcomeBackOff) next(last Outcome) time.Duration {
	o.last = last
	return o.NextBackOff()
}

// jitter randomizes d by ± fraction f.
func jitter(d time.Duration, f float64) time.Duration {
	if f <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + f*(2*rand.Float64()-1)))
}

// realTimer is a backoff.Timer on a time.Timer.
type realTimer struct{ t *time.Timer }

var _ backoff.Timer = (*realTimer)(nil)

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
