package readiness_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
	"github.com/depprobe/depprobe/readiness"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fast is a config whose loops turn in milliseconds on real timers.
func fast() readiness.Config {
	return readiness.Config{
		Policy: probe.Policy{
			AttemptTimeout: 2 * time.Second,
			MaxTimeouts:    3,
			Backoff:        probe.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2},
		},
		Interval: 5 * time.Millisecond,
		Version:  "test",
		// Every scrape renders: tests read a series right after a change.
		MetricsMaxAge: -1,
	}
}

// targets builds targets from spec lines.
func targets(t testing.TB, lines ...string) []*probe.Target {
	t.Helper()
	specs, err := probe.ParseSpecs("test", strings.Join(lines, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := probe.Targets(specs)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// monitor runs a Monitor and an HTTP server for it until the test ends.
func monitor(t testing.TB, ts []*probe.Target, c readiness.Config) (*readiness.Monitor, string, func()) {
	t.Helper()
	m, err := readiness.New(ts, c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(func() { srv.Close(); stop() })
	return m, srv.URL, stop
}

// get fetches a URL on a connection of its own (no idle connection
// outlives the test).
func get(t testing.TB, url string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// eventually polls cond until it holds, failing the test after a deadline.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		<-tick.C
	}
}

// eventuallyGet polls url until it answers code and body.
func eventuallyGet(t testing.TB, url string, code int, body string) {
	t.Helper()
	var (
		gotCode int
		gotBody string
	)
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		if gotCode, gotBody, _ = get(t, url); gotCode == code && gotBody == body {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s = %d %q, want %d %q", url, gotCode, gotBody, code, body)
		}
		<-tick.C
	}
}

// held is a loopback peer that holds every connection without answering
// until the test ends, and says on accepted when it has taken one.
func held(t testing.TB) (addr string, accepted <-chan struct{}) {
	ln := loopback.Listen(t)
	ch := make(chan struct{}, 1)
	loopback.Serve(t, ln, func(net.Conn) {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	return ln.Addr().String(), ch
}

// metric reads one sample's value from the exposition, -1 when absent.
func metric(t testing.TB, base, series string) float64 {
	t.Helper()
	_, body, _ := get(t, base+"/metrics")
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestReadyzFlips: a dependency that comes up late flips /readyz from 503
// to 200, one that goes down flips it back, and the metrics follow.
func TestReadyzFlips(t *testing.T) {
	addr := loopback.Refused(t)
	_, base, _ := monitor(t, targets(t, "late=tcp://"+addr), fast())

	eventuallyGet(t, base+"/readyz", 503, "[-]late failed: connect refused\nreadyz check failed\n")
	eventuallyGet(t, base+"/readyz/late", 503, "[-]late failed: connect refused\n")
	if got := metric(t, base, `depprobe_target_up{optional="false",target="late"}`); got != 0 {
		t.Errorf("depprobe_target_up = %v, want 0", got)
	}
	refused := metric(t, base, `depprobe_failures_total{outcome="refused",step="connect",target="late"}`)
	if refused < 1 {
		t.Errorf("refused failures = %v, want at least 1", refused)
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	loopback.Serve(t, ln, func(c net.Conn) { c.Close() })
	eventuallyGet(t, base+"/readyz", 200, "ok\n")
	eventuallyGet(t, base+"/readyz?verbose", 200, "[+]late ok\nreadyz check passed\n")
	eventuallyGet(t, base+"/readyz/late", 200, "ok\n")
	if got := metric(t, base, `depprobe_target_up{optional="false",target="late"}`); got != 1 {
		t.Errorf("depprobe_target_up = %v, want 1", got)
	}
	if got := metric(t, base, `depprobe_attempts_total{outcome="ok",step="connect",target="late"}`); got < 1 {
		t.Errorf("ok attempts = %v, want at least 1", got)
	}
	if got := metric(t, base, `depprobe_step_duration_seconds_count{step="connect",target="late"}`); got < refused+1 {
		t.Errorf("connect durations observed = %v, want more than %v", got, refused)
	}

	ln.Close() // down
	eventuallyGet(t, base+"/readyz", 503, "[-]late failed: connect refused\nreadyz check failed\n")
	eventually(t, "depprobe_target_up 0", func() bool { return metric(t, base, `depprobe_target_up{optional="false",target="late"}`) == 0 })
	if got := metric(t, base, `depprobe_build_info{goversion="`+runtime.Version()+`",version="test"}`); got != 1 {
		t.Errorf("depprobe_build_info = %v, want 1", got)
	}
}

// TestReadyzJSON: the JSON form parses and says what the text form says,
// with the details.
func TestReadyzJSON(t *testing.T) {
	up, down := loopback.Up(t), loopback.Refused(t)
	m, base, _ := monitor(t, targets(t, "up=tcp://"+up, "down=tcp://"+down), fast())
	eventually(t, "both targets probed", func() bool {
		s := m.States()
		return s[0].Ready && s[1].Probed
	})

	code, body, h := get(t, base+"/readyz", "Accept", "text/html, application/json;q=0.9")
	if code != 503 {
		t.Errorf("status = %d, want 503", code)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var got readiness.ReadyzJSON
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	if got.Ready || len(got.Targets) != 2 {
		t.Fatalf("ready = %v with %d targets, want false with 2:\n%s", got.Ready, len(got.Targets), body)
	}
	u, d := got.Targets[0], got.Targets[1]
	if u.Name != "up" || !u.Ready || u.Outcome != "ok" || u.Step != "connect" || u.Addr != up || u.LastSuccess == nil || u.ConsecutiveFailures != 0 || u.Error != "" {
		t.Errorf("up = %+v", u)
	}
	if d.Name != "down" || d.Ready || d.Outcome != "refused" || d.Step != "connect" || d.Addr != down || d.LastSuccess != nil || d.ConsecutiveFailures < 1 || d.Hint == "" {
		t.Errorf("down = %+v", d)
	}
	if want := `refused: connect to "` + down + `": connection refused`; d.Error != want {
		t.Errorf("down.Error = %q, want %q", d.Error, want)
	}
	if d.URL != "tcp://"+down || d.Since.IsZero() {
		t.Errorf("down.URL = %q, Since = %v", d.URL, d.Since)
	}

	code, body, _ = get(t, base+"/readyz/up", "Accept", "application/json")
	var one readiness.TargetJSON
	if err := json.Unmarshal([]byte(body), &one); err != nil || code != 200 || one.Name != "up" || !one.Ready {
		t.Errorf("GET /readyz/up as JSON = %d %s (%v)", code, body, err)
	}
}

func TestRoutes(t *testing.T) {
	_, base, _ := monitor(t, targets(t, "up=tcp://"+loopback.Up(t)), fast())
	eventuallyGet(t, base+"/readyz", 200, "ok\n")
	tests := []struct {
		name, path string
		code       int
	}{
		{"unknown target", "/readyz/nope", 404},
		{"unknown path", "/healthz", 404},
		{"livez", "/livez", 200},
		{"metrics", "/metrics", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, body, _ := get(t, base+tc.path); code != tc.code {
				t.Errorf("GET %s = %d %q, want %d", tc.path, code, body, tc.code)
			}
		})
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Post(base+"/readyz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /readyz = %d, want 405", resp.StatusCode)
	}
}

// TestOptional: an optional target is shown and measured but does not hold
// /readyz.
func TestOptional(t *testing.T) {
	_, base, _ := monitor(t, targets(t, "db=tcp://"+loopback.Up(t), "extra=tcp://"+loopback.Refused(t)+" optional=true"), fast())
	eventuallyGet(t, base+"/readyz?verbose", 200, "[+]db ok\n[-]extra failed: connect refused (optional)\nreadyz check passed\n")
	eventuallyGet(t, base+"/readyz", 200, "ok\n")
	eventuallyGet(t, base+"/readyz/extra", 503, "[-]extra failed: connect refused (optional)\n")
}

func TestNewRejects(t *testing.T) {
	ts := targets(t, "db=tcp://127.0.0.1:1")
	c := fast()
	c.Interval = 0
	_, err := readiness.New(ts, c)
	for _, want := range []string{"interval 0s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New = %v, want an error about %s", err, want)
		}
	}
}

// TestSlowDependency: a dependency that accepts and never answers keeps its
// attempt in flight, and /readyz answers all the same, from the state.
func TestSlowDependency(t *testing.T) {
	slow, accepted := held(t)
	c := fast()
	c.Policy.AttemptTimeout = time.Hour // the attempt stays in flight for the whole test
	m, base, stop := monitor(t, targets(t, "slow=http://"+slow+"/", "up=tcp://"+loopback.Up(t)), c)
	<-accepted // the attempt is in flight; it sent its request and waits for an answer

	eventuallyGet(t, base+"/readyz/up", 200, "ok\n")
	for range 20 {
		if code, body, _ := get(t, base+"/readyz"); code != 503 || body != "[-]slow failed: not probed yet\n[+]up ok\nreadyz check failed\n" {
			t.Fatalf("GET /readyz = %d %q", code, body)
		}
		if code, _, _ := get(t, base+"/livez"); code != 200 {
			t.Fatalf("GET /livez = %d, want 200", code)
		}
	}
	if s := m.States()[0]; s.Probed || s.Attempts != 0 {
		t.Errorf("slow = %+v; want its first attempt still in flight", s)
	}
	stop() // cancels the attempt in flight: Run returns
	if s := m.States()[0]; s.Probed {
		t.Errorf("slow probed = true; a canceled attempt must not count")
	}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestLivez: /livez fails when a loop stops finishing attempts, and once
// the probing stops; never because of a dependency.
func TestLivez(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	c := fast()
	c.Now = clk.Now
	// A ready target waits an hour (real time) before its next attempt.
	c.Interval = time.Hour
	m, base, stop := monitor(t, targets(t, "up=tcp://"+loopback.Up(t)), c)
	eventually(t, "the first attempt", func() bool { return m.States()[0].Probed })
	eventuallyGet(t, base+"/livez", 200, "ok\n")
	clk.Add(4 * time.Hour) // more than 3 × (interval + attempt timeout): the loop looks stuck
	code, body, _ := get(t, base+"/livez")
	if want := `the loop of "up" has not finished an attempt`; code != 503 || !strings.Contains(body, want) {
		t.Errorf("GET /livez = %d %q, want 503 with %q", code, body, want)
	}
	stop()
	code, body, _ = get(t, base+"/livez")
	if code != 503 || body != "probing has stopped\n" {
		t.Errorf("GET /livez after Run = %d %q, want 503 %q", code, body, "probing has stopped\n")
	}
}

// TestLivezAttemptTimeout: a target whose attempt_timeout= is longer than
// the loops' stale limit keeps /livez 200 while an attempt against a
// silent peer lasts (the limit was computed from DEPPROBE_ATTEMPT_TIMEOUT
// alone, so /livez, and the kubelet's restarts, depended on that peer).
func TestLivezAttemptTimeout(t *testing.T) {
	slow, accepted := held(t)
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	c := fast()
	c.Now = clk.Now
	c.Interval = 100 * time.Millisecond
	c.Policy.AttemptTimeout = 10 * time.Millisecond // the loops' limit: 3 × (100ms + 10ms)
	m, base, _ := monitor(t, targets(t, "slow=http://"+slow+"/ attempt_timeout=1h"), c)
	<-accepted                // the attempt is in flight, for up to its hour
	clk.Add(30 * time.Minute) // far past the global limit, within the target's
	if code, body, _ := get(t, base+"/livez"); code != 200 {
		t.Errorf("GET /livez = %d %q during an attempt within its attempt_timeout=1h, want 200", code, body)
	}
	clk.Add(24 * time.Hour)
	if code, body, _ := get(t, base+"/livez"); code != 503 || !strings.Contains(body, `the loop of "slow" has not finished an attempt`) {
		t.Errorf("GET /livez = %d %q past 3 × the target's hour, want 503", code, body)
	}
	if s := m.States()[0]; s.Probed {
		t.Errorf("slow = %+v; want its first attempt still in flight", s)
	}

	// A target with the API: its cluster step (2 s of its own) follows the
	// attempt.
	api := heldExplainer{asked: make(chan struct{}, 1), release: make(chan struct{})}
	ts := targets(t, "db=tcp://"+loopback.Refused(t))
	ts[0].API = api
	_, base, _ = monitor(t, ts, c)
	<-api.asked // the attempt is in its cluster step
	clk.Add(time.Second)
	code, body, _ := get(t, base+"/livez")
	close(api.release)
	if code != 200 {
		t.Errorf("GET /livez = %d %q during a cluster step, want 200", code, body)
	}
}

// heldExplainer is a probe.API whose cluster step says it was asked, then
// waits until released.
type heldExplainer struct{ asked, release chan struct{} }

func (e heldExplainer) Explain(ctx context.Context, _ probe.Result) (probe.Finding, bool) {
	select {
	case e.asked <- struct{}{}:
	default:
	}
	select {
	case <-e.release:
	case <-ctx.Done():
	}
	return probe.Finding{}, false
}

func (heldExplainer) Check(context.Context, probe.Object) (probe.Finding, error) {
	return probe.Finding{}, nil
}

// fds counts this process's open file descriptors.
func fds(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("cannot count file descriptors (Linux's /proc): %v", err)
	}
	return len(entries)
}

// TestFDsFlat: thousands of attempts (refused, accepted, answered 503)
// leave no file descriptor behind.
func TestFDsFlat(t *testing.T) {
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer notReady.Close()
	ts := targets(t, "down=tcp://"+loopback.Refused(t), "up=tcp://"+loopback.Up(t), "starting="+notReady.URL+"/")
	c := fast()
	// Waits of a microsecond: the loops turn as fast as attempts end.
	c.Policy.Backoff = probe.Backoff{Initial: time.Microsecond, Max: time.Microsecond, Multiplier: 1}
	c.Interval = time.Microsecond
	// Without a collection, no finalizer closes what a leak forgot.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	before := fds(t)
	m, _, stop := monitor(t, ts, c)
	const want = 3000
	eventually(t, strconv.Itoa(want)+" attempts", func() bool {
		n := 0
		for _, s := range m.States() {
			n += s.Attempts
		}
		return n >= want
	})
	stop()
	for _, s := range m.States() {
		if s.Attempts < 100 {
			t.Errorf("%s: %d attempts, want each target probed many times", s.Name, s.Attempts)
		}
	}
	// The servers close their ends of the connections on their own
	// goroutines: poll until they have. A leak never comes down.
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for after := fds(t); after > before+2; after = fds(t) { // +2: the test server's listener, the last connections
		if time.Now().After(deadline) {
			t.Fatalf("open file descriptors: %d before, %d after %d attempts", before, after, want)
		}
		<-tick.C
	}
}

// TestNoSecrets: a password in a target's URL reaches no endpoint and no
// log line.
func TestNoSecrets(t *testing.T) {
	var logs syncBuffer
	c := fast()
	c.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	_, base, _ := monitor(t, targets(t, "api=http://user:hunter2@"+loopback.Refused(t)+"/?token=s3cret"), c)
	eventuallyGet(t, base+"/readyz", 503, "[-]api failed: connect refused\nreadyz check failed\n")
	var all strings.Builder
	for _, path := range []string{"/readyz", "/readyz?verbose", "/readyz/api", "/metrics", "/livez"} {
		_, body, _ := get(t, base+path)
		all.WriteString(body)
		_, body, _ = get(t, base+path, "Accept", "application/json")
		all.WriteString(body)
	}
	all.WriteString(logs.String())
	for _, secret := range []string{"hunter2", "s3cret"} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("%q appears in an endpoint or a log line", secret)
		}
	}
	if !strings.Contains(all.String(), `"url": "http://xxxxx@`) {
		t.Errorf("the redacted URL is missing from the JSON form")
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// BenchmarkReadyz is the handler alone, without the network: what one
// kubelet probe costs the sidecar, with 10 targets.
func BenchmarkReadyz(b *testing.B) {
	for _, bc := range []struct{ name, path, accept string }{
		{"ok", "/readyz", ""},
		{"verbose", "/readyz?verbose", ""},
		{"json", "/readyz", "application/json"},
		{"not ready", "/readyz", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			lines := make([]string, 10)
			for i := range lines {
				addr := loopback.Up(b)
				if bc.name == "not ready" && i%2 == 0 {
					addr = loopback.Refused(b)
				}
				lines[i] = "t" + strconv.Itoa(i) + "=tcp://" + addr
			}
			c := fast()
			c.Interval = time.Hour
			m, _, _ := monitor(b, targets(b, lines...), c)
			eventually(b, "every target probed", func() bool {
				for _, s := range m.States() {
					if !s.Probed {
						return false
					}
				}
				return true
			})
			h := m.Handler()
			req := httptest.NewRequest(http.MethodGet, bc.path, nil)
			if bc.accept != "" {
				req.Header.Set("Accept", bc.accept)
			}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}

// explainer is a probe.API whose cluster step always finds crashing pods.
type explainer struct{}

func (explainer) Explain(context.Context, probe.Result) (probe.Finding, bool) {
	return probe.Finding{Cause: "pods_not_ready", Object: "service/db", Text: `Service "db" selects 1 pod (app=db), none ready: pod "db-0" is in CrashLoopBackOff`, Hint: "kubectl -n app logs db-0 --previous"}, true
}

func (explainer) Check(context.Context, probe.Object) (probe.Finding, error) {
	return probe.Finding{}, nil
}

// TestReadyzCluster: in a pod, /readyz?verbose and the JSON form say what
// the Kubernetes API found; plain /readyz stays one short line.
func TestReadyzCluster(t *testing.T) {
	ts := targets(t, "db=tcp://"+loopback.Refused(t))
	ts[0].API = explainer{}
	m, base, _ := monitor(t, ts, fast())
	eventually(t, "db probed", func() bool { return m.States()[0].Probed })
	_, body, _ := get(t, base+"/readyz?verbose")
	if want := `[-]db failed: connect refused, pods_not_ready: Service "db" selects 1 pod (app=db), none ready: pod "db-0" is in CrashLoopBackOff` + "\n"; !strings.Contains(body, want) {
		t.Errorf("/readyz?verbose = %q, want the line %q", body, want)
	}
	_, body, _ = get(t, base+"/readyz")
	if want := "[-]db failed: connect refused, pods_not_ready\n"; !strings.Contains(body, want) {
		t.Errorf("/readyz = %q, want the line %q", body, want)
	}
	_, body, _ = get(t, base+"/readyz/db", "Accept", "application/json")
	var one readiness.TargetJSON
	if err := json.Unmarshal([]byte(body), &one); err != nil || one.Cause != "pods_not_ready" || one.Hint != "kubectl -n app logs db-0 --previous" {
		t.Errorf("GET /readyz/db as JSON = %s (%v), want cause pods_not_ready and the API's hint", body, err)
	}
}

// TestStepsJSON: the JSON form gives the last attempt's steps as objects.
func TestStepsJSON(t *testing.T) {
	_, base, _ := monitor(t, targets(t, "down=tcp://"+loopback.Refused(t)), fast())
	eventuallyGet(t, base+"/readyz/down", 503, "[-]down failed: connect refused\n")
	_, body, _ := get(t, base+"/readyz/down", "Accept", "application/json")
	var j readiness.TargetJSON
	if err := json.Unmarshal([]byte(body), &j); err != nil {
		t.Fatal(err)
	}
	if len(j.Steps) != 2 || j.Steps[1].Step != "connect" || j.Steps[1].Outcome != "refused" || j.Steps[1].Addr == "" || j.Steps[1].DurationMS <= 0 {
		t.Errorf("steps = %+v, want resolve, then connect refused with its address and duration", j.Steps)
	}
	if !strings.Contains(body, `"duration_ms": `) {
		t.Errorf("JSON lacks duration_ms:\n%s", body)
	}
}

// TestKubernetesForms: the forms Kubernetes users know from the API
// server's /readyz and /livez: ?verbose on /livez, ?exclude=NAME, a JSON
// 404, and metrics that explain themselves and mark optional targets.
func TestKubernetesForms(t *testing.T) {
	_, base, _ := monitor(t, targets(t, "up=tcp://"+loopback.Up(t), "down=tcp://"+loopback.Refused(t), "opt=tcp://"+loopback.Refused(t)+" optional=true"), fast())
	eventuallyGet(t, base+"/readyz?verbose", 503, "[+]up ok\n[-]down failed: connect refused\n[-]opt failed: connect refused (optional)\nreadyz check failed\n")

	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/readyz?exclude=down", 200, "ok\n"},
		{"/readyz?exclude=down&verbose", 200, "[+]up ok\n[+]down excluded: ok\n[-]opt failed: connect refused (optional)\nreadyz check passed\n"},
		{"/readyz?exclude=up", 503, "[+]up excluded: ok\n[-]down failed: connect refused\n[-]opt failed: connect refused (optional)\nreadyz check failed\n"},
		{"/readyz?exclude=nope,down&exclude=other&verbose", 200, "[+]up ok\n[+]down excluded: ok\n[-]opt failed: connect refused (optional)\nwarn: some health checks cannot be excluded: no matches for \"nope\",\"other\"\nreadyz check passed\n"},
		{"/livez", 200, "ok\n"},
		{"/livez?verbose", 200, "[+]probing ok\n[+]loop/up ok\n[+]loop/down ok\n[+]loop/opt ok\nlivez check passed\n"},
		{"/livez?verbose&exclude=loop/down", 200, "[+]probing ok\n[+]loop/up ok\n[+]loop/down excluded: ok\n[+]loop/opt ok\nlivez check passed\n"},
		{"/readyz/nope", 404, "no target named \"nope\"\n"},
	} {
		if code, body, _ := get(t, base+tc.path); code != tc.code || body != tc.body {
			t.Errorf("GET %s = %d %q, want %d %q", tc.path, code, body, tc.code, tc.body)
		}
	}

	code, body, h := get(t, base+"/readyz/nope", "Accept", "application/json")
	var notFound struct{ Error string }
	if err := json.Unmarshal([]byte(body), &notFound); code != 404 || err != nil || h.Get("Content-Type") != "application/json" || notFound.Error != `no target named "nope"` {
		t.Errorf("GET /readyz/nope as JSON = %d %s %q (%v), want 404 application/json with an error", code, h.Get("Content-Type"), body, err)
	}
	code, body, _ = get(t, base+"/readyz?exclude=down,nope", "Accept", "application/json")
	var all readiness.ReadyzJSON
	if err := json.Unmarshal([]byte(body), &all); err != nil || code != 200 || !all.Ready || len(all.Warnings) != 1 || !strings.Contains(all.Warnings[0], `"nope"`) {
		t.Errorf("GET /readyz?exclude=down,nope as JSON = %d %s (%v), want 200, ready, a warning naming nope", code, body, err)
	}
	for _, tg := range all.Targets {
		if tg.Excluded != (tg.Name == "down") {
			t.Errorf("target %s: excluded = %v", tg.Name, tg.Excluded)
		}
	}

	_, page, _ := get(t, base+"/metrics")
	helps := 0
	for line := range strings.Lines(page) {
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			helps++
			if name, text, _ := strings.Cut(strings.TrimSpace(rest), " "); text == "" {
				t.Errorf("# HELP %s has no text", name)
			}
		}
	}
	for _, want := range []string{
		"# HELP depprobe_target_up 1 when",
		"# HELP depprobe_step_duration_seconds How long",
		`depprobe_target_up{optional="true",target="opt"} 0`,
		`depprobe_target_up{optional="false",target="up"} 1`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if helps < 5 {
		t.Errorf("/metrics has %d # HELP lines, want one per depprobe series", helps)
	}
}

// TestMetricsPageShared: scrapers within MetricsMaxAge of a render share
// its page (one render for many concurrent scrapers, not one each); an
// older page is rendered again.
func TestMetricsPageShared(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	c := fast()
	c.Now = clk.Now
	c.MetricsMaxAge = time.Minute
	addr := loopback.Refused(t)
	m, base, _ := monitor(t, targets(t, "down=tcp://"+addr), c)
	eventually(t, "the first attempt", func() bool { return m.States()[0].Probed })
	_, first, _ := get(t, base+"/metrics")
	eventually(t, "more attempts", func() bool { return m.States()[0].Attempts > 3 })
	if _, again, _ := get(t, base+"/metrics"); again != first {
		t.Errorf("a scrape within MetricsMaxAge rendered a new page")
	}
	clk.Add(time.Minute)
	if _, later, _ := get(t, base+"/metrics"); later == first {
		t.Errorf("a scrape after MetricsMaxAge got the old page")
	}
}
