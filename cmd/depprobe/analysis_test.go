package main

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/kube"
	"github.com/depprobe/depprobe/internal/kube/kubetest"
	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
)

// failed makes a failed result of a target at a step, the step's
// duration and the cause given.
func failed(name string, step probe.Step, outcome probe.Outcome, d time.Duration, err error) probe.Result {
	r := probe.Result{Target: name, Step: step, Outcome: outcome, Err: err,
		Steps: []probe.StepResult{{Step: probe.Resolve, Outcome: probe.OK}}}
	if step == probe.Resolve {
		r.Steps = nil
	}
	r.Steps = append(r.Steps, probe.StepResult{Step: step, Outcome: outcome, Duration: d, Err: err})
	return r
}

func TestAnalyze(t *testing.T) {
	mk := func(lines ...string) []*probe.Target {
		var specs []probe.Spec
		for _, l := range lines {
			s, err := probe.ParseSpecs("test", l)
			if err != nil {
				t.Fatal(err)
			}
			specs = append(specs, s...)
		}
		ts, err := probe.Targets(specs)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	dnsTimeout := errors.New("lookup db on 10.96.0.10:53: i/o timeout")
	dnsRefused := errors.New("lookup db on 10.96.0.10:53: read udp 10.244.0.5:41234->10.96.0.10:53: read: connection refused")
	refused := errors.New("connect: connection refused")
	unknownCA := x509.UnknownAuthorityError{Cert: &x509.Certificate{Issuer: pkix.Name{CommonName: "Corp Proxy CA"}}}
	istio := &kube.Self{Name: "web-0", Mesh: "istio", Proxy: "istio-proxy", Initializing: true, DNS: true}
	istioApp := &kube.Self{Name: "web-0", Mesh: "istio", Proxy: "istio-proxy", DNS: true} // wait -- app: initialized
	istioNative := &kube.Self{Name: "web-0", Mesh: "istio", Proxy: "istio-proxy", ProxyNative: true, DNS: true}
	policed := &kube.Self{Name: "web-0", Egress: []string{"default-deny-egress"}, DNS: false}
	tests := []struct {
		name    string
		targets []*probe.Target
		results []probe.Result
		self    *kube.Self
		ns      string
		cause   string // "": none
		certain bool
		text    string
	}{
		{"DNS times out for every name", mk("db=postgres://db:5432", "cache=redis://cache.data:6379"),
			[]probe.Result{failed("db", probe.Resolve, probe.Timeout, 2*time.Second, dnsTimeout), failed("cache", probe.Resolve, probe.Timeout, 2*time.Second, dnsTimeout)},
			&kube.Self{DNS: true}, "app", "cluster_dns", false, "cluster DNS does not answer: every name timed out at resolve; no NetworkPolicy restricts this pod's egress"},
		{"DNS refused: kube-dns without endpoints", mk("db=postgres://db:5432", "cache=redis://cache:6379"),
			[]probe.Result{failed("db", probe.Resolve, probe.DNSError, time.Millisecond, dnsRefused), failed("cache", probe.Resolve, probe.DNSError, time.Millisecond, dnsRefused)},
			nil, "app", "cluster_dns", false, "cluster DNS refuses"},
		{"a resolver's SERVFAIL is an answer, not DNS being away", mk("db=postgres://db:5432", "cache=redis://cache:6379"),
			[]probe.Result{failed("db", probe.Resolve, probe.DNSError, time.Millisecond, errors.New("lookup db: server misbehaving")), failed("cache", probe.Resolve, probe.DNSError, time.Millisecond, errors.New("lookup cache: server misbehaving"))},
			nil, "app", "", false, ""},
		{"a missing Service is not DNS", mk("db=postgres://db:5432"),
			[]probe.Result{func() probe.Result {
				r := failed("db", probe.Resolve, probe.Timeout, 2*time.Second, dnsTimeout)
				r.Finding = &probe.Finding{Cause: "service_missing"}
				return r
			}()},
			nil, "app", "", false, ""},
		{"DNS cut off by an egress policy", mk("db=postgres://db:5432", "cache=redis://cache:6379"),
			[]probe.Result{failed("db", probe.Resolve, probe.Timeout, 2*time.Second, dnsTimeout), failed("cache", probe.Resolve, probe.Timeout, 2*time.Second, dnsTimeout)},
			policed, "app", "cluster_dns", false, `NetworkPolicy "default-deny-egress" selects this pod and lets nothing out to port 53`},
		{"one name only, outside a cluster: the target's own hint says it", mk("db=postgres://db:5432"),
			[]probe.Result{failed("db", probe.Resolve, probe.Timeout, 2*time.Second, dnsTimeout)},
			nil, "", "", false, ""},
		{"DNS: one name fails otherwise", mk("db=postgres://db:5432", "cache=redis://cache:6379"),
			[]probe.Result{failed("db", probe.Resolve, probe.Timeout, 2*time.Second, dnsTimeout), failed("cache", probe.Connect, probe.Refused, time.Millisecond, refused)},
			nil, "app", "", false, ""},
		{"meshed, every target refused at once, the proxy a regular container", mk("db=postgres://db:5432", "api=https://api.example.com"),
			[]probe.Result{failed("db", probe.Connect, probe.Refused, 300*time.Microsecond, refused), failed("api", probe.Connect, probe.Refused, 200*time.Microsecond, refused)},
			istio, "app", "mesh_proxy", true, "the istio proxy is not up"},
		{"meshed, depprobe in a regular container (wait -- app): the proxy starts beside it, not certain", mk("db=postgres://db:5432", "api=https://api.example.com"),
			[]probe.Result{failed("db", probe.Connect, probe.Refused, 300*time.Microsecond, refused), failed("api", probe.Connect, probe.Refused, 200*time.Microsecond, refused)},
			istioApp, "app", "mesh_proxy", false, "the istio proxy is not up"},
		{"meshed with a native sidecar proxy: not certain", mk("db=postgres://db:5432", "api=https://api.example.com"),
			[]probe.Result{failed("db", probe.Connect, probe.Refused, 300*time.Microsecond, refused), failed("api", probe.Connect, probe.Refused, 200*time.Microsecond, refused)},
			istioNative, "app", "mesh_proxy", false, "the istio proxy is not up"},
		{"meshed, but one refusal took long: a server's", mk("db=postgres://db:5432", "api=https://api.example.com"),
			[]probe.Result{failed("db", probe.Connect, probe.Refused, 300*time.Microsecond, refused), failed("api", probe.Connect, probe.Refused, 300*time.Millisecond, refused)},
			istio, "app", "", false, ""},
		{"same namespace answers, the others time out", mk("db=postgres://db:5432", "pay=https://pay.example.com", "mq=amqp://mq.infra:5672"),
			[]probe.Result{{Target: "db", Step: probe.Protocol, Outcome: probe.OK}, failed("pay", probe.Connect, probe.Timeout, 2*time.Second, nil), failed("mq", probe.Connect, probe.Timeout, 2*time.Second, nil)},
			policed, "app", "egress_policy", false, `NetworkPolicy "default-deny-egress" selects this pod and restricts its egress`},
		{"every TLS target signed by an unknown authority", mk("a=https://a.example.com", "b=tls://b.example.com:443", "c=tcp://10.0.0.7:80"),
			[]probe.Result{failed("a", probe.TLS, probe.CertInvalid, time.Millisecond, fmt.Errorf("tls: %w", unknownCA)), failed("b", probe.TLS, probe.CertInvalid, time.Millisecond, fmt.Errorf("tls: %w", unknownCA)), {Target: "c", Step: probe.Connect, Outcome: probe.OK}},
			nil, "", "unknown_authority", false, `all by "Corp Proxy CA"`},
		{"not every target has an answer yet", mk("db=postgres://db:5432", "cache=redis://cache:6379"),
			[]probe.Result{failed("db", probe.Resolve, probe.Timeout, 2*time.Second, dnsTimeout), {}},
			nil, "app", "", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := analyze(tc.targets, tc.results, tc.self, tc.ns)
			if tc.cause == "" {
				if ok {
					t.Errorf("analyze = %+v, want no shared cause", c)
				}
				return
			}
			if !ok || c.cause != tc.cause || c.certain != tc.certain || !strings.Contains(c.text, tc.text) {
				t.Fatalf("analyze = %+v, %t; want cause %q (certain %t) saying %q", c, ok, tc.cause, tc.certain, tc.text)
			}
			if len(c.evidence) < 2 || c.hint == "" {
				t.Errorf("evidence %q, hint %q: want each target's summary and a fix", c.evidence, c.hint)
			}
		})
	}
}

// ownPod is this test pod as the API gives it: meshed by Istio's
// injector (its annotation), the proxy a regular container not started.
const ownPod = `{"metadata":{"name":"web-6d4cf56db6-x2x9q","namespace":"app","uid":"5f2c-uid","labels":{"app":"web"},"annotations":{"sidecar.istio.io/status":"{\"containers\":[\"istio-proxy\"]}"}},"spec":{"containers":[{"name":"app"},{"name":"istio-proxy"}],"initContainers":[{"name":"wait"}]},"status":{"phase":"Pending","conditions":[{"type":"Initialized","status":"False","reason":"ContainersNotInitialized"}],"initContainerStatuses":[{"name":"wait","ready":false,"state":{"running":{}}}],"containerStatuses":[{"name":"istio-proxy","ready":false,"state":{"waiting":{"reason":"PodInitializing"}}}]}}`

// TestWaitMeshedGivesUpAtOnce: in a meshed pod whose proxy cannot start
// before this wait ends, every target refused at once ends the wait at
// once, the cause first in the termination message; with
// DEPPROBE_KUBE_EVENTS the verdict is an Event on the pod.
func TestWaitMeshedGivesUpAtOnce(t *testing.T) {
	api, env := inPod(t, map[string]kubetest.Answer{
		"/api/v1/namespaces/app/pods/web-6d4cf56db6-x2x9q":                             kubetest.OK(ownPod),
		kubetest.ListPath("/apis/networking.k8s.io/v1", "app", "networkpolicies", nil): kubetest.List(),
		"POST /api/v1/namespaces/app/events":                                           {Code: 201, Body: `{}`},
	})
	term := filepath.Join(t.TempDir(), "termination-log")
	env["DEPPROBE_TERMINATION_LOG"] = term
	env["DEPPROBE_TIMEOUT"] = "1m"
	env["DEPPROBE_KUBE_EVENTS"] = "true"
	start := time.Now()
	res := runWith(t, env, "wait", "db=tcp://"+loopback.Refused(t), "api=tcp://"+loopback.Refused(t))
	if res.code != exitNotReady || time.Since(start) > 20*time.Second {
		t.Fatalf("exit code %d after %s, want %d at once\n%s", res.code, time.Since(start), exitNotReady, res.stderr)
	}
	msg, _ := os.ReadFile(term)
	lines := strings.Split(strings.TrimSpace(string(msg)), "\n")
	if !strings.HasPrefix(lines[0], "one cause: the istio proxy is not up") || !strings.Contains(lines[0], "istio-proxy is a regular container") {
		t.Errorf("termination message does not begin with the cause:\n%s", msg)
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "(waiting cannot fix it: mesh_proxy): one cause: the istio proxy is not up") {
		t.Errorf("key sentence = %q", last)
	}
	var event string
	for _, b := range api.Bodies() {
		if strings.Contains(b, `"kind":"Event"`) {
			event = b
		}
	}
	for _, want := range []string{`"reason":"DependencyNotReady"`, `"uid":"5f2c-uid"`, `"name":"web-6d4cf56db6-x2x9q"`, `"type":"Warning"`, `one cause: the istio proxy is not up`} {
		if !strings.Contains(event, want) {
			t.Errorf("the last Event lacks %s:\n%s", want, event)
		}
	}
}

// TestWaitMeshedInAppContainer: in front of the app (wait -- app, in a
// regular container of an initialized pod) the proxy starts beside
// depprobe: every target refused at once is said as the cause, but does
// not end the wait (it ended it at once, as if depprobe were an init
// container).
func TestWaitMeshedInAppContainer(t *testing.T) {
	pod, err := os.ReadFile("../../internal/kube/testdata/pod-meshed-app.json")
	if err != nil {
		t.Fatal(err)
	}
	_, env := inPod(t, map[string]kubetest.Answer{
		"/api/v1/namespaces/app/pods/app":                                              kubetest.OK(string(pod)),
		kubetest.ListPath("/apis/networking.k8s.io/v1", "app", "networkpolicies", nil): kubetest.List(),
	})
	env["HOSTNAME"] = "app"
	term := filepath.Join(t.TempDir(), "termination-log")
	env["DEPPROBE_TERMINATION_LOG"] = term
	env["DEPPROBE_TIMEOUT"] = "1s"
	res := runWith(t, env, "wait", "db=tcp://"+loopback.Refused(t), "api=tcp://"+loopback.Refused(t))
	msg, _ := os.ReadFile(term)
	lines := strings.Split(strings.TrimSpace(string(msg)), "\n")
	if res.code != exitNotReady || !strings.HasPrefix(lines[0], "one cause: the istio proxy is not up") || strings.Contains(string(msg), "cannot come up") {
		t.Errorf("exit code %d; termination message:\n%s\nwant the cause first, without saying the proxy cannot come up", res.code, msg)
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "(DEPPROBE_TIMEOUT=1s reached): one cause: the istio proxy is not up") {
		t.Errorf("key sentence = %q, want the wait to have run to its deadline", last)
	}
}

// TestLookupSelfUnlocked: the lookup of this pod holds no lock while it
// asks the API: a target's result is recorded meanwhile, and the lookup
// keeps what the API answers. (The lock was held through the request, so
// a target's loop waited up to the API's 2 s time limit; a test that had
// to wait that long saw the lookup end without an answer.)
func TestLookupSelfUnlocked(t *testing.T) {
	hold := make(chan struct{})
	api, env := inPod(t, map[string]kubetest.Answer{
		"/api/v1/namespaces/app/pods/web-6d4cf56db6-x2x9q":                             {Code: 200, Body: ownPod, Hold: hold},
		kubetest.ListPath("/apis/networking.k8s.io/v1", "app", "networkpolicies", nil): kubetest.List(),
	})
	client, why := inCluster(env, discard())
	if client == nil {
		t.Fatal(why)
	}
	defer client.Close()
	targets, err := probe.Targets([]probe.Spec{{Name: "db", URL: "tcp://10.0.0.7:5432"}})
	if err != nil {
		t.Fatal(err)
	}
	an := newAnalyst(targets, client, true)
	looked := make(chan *kube.Self, 1)
	go func() { looked <- an.lookupSelf(t.Context()) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(api.Requests()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the lookup asked nothing within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	// While the request is held: a target's loop records its result.
	an.observe(t.Context(), 0, failed("db", probe.Connect, probe.Refused, time.Millisecond, errors.New("connection refused")))
	close(hold)
	if self := <-looked; self == nil || self.Mesh != "istio" {
		t.Fatalf("lookupSelf = %+v, want this pod as the API answered (meshed by istio)", self)
	}
	if got := an.snapshot()[0]; got.Target != "db" {
		t.Errorf("the result recorded during the lookup is %+v", got)
	}
}

// TestSharedCauseOutsideAPod: outside a pod, wait does not analyse the
// targets' results together at every attempt (nothing would come of it
// there: no cause ends the wait early, no Event is published), and still
// says the cause they share when it gives up.
func TestSharedCauseOutsideAPod(t *testing.T) {
	env := fast(map[string]string{"DEPPROBE_TERMINATION_LOG": filepath.Join(t.TempDir(), "termination-log")})
	c, err := loadConfig(env)
	if err != nil {
		t.Fatal(err)
	}
	c = c.forCommand("wait")
	targets, err := c.targets([]string{"db=tcp://db:5432", "cache=tcp://cache:6379"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		tg.Resolver = refusingDNS(t)
	}
	an := newAnalyst(targets, nil, true)
	for i, tg := range targets {
		r := tg.Probe(t.Context())
		if oc, ok := an.observe(t.Context(), i, r); ok {
			t.Errorf("observe(%s) = %+v outside a pod, want nothing until the end", tg.Name, oc)
		}
	}
	if oc, ok := an.analyze(t.Context(), an.snapshot()); !ok || oc.cause != "cluster_dns" {
		t.Fatalf("the snapshot's cause = %+v, %v; want cluster_dns", oc, ok)
	}

	var log lockedBuffer
	if err := wait(t.Context(), c, targets, newLogger(c, &log), nil); !errors.Is(err, errNotReady) {
		t.Fatalf("wait = %v, want %v", err, errNotReady)
	}
	for _, want := range []string{`"msg":"gave up: one cause"`, `"cause":"cluster_dns"`, `"err":"DNS does not answer: every name failed at resolve"`} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log has no %s:\n%s", want, log.String())
		}
	}
}

// BenchmarkAnalyze: what reading ten targets' results together costs, as
// wait does in a pod at every attempt.
func BenchmarkAnalyze(b *testing.B) {
	var specs []probe.Spec
	for i := range 10 {
		specs = append(specs, probe.Spec{Name: fmt.Sprintf("t%d", i), URL: fmt.Sprintf("tcp://10.0.0.%d:5432", i+1)})
	}
	targets, err := probe.Targets(specs)
	if err != nil {
		b.Fatal(err)
	}
	results := make([]probe.Result, len(targets))
	for i, t := range targets {
		results[i] = failed(t.Name, probe.Connect, probe.Refused, 300*time.Millisecond, errors.New("connection refused"))
	}
	self := &kube.Self{DNS: true}
	b.ReportAllocs()
	for b.Loop() {
		analyze(targets, results, self, "app")
	}
}
