package kube

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// TestAnswerBounded: a list longer than MaxAnswer is "too many to say", a
// *TooBigError, read no further (it was read whole up to 8 MB and decoded:
// the API server's cache ignores the list's limit); one within it is
// decoded item by item.
func TestAnswerBounded(t *testing.T) {
	pods := func(n int) []string {
		items := make([]string, n)
		for i := range items {
			items[i] = crowdPod(i, `{"app":"db"}`, crashLoop)
		}
		return items
	}
	svc := serviceJSON("app", "db", `{"app":"db"}`, `[{"name":"pg","protocol":"TCP","port":5432,"targetPort":5432}]`)
	for _, tc := range []struct {
		name  string
		pods  int
		cause Cause
	}{
		{"3 pods", 3, PodsNotReady},
		{"300 pods of 11 KB: 3.3 MB", 300, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newFakeAPI(t, map[string]answer{
				svcPath("app", "db"):      ok(svc),
				slicesPath("app", "db"):   list(),
				podsPath("app", "app=db"): list(pods(tc.pods)...),
			})
			f, err := c.ExplainService(t.Context(), ServiceRef{"app", "db", 5432}, Symptom{"connect", "refused"})
			var tb *TooBigError
			switch {
			case tc.cause != "" && (err != nil || f.Cause != tc.cause):
				t.Errorf("ExplainService = %q, %v; want %q", f.Cause, err, tc.cause)
			case tc.cause == "" && !errors.As(err, &tb):
				t.Errorf("ExplainService = %q, %v; want a *TooBigError", f.Cause, err)
			case tc.cause == "" && err.Error() != "the Kubernetes API: list pods: more than 2 MiB in one answer: too many to say":
				t.Errorf("err = %q", err)
			}
		})
	}
}

// TestListQueries: every LIST asks for at most 100 items; those by a
// selector come from the API server's cache (resourceVersion=0), the
// others without it, so that their limit holds; and no lookup lists the
// pods of a namespace beyond a selector (one listed them all to name a pod
// like the Service).
func TestListQueries(t *testing.T) {
	api, c := newFakeAPI(t, map[string]answer{
		svcPath("app", "db"):                                  ok(serviceJSON("app", "db", `{"app":"db"}`, `[{"name":"pg","protocol":"TCP","port":5432,"targetPort":5432}]`)),
		slicesPath("app", "db"):                               list(),
		podsPath("app", "app=db"):                             list(),
		listPath("/apis/apps/v1", "app", "deployments", nil):  list(),
		listPath("/apis/apps/v1", "app", "statefulsets", nil): list(),
	})
	if f, err := c.ExplainService(t.Context(), ServiceRef{"app", "db", 5432}, Symptom{"connect", "refused"}); err != nil || f.Cause != NoPods {
		t.Fatalf("ExplainService = %q, %v; want no_pods", f.Cause, err)
	}
	lists := 0
	for _, r := range api.Requests() {
		_, query, found := strings.Cut(r, "?")
		if !found {
			continue // a GET
		}
		lists++
		q, err := url.ParseQuery(query)
		if err != nil {
			t.Fatal(err)
		}
		selected := q.Get("labelSelector") != "" || q.Get("fieldSelector") != ""
		if q.Get("limit") != "100" || (q.Get("resourceVersion") == "0") != selected {
			t.Errorf("%s: want limit=100, and resourceVersion=0 exactly when a selector narrows the list", r)
		}
		if strings.Contains(r, "/pods?") && !selected {
			t.Errorf("%s: every pod of the namespace listed", r)
		}
	}
	if lists != 4 {
		t.Errorf("%d lists, want 4 (slices, pods, deployments, statefulsets): %q", lists, api.Requests())
	}
}
