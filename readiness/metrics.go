package readiness

import (
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/depprobe/depprobe/probe"
)

// metrics are the Monitor's Prometheus series, in a registry of its own:
// the global one would mix in whatever else registers there, and two
// Monitors (tests) would clash.
//
// client_golang rather than a smaller library: it is what Prometheus users
// know, its histograms are classic `le` buckets that histogram_quantile
// reads, and it costs about 2.4 MB of the 10 MB binary budget (measured
// with every scheme built in; see the commit message).
type metrics struct {
	reg      *prometheus.Registry
	up       *prometheus.GaugeVec
	attempts *prometheus.CounterVec
	failures *prometheus.CounterVec
	steps    *prometheus.HistogramVec
}

// stepBuckets span a loopback connect (~100µs) to an attempt's default
// time limit (2s) and beyond.
var stepBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics(targets []*probe.Target, version string) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "depprobe_target_up",
			Help: "1 when the target's last attempt found it ready, else 0 (also before its first attempt ends).",
		}, []string{"target"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "depprobe_attempts_total",
			Help: "Attempts that ended, by the step where they stopped and their outcome (ok included).",
		}, []string{"target", "step", "outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "depprobe_failures_total",
			Help: "Attempts that did not find the target ready, by the step that failed and its outcome.",
		}, []string{"target", "step", "outcome"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "depprobe_step_duration_seconds",
			Help:    "How long each step of an attempt took, failed steps included (not the resolve step of an IP address, which looks nothing up).",
			Buckets: stepBuckets,
		}, []string{"target", "step"}),
	}
	if version == "" {
		version = "(devel)"
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "depprobe_build_info",
		Help:        "Always 1; the labels tell the depprobe version and the Go version it was built with.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	build.Set(1)
	m.reg.MustRegister(m.up, m.attempts, m.failures, m.steps, build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	for _, t := range targets {
		m.up.WithLabelValues(t.Name).Set(0) // a series from the start, not from the first result
	}
	return m
}

// observe counts one attempt's result.
func (m *metrics) observe(r probe.Result) {
	up := 0.0
	if r.Ready() {
		up = 1
	}
	m.up.WithLabelValues(r.Target).Set(up)
	m.attempts.WithLabelValues(r.Target, string(r.Step), string(r.Outcome)).Inc()
	if !r.Ready() {
		m.failures.WithLabelValues(r.Target, string(r.Step), string(r.Outcome)).Inc()
	}
	for _, s := range r.Steps {
		if s.Step == probe.Resolve && s.Duration == 0 {
			continue // an IP literal: nothing was looked up
		}
		m.steps.WithLabelValues(r.Target, string(s.Step)).Observe(s.Duration.Seconds())
	}
}

// handler serves the registry in the Prometheus text format (or
// OpenMetrics, when the scraper asks for it), at most a few scrapes at once.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:            m.reg, // promhttp_metric_handler_errors_total
		MaxRequestsInFlight: 4,
		EnableOpenMetrics:   true,
	})
}
