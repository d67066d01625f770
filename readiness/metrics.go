package readiness

import (
	"fmt"
	"net/http"
	"runtime"

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
	set *vm.Set
}

// stepBuckets span a loopback connect (~100µs) to an attempt's default
// time limit (2s) and beyond.
var stepBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics(targets []*probe.Target, version string) *metrics {
	vm.ExposeMetadata(true) // # TYPE lines, which Prometheus uses for metadata
	m := &metrics{set: vm.NewSet()}
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
	return m.set.GetOrCreateGauge(fmt.Sprintf(`depprobe_target_up{target=%q}`, target), nil)
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
// series (go_*, process_*), in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		m.set.WritePrometheus(w)
		vm.WriteProcessMetrics(w)
	})
}
