package readiness

import (
	"bytes"
	"cmp"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/depprobe/depprobe/probe"
)

// metrics are the Monitor's Prometheus series, written in the Prometheus
// text format (version 0.0.4) by this file rather than by a client library.
//
// Why no library: a metrics library is linked into every depprobe process,
// and its package initialization runs at every start of wait and check,
// which never serve a page. VictoriaMetrics/metrics (the lightest client
// that writes this format) reads cgroup and PSI files and runtime/metrics'
// descriptions before main: measured (callgrind), 0.7 of the 1.9 million
// instructions of a `wait` whose target is up, 90 page faults and 0.4 MB of
// the binary; prometheus/client_golang costs more. What serve needs is five
// series, counters, gauges and one classic `le` histogram: this file, with
// no package variables that do work at start.
type metrics struct {
	optional map[string]bool // targets whose up series says optional="true"
	build    string          // depprobe_build_info's labels
	start    time.Time       // process_start_time_seconds
	maxAge   time.Duration   // how long a rendered page is served again
	now      func() time.Time

	mu      sync.Mutex // guards targets and everything under it
	targets map[string]*series

	renderMu sync.Mutex // one render at a time; scrapers in the meantime wait for it
	page     []byte     // the last rendered page; never written once rendered
	at       time.Time  // when page was rendered
}

// series is one target's samples.
type series struct {
	up       bool
	attempts map[stepOutcome]uint64 // every attempt that ended, by where it stopped
	failures map[stepOutcome]uint64 // those that did not find the target ready
	steps    map[probe.Step]*histogram
}

type stepOutcome struct {
	step    probe.Step
	outcome probe.Outcome
}

// histogram is a classic Prometheus histogram over stepBuckets: counts[i]
// holds the observations ≤ stepBuckets[i] and above the bucket before;
// counts[len(stepBuckets)] those above the last.
type histogram struct {
	counts [len(stepBuckets) + 1]uint64
	sum    float64
	count  uint64
}

func (h *histogram) observe(v float64) {
	i, _ := slices.BinarySearch(stepBuckets[:], v) // the first bucket ≥ v: le is inclusive
	h.counts[i]++
	h.sum += v
	h.count++
}

// DefaultMetricsMaxAge is how long a rendered /metrics page is served to
// other scrapers when Config.MetricsMaxAge is zero. A page of 100 targets is
// about 180 KB: rendered once per scraper, 50 concurrent scrapers held 40 MB
// of pages; shared, they hold one or two.
const DefaultMetricsMaxAge = time.Second

// stepBuckets span a loopback connect (~100µs) to an attempt's default
// time limit (2s) and beyond.
var stepBuckets = [...]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// bucketLabels close a bucket's labels: `,le="0.0001"} `, …, `,le="+Inf"} `.
// Made at the first render, not at every start of depprobe.
var bucketLabels = sync.OnceValue(func() []string {
	ls := make([]string, 0, len(stepBuckets)+1)
	for _, le := range stepBuckets {
		ls = append(ls, `,le="`+strconv.FormatFloat(le, 'g', -1, 64)+`"} `)
	}
	return append(ls, `,le="+Inf"} `)
})

// family is one metric family of the page: its name, type and # HELP text.
type family struct{ name, typ, help string }

var (
	famAttempts  = family{"depprobe_attempts_total", "counter", "Attempts that ended, ready ones included, by the step where they stopped and their outcome."}
	famBuild     = family{"depprobe_build_info", "gauge", "Always 1; the labels name depprobe's version and the Go version it was built with."}
	famFailures  = family{"depprobe_failures_total", "counter", "Attempts that did not find the target ready, by the step where they stopped and their outcome."}
	famDurations = family{"depprobe_step_duration_seconds", "histogram", "How long each step of an attempt took, failed steps included."}
	famUp        = family{"depprobe_target_up", "gauge", "1 when the target's last attempt found it ready, else 0 (also before its first attempt ends). optional=\"true\" marks a target /readyz does not wait for."}
)

func newMetrics(targets []*probe.Target, version string, maxAge time.Duration, now func() time.Time) *metrics {
	if maxAge == 0 {
		maxAge = DefaultMetricsMaxAge
	}
	if version == "" {
		version = "(devel)"
	}
	m := &metrics{
		optional: map[string]bool{},
		build:    fmt.Sprintf(`{goversion=%q,version=%q}`, runtime.Version(), version),
		start:    time.Now(),
		maxAge:   maxAge,
		now:      now,
		targets:  map[string]*series{},
	}
	for _, t := range targets {
		m.optional[t.Name] = t.Optional
		m.targets[t.Name] = &series{ // a series from the start, not from the first result
			attempts: map[stepOutcome]uint64{},
			failures: map[stepOutcome]uint64{},
			steps:    map[probe.Step]*histogram{},
		}
	}
	return m
}

// observe counts one attempt's result: attempts that ended and failures,
// by the step where they stopped and their outcome; how long each step
// took, failed steps included. It is safe for concurrent use.
func (m *metrics) observe(r probe.Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.targets[r.Target]
	if s == nil {
		return // not one of the Monitor's targets
	}
	s.up = r.Ready()
	key := stepOutcome{r.Step, r.Outcome}
	s.attempts[key]++
	if !r.Ready() {
		s.failures[key]++
	}
	for _, st := range r.Steps {
		if st.Step == probe.Resolve && st.Duration == 0 {
			continue // an IP literal: nothing was looked up
		}
		h := s.steps[st.Step]
		if h == nil {
			h = &histogram{}
			s.steps[st.Step] = h
		}
		h.observe(st.Duration.Seconds())
	}
}

// handler serves depprobe's series, then the Go runtime's and the
// process's usual ones (go_*, process_*), in the Prometheus text format.
// The page is rendered at most once per maxAge and shared by every scraper
// in that time, so that concurrent scrapers cost one page, not one each.
func (m *metrics) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		page := m.render()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		w.Write(page)
	})
}

// render returns a page no older than maxAge. A new page is a new slice:
// handlers still writing the old one keep it until they are done.
func (m *metrics) render() []byte {
	m.renderMu.Lock()
	defer m.renderMu.Unlock()
	now := m.now()
	if m.page != nil && now.Sub(m.at) < m.maxAge {
		return m.page
	}
	page := bytes.NewBuffer(make([]byte, 0, len(m.page)+len(m.page)/8+4096))
	m.writeSeries(page)
	writeProcess(page, m.start)
	m.page, m.at = page.Bytes(), now
	return m.page
}

// writeSeries writes depprobe's families in name order, the samples of
// each sorted by their labels, as Prometheus sorts them.
func (m *metrics) writeSeries(w *bytes.Buffer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.targets))
	for name := range m.targets {
		names = append(names, name)
	}
	slices.Sort(names)
	var lines []string
	counters := func(f family, pick func(*series) map[stepOutcome]uint64) {
		lines = lines[:0]
		for _, name := range names {
			for k, n := range pick(m.targets[name]) {
				lines = append(lines, fmt.Sprintf("%s{outcome=%q,step=%q,target=%q} %d\n", f.name, k.outcome, k.step, name, n))
			}
		}
		slices.Sort(lines)
		writeFamily(w, f, lines)
	}
	counters(famAttempts, func(s *series) map[stepOutcome]uint64 { return s.attempts })
	writeFamily(w, famBuild, []string{famBuild.name + m.build + " 1\n"})
	counters(famFailures, func(s *series) map[stepOutcome]uint64 { return s.failures })

	writeHeader(w, famDurations)
	type hkey struct {
		step   probe.Step
		target string
	}
	var hs []hkey
	for _, name := range names {
		for step := range m.targets[name].steps {
			hs = append(hs, hkey{step, name})
		}
	}
	slices.SortFunc(hs, func(a, b hkey) int {
		if a.step != b.step {
			return cmp.Compare(a.step, b.step)
		}
		return cmp.Compare(a.target, b.target)
	})
	for _, k := range hs {
		h := m.targets[k.target].steps[k.step]
		// By hand rather than with fmt: 19 lines per step and target are
		// most of the page (BenchmarkMetrics100).
		labels := "{step=" + strconv.Quote(string(k.step)) + ",target=" + strconv.Quote(k.target)
		les := bucketLabels()
		var cum uint64
		for i := range len(stepBuckets) + 1 {
			cum += h.counts[i]
			w.WriteString(famDurations.name)
			w.WriteString("_bucket")
			w.WriteString(labels)
			w.WriteString(les[i])
			w.Write(strconv.AppendUint(w.AvailableBuffer(), cum, 10))
			w.WriteByte('\n')
		}
		w.WriteString(famDurations.name + "_sum" + labels + "} ")
		w.Write(strconv.AppendFloat(w.AvailableBuffer(), h.sum, 'g', -1, 64))
		w.WriteString("\n" + famDurations.name + "_count" + labels + "} ")
		w.Write(strconv.AppendUint(w.AvailableBuffer(), h.count, 10))
		w.WriteByte('\n')
	}

	lines = lines[:0]
	for _, name := range names {
		up := 0
		if m.targets[name].up {
			up = 1
		}
		lines = append(lines, fmt.Sprintf("%s{optional=\"%t\",target=%q} %d\n", famUp.name, m.optional[name], name, up))
	}
	slices.Sort(lines)
	writeFamily(w, famUp, lines)
}

func writeHeader(w *bytes.Buffer, f family) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
}

func writeFamily(w *bytes.Buffer, f family, lines []string) {
	writeHeader(w, f)
	for _, l := range lines {
		w.WriteString(l)
	}
}

// writeProcess writes the usual series of a Go process under the names
// Prometheus' own Go client gives them: CPU, memory, file descriptors and
// start time of the process, goroutines and heap of the runtime. Each is
// read when the page is rendered (at most once per maxAge); one that
// cannot be read is left out.
func writeProcess(w *bytes.Buffer, start time.Time) {
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", name, help, name, name, strconv.FormatFloat(v, 'g', -1, 64))
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	gauge("go_memstats_alloc_bytes", "Number of bytes allocated in heap objects and still in use.", float64(ms.HeapAlloc))
	gauge("go_memstats_heap_inuse_bytes", "Number of bytes in in-use heap spans.", float64(ms.HeapInuse))
	gauge("go_memstats_next_gc_bytes", "Heap size at which the next garbage collection starts.", float64(ms.NextGC))
	gauge("go_memstats_sys_bytes", "Number of bytes obtained from the operating system.", float64(ms.Sys))
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		fmt.Fprintf(w, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %s\n", strconv.FormatFloat(cpu, 'g', -1, 64))
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		gauge("process_open_fds", "Number of open file descriptors.", float64(len(fds)))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		gauge("process_max_fds", "Maximum number of open file descriptors.", float64(lim.Cur))
	}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		var size, resident uint64
		if _, err := fmt.Sscan(string(b), &size, &resident); err == nil {
			page := float64(os.Getpagesize())
			gauge("process_resident_memory_bytes", "Resident memory size in bytes.", float64(resident)*page)
			gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", float64(size)*page)
		}
	}
	gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", float64(start.UnixNano())/1e9)
}
