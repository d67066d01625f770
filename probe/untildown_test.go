package probe_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
)

// TestUntilDown: until=down is ready when a name does not exist or a port
// is refused, not ready while a port accepts (even with a protocol that
// would fail: it climbs to connect only), and a silent resolver stays a
// timeout, which proves nothing.
func TestUntilDown(t *testing.T) {
	up := loopback.Listen(t)
	loopback.Serve(t, up, func(c net.Conn) { c.Close() })
	_, upPort, _ := net.SplitHostPort(up.Addr().String())
	_, downPort, _ := net.SplitHostPort(loopback.Refused(t))
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

// TestUntilDownOneSilent: with several addresses of a name, or several
// hosts, one refused and one silent (a listener whose accept queue is
// full: the kernel drops its SYNs) is not down: the silent one may be up
// behind a firewall. The result is the silent one's timeout.
func TestUntilDownOneSilent(t *testing.T) {
	port := silentPort(t, [4]byte{127, 0, 0, 2}, "127.0.0.1")
	resolver := dnsServer(t, map[string][]string{"twice.test.": {"127.0.0.1", "127.0.0.2"}})
	silent := net.JoinHostPort("127.0.0.2", port)
	for _, spec := range []string{
		"tcp://twice.test:" + port + " until=down",
		"kafka://127.0.0.1:" + port + ",127.0.0.2:" + port + " until=down",
	} {
		tg := target(t, spec)
		tg.Resolver = resolver
		r := attempt(t, tg, 500*time.Millisecond)
		if r.Outcome != probe.Timeout || r.Down || r.Addr != silent || r.Steps[len(r.Steps)-1].Addr != silent {
			t.Errorf("%s: outcome %s at %s, Down %v (%v); want timeout at %s, not down", spec, r.Outcome, r.Addr, r.Down, r.Err, silent)
		}
	}
}

// silentPort listens on ip with a full accept queue (backlog 1, never
// accepting, filled), so that a connect to it gets no answer, on a port
// where nothing listens on refusedIP; it returns the port.
func silentPort(t *testing.T, ip [4]byte, refusedIP string) string {
	t.Helper()
	for range 10 {
		port := acceptNever(t, ip)
		if c, err := net.Dial("tcp", net.JoinHostPort(refusedIP, port)); err == nil {
			c.Close() // something listens there: another port
			continue
		}
		// Connections complete until the queue is full (backlog + 1 on
		// Linux); then a connect gets no answer.
		addr := net.JoinHostPort(net.IP(ip[:]).String(), port)
		for i := 0; ; i++ {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err != nil {
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					t.Fatalf("filling the accept queue: %v", err)
				}
				return port
			}
			t.Cleanup(func() { c.Close() })
			if i == 16 {
				t.Fatalf("16 connections completed against backlog 1: the queue never filled")
			}
		}
	}
	t.Fatalf("no port free on %s among 10 tried", refusedIP)
	return ""
}

// acceptNever listens on ip, on a free port, with backlog 1 and never
// accepts: once its accept queue is full, the kernel drops every SYN. It
// returns the port; the socket is closed at the end of the test.
func acceptNever(t testing.TB, ip [4]byte) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: ip}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(sa.(*unix.SockaddrInet4).Port)
}

// TestTargetTimeout: Wait ends at the target's own timeout= with
// ErrDeadline, before the caller's deadline.
func TestTargetTimeout(t *testing.T) {
	tg := target(t, "tcp://"+loopback.Refused(t)+" timeout=200ms attempt_timeout=100ms")
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
