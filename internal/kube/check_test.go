package kube

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

func jobJSON(status string) string {
	return `{"kind":"Job","apiVersion":"batch/v1","metadata":{"name":"migrate","namespace":"app"},"spec":{"completions":1,"selector":{"matchLabels":{"batch.kubernetes.io/controller-uid":"7d1c"}}},"status":` + status + `}`
}

func deploymentJSON(replicas int, status string) string {
	return `{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"api","namespace":"app","generation":3},"spec":{"replicas":` + strconv.Itoa(replicas) + `,"selector":{"matchLabels":{"app":"api"}},"template":{"metadata":{"labels":{"app":"api"}}}},"status":` + status + `}`
}

func TestCheck(t *testing.T) {
	jobPath := "/apis/batch/v1/namespaces/app/jobs/migrate"
	jobPods := podsPath("app", "batch.kubernetes.io/controller-uid=7d1c")
	deployPath := "/apis/apps/v1/namespaces/app/deployments/api"
	tests := []struct {
		name    string
		obj     Object
		routes  map[string]answer
		cause   Cause
		certain bool
		text    string
		hint    string
	}{
		{
			name:   "job complete",
			obj:    Object{Kind: KindJob, Name: "migrate"},
			routes: map[string]answer{jobPath: ok(jobJSON(`{"conditions":[{"type":"SuccessCriteriaMet","status":"True"},{"type":"Complete","status":"True"}],"succeeded":1}`))},
			cause:  Ready, text: `Job "migrate" is complete (1 succeeded)`,
		},
		{
			name:   "job failed: certain",
			obj:    Object{Kind: KindJob, Name: "migrate"},
			routes: map[string]answer{jobPath: ok(jobJSON(`{"conditions":[{"type":"FailureTarget","status":"True","reason":"BackoffLimitExceeded","message":"Job has reached the specified backoff limit"},{"type":"Failed","status":"True","reason":"BackoffLimitExceeded","message":"Job has reached the specified backoff limit"}],"failed":2}`))},
			cause:  JobFailed, certain: true,
			text: `Job "migrate" failed (BackoffLimitExceeded): Job has reached the specified backoff limit`,
			hint: "kubectl -n app logs job/migrate",
		},
		{
			name: "job running, its pod failed once",
			obj:  Object{Kind: KindJob, Name: "migrate"},
			routes: map[string]answer{
				jobPath: ok(jobJSON(`{"active":1,"failed":1}`)),
				jobPods: list(podJSON("migrate-x", `{"job-name":"migrate"}`, `[]`, `{"phase":"Failed","reason":"","conditions":[{"type":"Ready","status":"False"}],"containerStatuses":[{"name":"app","ready":false,"state":{"terminated":{"exitCode":3,"reason":"Error"}}}]}`)),
			},
			cause: NotAvailable,
			text:  `Job "migrate" is not complete: 1 active, 0 succeeded, 1 failed; pod "migrate-x" has failed: container "app" exited 3 (Error)`,
		},
		{
			name:   "job not there yet",
			obj:    Object{Kind: KindJob, Name: "migrate"},
			routes: map[string]answer{},
			cause:  NotAvailable, text: `Job "migrate" does not exist in namespace "app"`,
		},
		{
			name:   "deployment scaled to zero: certain",
			obj:    Object{Kind: KindDeployment, Name: "api"},
			routes: map[string]answer{deployPath: ok(deploymentJSON(0, `{"observedGeneration":3}`))},
			cause:  ScaledToZero, certain: true, text: `Deployment "api" is scaled to 0 replicas`,
		},
		{
			name:   "deployment available",
			obj:    Object{Kind: KindDeployment, Name: "api"},
			routes: map[string]answer{deployPath: ok(deploymentJSON(2, `{"observedGeneration":3,"replicas":2,"updatedReplicas":2,"readyReplicas":2,"availableReplicas":2}`))},
			cause:  Ready, text: `Deployment "api": 2 of 2 updated replicas available`,
		},
		{
			name: "deployment whose pods crash",
			obj:  Object{Kind: KindDeployment, Name: "api"},
			routes: map[string]answer{
				deployPath:                 ok(deploymentJSON(1, `{"observedGeneration":3,"replicas":1,"updatedReplicas":1,"unavailableReplicas":1}`)),
				podsPath("app", "app=api"): list(podJSON("api-6b7-z", `{"app":"api"}`, `[]`, crashLoop)),
			},
			cause: NotAvailable,
			text:  `Deployment "api": 0 of 1 updated replicas available; pod "api-6b7-z" is in CrashLoopBackOff: container "app" exited 1 (Error), 5 restarts`,
			hint:  "--previous",
		},
		{
			name:   "pods, none matching",
			obj:    Object{Kind: KindPods, Selector: "app=web,tier=front"},
			routes: map[string]answer{podsPath("app", "app=web,tier=front"): list()},
			cause:  NoPods, text: `no pod in namespace "app" matches app=web,tier=front`,
		},
		{
			name:   "pods all ready",
			obj:    Object{Kind: KindPods, Namespace: "web", Selector: "app=web"},
			routes: map[string]answer{podsPath("web", "app=web"): list(podJSON("web-1", `{"app":"web"}`, `[]`, runningReady))},
			cause:  Ready, text: `1 pod matching app=web, all ready`,
		},
		{
			name: "service with a ready endpoint on its named port",
			obj:  Object{Kind: KindService, Name: "db", Port: "pg"},
			routes: map[string]answer{
				svcPath("app", "db"):    ok(serviceJSON("app", "db", `{"app":"db"}`, `[{"name":"pg","port":5432,"targetPort":5432}]`)),
				slicesPath("app", "db"): list(sliceJSON("db", true, "10.244.0.7", "pg", 5432)),
			},
			cause: Ready, text: `Service "db" has 1 ready endpoint (10.244.0.7)`,
		},
		{
			name: "service without ready endpoints says why",
			obj:  Object{Kind: KindService, Name: "db"},
			routes: map[string]answer{
				svcPath("app", "db"):      ok(serviceJSON("app", "db", `{"app":"db"}`, `[{"name":"pg","port":5432,"targetPort":5432}]`)),
				slicesPath("app", "db"):   list(sliceJSON("db", false, "10.244.0.7", "pg", 5432)),
				podsPath("app", "app=db"): list(podJSON("db-0", `{"app":"db"}`, `[]`, unschedulable)),
			},
			cause: PodsNotReady, text: `pod "db-0" is Pending, unschedulable`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api, c := newFakeAPI(t, tc.routes)
			f, err := c.Check(t.Context(), tc.obj, nil)
			if err != nil {
				t.Fatalf("Check: %v (asked %q)", err, api.Requests())
			}
			if f.Cause != tc.cause || f.Certain != tc.certain {
				t.Errorf("Cause, Certain = %q, %t, want %q, %t\ntext: %s", f.Cause, f.Certain, tc.cause, tc.certain, f.Text)
			}
			if !strings.Contains(f.Text, tc.text) {
				t.Errorf("Text = %q\nwant it to contain %q", f.Text, tc.text)
			}
			if !strings.Contains(f.Hint, tc.hint) {
				t.Errorf("Hint = %q, want it to contain %q", f.Hint, tc.hint)
			}
		})
	}
}

func TestCheckForbiddenHint(t *testing.T) {
	_, c := newFakeAPI(t, map[string]answer{"/apis/batch/v1/namespaces/app/jobs/migrate": forbidden("get", "jobs", "batch", "app")})
	_, err := c.Check(t.Context(), Object{Kind: KindJob, Name: "migrate"}, nil)
	var fe *ForbiddenError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a *ForbiddenError", err)
	}
	got := ForbiddenHint(fe, KindJob, "app")
	want := `bind system:serviceaccount:app:default to a Role in namespace "app" with the rules [{apiGroups: ["batch"], resources: ["jobs"], verbs: ["get"]}] (the chart: rbac.create=true); waiting will not fix this`
	if got != want {
		t.Errorf("hint = %q\nwant   %q", got, want)
	}
}

// TestThrottle: one lookup per LookupInterval while the symptom stays,
// twice as far apart while the finding stays, at once (but not within
// MinLookupInterval) for a new symptom. The clock is a fake.
func TestThrottle(t *testing.T) {
	now := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
	th := NewThrottle(func() time.Time { return now })
	lookups := 0
	found := Finding{Cause: PodsNotReady, Text: "crash"}
	look := func(key string) {
		th.Lookup(key, func() (Finding, error) { lookups++; return found, nil })
	}
	step := func(d time.Duration, key string, want int) {
		t.Helper()
		now = now.Add(d)
		look(key)
		if lookups != want {
			t.Fatalf("after %s more (%s): %d lookups, want %d", d, key, lookups, want)
		}
	}
	step(0, "connect refused", 1)
	step(time.Second, "connect refused", 1)   // within 10s: the last finding
	step(9*time.Second, "connect refused", 2) // 10s: a lookup; same finding → next in 20s
	step(19*time.Second, "connect refused", 2)
	step(time.Second, "connect refused", 3) // 20s → next in 40s
	step(39*time.Second, "connect refused", 3)
	step(time.Second, "connect refused", 4)    // 40s → 80s
	step(80*time.Second, "connect refused", 5) // 80s, the most
	step(80*time.Second, "connect refused", 6)
	step(time.Second, "connect timeout", 6) // a new symptom, within MinLookupInterval
	step(time.Second, "connect timeout", 7) // a new symptom: at once
	found.Text = "crash, 6 restarts"
	step(10*time.Second, "connect timeout", 8) // the same cause in other words → 20s
	step(10*time.Second, "connect timeout", 8)
	found.Cause = NoPods
	step(10*time.Second, "connect timeout", 9) // the cause changed: back to 10s
	step(10*time.Second, "connect timeout", 10)
}

// TestLookupsPerMinute counts the lookups of one target whose dependency
// stays down, attempted every 100 ms for ten minutes on a fake clock: the
// figures docs/cluster.md gives (each lookup of a Service whose pods are
// not ready is three requests: the Service, its EndpointSlices, its pods).
func TestLookupsPerMinute(t *testing.T) {
	now := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
	th := NewThrottle(func() time.Time { return now })
	var at []time.Duration
	start := now
	for range 6000 {
		th.Lookup("connect refused", func() (Finding, error) {
			at = append(at, now.Sub(start))
			// A crash-looping pod: its restart count changes at every lookup.
			return Finding{Cause: PodsNotReady, Text: fmt.Sprintf("pod %q is in CrashLoopBackOff, %d restarts", "db-0", 5+len(at))}, nil
		})
		now = now.Add(100 * time.Millisecond)
	}
	want := []time.Duration{0, 10 * time.Second, 30 * time.Second, 70 * time.Second, 150 * time.Second, 230 * time.Second, 310 * time.Second, 390 * time.Second, 470 * time.Second, 550 * time.Second}
	if len(at) != len(want) {
		t.Fatalf("lookups at %v, want %v", at, want)
	}
	for i := range want {
		if at[i] != want[i] {
			t.Fatalf("lookups at %v, want %v", at, want)
		}
	}
	t.Logf("first minute: %d lookups; then one per %s: %.2f requests a minute at 3 requests a lookup", 3, MaxLookupInterval, 3*float64(time.Minute)/float64(MaxLookupInterval))
}
