package readiness_test

import (
	"strings"
	"testing"

	"github.com/depprobe/depprobe/internal/loopback"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsParse: the page depprobe writes by hand is what Prometheus
// reads: Prometheus' own text parser takes it whole, every family has the
// type its # TYPE line says, and the step histogram's buckets count up to
// its count, as a scrape would see them.
func TestMetricsParse(t *testing.T) {
	m, base, _ := monitor(t, targets(t, "up=tcp://"+loopback.Up(t), "down=tcp://"+loopback.Refused(t), "opt=tcp://"+loopback.Refused(t)+" optional=true"), fast())
	eventually(t, "a few attempts of each target", func() bool {
		for _, s := range m.States() {
			if s.Attempts < 3 {
				return false
			}
		}
		return true
	})
	_, page, _ := get(t, base+"/metrics")
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		t.Fatalf("Prometheus' parser: %v\n%s", err, page)
	}
	for name, typ := range map[string]dto.MetricType{
		"depprobe_target_up":             dto.MetricType_GAUGE,
		"depprobe_attempts_total":        dto.MetricType_COUNTER,
		"depprobe_failures_total":        dto.MetricType_COUNTER,
		"depprobe_step_duration_seconds": dto.MetricType_HISTOGRAM,
		"depprobe_build_info":            dto.MetricType_GAUGE,
		"process_cpu_seconds_total":      dto.MetricType_COUNTER,
		"process_resident_memory_bytes":  dto.MetricType_GAUGE,
		"process_open_fds":               dto.MetricType_GAUGE,
		"go_goroutines":                  dto.MetricType_GAUGE,
	} {
		f, ok := fams[name]
		if !ok {
			t.Errorf("no family %s", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s is a %v, want %v", name, f.GetType(), typ)
		}
		if f.GetHelp() == "" {
			t.Errorf("%s has no # HELP text", name)
		}
	}
	up := map[string]float64{}
	for _, s := range fams["depprobe_target_up"].GetMetric() {
		up[label(s, "target")+"/"+label(s, "optional")] = s.GetGauge().GetValue()
	}
	if want := map[string]float64{"up/false": 1, "down/false": 0, "opt/true": 0}; len(up) != len(want) || up["up/false"] != 1 || up["down/false"] != 0 || up["opt/true"] != 0 {
		t.Errorf("depprobe_target_up = %v, want %v", up, want)
	}
	var failures float64
	for _, s := range fams["depprobe_failures_total"].GetMetric() {
		if label(s, "target") == "down" && label(s, "outcome") == "refused" && label(s, "step") == "connect" {
			failures = s.GetCounter().GetValue()
		}
	}
	if failures < 3 {
		t.Errorf("depprobe_failures_total{target=down,step=connect,outcome=refused} = %v, want at least 3", failures)
	}
	for _, s := range fams["depprobe_step_duration_seconds"].GetMetric() {
		h := s.GetHistogram()
		bs := h.GetBucket()
		if len(bs) == 0 || h.GetSampleCount() == 0 {
			t.Errorf("histogram %v: %d buckets, count %d", s.GetLabel(), len(bs), h.GetSampleCount())
			continue
		}
		for i := 1; i < len(bs); i++ {
			if bs[i].GetUpperBound() <= bs[i-1].GetUpperBound() || bs[i].GetCumulativeCount() < bs[i-1].GetCumulativeCount() {
				t.Errorf("histogram %v: bucket %d (le %v, %d) after (le %v, %d)", s.GetLabel(), i, bs[i].GetUpperBound(), bs[i].GetCumulativeCount(), bs[i-1].GetUpperBound(), bs[i-1].GetCumulativeCount())
			}
		}
		if last := bs[len(bs)-1].GetCumulativeCount(); last > h.GetSampleCount() || h.GetSampleSum() <= 0 {
			t.Errorf("histogram %v: last bucket %d, count %d, sum %v", s.GetLabel(), last, h.GetSampleCount(), h.GetSampleSum())
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
