package probe

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Backoff is the exponential backoff between the attempts of one target.
type Backoff struct {
	Initial    time.Duration // the first wait after a failed attempt
	Max        time.Duration // the longest wait after a cheap failure (refused, not found)
	Multiplier float64       // each wait is this many times the one before, up to Max
	Jitter     float64       // each wait is randomized by ± this fraction, so pods that start together spread out
}

// CostlyFactor is how many times longer Wait waits after an outcome that
// cost the dependency work (not_ready, unexpected, reset, closed) than after
// one that cost it nothing (refused): a server that says "starting up" is
// busy starting up, and depprobe should not keep it from doing so.
const CostlyFactor = 5

// Policy is how Wait retries one target. The zero value retries at once and
// forever; cmd fills it from DEPPROBE_* variables.
type Policy struct {
	AttemptTimeout time.Duration // each attempt's own deadline, all steps together; 0: only ctx's
	MaxTimeouts    int           // consecutive timed-out (or unreachable) attempts that end the wait; 0: never
	Backoff        Backoff
	// Timer replaces the real timer between attempts, so tests need not
	// sleep through backoff; nil means a real timer.
	Timer backoff.Timer
}

// Errors that Wait returns when it gives up before ctx is done. The returned
// error wraps one of them with details.
var (
	ErrFatal    = errors.New("waiting cannot fix it")
	ErrTimeouts = errors.New("too many consecutive timeouts")
)

// Wait probes t until it is ready, its outcome is fatal (cert_invalid,
// auth_failed), MaxTimeouts consecutive attempts time out, or ctx is done.
// observe, when not nil, is called with every attempt's result from Wait's
// goroutine (but not for an attempt cut short by ctx's cancellation).
//
// Wait returns the last result (the diagnosis to report; zero if no attempt
// ran) and nil when ready, an error wrapping ErrFatal or ErrTimeouts, or
// ctx.Err(). Each call makes its own backoff: Wait is safe to call
// concurrently for different targets.
func Wait(ctx context.Context, t *Target, p Policy, observe func(Result)) (Result, error) {
	var (
		last     Result
		timeouts int
		bo       = p.Backoff.exponential()
		next     = &outcomeBackOff{b: bo}
	)
	op := func() error {
		r := attemptOnce(ctx, t, p.AttemptTimeout)
		if r.Outcome == Canceled || (last.Target != "" && ended(ctx)) {
			// Cut short by the caller: the attempt before says more. The
			// deadline may have passed before ctx says so, and
			// backoff.Permanent(nil) would be success.
			err := ctx.Err()
			if err == nil {
				err = context.DeadlineExceeded
			}
			return backoff.Permanent(err)
		}
		last = r
		next.last = r.Outcome
		if observe != nil {
			observe(r)
		}
		switch {
		case r.Ready():
			return nil
		case r.Outcome.Fatal():
			return backoff.Permanent(fmt.Errorf("%w: %s", ErrFatal, r.Outcome))
		case r.Outcome.TimedOut():
			timeouts++
			if p.MaxTimeouts > 0 && timeouts >= p.MaxTimeouts {
				return backoff.Permanent(fmt.Errorf("%w: %d attempts in a row (DEPPROBE_MAX_TIMEOUTS=%d)", ErrTimeouts, timeouts, p.MaxTimeouts))
			}
		default:
			timeouts = 0
		}
		return errors.New(r.Summary())
	}
	err := backoff.RetryNotifyWithTimer(op, backoff.WithContext(next, ctx), nil, p.Timer)
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return last, err
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

// outcomeBackOff stretches the wait after costly outcomes by CostlyFactor.
// Like the backoff it wraps, it is not safe for concurrent use.
type outcomeBackOff struct {
	b    *backoff.ExponentialBackOff
	last Outcome
}

func (o *outcomeBackOff) Reset() { o.b.Reset() }

func (o *outcomeBackOff) NextBackOff() time.Duration {
	d := o.b.NextBackOff()
	if d != backoff.Stop && costly(o.last) {
		d *= CostlyFactor
	}
	return d
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
