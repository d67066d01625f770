package probe

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Reporter turns a stream of results into the log lines a person tailing the
// log needs: one line per change of a target's state (its first result,
// ready → not ready, not ready → ready, or a new diagnosis while not ready),
// and while a target stays not ready a reminder at most every Remind. It is
// safe for concurrent use; wait and serve share it.
//
// Every line's elapsed is the time since the target's current state began:
// the Reporter's start (the start of the wait, or of serve) until the
// target's first change between ready and not ready, then that change.
// Its attempt counts the attempts in that state, the one logged included.
type Reporter struct {
	log    *slog.Logger
	remind time.Duration
	now    func() time.Time
	start  time.Time

	mu     sync.Mutex
	states map[string]*reported
}

// reported is what the Reporter last said about one target.
type reported struct {
	ready    bool
	step     Step
	outcome  Outcome
	since    time.Time // start of the current state
	lastLine time.Time // last line logged
	attempts int       // attempts since the state began
}

// DefaultRemind is how often a target that stays not ready is mentioned.
const DefaultRemind = 5 * time.Second

// NewReporter returns a Reporter that logs to log and reminds every remind
// (DefaultRemind when zero). now is the clock; nil means time.Now. Elapsed
// times count from now().
func NewReporter(log *slog.Logger, remind time.Duration, now func() time.Time) *Reporter {
	if remind <= 0 {
		remind = DefaultRemind
	}
	if now == nil {
		now = time.Now
	}
	return &Reporter{log: log, remind: remind, now: now, start: now(), states: map[string]*reported{}}
}

// Elapsed is the time since the Reporter was made: the whole wait's, as
// its last line and the termination message say it.
func (rp *Reporter) Elapsed() time.Duration { return rp.now().Sub(rp.start) }

// Observe records one attempt's result and logs it if it changes the state
// or a reminder is due.
func (rp *Reporter) Observe(ctx context.Context, r Result) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	now := rp.now()
	st, seen := rp.states[r.Target]
	if !seen {
		st = &reported{since: rp.start}
		rp.states[r.Target] = st
	}
	st.attempts++
	// A ready line tells how many attempts and how long it took to become
	// ready; the others how long the target has been not ready.
	attempts, elapsed := st.attempts, now.Sub(st.since)
	flipped := seen && st.ready != r.Ready()
	changed := !seen || flipped || (!r.Ready() && (st.step != r.Step || st.outcome != r.Outcome))
	if flipped && r.Ready() {
		// The not-ready spell ends here; the ready state begins now.
		st.since, st.attempts = now, 0
	}
	if flipped && !r.Ready() {
		// Down: the attempt that says so is the first of the new state.
		st.since, st.attempts = now, 1
		attempts, elapsed = 1, 0
	}
	st.ready, st.step, st.outcome = r.Ready(), r.Step, r.Outcome
	switch {
	case changed && r.Ready():
		rp.line(ctx, slog.LevelInfo, "ready", r, st, now, attempts, elapsed)
	case changed:
		rp.line(ctx, slog.LevelWarn, "not ready", r, st, now, attempts, elapsed)
	case !r.Ready() && now.Sub(st.lastLine) >= rp.remind:
		rp.line(ctx, slog.LevelInfo, "still not ready", r, st, now, attempts, elapsed)
	}
}

// GaveUp logs the one ERROR line for a target that a wait gave up on, with
// its last diagnosis and why the wait ended. elapsed is Elapsed as read
// once when the wait ended: every target's line, and what the caller
// writes after (the termination message), say the same moment, however
// long the work between them takes.
func (rp *Reporter) GaveUp(ctx context.Context, r Result, why error, elapsed time.Duration) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	st := rp.states[r.Target]
	if st == nil { // its first attempt never ended
		st = &reported{since: rp.start, attempts: 1}
	}
	end := rp.start.Add(elapsed)
	rp.line(ctx, slog.LevelError, "gave up", r, st, rp.now(), st.attempts, end.Sub(st.since), slog.String("reason", why.Error()))
}

func (rp *Reporter) line(ctx context.Context, level slog.Level, msg string, r Result, st *reported, now time.Time, attempts int, elapsed time.Duration, extra ...slog.Attr) {
	st.lastLine = now
	attrs := []slog.Attr{
		slog.String("target", r.Target),
		slog.String("url", r.URL),
	}
	if r.Ready() {
		attrs = append(attrs,
			slog.String("addr", r.Addr),
			slog.Int("attempt", attempts),
			slog.String("elapsed", elapsed.Round(time.Millisecond).String()),
			slog.String("steps", r.StepDurations()),
		)
	} else {
		attrs = append(attrs,
			slog.String("step", string(r.Step)),
			slog.String("outcome", string(r.Outcome)),
			slog.String("addr", r.Addr),
			slog.Int("attempt", attempts),
			slog.String("elapsed", elapsed.Round(time.Millisecond).String()),
			slog.String("err", r.Diagnosis()),
			slog.String("hint", r.Hint),
			slog.String("steps", r.StepDurations()),
		)
	}
	attrs = append(attrs, extra...)
	rp.log.LogAttrs(ctx, level, msg, attrs...)
}
