package probe_test

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
)

const interval = time.Hour // never slept through: the timer fires at once

// TestWatchRefusedReadyDown follows a target through refused, ready and
// down again: backoff while not ready, the interval while ready, and the
// backoff starts over after a ready spell.
func TestWatchRefusedReadyDown(t *testing.T) {
	addr := loopback.Refused(t)
	tg := target(t, "tcp://"+addr)
	timer := newFakeTimer()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var (
		outcomes []probe.Outcome
		ln       net.Listener
	)
	probe.Watch(ctx, tg, policy(timer), interval, func(r probe.Result) {
		outcomes = append(outcomes, r.Outcome)
		switch len(outcomes) {
		case 5: // the dependency starts listening
			var err error
			if ln, err = net.Listen("tcp", addr); err != nil {
				t.Fatalf("listen again on %s: %v", addr, err)
			}
		case 7: // and goes away
			ln.Close()
		case 9:
			cancel()
		}
	})
	want := []probe.Outcome{"refused", "refused", "refused", "refused", "refused", "ok", "ok", "refused", "refused"}
	if !slices.Equal(outcomes, want) {
		t.Fatalf("outcomes = %v, want %v", outcomes, want)
	}
	ms := time.Millisecond
	// No wait follows the attempt whose observer canceled the watch.
	wantWaits := []time.Duration{10 * ms, 20 * ms, 40 * ms, 80 * ms, 100 * ms, interval, interval, 10 * ms}
	if got := timer.Waits(); !slices.Equal(got, wantWaits) {
		t.Errorf("waits = %v, want %v", got, wantWaits)
	}
}

// TestWatchCeilingStartsOver: a target unready for long is tried every
// Late; once it was ready in between, a new failure starts the backoff
// and its ceiling over, so that it is noticed again within Max.
func TestWatchCeilingStartsOver(t *testing.T) {
	addr := loopback.Refused(t)
	timer := newFakeTimer()
	p := policy(timer)
	p.Backoff.Late = 400 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	start := timer.Now()
	var (
		ln      net.Listener
		upAt    = -1
		outcome []probe.Outcome
	)
	probe.Watch(ctx, target(t, "tcp://"+addr), p, interval, func(r probe.Result) {
		outcome = append(outcome, r.Outcome)
		n := len(outcome)
		switch {
		case upAt < 0 && timer.Now().Sub(start) > time.Minute: // the dependency comes after a minute
			var err error
			if ln, err = net.Listen("tcp", addr); err != nil {
				t.Fatalf("listen again on %s: %v", addr, err)
			}
			upAt = n
		case upAt > 0 && n == upAt+1: // ready; then it goes away
			ln.Close()
		case upAt > 0 && n == upAt+8:
			cancel()
		}
	})
	waits := timer.Waits()
	if len(waits) < 10 || upAt < 0 {
		t.Fatalf("%d waits, dependency up after attempt %d", len(waits), upAt)
	}
	ms := time.Millisecond
	if got := waits[upAt-2]; got != 400*ms {
		t.Errorf("last wait before the dependency came = %s, want Late (400ms)", got)
	}
	if got, want := waits[upAt:], []time.Duration{interval, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 100 * ms, 100 * ms}; !slices.Equal(got, want) {
		t.Errorf("waits after it was ready = %v, want %v (the backoff and its ceiling start over)", got, want)
	}
}

// TestWatchTimeoutsSlowDown: where Wait would give up after MaxTimeouts
// timeouts, Watch keeps going at one attempt per interval.
func TestWatchTimeoutsSlowDown(t *testing.T) {
	ln := loopback.Listen(t)
	loopback.Serve(t, ln, func(net.Conn) {}) // accepts, never answers
	tg := target(t, "http://"+ln.Addr().String()+"/")
	timer := newFakeTimer()
	p := policy(timer)
	p.AttemptTimeout = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n := 0
	probe.Watch(ctx, tg, p, interval, func(r probe.Result) {
		if r.Outcome != probe.Timeout {
			t.Errorf("Outcome = %q, want %q", r.Outcome, probe.Timeout)
		}
		if n++; n == 5 {
			cancel()
		}
	})
	ms := time.Millisecond
	want := []time.Duration{10 * ms, 20 * ms, interval, interval}
	if got := timer.Waits(); !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
}

// TestWatchFatalSlowsDown: a certificate that does not verify is retried
// once per interval, never given up on.
func TestWatchFatalSlowsDown(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake errors are the point
	srv.StartTLS()
	defer srv.Close()
	tg := target(t, srv.URL) // the test server's certificate is not in the system pool
	timer := newFakeTimer()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n := 0
	probe.Watch(ctx, tg, policy(timer), interval, func(r probe.Result) {
		if r.Outcome != probe.CertInvalid {
			t.Errorf("Outcome = %q, want %q", r.Outcome, probe.CertInvalid)
		}
		if n++; n == 3 {
			cancel()
		}
	})
	if got, want := timer.Waits(), []time.Duration{interval, interval}; !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
}

// TestWatchCanceledMidAttempt: cancelling during an attempt ends Watch
// without reporting the cut-short attempt.
func TestWatchCanceledMidAttempt(t *testing.T) {
	ln := loopback.Listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	loopback.Serve(t, ln, func(c net.Conn) { cancel(); t.Cleanup(func() { c.Close() }) })
	tg := target(t, "http://"+ln.Addr().String()+"/")
	p := policy(newFakeTimer())
	p.AttemptTimeout = 0 // only ctx ends the attempt
	probe.Watch(ctx, tg, p, interval, func(r probe.Result) {
		t.Errorf("observed %v; want no result from a canceled attempt", r.Summary())
	})
}
