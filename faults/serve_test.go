package faults

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeFlapping: a target that comes and goes under `depprobe serve`.
// /readyz follows it (503 naming the cause, 200 when it answers), serve never
// gives up (not even after MAX_TIMEOUTS timeouts), logs one line per change,
// and exits 0 on SIGTERM.
func TestServeFlapping(t *testing.T) {
	requireNet(t)
	t.Parallel()
	client, server, addr := pair(t, 20, false)
	target := hostPort(addr, 5432)
	p := depprobe(t, client, map[string]string{
		"DEPPROBE_LISTEN":   "127.0.0.1:3377", // the client's own loopback
		"DEPPROBE_INTERVAL": "200ms",
	}, "serve", "db=tcp://"+target)
	// A serve that exits at once, with or without a word, fails the test:
	// only a missing prerequisite (requireNet) may skip it.
	first, ok := p.find(10*time.Second, "the first line", func(l logLine) bool { return l.msg() != "" })
	if code, _ := p.exited(); !ok || code >= 0 || first.msg() != "serving readiness of dependencies" {
		t.Fatalf("serve: first line = %v, exit code %d (-1: running), want it running and saying serving readiness of dependencies; log:\n%s", first, code, p.log())
	}

	// readyz GETs /readyz from inside the client until it answers code with
	// a body containing body, or fails the test after limit.
	hc := &http.Client{
		Timeout: time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return client.dial(network, addr, time.Second)
			},
		},
	}
	// poll GETs path from inside the client until ok accepts the answer,
	// or fails the test after limit; it returns how long that took.
	poll := func(path, what string, limit time.Duration, ok func(code int, body string) bool) time.Duration {
		t.Helper()
		start := time.Now()
		deadline := time.NewTimer(limit)
		defer deadline.Stop()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var last string
		for {
			resp, err := hc.Get("http://127.0.0.1:3377" + path)
			if err == nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				last = fmt.Sprintf("%d %q", resp.StatusCode, b)
				if ok(resp.StatusCode, string(b)) {
					return time.Since(start)
				}
			} else {
				last = err.Error()
			}
			select {
			case <-tick.C:
			case <-deadline.C:
				t.Fatalf("%s: want %s within %s, last got %s", path, what, limit, last)
			}
		}
	}
	readyz := func(code int, body string, limit time.Duration) time.Duration {
		t.Helper()
		return poll("/readyz", fmt.Sprintf("%d with %q", code, body), limit, func(c int, b string) bool {
			return c == code && strings.Contains(b, body)
		})
	}

	readyz(http.StatusServiceUnavailable, "[-]db failed: connect refused", 10*time.Second)
	ln := server.listen(t, "0.0.0.0:5432")
	up := readyz(http.StatusOK, "ok", 10*time.Second)
	t.Logf("/readyz 200 %s after the listener appeared", up.Round(time.Millisecond))
	ln.Close()
	down := readyz(http.StatusServiceUnavailable, "[-]db failed: connect refused", 10*time.Second)
	t.Logf("/readyz 503 %s after the listener went (DEPPROBE_INTERVAL=200ms)", down.Round(time.Millisecond))
	server.listen(t, "0.0.0.0:5432")
	readyz(http.StatusOK, "ok", 10*time.Second)

	// A firewall that drops SYNs: serve reports the timeout and keeps
	// probing past MAX_TIMEOUTS=3; when the rule goes, it is ready again.
	server.firewall(t, "tcp dport 5432 drop")
	readyz(http.StatusServiceUnavailable, "[-]db failed: connect timeout", 10*time.Second)
	poll("/metrics", "more than 3 connect timeouts", 20*time.Second, func(_ int, b string) bool {
		return timeouts(b) > 3
	})
	if code, _ := p.exited(); code >= 0 {
		t.Fatalf("serve exited (code %d) after MAX_TIMEOUTS timeouts; it must never give up", code)
	}
	server.firewall(t)
	back := readyz(http.StatusOK, "ok", 10*time.Second)
	t.Logf("/readyz 200 %s after the firewall rule went", back.Round(time.Millisecond))

	p.signal(syscall.SIGTERM)
	code, took := p.wait(10 * time.Second)
	wantExit(t, code, 0)

	var changes []string
	var timeoutLine logLine
	for _, l := range p.all("") {
		switch l.msg() {
		case "ready":
			changes = append(changes, "ready")
		case "not ready":
			changes = append(changes, l.str("step")+"/"+l.str("outcome"))
			if l.str("outcome") == "timeout" && timeoutLine == nil {
				timeoutLine = l
			}
		}
	}
	t.Logf("state changes: %s", strings.Join(changes, " → "))
	want := []string{"connect/refused", "ready", "connect/refused", "ready", "connect/timeout", "ready"}
	if got := strings.Join(changes, " "); got != strings.Join(want, " ") {
		t.Errorf("state changes = %q, want %q", got, want)
	}
	if timeoutLine != nil {
		observe(t, row{order: 20, fault: "serve: the target listens, stops, listens, then a firewall drops SYNs, then the rule goes", run: "serve, DEPPROBE_INTERVAL=200ms",
			line: timeoutLine, exit: code, took: took, result: "/readyz 503 ↔ 200 with every change; never gave up; SIGTERM"})
	}
}

// timeouts reads depprobe_failures_total{step="connect",outcome="timeout"}
// from a Prometheus exposition.
func timeouts(metrics string) float64 {
	for line := range strings.Lines(metrics) {
		if !strings.HasPrefix(line, "depprobe_failures_total{") || !strings.Contains(line, `outcome="timeout"`) || !strings.Contains(line, `step="connect"`) {
			continue
		}
		var v float64
		fields := strings.Fields(line)
		fmt.Sscan(fields[len(fields)-1], &v)
		return v
	}
	return 0
}
