package kube

import (
	"fmt"
	"strings"
	"testing"
)

// crowdPod is a pod of about 11 KB, as a namespace of real workloads has
// them (most of it a last-applied-configuration annotation, as kubectl
// apply writes it).
func crowdPod(i int, labels, status string) string {
	pad := strings.Repeat("x", 10500)
	return fmt.Sprintf(`{"metadata":{"name":"worker-%04d","namespace":"app","labels":%s,"annotations":{"kubectl.kubernetes.io/last-applied-configuration":%q}},"spec":{"nodeName":"node-1","containers":[{"name":"app","image":"registry.example/app:1","ports":[{"name":"http","containerPort":8080,"protocol":"TCP"}]}]},"status":%s}`, i, labels, pad, status)
}

// BenchmarkExplainServiceCrowded: one ExplainService in a namespace of 600
// pods of 11 KB (6.6 MB as one list), where the Service's selector matches
// none of them (no_pods) or all of them (pods_not_ready). It reports the
// bytes and allocations one explanation costs depprobe.
func BenchmarkExplainServiceCrowded(b *testing.B) {
	const n = 600
	others := make([]string, n)
	selected := make([]string, n)
	for i := range n {
		others[i] = crowdPod(i, `{"app":"worker"}`, crashLoop)
		selected[i] = crowdPod(i, `{"app":"db"}`, crashLoop)
	}
	svc := serviceJSON("app", "db", `{"app":"db"}`, `[{"name":"pg","protocol":"TCP","port":5432,"targetPort":5432}]`)
	for _, bc := range []struct {
		name   string
		routes map[string]answer
	}{
		{"no_pods", map[string]answer{
			svcPath("app", "db"):                                  ok(svc),
			slicesPath("app", "db"):                               list(),
			podsPath("app", "app=db"):                             list(),
			listPath("/apis/apps/v1", "app", "deployments", nil):  list(),
			listPath("/apis/apps/v1", "app", "statefulsets", nil): list(),
			podsPath("app", ""):                                   list(others...),
		}},
		{"pods_not_ready", map[string]answer{
			svcPath("app", "db"):      ok(svc),
			slicesPath("app", "db"):   list(),
			podsPath("app", "app=db"): list(selected...),
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			api, c := newFakeAPI(b, bc.routes)
			f, err := c.ExplainService(b.Context(), ServiceRef{"app", "db", 5432}, Symptom{"connect", "refused"})
			b.Logf("%d requests; cause %q, %d bytes of text; err %v", len(api.Requests()), f.Cause, len(f.Text), err)
			b.ReportAllocs()
			for b.Loop() {
				c.ExplainService(b.Context(), ServiceRef{"app", "db", 5432}, Symptom{"connect", "refused"})
			}
		})
	}
}
