package readiness_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/readiness"
)

// The /readyz handler with 100 targets, the size the SPEC's serve budget
// names, for `go test -run '^$' -bench . -benchmem ./readiness/`.
// Benchmarks report; they never assert a time. bench/run.sh loads the real
// `depprobe serve` from a second process with wrk.

const benchTargets = 100

// readyMonitor runs a Monitor whose 100 targets all listen, and returns
// once it reports them ready. Its loops stop when the benchmark ends.
func readyMonitor(b *testing.B) *readiness.Monitor {
	b.Helper()
	lines := make([]string, benchTargets)
	for i := range lines {
		lines[i] = fmt.Sprintf("t%03d=tcp://%s", i, loopback.Up(b))
	}
	c := fast()
	c.Interval = 5 * time.Second // serve's default: the loops stay out of the way
	m, err := readiness.New(targets(b, lines...), c)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	eventually(b, "every target ready", m.Ready)
	return m
}

// idleMonitor is a Monitor that is never run: no target has been probed,
// so /readyz is 503 with one line per target, and nothing probes in the
// background while the benchmark runs.
func idleMonitor(b *testing.B) *readiness.Monitor {
	b.Helper()
	lines := make([]string, benchTargets)
	for i := range lines {
		lines[i] = fmt.Sprintf("t%03d=tcp://%s", i, loopback.Refused(b))
	}
	m, err := readiness.New(targets(b, lines...), fast())
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkReadyz100 calls the handler directly: what one request costs the
// handler, without the network and net/http's connection handling.
func BenchmarkReadyz100(b *testing.B) {
	ready := readyMonitor(b).Handler()
	notReady := idleMonitor(b).Handler()
	for _, bc := range []struct {
		name   string
		h      http.Handler
		target string
		json   bool
		want   int
	}{
		{"ready", ready, "/readyz", false, http.StatusOK},
		{"ready_verbose", ready, "/readyz?verbose", false, http.StatusOK},
		{"ready_json", ready, "/readyz", true, http.StatusOK},
		{"one_target", ready, "/readyz/t042", false, http.StatusOK},
		{"not_ready", notReady, "/readyz", false, http.StatusServiceUnavailable},
		{"not_ready_json", notReady, "/readyz", true, http.StatusServiceUnavailable},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, bc.target, nil)
			if bc.json {
				req.Header.Set("Accept", "application/json")
			}
			for b.Loop() {
				w := httptest.NewRecorder()
				bc.h.ServeHTTP(w, req)
				if w.Code != bc.want {
					b.Fatalf("GET %s = %d, want %d", bc.target, w.Code, bc.want)
				}
			}
		})
	}
}

// BenchmarkReadyzLoopback is one /readyz request over a kept-alive loopback
// connection: the handler plus net/http, client and server in one process.
func BenchmarkReadyzLoopback(b *testing.B) {
	srv := httptest.NewServer(readyMonitor(b).Handler())
	b.Cleanup(srv.Close)
	tr := &http.Transport{}
	b.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	for b.Loop() {
		resp, err := c.Get(srv.URL + "/readyz")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET /readyz = %d, want 200", resp.StatusCode)
		}
	}
}

// BenchmarkMetrics100 renders /metrics afresh for 100 ready targets whose
// loops have each observed an attempt or more (step histograms included):
// what one scrape costs when no other scraper shared its page.
func BenchmarkMetrics100(b *testing.B) {
	lines := make([]string, benchTargets)
	for i := range lines {
		lines[i] = fmt.Sprintf("t%03d=tcp://%s", i, loopback.Up(b))
	}
	c := fast()
	c.Interval = 5 * time.Second
	c.MetricsMaxAge = -1 // every scrape renders
	m, err := readiness.New(targets(b, lines...), c)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	eventually(b, "every target ready", m.Ready)
	h := m.Handler()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	var size int
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("GET /metrics = %d", w.Code)
		}
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/page")
}
