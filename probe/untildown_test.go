package probe_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/depprobe/depprobe/probe"
)

// TestUntilDown: until=down is ready when a name does not exist or a port
// is refused, not ready while a port accepts (even with a protocol that
// would fail: it climbs to connect only), and a silent resolver stays a
// timeout, which proves nothing.
func TestUntilDown(t *testing.T) {
	up := listen(t)
	serveConns(t, up, func(c net.Conn) { c.Close() })
	_, upPort, _ := net.SplitHostPort(up.Addr().String())
	_, downPort, _ := net.SplitHostPort(refusedAddr(t))
	resolver := dnsServer(t, map[string][]string{"old.test.": {"127.0.0.1"}})
	for _, tc := range []struct {
		spec string
		want probe.Outcome
		down bool
	}{
		{"tcp://gone.test:1 until=down", probe.OK, true},
		{"tcp://old.test:" + downPort + " until=down", probe.OK, true},
		{"postgres://old.test:" + upPort + " until=down", probe.NotReady, false},
		{"dns://old.test until=down", probe.NotReady, false},
		{"dns://gone.test until=down", probe.OK, true},
		{"tcp://silent.test:1 until=down", probe.Timeout, false},
	} {
		tg := target(t, tc.spec)
		tg.Resolver = resolver
		r := attempt(t, tg, 500*time.Millisecond)
		if r.Outcome != tc.want || r.Down != tc.down {
			t.Errorf("%s: outcome %s, Down %v (%v); want %s, %v", tc.spec, r.Outcome, r.Down, r.Err, tc.want, tc.down)
		}
	}
}

// TestTargetTimeout: Wait ends at the target's own timeout= with
// ErrDeadline, before the caller's deadline.
func TestTargetTimeout(t *testing.T) {
	tg := target(t, "tcp://"+refusedAddr(t)+" timeout=200ms attempt_timeout=100ms")
	if tg.AttemptLimit(time.Minute) != 100*time.Millisecond {
		t.Errorf("AttemptLimit = %s, want 100ms", tg.AttemptLimit(time.Minute))
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	p := probe.Policy{AttemptTimeout: time.Second, Backoff: probe.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, Multiplier: 2}}
	r, err := probe.Wait(ctx, tg, p, nil)
	if !errors.Is(err, probe.ErrDeadline) || r.Outcome != probe.Refused {
		t.Errorf("Wait = %s, %v; want refused and ErrDeadline", r.Outcome, err)
	}
}
