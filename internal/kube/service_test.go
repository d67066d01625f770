package kube

import (
	"errors"
	"strings"
	"testing"
)

func TestExplainService(t *testing.T) {
	const (
		dbPorts      = `[{"name":"pg","protocol":"TCP","port":5432,"targetPort":5432}]`
		webPorts     = `[{"name":"http","protocol":"TCP","port":80,"targetPort":8080}]`
		appDB        = `{"app":"db"}`
		declares5432 = `[{"name":"pg","containerPort":5432,"protocol":"TCP"}]`
	)
	refused := Symptom{Step: "connect", Outcome: "refused"}
	tests := []struct {
		name    string
		ref     ServiceRef
		sym     Symptom
		routes  map[string]answer
		cause   Cause
		certain bool
		text    []string // each must appear in Text
		hint    string   // must appear in Hint
	}{
		{
			name: "missing here, exists in another namespace",
			ref:  ServiceRef{"app", "db", 5432}, sym: Symptom{"resolve", "not_found"},
			routes: map[string]answer{
				listPath("/api/v1", "", "services", map[string]string{"fieldSelector": "metadata.name=db"}): list(serviceJSON("data", "db", appDB, dbPorts)),
			},
			cause: ServiceMissing,
			text:  []string{`Service "db" does not exist in namespace "app"; it does in namespace "data"`},
			hint:  "write db.data",
		},
		{
			name: "missing, and no permission to look elsewhere",
			ref:  ServiceRef{"app", "db", 5432}, sym: Symptom{"resolve", "not_found"},
			routes: map[string]answer{
				listPath("/api/v1", "", "services", map[string]string{"fieldSelector": "metadata.name=db"}): forbidden("list", "services", "", ""),
			},
			cause: ServiceMissing,
			text:  []string{`Service "db" does not exist in namespace "app"`},
			hint:  "kubectl -n app get services",
		},
		{
			name: "no such port",
			ref:  ServiceRef{"app", "web", 8080}, sym: refused,
			routes: map[string]answer{svcPath("app", "web"): ok(serviceJSON("app", "web", `{"app":"web"}`, webPorts))},
			cause:  ServicePortMissing,
			text:   []string{`Service "web" has no port 8080 (its ports: 80/http)`},
		},
		{
			name: "no selector, no EndpointSlice",
			ref:  ServiceRef{"app", "db", 5432}, sym: refused,
			routes: map[string]answer{
				svcPath("app", "db"):    ok(serviceJSON("app", "db", "", dbPorts)),
				slicesPath("app", "db"): list(),
			},
			cause: NoSelector,
			text:  []string{"no selector and no EndpointSlice"},
		},
		{
			name: "selector matches nothing: the Deployment is scaled to zero",
			ref:  ServiceRef{"app", "db", 5432}, sym: refused,
			routes: map[string]answer{
				svcPath("app", "db"):                                 ok(serviceJSON("app", "db", appDB, dbPorts)),
				slicesPath("app", "db"):                              list(),
				podsPath("app", "app=db"):                            list(),
				listPath("/apis/apps/v1", "app", "deployments", nil): list(`{"metadata":{"name":"db","namespace":"app","generation":2},"spec":{"replicas":0,"selector":{"matchLabels":{"app":"db"}},"template":{"metadata":{"labels":{"app":"db"}}}},"status":{"observedGeneration":2}}`),
			},
			cause: ScaledToZero, certain: true,
			text: []string{`deployment/db, which is scaled to 0 replicas`},
			hint: "kubectl -n app scale deployment/db --replicas=1",
		},
		{
			name: "selector matches nothing: a pod of that name has other labels",
			ref:  ServiceRef{"app", "db", 5432}, sym: refused,
			routes: map[string]answer{
				svcPath("app", "db"):                                  ok(serviceJSON("app", "db", appDB, dbPorts)),
				slicesPath("app", "db"):                               list(),
				podsPath("app", "app=db"):                             list(),
				listPath("/apis/apps/v1", "app", "deployments", nil):  list(),
				listPath("/apis/apps/v1", "app", "statefulsets", nil): forbidden("list", "statefulsets", "apps", "app"),
				podsPath("app", ""):                                   list(podJSON("db-5d8f-q", `{"app":"database"}`, declares5432, runningReady)),
			},
			cause: NoPods,
			text:  []string{`Service "db" selects app=db, and no pod in namespace "app" has those labels (pod "db-5d8f-q" has app=database)`},
			hint:  "--show-labels",
		},
		{
			name: "pods in CrashLoopBackOff",
			ref:  ServiceRef{"app", "db", 5432}, sym: refused,
			routes: map[string]answer{
				svcPath("app", "db"):      ok(serviceJSON("app", "db", appDB, dbPorts)),
				slicesPath("app", "db"):   list(sliceJSON("db", false, "10.244.0.7", "pg", 5432)),
				podsPath("app", "app=db"): list(podJSON("db-7c9f-x", appDB, declares5432, crashLoop)),
			},
			cause: PodsNotReady,
			text:  []string{`Service "db" selects 1 pod (app=db), none ready: pod "db-7c9f-x" is in CrashLoopBackOff: container "app" exited 1 (Error), 5 restarts`},
			hint:  "kubectl -n app logs db-7c9f-x -c app --previous",
		},
		{
			name: "crash-looping, caught between two back-offs",
			ref:  ServiceRef{"app", "db", 5432}, sym: refused,
			routes: map[string]answer{
				svcPath("app", "db"):    ok(serviceJSON("app", "db", appDB, dbPorts)),
				slicesPath("app", "db"): list(),
				podsPath("app", "app=db"): list(podJSON("db-7c9f-x", appDB, declares5432,
					`{"phase":"Running","conditions":[{"type":"Ready","status":"False"}],"containerStatuses":[{"name":"app","ready":false,"restartCount":2,"state":{"terminated":{"exitCode":1,"reason":"Error"}},"lastState":{"terminated":{"exitCode":1,"reason":"Error"}}}]}`)),
			},
			cause: PodsNotReady,
			text:  []string{`pod "db-7c9f-x" is in CrashLoopBackOff: container "app" exited 1 (Error), 2 restarts`},
			hint:  "--previous",
		},
		{
			name: "an image that does not exist is certain",
			ref:  ServiceRef{"app", "db", 5432}, sym: refused,
			routes: map[string]answer{
				svcPath("app", "db"):      ok(serviceJSON("app", "db", appDB, dbPorts)),
				slicesPath("app", "db"):   list(),
				podsPath("app", "app=db"): list(podJSON("db-7c9f-x", appDB, declares5432, imageNotFound), podJSON("db-7c9f-y", appDB, declares5432, imageNotFound)),
			},
			cause: PodsNotReady, certain: true,
			text: []string{`selects 2 pods (app=db), none ready: pod "db-7c9f-x" is in ImagePullBackOff: container "app" cannot pull image "registry.example/app:nosuch" (it does not exist)`, `; pod "db-7c9f-y"`},
			hint: "fix the image name or tag",
		},
		{
			name: "a pod that cannot be scheduled",
			ref:  ServiceRef{"app", "db", 5432}, sym: refused,
			routes: map[string]answer{
				svcPath("app", "db"):      ok(serviceJSON("app", "db", appDB, dbPorts)),
				slicesPath("app", "db"):   list(),
				podsPath("app", "app=db"): list(podJSON("db-0", appDB, declares5432, unschedulable)),
			},
			cause: PodsNotReady,
			text:  []string{`pod "db-0" is Pending, unschedulable: 0/1 nodes are available: 1 Insufficient cpu.`},
			hint:  "the scheduler cannot place it",
		},
		{
			name: "running, the readiness probe fails",
			ref:  ServiceRef{"app", "db", 5432}, sym: refused,
			routes: map[string]answer{
				svcPath("app", "db"):      ok(serviceJSON("app", "db", appDB, dbPorts)),
				slicesPath("app", "db"):   list(sliceJSON("db", false, "10.244.0.7", "pg", 5432)),
				podsPath("app", "app=db"): list(podJSON("db-0", appDB, declares5432, runningNotReady)),
				listPath("/api/v1", "app", "events", map[string]string{"fieldSelector": "involvedObject.kind=Pod,involvedObject.name=db-0,reason=Unhealthy"}): list(`{"involvedObject":{"kind":"Pod","name":"db-0"},"reason":"Unhealthy","message":"Readiness probe failed: HTTP probe failed with statuscode: 503","type":"Warning","count":12,"lastTimestamp":"2026-11-30T14:01:00Z"}`),
			},
			cause: PodsNotReady,
			text:  []string{`pod "db-0" is Running, container "app" not ready (its readiness probe fails): Readiness probe failed: HTTP probe failed with statuscode: 503`},
			hint:  "readiness probe fails",
		},
		{
			name: "ready endpoints, a targetPort no container declares",
			ref:  ServiceRef{"app", "web", 80}, sym: refused,
			routes: map[string]answer{
				svcPath("app", "web"):      ok(serviceJSON("app", "web", `{"app":"web"}`, webPorts)),
				slicesPath("app", "web"):   list(sliceJSON("web", true, "10.244.0.9", "http", 8080)),
				podsPath("app", "app=web"): list(podJSON("web-1", `{"app":"web"}`, `[{"name":"http","containerPort":80,"protocol":"TCP"}]`, runningReady)),
			},
			cause: TargetPortMismatch,
			text:  []string{`Service "web" sends port 80 to targetPort 8080, which no container of its pods declares (pod "web-1": they declare 80/http)`},
			hint:  "targetPort",
		},
		{
			name: "ready endpoints time out: a NetworkPolicy selects the pods",
			ref:  ServiceRef{"app", "db", 5432}, sym: Symptom{"connect", "timeout"},
			routes: map[string]answer{
				svcPath("app", "db"):      ok(serviceJSON("app", "db", appDB, dbPorts)),
				slicesPath("app", "db"):   list(sliceJSON("db", true, "10.244.0.7", "pg", 5432)),
				podsPath("app", "app=db"): list(podJSON("db-0", appDB, declares5432, runningReady)),
				listPath("/apis/networking.k8s.io/v1", "app", "networkpolicies", nil): list(`{"metadata":{"name":"deny-all","namespace":"app"},"spec":{"podSelector":{},"policyTypes":["Ingress"]}}`, `{"metadata":{"name":"web-only","namespace":"app"},"spec":{"podSelector":{"matchLabels":{"app":"web"}},"policyTypes":["Ingress"]}}`),
			},
			cause: NetworkPolicy,
			text:  []string{`NetworkPolicy "deny-all" (podSelector {}) in namespace "app" selects its pods`},
			hint:  "ingress rules",
		},
		{
			name: "the Service exists, DNS gives no answer",
			ref:  ServiceRef{"app", "db", 5432}, sym: Symptom{"resolve", "timeout"},
			routes: map[string]answer{
				svcPath("app", "db"):    ok(serviceJSON("app", "db", appDB, dbPorts)),
				slicesPath("app", "db"): list(sliceJSON("db", true, "10.244.0.7", "pg", 5432)),
			},
			cause: ClusterDNS,
			text:  []string{`Service "db" exists (ClusterIP 10.96.0.20), yet DNS gave no answer for its name`},
			hint:  "port 53",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api, c := newFakeAPI(t, tc.routes)
			f, err := c.ExplainService(t.Context(), tc.ref, tc.sym)
			if err != nil {
				t.Fatalf("ExplainService: %v (asked %q)", err, api.Requests())
			}
			if f.Cause != tc.cause || f.Certain != tc.certain {
				t.Errorf("Cause, Certain = %q, %t, want %q, %t\ntext: %s", f.Cause, f.Certain, tc.cause, tc.certain, f.Text)
			}
			for _, want := range tc.text {
				if !strings.Contains(f.Text, want) {
					t.Errorf("Text = %q\nwant it to contain %q", f.Text, want)
				}
			}
			if !strings.Contains(f.Hint, tc.hint) {
				t.Errorf("Hint = %q, want it to contain %q", f.Hint, tc.hint)
			}
			for i, a := range api.Auth() {
				if a != "Bearer "+testToken {
					t.Errorf("request %d: Authorization = %q", i, a)
				}
			}
			if strings.Contains(f.Text+f.Hint, "SECRET-TEST-TOKEN") {
				t.Error("the finding holds the token")
			}
		})
	}
}

func TestExplainServiceForbidden(t *testing.T) {
	api, c := newFakeAPI(t, map[string]answer{svcPath("app", "db"): forbidden("get", "services", "", "app")})
	for range 3 {
		_, err := c.ExplainService(t.Context(), ServiceRef{"app", "db", 5432}, Symptom{"connect", "refused"})
		var fe *ForbiddenError
		if !errors.As(err, &fe) {
			t.Fatalf("err = %v, want a *ForbiddenError", err)
		}
		if want := `the Kubernetes API forbids system:serviceaccount:app:default to get services in namespace "app"`; err.Error() != want {
			t.Errorf("err = %q, want %q", err, want)
		}
	}
	if n := len(api.Requests()); n != 1 {
		t.Errorf("%d requests for three lookups, want 1: a denied request is not made again", n)
	}
}

func TestServiceHost(t *testing.T) {
	tests := []struct {
		host string
		want ServiceRef
		ok   bool
	}{
		{"db", ServiceRef{"app", "db", 0}, true},
		{"db.data", ServiceRef{"data", "db", 0}, true},
		{"db.data.svc", ServiceRef{"data", "db", 0}, true},
		{"db.data.svc.cluster.local", ServiceRef{"data", "db", 0}, true},
		{"db.data.svc.corp.example.", ServiceRef{"data", "db", 0}, true},
		{"db-0.db.data.svc.cluster.local", ServiceRef{"data", "db", 0}, true},
		{"DB", ServiceRef{"app", "db", 0}, true},
		{"10.0.0.7", ServiceRef{}, false},
		{"localhost", ServiceRef{}, false},
		{"api.example.com", ServiceRef{}, false},
		{"under_score", ServiceRef{}, false},
	}
	for _, tc := range tests {
		got, ok := ServiceHost(tc.host, "app")
		if got != tc.want || ok != tc.ok {
			t.Errorf("ServiceHost(%q) = %+v, %t, want %+v, %t", tc.host, got, ok, tc.want, tc.ok)
		}
	}
}
