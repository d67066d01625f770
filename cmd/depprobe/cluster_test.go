package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/kube/kubetest"
	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
)

// podToken is the service account token of these tests: no output may
// hold it.
const podToken = "eyJhbGciOiJSUzI1NiJ9.POD-SECRET-TOKEN.sig"

// inPod starts an API server with routes, points the service account at
// its files and returns the environment of a pod in namespace app.
func inPod(t *testing.T, routes map[string]kubetest.Answer) (*kubetest.API, map[string]string) {
	t.Helper()
	api := kubetest.New(t, "app", podToken, routes)
	saved := serviceAccountDir
	serviceAccountDir = api.Dir
	t.Cleanup(func() { serviceAccountDir = saved })
	return api, map[string]string{
		"KUBERNETES_SERVICE_HOST": api.Host,
		"KUBERNETES_SERVICE_PORT": api.Port,
		"HOSTNAME":                "web-6d4cf56db6-x2x9q",
	}
}

const (
	jobPath    = "/apis/batch/v1/namespaces/app/jobs/migrate"
	jobFailed  = `{"metadata":{"name":"migrate","namespace":"app"},"spec":{"selector":{"matchLabels":{"batch.kubernetes.io/controller-uid":"7d1c"}}},"status":{"conditions":[{"type":"Failed","status":"True","reason":"BackoffLimitExceeded","message":"Job has reached the specified backoff limit"}],"failed":2}}`
	jobRunning = `{"metadata":{"name":"migrate","namespace":"app"},"spec":{"selector":{"matchLabels":{"batch.kubernetes.io/controller-uid":"7d1c"}}},"status":{"active":1}}`
)

func TestClusterCheck(t *testing.T) {
	_, env := inPod(t, map[string]kubetest.Answer{
		jobPath: kubetest.OK(jobFailed),
		"/apis/apps/v1/namespaces/app/deployments/api": kubetest.OK(`{"metadata":{"name":"api","generation":1},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"api"}}},"status":{"observedGeneration":1,"replicas":2,"updatedReplicas":2,"availableReplicas":2}}`),
	})
	args := []string{"check", "k8s://job/migrate", "k8s://deployment/api"}
	res := runWith(t, env, args...)
	golden(t, "cluster-check.golden", commandLine(nil, args)+res.stdout)
	if res.code != exitNotReady {
		t.Fatalf("exit code %d, want %d\n%s%s", res.code, exitNotReady, res.stdout, res.stderr)
	}
	for _, want := range []string{
		"✗ migrate  k8s://job/migrate  not ready: cluster not_ready, job_failed\n",
		"    ✗ cluster  job/migrate  not_ready",
		`    not_ready: Job "migrate" failed (BackoffLimitExceeded): Job has reached the specified backoff limit` + "\n",
		"    hint: a failed Job does not run again: read its pods' logs (kubectl -n app logs job/migrate), fix it and re-create it\n",
		"✓ api  k8s://deployment/api  ready in ",
		"    ✓ cluster  deployment/api  ok",
		"1 of 2 targets not ready: migrate\n",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("check's output lacks %q:\n%s", want, res.stdout)
		}
	}
}

// TestClusterWaitFailedJob: a failed Job ends the wait at once, long
// before the deadline, and the termination message says why.
func TestClusterWaitFailedJob(t *testing.T) {
	_, env := inPod(t, map[string]kubetest.Answer{jobPath: kubetest.OK(jobFailed)})
	term := filepath.Join(t.TempDir(), "termination-log")
	env["DEPPROBE_TERMINATION_LOG"] = term
	env["DEPPROBE_TIMEOUT"] = "1m"
	start := time.Now()
	res := runWith(t, env, "wait", "k8s://job/migrate")
	if res.code != exitNotReady || time.Since(start) > 20*time.Second {
		t.Fatalf("exit code %d after %s, want %d at once\n%s", res.code, time.Since(start), exitNotReady, res.stderr)
	}
	msg, _ := os.ReadFile(term)
	for _, want := range []string{
		`migrate: not_ready: Job "migrate" failed (BackoffLimitExceeded): Job has reached the specified backoff limit`,
		"waiting cannot fix it: job_failed",
	} {
		if !strings.Contains(string(msg), want) {
			t.Errorf("termination message lacks %q:\n%s", want, msg)
		}
	}
}

// TestClusterForbidden: a 403 is the forbidden outcome, fatal at once, its
// hint the Role's rules; the service account's token appears nowhere.
func TestClusterForbidden(t *testing.T) {
	api, env := inPod(t, map[string]kubetest.Answer{jobPath: kubetest.Forbidden("get", "jobs", "batch", "app")})
	term := filepath.Join(t.TempDir(), "termination-log")
	env["DEPPROBE_TERMINATION_LOG"] = term
	env["DEPPROBE_LOG_LEVEL"] = "debug"
	res := runWith(t, env, "wait", "k8s://job/migrate")
	msg, _ := os.ReadFile(term)
	if res.code != exitNotReady || len(api.Requests()) != 1 {
		t.Fatalf("exit code %d after %d requests, want %d after 1\n%s", res.code, len(api.Requests()), exitNotReady, res.stderr)
	}
	for _, want := range []string{
		`migrate: forbidden: the Kubernetes API forbids system:serviceaccount:app:default to get jobs.batch in namespace "app"`,
		`hint: bind system:serviceaccount:app:default to a Role in namespace "app" with the rules [{apiGroups: ["batch"], resources: ["jobs"], verbs: ["get"]}] (the chart: rbac.create=true); waiting will not fix this`,
		"(waiting cannot fix it: forbidden): not ready: migrate (cluster forbidden)",
	} {
		if !strings.Contains(string(msg), want) {
			t.Errorf("termination message lacks %q:\n%s", want, msg)
		}
	}
	for where, out := range map[string]string{"stdout": res.stdout, "stderr": res.stderr, "termination message": string(msg)} {
		if strings.Contains(out, "POD-SECRET-TOKEN") {
			t.Errorf("%s holds the service account's token:\n%s", where, out)
		}
	}
}

// TestClusterOutside: outside a pod, a k8s:// target is a configuration
// error; the other targets are probed as anywhere, with one debug line.
func TestClusterOutside(t *testing.T) {
	res := runWith(t, nil, "check", "k8s://job/migrate")
	if res.code != exitUsage || !strings.Contains(res.stderr, `arguments, target 1: "k8s://job/migrate": k8s:// asks the Kubernetes API, and there is none: not in a Kubernetes pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set)`) {
		t.Errorf("exit code %d, want %d with the reason\n%s", res.code, exitUsage, res.stderr)
	}
	res = runWith(t, map[string]string{"DEPPROBE_LOG_LEVEL": "debug", "DEPPROBE_LOG_FORMAT": "text"}, "wait", "tcp://"+loopback.Up(t))
	if res.code != exitReady || strings.Count(res.stderr, "no cluster step") != 1 || !strings.Contains(res.stderr, "KUBERNETES_SERVICE_HOST") {
		t.Errorf("exit code %d, want %d with one debug line saying why there is no cluster step:\n%s", res.code, exitReady, res.stderr)
	}
	// A pod without a mounted service account.
	saved := serviceAccountDir
	serviceAccountDir = t.TempDir()
	t.Cleanup(func() { serviceAccountDir = saved })
	res = runWith(t, map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}, "check", "k8s://job/migrate")
	if res.code != exitUsage || !strings.Contains(res.stderr, "no service account in this pod") {
		t.Errorf("exit code %d, want %d naming the missing service account\n%s", res.code, exitUsage, res.stderr)
	}
}

// TestClusterExplainService: the cluster step of a Service name, through
// the command's adapter; its lookups are spaced (no second request within
// the throttle's interval).
func TestClusterExplainService(t *testing.T) {
	api, env := inPod(t, map[string]kubetest.Answer{
		kubetest.ServicePath("app", "db"):  kubetest.OK(kubetest.Service("app", "db", `{"app":"db"}`, `[{"name":"pg","port":5432,"targetPort":5432}]`)),
		kubetest.SlicesPath("app", "db"):   kubetest.List(),
		kubetest.PodsPath("app", "app=db"): kubetest.List(kubetest.Pod("db-0", `{"app":"db"}`, `[]`, kubetest.CrashLoop)),
	})
	client, why := inCluster(env, discard())
	if client == nil {
		t.Fatal(why)
	}
	defer client.Close()
	targets, err := probe.Targets([]probe.Spec{{URL: "postgres://db:5432"}, {URL: "tcp://10.0.0.7:80"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := attachCluster(client, "", targets, true, discard()); err != nil {
		t.Fatal(err)
	}
	failed := probe.Result{Target: "db", Step: probe.Connect, Outcome: probe.Refused}
	for range 3 {
		f, ok := targets[0].API.Explain(t.Context(), failed)
		if !ok || f.Cause != "pods_not_ready" || !strings.Contains(f.Text, `pod "db-0" is in CrashLoopBackOff`) {
			t.Fatalf("Explain = %+v, %t", f, ok)
		}
	}
	if n := len(api.Requests()); n != 3 {
		t.Errorf("%d requests for three explanations in a row, want 3 (one lookup: service, slices, pods)", n)
	}
	if _, ok := targets[1].API.Explain(t.Context(), failed); ok {
		t.Error("an IP address was explained as a Service")
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestClusterExplainConcurrent: probe.API must be safe for concurrent use
// (the hosts of a multi-host URL explain at once): Explain, called from
// several goroutines while the API server fails, races on nothing (run
// with -race).
func TestClusterExplainConcurrent(t *testing.T) {
	_, env := inPod(t, map[string]kubetest.Answer{
		kubetest.ServicePath("app", "db"): {Code: 500, Body: `{"kind":"Status","status":"Failure","message":"etcdserver: request timed out","code":500}`},
	})
	client, why := inCluster(env, discard())
	if client == nil {
		t.Fatal(why)
	}
	defer client.Close()
	targets, err := probe.Targets([]probe.Spec{{URL: "kafka://db:9092,db:9093"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := attachCluster(client, "", targets, true, slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))); err != nil {
		t.Fatal(err)
	}
	failed := probe.Result{Target: "db", Step: probe.Connect, Outcome: probe.Refused}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if f, ok := targets[0].API.Explain(t.Context(), failed); ok {
				t.Errorf("Explain = %+v while the API server fails, want nothing", f)
			}
		})
	}
	wg.Wait()
}

// refusingDNS is a resolver whose every query is refused on loopback: a
// Service name fails at resolve without asking the machine's DNS.
func refusingDNS(t *testing.T) *net.Resolver {
	addr := loopback.Refused(t)
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}}
}

// podCheck runs check as run would in a pod with env, its targets
// resolving through refusingDNS.
func podCheck(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	c, err := loadConfig(env)
	if err != nil {
		t.Fatal(err)
	}
	c = c.forCommand("check")
	client, why := inCluster(env, discard())
	if client == nil {
		t.Fatal(why)
	}
	defer client.Close()
	targets, err := c.targets(args, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		tg.Resolver = refusingDNS(t)
	}
	if err := attachCluster(client, why, targets, c.KubeDiagnosis, discard()); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	check(t.Context(), c, targets, &out, client)
	return out.String()
}

// TestKubeDiagnosisSwitch: DEPPROBE_KUBE_DIAGNOSIS=false makes no request
// for a failing Service name; check looks up its own pod only where a
// cluster step ran (it made 2 requests at every run, as an exec probe
// every few seconds, for a refused IP address).
func TestKubeDiagnosisSwitch(t *testing.T) {
	routes := map[string]kubetest.Answer{
		kubetest.ServicePath("app", "db"):                                              kubetest.OK(kubetest.Service("app", "db", `{"app":"db"}`, `[{"name":"pg","port":5432,"targetPort":5432}]`)),
		kubetest.SlicesPath("app", "db"):                                               kubetest.List(),
		"/api/v1/namespaces/app/pods/web-6d4cf56db6-x2x9q":                             kubetest.OK(ownPod),
		kubetest.ListPath("/apis/networking.k8s.io/v1", "app", "networkpolicies", nil): kubetest.List(),
	}
	t.Run("a refused address: no cluster step, no lookup of this pod", func(t *testing.T) {
		api, env := inPod(t, routes)
		res := runWith(t, env, "check", "db=tcp://"+loopback.Refused(t))
		if res.code != exitNotReady || len(api.Requests()) != 0 {
			t.Errorf("exit code %d after requests %q, want %d after none\n%s", res.code, api.Requests(), exitNotReady, res.stdout)
		}
	})
	t.Run("a Service name: the cluster step and this pod", func(t *testing.T) {
		api, env := inPod(t, routes)
		out := podCheck(t, env, "db=tcp://db:5432")
		if !strings.Contains(out, "✗ cluster  service/db  cluster_dns") || len(api.Requests()) != 4 {
			t.Errorf("requests %q, want the Service, its slices, this pod and its policies; output:\n%s", api.Requests(), out)
		}
	})
	t.Run("a Service name, DEPPROBE_KUBE_DIAGNOSIS=false", func(t *testing.T) {
		api, env := inPod(t, routes)
		env["DEPPROBE_KUBE_DIAGNOSIS"] = "false"
		out := podCheck(t, env, "db=tcp://db:5432")
		if strings.Contains(out, "✗ cluster") || len(api.Requests()) != 0 {
			t.Errorf("requests %q, want none and no cluster step; output:\n%s", api.Requests(), out)
		}
	})
	t.Run("k8s:// targets ask the API all the same", func(t *testing.T) {
		api, env := inPod(t, map[string]kubetest.Answer{jobPath: kubetest.OK(jobRunning)})
		env["DEPPROBE_KUBE_DIAGNOSIS"] = "false"
		res := runWith(t, env, "check", "k8s://job/migrate")
		if res.code != exitNotReady || len(api.Requests()) == 0 || !strings.Contains(res.stdout, "✗ cluster  job/migrate") {
			t.Errorf("exit code %d after requests %q\n%s%s", res.code, api.Requests(), res.stdout, res.stderr)
		}
	})
}
