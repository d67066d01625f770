package probe

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Backoff is the exponential backoff between the attempts of one target.
// Its ceiling grows with the time the target has been unready: Max at
// first, then LateShare of that time, up to Late (see Ceiling).
type Backoff struct {
	Initial    time.Duration // the first wait after a failed attempt
	Max        time.Duration // the longest wait after a cheap failure (refused, not found) while the target has been unready for less than Max/LateShare
	Late       time.Duration // the longest wait once the target has been unready for Late/LateShare or more; not more than Max: the ceiling stays Max
	Multiplier float64       // each wait is this many times the one before, up to the ceiling
	Jitter     float64       // each wait is randomized by ± this fraction, so pods that start together spread out
}

// LateShare is the share of the time a target has been unready that the
// backoff's ceiling grows to, between Backoff.Max and Backoff.Late: a
// dependency that comes after a wait of t is noticed at most about
// t×LateShare later (half that on average), and a dependency that stays
// down is knocked on less and less often. With Max at 100ms the ceiling
// starts to grow after 10 s.
const LateShare = 0.01

// Ceiling is the longest wait after a cheap failure of a target that has
// been unready for unready: Max, or LateShare of unready once that is
// more, but never more than Late.
func (b Backoff) Ceiling(unready time.Duration) time.Duration {
	return max(b.Max, min(time.Duration(float64(unready)*LateShare), b.Late))
}

// CostlyFactor is how many times longer the loop waits after an outcome
// that cost the dependency work (not_ready, unexpected, reset, closed) than
// after one that cost it nothing (refused): a server that says "starting
// up" is busy starting up, and depprobe should not keep it from doing so.
const CostlyFactor = 5

// Policy is how Wait and Watch retry one target. The zero value retries at
// once and forever; cmd fills it from its configuration.
type Policy struct {
	AttemptTimeout time.Duration // each attempt's own deadline, all steps together; 0: only ctx's
	MaxTimeouts    int           // consecutive timed-out (or unreachable) attempts that end a wait; 0: never
	Backoff        Backoff

	// Coalesce ends every wait of 160 ms or more on a grid common to the
	// process, of steps of 10 ms × 2^k up to a sixteenth of the wait, so
	// that the loops of targets due at about the same time wake up
	// together: one wake-up of the process probes several targets, which
	// costs about as much as probing one (serve's steady CPU). A wait
	// grows by less than a sixteenth.
	Coalesce bool

	timer timer // the waits between attempts; nil: real timers (tests set it, see export_test.go)
}

// timer is what the loop waits on between attempts, and its clock: a real
// time.Timer and time.Now, or in this package's tests one that fires at
// once, records the waits and counts them as time passed. One timer serves
// one loop.
type timer interface {
	Start(d time.Duration) // arms the timer to fire after d
	C() <-chan time.Time
	Stop()
	Now() time.Time
}

// Errors that Wait returns when it gives up before ctx is done. The returned
// error wraps one of them with details.
var (
	ErrFatal    = errors.New("waiting cannot fix it")
	ErrTimeouts = errors.New("too many consecutive timeouts")
	// ErrDeadline: the target's own timeout= passed.
	ErrDeadline = errors.New("the target's timeout= reached")
)

// decision is what a policy makes of an attempt's result.
type decision struct {
	stop  bool  // return err
	err   error // why, when stop; nil: ready
	ready bool  // the target is ready: the backoff starts over
	slow  bool  // wait at least the interval before the next attempt
}

// loop is the one retry loop under Wait and Watch: attempt → observe →
// streak (of consecutive timed-out attempts) → decide, then wait the
// backoff, whose ceiling grows with the time since the first of the
// failed attempts in a row began (Backoff.Ceiling; CostlyFactor times
// longer after a costly outcome) or, where the policy says slow, at least
// interval, jittered. It returns when decide
// says stop, or when ctx is done, with the last result that ended on its
// own: an attempt cut short by ctx says less than the one before it, and is
// returned only when it was the first: its outcome is then Canceled when ctx
// was canceled (Result.Diagnosis says "not yet checked"), or Timeout when
// ctx's deadline cut it (an attempt that got no answer in the time there
// was).
// observe sees every result but a cut-short one.
func (p Policy) loop(ctx context.Context, t *Target, interval time.Duration, observe func(Result), decide func(r Result, streak int) decision) (Result, error) {
	var (
		last   Result
		streak int
		b      = p.Backoff
	)
	if t.object != nil { // a k8s:// target asks the API server, not the dependency
		b = apiPaced(b)
	}
	var (
		bo        = b.exponential()
		tm        = p.timer
		downSince time.Time // when the first of the failed attempts in a row began; zero while ready
	)
	if tm == nil {
		tm = &realTimer{}
	}
	defer tm.Stop()
	for {
		began := tm.Now()
		r := attemptOnce(ctx, t, t.AttemptLimit(p.AttemptTimeout))
		if r.Outcome == Canceled || (last.Target != "" && ended(ctx)) {
			if last.Target == "" {
				last = r
			}
			return last, ctxErr(ctx)
		}
		last = r
		if observe != nil {
			observe(r)
		}
		if r.Outcome.TimedOut() {
			streak++
		} else {
			streak = 0
		}
		d := decide(r, streak)
		switch {
		case d.stop:
			return r, d.err
		case ctx.Err() != nil: // no wait to start
			return last, ctx.Err()
		}
		var wait time.Duration
		if d.ready {
			bo.Reset()
			downSince = time.Time{}
		} else {
			if downSince.IsZero() {
				downSince = began
			}
			bo.MaxInterval = b.Ceiling(tm.Now().Sub(downSince))
			wait = bo.NextBackOff()
			if costly(r.Outcome) && t.object == nil {
				wait *= CostlyFactor
			}
		}
		if d.slow && wait < interval {
			wait = jitter(interval, b.Jitter) // the backoff jitters its own waits
		}
		if p.Coalesce {
			wait = onGrid(tm.Now(), wait)
		}
		tm.Start(wait)
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-tm.C():
		}
	}
}

// Wait probes t until it is ready, its outcome is fatal (cert_invalid,
// auth_failed, forbidden) or the Kubernetes API makes its failure certain
// (Result.Fatal), MaxTimeouts consecutive attempts time out, or ctx is done.
// observe, when not nil, is called with every attempt's result from Wait's
// goroutine (but not for an attempt cut short by ctx).
//
// Wait returns the last result (the diagnosis to report) and nil when
// ready, an error wrapping ErrFatal or ErrTimeouts, one wrapping
// ErrDeadline when t's own Timeout passed first, or ctx.Err(). When ctx
// ends the first attempt, that attempt's result is returned: outcome
// Canceled (or Timeout for ctx's deadline), the step it was in and the
// time it took. Wait is safe to call concurrently for different targets.
func Wait(ctx context.Context, t *Target, p Policy, observe func(Result)) (Result, error) {
	parent := ctx
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.Timeout)
		defer cancel()
	}
	r, err := p.loop(ctx, t, 0, observe, func(r Result, streak int) decision {
		switch {
		case r.Ready():
			return decision{stop: true}
		case r.Fatal() && r.Outcome.Fatal():
			return decision{stop: true, err: fmt.Errorf("%w: %s", ErrFatal, r.Outcome)}
		case r.Fatal():
			return decision{stop: true, err: fmt.Errorf("%w: %s", ErrFatal, r.Finding.Cause)}
		case p.MaxTimeouts > 0 && streak >= p.MaxTimeouts:
			return decision{stop: true, err: fmt.Errorf("%w: %d attempts in a row", ErrTimeouts, streak)}
		}
		return decision{}
	})
	if errors.Is(err, context.DeadlineExceeded) && t.Timeout > 0 && !ended(parent) {
		err = fmt.Errorf("%w (timeout=%s)", ErrDeadline, t.Timeout)
	}
	return r, err
}

// epoch is the origin of the grid that Coalesce rounds to: when the
// process first needed it, so that pods started at different times keep
// different grids.
var epoch = sync.OnceValue(time.Now)

// onGrid lengthens wait, started at now, so that it ends on the grid of
// steps 10 ms × 2^k (the largest not above wait/16) from epoch. Steps are
// powers of two of one unit from one origin, so a coarser grid's points
// are on every finer one.
func onGrid(now time.Time, wait time.Duration) time.Duration {
	if wait < 16*10*time.Millisecond {
		return wait
	}
	step := 10 * time.Millisecond
	for step*2 <= wait/16 {
		step *= 2
	}
	if off := now.Add(wait).Sub(epoch()) % step; off > 0 {
		wait += step - off
	}
	return wait
}

func (b Backoff) exponential() *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(b.Initial),
		backoff.WithMaxInterval(b.Max),
		backoff.WithMultiplier(b.Multiplier),
		backoff.WithRandomizationFactor(b.Jitter),
		backoff.WithMaxElapsedTime(0), // the context is the only deadline
	)
}

// ended reports whether ctx is done or its deadline has passed: a dial can
// time out on the deadline a moment before the context says so.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && !time.Now().Before(deadline)
}

// ctxErr is ctx's error once ended says so, which may be a moment before
// ctx does.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return context.DeadlineExceeded
}
