package e2e_test

// Kubernetes scenarios. Each runs in a namespace of its own (env.cluster.Namespace) that
// enforces the restricted Pod Security Standard, against a dependency Deployment+Service
// that it controls, and asserts on what the API reports (container states and start
// times, termination messages, events, conditions), polling with deadlines.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/depprobe/depprobe/e2e/cluster"
	"github.com/depprobe/depprobe/e2e/images"
	"github.com/depprobe/depprobe/e2e/sandbox"
)

// helmInstall installs charts/depprobe as release in ns with the e2e image and the given
// settings (--set key=value pairs), without waiting.
func helmInstall(t *testing.T, ns, release string, sets ...string) {
	t.Helper()
	repo, tag, _ := strings.Cut(images.Depprobe, ":")
	args := []string{"install", release, filepath.Join(env.repo, "charts", "depprobe"), "-n", ns,
		"--set", "image.repository=" + repo, "--set", "image.tag=" + tag, "--set", "image.pullPolicy=Never",
		"--set", "workload.image.pullPolicy=Never"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	if out, err := env.cluster.Helm(t.Context(), env.helm, args...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

const (
	workloadSelector = "app.kubernetes.io/name=depprobe"
	depTarget        = "dep=http://dep:8080/" // a Service name, resolved by CoreDNS
)

func running(s *corev1.ContainerStatus) bool { return s != nil && s.State.Running != nil }

// Scenario 1 (and the native-sidecar half of 3): in each mode, the app container starts
// only after the dependency, which comes late, answers. The gate is observed closed
// (depprobe running, app not started) before the dependency exists, and the start times
// reported by the kubelet put the app after the dependency.
func TestChartGatesAppUntilDependencyAnswers(t *testing.T) {
	need(t)
	for _, mode := range []string{"init", "sidecar", "both"} {
		t.Run(mode, func(t *testing.T) {
			c := env.cluster
			ctx := t.Context()
			ns := c.Namespace(t, "gate-"+mode)
			if err := c.Dependency(ctx, ns, "dep", images.Busybox, 8080, 0); err != nil {
				t.Fatal(err)
			}
			helmInstall(t, ns, "gate", "workload.mode="+mode, "targets="+depTarget)

			// The gate is closed: depprobe runs, the app has not started.
			gater := "depprobe-wait"
			if mode == "sidecar" {
				gater = "depprobe"
			}
			pod, err := c.WaitPod(ctx, ns, workloadSelector, "depprobe runs and holds the app", 90*time.Second, func(p *corev1.Pod) (bool, error) {
				g, app := cluster.Status(p, gater), cluster.Status(p, "app")
				if !running(g) {
					return false, fmt.Errorf("%s not running: %+v", gater, g)
				}
				if running(app) {
					return false, fmt.Errorf("app runs before the dependency exists")
				}
				return true, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if mode == "sidecar" {
				// The startup probe's 503 shows as an Unhealthy event of the sidecar.
				waitEvent(t, ns, pod.Name, "Unhealthy", "Startup probe failed", "503")
			}
			// Still closed a moment later: the app must not start on its own.
			if p, _ := c.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{}); running(cluster.Status(p, "app")) {
				t.Fatal("app started while the dependency has no pod")
			}

			if err := c.Scale(ctx, ns, "dep", 1); err != nil {
				t.Fatal(err)
			}
			dep, err := c.WaitPod(ctx, ns, "app=dep", "the dependency runs", 90*time.Second, func(p *corev1.Pod) (bool, error) {
				return running(cluster.Status(p, "httpd")), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			pod, err = c.WaitPod(ctx, ns, workloadSelector, "the app starts", 120*time.Second, func(p *corev1.Pod) (bool, error) {
				return running(cluster.Status(p, "app")), fmt.Errorf("app: %+v", cluster.Status(p, "app"))
			})
			if err != nil {
				t.Fatal(err)
			}
			depStart := cluster.Status(dep, "httpd").State.Running.StartedAt
			appStart := cluster.Status(pod, "app").State.Running.StartedAt
			if appStart.Before(&depStart) {
				t.Errorf("app started at %s, before the dependency at %s", appStart.UTC(), depStart.UTC())
			}
			if mode != "sidecar" {
				w := cluster.Status(pod, "depprobe-wait")
				if w.State.Terminated == nil || w.State.Terminated.ExitCode != 0 {
					t.Fatalf("depprobe-wait = %+v, want terminated with exit code 0", w.State)
				}
				if fin := w.State.Terminated.FinishedAt; fin.Before(&depStart) || appStart.Before(&fin) {
					t.Errorf("dependency started %s, depprobe-wait finished %s, app started %s: want that order", depStart.UTC(), fin.UTC(), appStart.UTC())
				}
			}
			t.Logf("dependency started %s, app started %s", depStart.UTC().Format(time.TimeOnly), appStart.UTC().Format(time.TimeOnly))
		})
	}
}

// waitEvent waits for an event of the pod with the reason whose message contains every
// one of words.
func waitEvent(t *testing.T, ns, pod, reason string, words ...string) *corev1.Event {
	t.Helper()
	ctx := t.Context()
	var found *corev1.Event
	err := sandbox.WaitFor(ctx, "event "+reason, 60*time.Second, 500*time.Millisecond, func() (bool, error) {
		evs, err := env.cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod + ",reason=" + reason})
		if err != nil {
			return false, err
		}
		for i, e := range evs.Items {
			ok := true
			for _, w := range words {
				ok = ok && strings.Contains(e.Message, w)
			}
			if ok {
				found = &evs.Items[i]
				return true, nil
			}
		}
		return false, fmt.Errorf("%d %s events, none with %q", len(evs.Items), reason, words)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("event %s: %s", found.Reason, found.Message)
	return found
}

// Scenario 2: a dependency that never comes. The init container gives up and exits 1,
// the app never starts, and the termination message, in the API and in kubectl describe,
// carries depprobe's diagnosis.
func TestDependencyNeverComes(t *testing.T) {
	need(t)
	c := env.cluster
	ctx := t.Context()
	ns := c.Namespace(t, "never")
	// The Service exists and selects nothing that runs: nothing ever answers behind it.
	if err := c.Dependency(ctx, ns, "dep", images.Busybox, 8080, 0); err != nil {
		t.Fatal(err)
	}
	helmInstall(t, ns, "never", "workload.mode=init", "targets="+depTarget, "timeout=10s")

	var msg string
	pod, err := c.WaitPod(ctx, ns, workloadSelector, "depprobe-wait gives up", 120*time.Second, func(p *corev1.Pod) (bool, error) {
		w := cluster.Status(p, "depprobe-wait")
		if w == nil {
			return false, nil
		}
		for _, st := range []corev1.ContainerState{w.State, w.LastTerminationState} {
			if st.Terminated != nil {
				if st.Terminated.ExitCode != 1 {
					return false, fmt.Errorf("depprobe-wait exited %d, want 1", st.Terminated.ExitCode)
				}
				msg = st.Terminated.Message
				return true, nil
			}
		}
		return false, fmt.Errorf("depprobe-wait: %+v", w.State)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("termination message:\n%s", msg)
	svc, err := c.Client.CoreV1().Services(ns).Get(ctx, "dep", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The Service has no endpoints: kube-proxy rejects connections to its ClusterIP, which
	// depprobe reports as refused, naming the target, the name it dialed and the address.
	for _, want := range []string{
		`dep: refused: connect to "dep:8080" (` + svc.Spec.ClusterIP + `:8080): connection refused`,
		"does the Service have ready endpoints",
		"depprobe gave up after",
		"(DEPPROBE_TIMEOUT=10s reached): not ready: dep (connect refused)",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("termination message lacks %q", want)
		}
	}
	if app := cluster.Status(pod, "app"); app == nil || app.State.Running != nil || app.LastTerminationState.Terminated != nil || app.State.Terminated != nil {
		t.Errorf("app status %+v: want never started", app)
	}
	out, err := c.Kubectl(ctx, "-n", ns, "describe", "pod", pod.Name)
	if err != nil {
		t.Fatal(err)
	}
	// describe indents the message; compare its last line, the key sentence.
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if !strings.Contains(out, last) {
		t.Errorf("kubectl describe pod does not show the termination message's last line %q:\n%s", last, out)
	}
}

// Scenario 3, classic sidecar: examples/kubernetes/classic-sidecar.yaml as shipped, with
// the images and the dependency substituted. The pod's Ready condition follows /readyz:
// ready with the dependency, not ready when it goes away, ready again when it is back.
func TestClassicSidecarReadinessFollowsDependency(t *testing.T) {
	need(t)
	c := env.cluster
	ctx := t.Context()
	ns := c.Namespace(t, "classic")
	if err := c.Dependency(ctx, ns, "dep", images.Busybox, 8080, 1); err != nil {
		t.Fatal(err)
	}
	manifest := substitute(t, filepath.Join(env.repo, "examples", "kubernetes", "classic-sidecar.yaml"), map[string]string{
		"image: ghcr.io/depprobe/depprobe:0.1.0":                          "image: " + images.Depprobe,
		"image: registry.example.com/shop:1.4.2 # your application":       "image: " + images.Pause,
		"    db=postgres://db:5432\n    cache=redis://:s3cret@cache:6379": "    dep=http://dep:8080/",
	})
	if err := c.Apply(ctx, ns, manifest); err != nil {
		t.Fatal(err)
	}
	ready := func(want corev1.ConditionStatus, what string) {
		t.Helper()
		start := time.Now()
		_, err := c.WaitPod(ctx, ns, "app=shop", what, 120*time.Second, func(p *corev1.Pod) (bool, error) {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady {
					return cond.Status == want, fmt.Errorf("Ready=%s", cond.Status)
				}
			}
			return false, fmt.Errorf("no Ready condition")
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s after %s", what, time.Since(start).Round(100*time.Millisecond))
	}
	ready(corev1.ConditionTrue, "pod Ready with the dependency up")
	if err := c.Scale(ctx, ns, "dep", 0); err != nil {
		t.Fatal(err)
	}
	ready(corev1.ConditionFalse, "pod not Ready once the dependency is gone")
	if err := c.Scale(ctx, ns, "dep", 1); err != nil {
		t.Fatal(err)
	}
	ready(corev1.ConditionTrue, "pod Ready again once the dependency is back")
}

// substitute returns the file's content with each old string replaced by its new one;
// every old string must occur exactly once, so a change of the example fails here
// instead of testing something else.
func substitute(t *testing.T, path string, repl map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for old, new := range repl {
		if n := strings.Count(s, old); n != 1 {
			t.Fatalf("%s: %q occurs %d times, want 1", path, old, n)
		}
		s = strings.Replace(s, old, new, 1)
	}
	return s
}

// Scenario 4: `helm test` passes against a dependency that answers, and the namespace
// enforces the restricted Pod Security Standard for real: the chart's pods were admitted,
// and a pod that breaks the standard is refused by the admission plugin.
func TestHelmTestUnderRestrictedPodSecurity(t *testing.T) {
	need(t)
	c := env.cluster
	ctx := t.Context()
	ns := c.Namespace(t, "helmtest")
	if err := c.Dependency(ctx, ns, "dep", images.Busybox, 8080, 1); err != nil {
		t.Fatal(err)
	}
	helmInstall(t, ns, "ht", "workload.mode=both", "targets="+depTarget)
	if _, err := c.WaitPod(ctx, ns, workloadSelector, "the app runs", 120*time.Second, func(p *corev1.Pod) (bool, error) {
		return running(cluster.Status(p, "app")), nil
	}); err != nil {
		t.Fatal(err)
	}
	out, err := c.Helm(ctx, env.helm, "test", "ht", "-n", ns, "--timeout", "2m")
	if err != nil {
		t.Fatalf("helm test: %v", err)
	}
	if !strings.Contains(out, "Phase:          Succeeded") {
		t.Errorf("helm test output lacks a succeeded test:\n%s", out)
	}
	t.Logf("helm test:\n%s", out)

	// The same image as root, with no security context: the admission plugin refuses it.
	_, err = c.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "not-restricted"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: images.Depprobe, ImagePullPolicy: corev1.PullNever,
		}}},
	}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `violates PodSecurity "restricted:latest"`) {
		t.Errorf("create a pod without the restricted security context: err = %v, want Forbidden by PodSecurity restricted", err)
	}
}

// Scenario 5: the image the scenarios run is the one the project's Dockerfile builds, and
// it has the Dockerfile's settings.
func TestImageFromDockerfile(t *testing.T) {
	need(t)
	ctx := t.Context()
	out, err := env.engine.Docker(ctx, "image", "inspect", "--format",
		"{{json .Config.User}} {{json .Config.Entrypoint}} {{json .Config.Cmd}} {{json .Config.Healthcheck.Test}} {{index .Config.Labels \"org.opencontainers.image.version\"}}", images.Depprobe)
	if err != nil {
		t.Fatal(err)
	}
	want := `"65532:65532" ["/depprobe"] ["wait"] ["CMD","/depprobe","check"] v0.0.0-e2e`
	if strings.TrimSpace(out) != want {
		t.Errorf("image config = %s, want %s", strings.TrimSpace(out), want)
	}
	out, err = env.engine.Docker(ctx, "run", "--rm", "--network", "none", images.Depprobe, "version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "v0.0.0-e2e") {
		t.Errorf("depprobe version = %q, want the VERSION build argument v0.0.0-e2e", out)
	}
}

// Scenario 6: what depprobe's users' clusters have. From a restricted pod with its
// service account token mounted, `depprobe check` finds: the kubernetes Service by name
// (CoreDNS) at its ClusterIP (kube-proxy), a Service of the namespace by its short name,
// and the token file. RBAC denies the default ServiceAccount what it was not granted.
func TestClusterHasWhatUsersClustersHave(t *testing.T) {
	need(t)
	c := env.cluster
	ctx := t.Context()
	ns := c.Namespace(t, "facts")
	if err := c.Dependency(ctx, ns, "dep", images.Busybox, 8080, 1); err != nil {
		t.Fatal(err)
	}
	targets := "api=tcp://kubernetes.default.svc:443,dns=dns://kubernetes.default.svc.cluster.local," + depTarget +
		",token=file:///var/run/secrets/kubernetes.io/serviceaccount/token"
	tr := true
	_, err := c.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "check", Labels: map[string]string{"app.kubernetes.io/name": "depprobe"}},
		Spec: corev1.PodSpec{
			RestartPolicy:   corev1.RestartPolicyNever,
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &tr, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "check", Image: images.Depprobe, ImagePullPolicy: corev1.PullNever,
				// Retry until the dependency's endpoints are there, then one check round.
				Command:         []string{"/depprobe", "wait", "--", "/depprobe", "check"},
				Env:             []corev1.EnvVar{{Name: "DEPPROBE_TARGETS", Value: targets}, {Name: "DEPPROBE_TIMEOUT", Value: "60s"}},
				SecurityContext: cluster.RestrictedContainer(),
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.WaitPod(ctx, ns, workloadSelector, "the check pod ends", 120*time.Second, func(p *corev1.Pod) (bool, error) {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed, fmt.Errorf("phase %s", p.Status.Phase)
	})
	if err != nil {
		t.Fatal(err)
	}
	logs, err := c.Client.CoreV1().Pods(ns).GetLogs("check", &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("depprobe check in the pod:\n%s", logs)
	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("check pod %s, want Succeeded", p.Status.Phase)
	}
	svc, err := c.Client.CoreV1().Services(ns).Get(ctx, "dep", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{cluster.APIService + ":443", svc.Spec.ClusterIP + ":8080"} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("check output does not show the ClusterIP address %s", want)
		}
	}
	out, _ := c.Kubectl(ctx, "auth", "can-i", "list", "secrets", "-n", ns, "--as", "system:serviceaccount:"+ns+":default")
	if strings.TrimSpace(out) != "no" {
		t.Errorf("kubectl auth can-i list secrets as the default ServiceAccount = %q, want no (RBAC)", out)
	}
}
