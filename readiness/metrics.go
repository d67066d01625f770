package readiness

import (
	"bytes"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/depprobe/depprobe/probe"
)

// metrics are the Monitor's Prometheus series, in a set of its own: the
// global one would mix in whatever else registers there, and two Monitors
// (tests) would clash.
//
// VictoriaMetrics/metrics rather than prometheus/client_golang: both write
// the Prometheus text format and classic `le` histograms that
// histogram_quantile reads, but client_golang's package initialization (a
// default registry with Go and process collectors, protobuf descriptors)
// runs in every depprobe process, wait and check included: measured, it
// cost 2.4 MB of the 10 MB binary, 2.5 MB of resident memory and about
// 2 ms of every start, which broke SPEC's start-up, CPU and memory budgets.
type metrics struct {
	set      *vm.Set
	optional map[string]bool // targets whose up series says optional="true"
	maxAge   time.Duration   // how long a rendered page is served again
	now      func() time.Time

	mu   sync.Mutex // one render at a time; scrapers in the meantime wait for it
	page []byte     // the last rendered page; never written once rendered
	at   time.Time  // when page was rendered
}

// DefaultMetricsMaxAge is how long a rendered /metrics page is served to
// other scrapers when Config.MetricsMaxAge is zero. A page of 100 targets is
// about 180 KB: rendered once per scraper, 50 concurrent scrapers held 40 MB
// of pages; shared, they hold one or two.
const DefaultMetricsMaxAge = time.Second

// help is the # HELP text of depprobe's own series.
var help = map[string]string{
	"depprobe_target_up":             "1 when the target's last attempt found it ready, else 0 (also before its first attempt ends). optional=\"true\" marks a target /readyz does not wait for.",
	"depprobe_attempts_total":        "Attempts that ended, ready ones included, by the step where they stopped and their outcome.",
	"depprobe_failures_total":        "Attempts that did not find the target ready, by the step where they stopped and their outcome.",
	"depprobe_step_duration_seconds": "How long each step of an attempt took, failed steps included.",
	"depprobe_build_info":            "Always 1; the labels name depprobe's version and the Go version it was built with.",
}

// stepBuckets span a loopback connect (~100µs) to an attempt's default
// time limit (2s) and beyond.
var stepBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics(targets []*probe.Target, version string, maxAge time.Duration, now func() time.Time) *metrics {
	vm.ExposeMetadata(true) // # TYPE lines, which Prometheus uses for metadata
	if maxAge == 0 {
		maxAge = DefaultMetricsMaxAge
	}
	m := &metrics{set: vm.NewSet(), optional: map[string]bool{}, maxAge: maxAge, now: now}
	for _, t := range targets {
		m.optional[t.Name] = t.Optional
	}
	if version == "" {
		version = "(devel)"
	}
	m.set.NewGauge(fmt.Sprintf(`depprobe_build_info{goversion=%q,version=%q}`, runtime.Version(), version), nil).Set(1)
	for _, t := range targets {
		m.up(t.Name).Set(0) // a series from the start, not from the first result
	}
	return m
}

// Series names: labels in alphabetical order, as Prometheus sorts them.
// Target names, steps and outcomes need no escaping (see probe.Spec's
// names), %q quotes them all the same.

// up is 1 when the target's last attempt found it ready, else 0 (also
// before its first attempt ends).
func (m *metrics) up(target string) *vm.Gauge {
	return m.set.GetOrCreateGauge(fmt.Sprintf(`depprobe_target_up{optional="%t",target=%q}`, m.optional[target], target), nil)
}

// observe counts one attempt's result: attempts that ended and failures,
// by the step where they stopped and their outcome; how long each step
// took, failed steps included.
func (m *metrics) observe(r probe.Result) {
	up := 0.0
	if r.Ready() {
		up = 1
	}
	m.up(r.Target).Set(up)
	labels := fmt.Sprintf(`{outcome=%q,step=%q,target=%q}`, r.Outcome, r.Step, r.Target)
	m.set.GetOrCreateCounter("depprobe_attempts_total" + labels).Inc()
	if !r.Ready() {
		m.set.GetOrCreateCounter("depprobe_failures_total" + labels).Inc()
	}
	for _, s := range r.Steps {
		if s.Step == probe.Resolve && s.Duration == 0 {
			continue // an IP literal: nothing was looked up
		}
		name := fmt.Sprintf(`depprobe_step_duration_seconds{step=%q,target=%q}`, s.Step, r.Target)
		m.set.GetOrCreatePrometheusHistogramExt(name, stepBuckets).Update(s.Duration.Seconds())
	}
}

// handler serves the set, then the Go runtime's and the process's usual
// series (go_*, process_*), in the Prometheus text format. The page is
// rendered at most once per maxAge and shared by every scraper in that
// time, so that concurrent scrapers cost one page, not one each.
func (m *metrics) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		page := m.render()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Header().Set("Content-Length", fmt.Sprint(len(page)))
		w.Write(page)
	})
}

// render returns a page no older than maxAge. A new page is a new slice:
// handlers still writing the old one keep it until they are done.
func (m *metrics) render() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.page != nil && now.Sub(m.at) < m.maxAge {
		return m.page
	}
	var raw bytes.Buffer
	raw.Grow(len(m.page) + len(m.page)/8)
	m.set.WritePrometheus(&raw)
	vm.WriteProcessMetrics(&raw)
	m.page, m.at = withHelp(raw.Bytes()), now
	return m.page
}

// withHelp gives depprobe's series their # HELP text and drops the empty
// # HELP lines the library writes for the others (HELP is optional; their
// # TYPE lines stay).
func withHelp(page []byte) []byte {
	out := make([]byte, 0, len(page)+1024)
	for line := range bytes.Lines(page) {
		name, isHelp := bytes.CutPrefix(line, []byte("# HELP "))
		if !isHelp {
			out = append(out, line...)
			continue
		}
		family := strings.TrimSpace(string(name))
		if strings.Contains(family, " ") {
			out = append(out, line...) // it has a text already
			continue
		}
		if text, ok := help[family]; ok {
			out = append(out, "# HELP "+family+" "+text+"\n"...)
		}
	}
	return out
}
