package probe_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
	"github.com/depprobe/depprobe/probe/proto"
)

// fakeAPI is a probe.API that answers from fields and counts its calls.
type fakeAPI struct {
	mu       sync.Mutex
	explain  probe.Finding
	has      bool
	check    probe.Finding
	checkErr error
	explains []probe.Result
	checks   []probe.Object
	deadline time.Duration // time left on Explain's ctx
}

func (f *fakeAPI) Explain(ctx context.Context, failed probe.Result) (probe.Finding, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.explains = append(f.explains, failed)
	if d, ok := ctx.Deadline(); ok {
		f.deadline = time.Until(d)
	}
	return f.explain, f.has
}

func (f *fakeAPI) Check(ctx context.Context, o probe.Object) (probe.Finding, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks = append(f.checks, o)
	return f.check, f.checkErr
}

var crashing = probe.Finding{
	Cause: "pods_not_ready", Namespace: "app", Object: "service/db",
	Text: `Service "db" selects 1 pod (app=db), none ready: pod "db-0" is in CrashLoopBackOff`,
	Hint: "the container keeps exiting: kubectl -n app logs db-0 -c app --previous",
}

// TestClusterStep: after a failed connect, the cluster step explains it;
// the attempt's outcome stays the socket's, the hint becomes the API's.
func TestClusterStep(t *testing.T) {
	api := &fakeAPI{explain: crashing, has: true}
	tg := target(t, "db=tcp://"+loopback.Refused(t))
	tg.API = api
	r := attempt(t, tg, time.Second)
	checkResult(t, r, probe.Connect, probe.Refused)
	if len(r.Steps) != 3 || r.Steps[2].Step != probe.Cluster || r.Steps[2].Addr != "service/db" {
		t.Fatalf("Steps = %+v, want resolve, connect, cluster on service/db", r.Steps)
	}
	if r.Finding == nil || *r.Finding != crashing {
		t.Errorf("Finding = %+v, want %+v", r.Finding, crashing)
	}
	if !strings.HasSuffix(r.Diagnosis(), ": connection refused; "+crashing.Text) {
		t.Errorf("Diagnosis() = %q, want the socket's cause, then the finding", r.Diagnosis())
	}
	if r.Hint != crashing.Hint {
		t.Errorf("Hint = %q, want the finding's %q", r.Hint, crashing.Hint)
	}
	if r.Fatal() {
		t.Error("Fatal() = true for a finding that is not certain")
	}
	if api.deadline < probe.ClusterTimeout-100*time.Millisecond || api.deadline > probe.ClusterTimeout {
		t.Errorf("Explain had %s left, want its own %s", api.deadline, probe.ClusterTimeout)
	}

	// Nothing to add: no cluster step, the ladder's own hint.
	api = &fakeAPI{}
	tg.API = api
	r = attempt(t, tg, time.Second)
	if len(r.Steps) != 2 || r.Finding != nil || !strings.Contains(r.Hint, "nothing listens") {
		t.Errorf("without a finding: Steps %+v, Finding %+v, Hint %q", r.Steps, r.Finding, r.Hint)
	}
	if len(api.explains) != 1 || api.explains[0].Outcome != probe.Refused {
		t.Errorf("Explain was asked %+v, want once, about the refused connect", api.explains)
	}

	// A step past connect never asks the API.
	ln := loopback.Listen(t)
	loopback.Serve(t, ln, func(c net.Conn) { c.Close() })
	api = &fakeAPI{explain: crashing, has: true}
	ok := target(t, "tcp://"+ln.Addr().String())
	ok.API = api
	if r := attempt(t, ok, time.Second); !r.Ready() || len(api.explains) != 0 {
		t.Errorf("a ready target: %s, %d explains", r.Outcome, len(api.explains))
	}
}

// TestWaitCertainFindingGivesUpAtOnce: a verdict the API makes certain ends
// the wait, the outcome staying the socket's.
func TestWaitCertainFindingGivesUpAtOnce(t *testing.T) {
	scaled := probe.Finding{Cause: "scaled_to_zero", Object: "deployment/db", Text: "deployment/db is scaled to 0 replicas", Hint: "scale it up", Certain: true}
	tg := target(t, "db=tcp://"+loopback.Refused(t))
	tg.API = &fakeAPI{explain: scaled, has: true}
	attempts := 0
	r, err := probe.Wait(t.Context(), tg, policy(newFakeTimer()), func(probe.Result) { attempts++ })
	if !errors.Is(err, probe.ErrFatal) || attempts != 1 || r.Outcome != probe.Refused || !r.Fatal() {
		t.Errorf("Wait = %s after %d attempts, error %v; want refused after 1, ErrFatal", r.Outcome, attempts, err)
	}
	if !strings.Contains(err.Error(), "scaled_to_zero") {
		t.Errorf("error %q does not name the cause", err)
	}
}

func TestObjectTarget(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		check   probe.Finding
		err     error
		outcome probe.Outcome
		diag    string
		hint    string
		fatal   bool
	}{
		{"ready", "k8s://job/migrate", probe.Finding{Cause: "ready", Text: "Job \"migrate\" is complete"}, nil, probe.OK, "", "", false},
		{"not ready", "k8s://deployment/api namespace=web", probe.Finding{Cause: "not_available", Text: `Deployment "api": 0 of 1 updated replicas available`, Hint: "kubectl -n web rollout status deployment/api"}, nil,
			probe.NotReady, `not_ready: Deployment "api": 0 of 1 updated replicas available`, "rollout status", false},
		{"failed job", "k8s://job/migrate", probe.Finding{Cause: "job_failed", Text: `Job "migrate" failed (BackoffLimitExceeded): Job has reached the specified backoff limit`, Hint: "re-create it", Certain: true}, nil,
			probe.NotReady, `not_ready: Job "migrate" failed (BackoffLimitExceeded): Job has reached the specified backoff limit`, "re-create it", true},
		{"forbidden", "k8s://job/migrate", probe.Finding{}, proto.FailHint(proto.Forbidden, `bind … with the rules [{apiGroups: ["batch"], resources: ["jobs"], verbs: ["get"]}]`, errors.New(`the Kubernetes API forbids system:serviceaccount:app:default to get jobs.batch in namespace "app"`)),
			probe.Forbidden, `forbidden: the Kubernetes API forbids system:serviceaccount:app:default to get jobs.batch in namespace "app"`, `verbs: ["get"]`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := target(t, tc.line)
			api := &fakeAPI{check: tc.check, checkErr: tc.err}
			tg.API = api
			r := attempt(t, tg, time.Second)
			if r.Step != probe.Cluster || r.Outcome != tc.outcome || len(r.Steps) != 1 {
				t.Fatalf("Step, Outcome = %s, %s (steps %+v), want cluster, %s", r.Step, r.Outcome, r.Steps, tc.outcome)
			}
			if r.Diagnosis() != tc.diag || !strings.Contains(r.Hint, tc.hint) || r.Fatal() != tc.fatal {
				t.Errorf("Diagnosis() = %q, Hint %q, Fatal %t; want %q, %q, %t", r.Diagnosis(), r.Hint, r.Fatal(), tc.diag, tc.hint, tc.fatal)
			}
		})
	}
	// Without an API the step says so; the command refuses such targets
	// outside a pod.
	r := attempt(t, target(t, "k8s://job/migrate"), time.Second)
	if r.Outcome != probe.Unexpected || !strings.Contains(r.Diagnosis(), "no Kubernetes API") {
		t.Errorf("without an API: %s, %q", r.Outcome, r.Diagnosis())
	}
}

// TestObjectTargetPace: a k8s:// target's attempts ask the API server,
// so they come at least a second apart, backing off to ten, whatever the
// policy's backoff (milliseconds, for sockets).
func TestObjectTargetPace(t *testing.T) {
	tg := target(t, "k8s://job/migrate")
	tg.API = &fakeAPI{check: probe.Finding{Cause: "not_available", Text: "not complete"}}
	timer := newFakeTimer()
	ctx, cancel := context.WithCancel(t.Context())
	n := 0
	probe.Wait(ctx, tg, policy(timer), func(probe.Result) {
		if n++; n == 8 {
			cancel()
		}
	})
	waits := timer.Waits()
	if len(waits) < 6 || waits[0] < probe.APIBackoffInitial/2 || waits[len(waits)-1] > probe.APIBackoffMax*3/2 || waits[len(waits)-1] < probe.APIBackoffMax/2 {
		t.Errorf("waits = %v, want from about %s up to about %s", waits, probe.APIBackoffInitial, probe.APIBackoffMax)
	}
}

func TestObjectGrammar(t *testing.T) {
	good := []struct {
		line string
		name string
		obj  probe.Object
		addr string
	}{
		{"k8s://service/db", "db", probe.Object{Kind: "service", Name: "db"}, "service/db"},
		{"k8s://svc/db port=pg namespace=data", "db", probe.Object{Kind: "service", Name: "db", Port: "pg", Namespace: "data"}, "data/service/db"},
		{"k8s://job/migrate", "migrate", probe.Object{Kind: "job", Name: "migrate"}, "job/migrate"},
		{"k8s://deploy/api", "api", probe.Object{Kind: "deployment", Name: "api"}, "deployment/api"},
		{"k8s://sts/db", "db", probe.Object{Kind: "statefulset", Name: "db"}, "statefulset/db"},
		{"k8s://pods selector=app=web,tier!=cache,canary,!legacy", "pods-app_web_tier_cache_canary_legacy", probe.Object{Kind: "pods", Selector: "app=web,tier!=cache,canary,!legacy"}, "pods -l app=web,tier!=cache,canary,!legacy"},
		{"k8s://pods selector=app.kubernetes.io/name=web", "pods-app.kubernetes.io_name_web", probe.Object{Kind: "pods", Selector: "app.kubernetes.io/name=web"}, "pods -l app.kubernetes.io/name=web"},
	}
	for _, tc := range good {
		tg := target(t, tc.line)
		o, ok := tg.Object()
		if !ok || o != tc.obj || tg.Name != tc.name || tg.Address() != tc.addr {
			t.Errorf("%s: Object %+v, name %q, address %q; want %+v, %q, %q", tc.line, o, tg.Name, tg.Address(), tc.obj, tc.name, tc.addr)
		}
	}
	bad := map[string]string{
		"k8s://secret/db":                   `unknown kind "secret"`,
		"k8s://job":                         `job name ""`,
		"k8s://job/Migrate":                 `job name "Migrate"`,
		"k8s://job/migrate/extra":           `job name "migrate/extra"`,
		"k8s://job:443/migrate":             "has no port",
		"k8s://pods":                        "needs selector=",
		"k8s://pods/web-0 selector=app=web": "not by name",
		"k8s://pods selector=app=we$b":      `label value "we$b"`,
		"k8s://job/migrate selector=app=x":  "selector= is for k8s://pods",
		"k8s://job/migrate port=pg":         "port= is for k8s://service",
		"k8s://job/migrate namespace=a.b":   `namespace="a.b"`,
		"k8s://job/migrate?x=1":             "no user, query or fragment",
	}
	for line, want := range bad {
		specs, err := probe.ParseSpecs("test", line)
		if err == nil {
			_, err = probe.Targets(specs)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one that says %q", line, err, want)
		}
	}
}

// TestSelectorCommas: a comma inside an option's value joins the labels
// of a selector, unless a target follows it.
func TestSelectorCommas(t *testing.T) {
	specs, err := probe.ParseSpecs("DEPPROBE_TARGETS", "web=k8s://pods selector=app=web,tier=front,db=postgres://db:5432,k8s://job/migrate")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range specs {
		got = append(got, s.Name+"|"+s.URL+"|"+strings.Join(s.Options["selector"], ";"))
	}
	want := []string{"web|k8s://pods|app=web,tier=front", "db|postgres://db:5432|", "|k8s://job/migrate|"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("specs = %q, want %q", got, want)
	}
}
