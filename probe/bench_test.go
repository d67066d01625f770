package probe_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
)

// The hot paths of `wait` and `serve`, for `go test -run '^$' -bench .
// -benchmem ./probe/`. Benchmarks report; they never assert a time.
// bench/run.sh measures the whole program against the tools users have.

// BenchmarkProbe is one attempt and its classification, as Wait makes it:
// with its own deadline, against loopback targets whose outcome is known.
func BenchmarkProbe(b *testing.B) {
	ln := loopback.Listen(b)
	loopback.Serve(b, ln, func(c net.Conn) { c.Close() })
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "starting up", http.StatusServiceUnavailable)
	}))
	b.Cleanup(unavailable.Close)
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	b.Cleanup(healthy.Close)
	for _, bc := range []struct {
		name string
		line string
		want probe.Outcome
	}{
		{"tcp_refused", "tcp://" + loopback.Refused(b), probe.Refused},
		{"tcp_listening", "tcp://" + ln.Addr().String(), probe.OK},
		{"http_503", unavailable.URL + "/healthz", probe.NotReady},
		{"http_200", healthy.URL + "/healthz", probe.OK},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tg := target(b, bc.line)
			for b.Loop() {
				ctx, cancel := context.WithTimeout(b.Context(), 2*time.Second)
				r := tg.Probe(ctx)
				cancel()
				if r.Outcome != bc.want {
					b.Fatalf("Outcome = %q, want %q (%s)", r.Outcome, bc.want, r.Diagnosis())
				}
			}
		})
	}
}

// BenchmarkFailureText is what every failed attempt costs to put into
// words: the one-line summary and the full error with its hint.
func BenchmarkFailureText(b *testing.B) {
	tg := target(b, "db=tcp://"+loopback.Refused(b))
	r := tg.Probe(b.Context())
	if r.Outcome != probe.Refused {
		b.Fatalf("Outcome = %q, want %q", r.Outcome, probe.Refused)
	}
	for b.Loop() {
		_ = r.Summary()
		_ = r.Diagnosis()
	}
}

// specsText is n targets of mixed schemes, one per line, as a user writes
// DEPPROBE_TARGETS.
func specsText(n int) string {
	lines := []string{
		"db%[1]d=postgres://user:secret@db-%[1]d:5432/app",
		"cache%[1]d=redis://cache-%[1]d:6379",
		"api%[1]d=https://api-%[1]d:8443/healthz status=200-299",
		"tcp://10.0.%[2]d.%[3]d:8080",
		"mq%[1]d=amqp://guest:guest@mq-%[1]d:5672/",
	}
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, lines[i%len(lines)]+"\n", i, i/250, i%250)
	}
	return b.String()
}

// BenchmarkParseSpecs is the grammar alone.
func BenchmarkParseSpecs(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		text := specsText(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				specs, err := probe.ParseSpecs("DEPPROBE_TARGETS", text)
				if err != nil || len(specs) != n {
					b.Fatalf("ParseSpecs = %d specs, %v; want %d", len(specs), err, n)
				}
			}
		})
	}
}

// BenchmarkTargets is what start-up does with DEPPROBE_TARGETS: the
// grammar, then every spec checked and built, names made unique.
func BenchmarkTargets(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		text := specsText(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				specs, err := probe.ParseSpecs("DEPPROBE_TARGETS", text)
				if err != nil {
					b.Fatal(err)
				}
				targets, err := probe.Targets(specs)
				if err != nil || len(targets) != n {
					b.Fatalf("Targets = %d targets, %v; want %d", len(targets), err, n)
				}
			}
		})
	}
}
