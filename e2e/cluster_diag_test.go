package e2e_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/depprobe/depprobe/e2e/cluster"
	"github.com/depprobe/depprobe/e2e/images"
	"github.com/depprobe/depprobe/e2e/sandbox"
)

// The cluster step's scenarios: a dependency behind a Service fails one level up (its pods
// crash, cannot pull their image or be scheduled, the Service selects nothing, lives in
// another namespace, sends to a port no container declares), or depprobe waits on a Job
// that fails, or its service account may not read, or cluster DNS is gone or cut off, or
// its pod is meshed and every target refuses. Each asserts on what depprobe says when it
// gives up: its log line and the termination message `kubectl describe pod` shows.

var update = flag.Bool("update", false, "rewrite testdata/ from this run's output")

// gaveUp installs the chart's example workload in ns as release "diag": depprobe wait as
// its init container, with the chart's read-only Role and Events (rbac.create,
// rbac.events), DEPPROBE_TIMEOUT=timeout and targets. It returns what depprobe said when it
// gave up.
func gaveUp(t *testing.T, ns, targets, timeout string, sets ...string) (msg, logs string) {
	t.Helper()
	sets = append([]string{"workload.mode=init", "rbac.create=true", "rbac.events=true",
		"timeout=" + timeout, "targets=" + strings.ReplaceAll(targets, ",", `\,`)}, sets...)
	helmInstall(t, ns, "diag", sets...)
	return waitGaveUp(t, ns, "app.kubernetes.io/instance=diag", "depprobe-wait")
}

// waitGaveUp waits for the depprobe container of the pod that selector matches to exit 1,
// and returns its termination message and its log. It checks that kubectl describe pod
// shows the message's last line, the key sentence.
func waitGaveUp(t *testing.T, ns, selector, container string) (msg, logs string) {
	t.Helper()
	c := env.cluster
	ctx := t.Context()
	var previous bool
	pod, err := c.WaitPod(ctx, ns, selector, container+" gives up", 180*time.Second, func(p *corev1.Pod) (bool, error) {
		s := cluster.Status(p, container)
		if s == nil {
			return false, fmt.Errorf("no status of %s yet", container)
		}
		for i, st := range []corev1.ContainerState{s.State, s.LastTerminationState} {
			if st.Terminated != nil {
				if st.Terminated.ExitCode != 1 {
					return false, fmt.Errorf("%s exited %d, want 1: %s", container, st.Terminated.ExitCode, st.Terminated.Message)
				}
				msg, previous = st.Terminated.Message, i == 1
				return true, nil
			}
		}
		return false, fmt.Errorf("%s: %+v", container, s.State)
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.Client.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: container, Previous: previous}).DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	logs = string(raw)
	t.Logf("termination message of %s/%s:\n%s", pod.Name, container, msg)
	out, err := c.Kubectl(ctx, "-n", ns, "describe", "pod", pod.Name)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	if last := strings.TrimSpace(lines[len(lines)-1]); !strings.Contains(out, last) {
		t.Errorf("kubectl describe pod does not show the key sentence %q:\n%s", last, out)
	}
	return msg, logs
}

// says checks that text holds every one of wants, in order of mention.
func says(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

// gaveUpLine is depprobe's log line that gave up on target name.
func gaveUpLine(t *testing.T, logs, name string) string {
	t.Helper()
	for l := range strings.Lines(logs) {
		if strings.Contains(l, `"msg":"gave up"`) && strings.Contains(l, `"target":"`+name+`"`) {
			return l
		}
	}
	t.Errorf("no gave-up line for %q in the log:\n%s", name, logs)
	return ""
}

// golden keeps one scenario's real termination message in testdata/, for the README and
// docs/cluster.md; -update rewrites it, otherwise it is compared with what changes from run
// to run (pod and namespace suffixes, addresses, durations) masked.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if mask(got) != mask(string(want)) {
		t.Errorf("%s differs from this run (go test -run %s -update):\n--- got\n%s\n--- want\n%s", path, t.Name(), got, want)
	}
}

func mask(s string) string {
	for _, r := range []struct{ re, to string }{
		{`-[a-z0-9]{8,10}-[a-z0-9]{5}\b`, "-POD"}, // pods of a ReplicaSet
		{`\b[a-z]+-[a-z0-9]{5}\b`, "NS"},          // namespaces made with generateName
		{`\b\d+\.\d+\.\d+\.\d+\b`, "IP"},          // ClusterIPs, pod IPs
		{`\d+(\.\d+)?(ns|µs|ms|s|m)\b`, "D"},      // durations
		{`\d+ restarts?`, "N restarts"},           // CrashLoopBackOff's count
		{`after [0-9hms.]+ \(`, "after D ("},
	} {
		s = regexp.MustCompile(r.re).ReplaceAllString(s, r.to)
	}
	return s
}

// crashing is a Deployment and Service "db" whose container exits 1 at once.
const crashing = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, labels: {app: db}}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: db
          image: %s
          imagePullPolicy: %s
          command: ["sh", "-c", "echo cannot open the data directory; exit 1"]
          ports: [{name: pg, containerPort: 5432}]
          securityContext: {runAsUser: 65532, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
%s
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  selector: {app: db}
  ports: [{name: pg, port: 5432, targetPort: 5432}]
`

// dbPod waits for the db pod's container to be in a waiting state with one of reasons.
func dbPod(t *testing.T, ns string, reasons ...string) *corev1.Pod {
	t.Helper()
	p, err := env.cluster.WaitPod(t.Context(), ns, "app=db", "db "+strings.Join(reasons, " or "), 120*time.Second, func(p *corev1.Pod) (bool, error) {
		if len(reasons) == 1 && reasons[0] == "Unschedulable" {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Reason == "Unschedulable" {
					return true, nil
				}
			}
			return false, fmt.Errorf("conditions %+v", p.Status.Conditions)
		}
		s := cluster.Status(p, "db")
		if s != nil && s.State.Waiting != nil {
			for _, r := range reasons {
				if s.State.Waiting.Reason == r {
					return true, nil
				}
			}
		}
		return false, fmt.Errorf("db: %+v", s)
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClusterCrashLoopBackOff(t *testing.T) {
	need(t)
	c := env.cluster
	ns := c.Namespace(t, "crash")
	if err := c.Apply(t.Context(), ns, fmt.Sprintf(crashing, images.Busybox, "Never", "")); err != nil {
		t.Fatal(err)
	}
	p := dbPod(t, ns, "CrashLoopBackOff")
	msg, logs := gaveUp(t, ns, "db=postgres://db:5432", "15s")
	says(t, "termination message", msg,
		`db: refused: connect to "db:5432"`,
		`Service "db" selects 1 pod (app=db), none ready: pod "`+p.Name+`" is in CrashLoopBackOff: container "db" exited 1 (Error)`,
		"hint: the container keeps exiting: kubectl -n "+ns+" logs "+p.Name+" -c db --previous",
		"(DEPPROBE_TIMEOUT=15s reached): not ready: db (connect refused, pods_not_ready)")
	says(t, "the gave-up log line", gaveUpLine(t, logs, "db"), `"outcome":"refused"`, `is in CrashLoopBackOff`)
	golden(t, "crashloop.txt", msg)
	// The verdict was an Event on the pod while it waited.
	pods, err := c.Client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=diag"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("the depprobe pod: %v", err)
	}
	e := waitEvent(t, ns, pods.Items[0].Name, "DependencyNotReady", "CrashLoopBackOff")
	if e.Type != corev1.EventTypeWarning || e.InvolvedObject.UID != pods.Items[0].UID {
		t.Errorf("event %s on %s, want a Warning on the pod's UID %s", e.Type, e.InvolvedObject.UID, pods.Items[0].UID)
	}
	out, _ := c.Kubectl(t.Context(), "-n", ns, "describe", "pod", pods.Items[0].Name)
	says(t, "kubectl describe pod's events", out, "DependencyNotReady")
}

func TestClusterImagePullBackOff(t *testing.T) {
	need(t)
	c := env.cluster
	ns := c.Namespace(t, "pull")
	// No registry can be reached from the node: the pull fails as a missing image does.
	if err := c.Apply(t.Context(), ns, fmt.Sprintf(crashing, "depprobe-e2e/no-such-image:1.0", "IfNotPresent", "")); err != nil {
		t.Fatal(err)
	}
	dbPod(t, ns, "ImagePullBackOff", "ErrImagePull")
	msg, logs := gaveUp(t, ns, "db=postgres://db:5432", "15s")
	says(t, "termination message", msg, `Service "db" selects 1 pod (app=db), none ready: pod "db-`, `container "db" cannot pull image "`, `no-such-image:1.0"`,
		"hint: fix the image name or tag, or the registry's pull secret")
	if !strings.Contains(msg, "is in ImagePullBackOff") && !strings.Contains(msg, "is in ErrImagePull") {
		t.Error("termination message names neither ImagePullBackOff nor ErrImagePull")
	}
	says(t, "the gave-up log line", gaveUpLine(t, logs, "db"), "cannot pull image")
}

// TestClusterImageNeverPulled: an image that is not on the node, with imagePullPolicy
// Never, can never start: the API makes that certain, and the wait ends at once.
func TestClusterImageNeverPulled(t *testing.T) {
	need(t)
	c := env.cluster
	ns := c.Namespace(t, "never-pulled")
	if err := c.Apply(t.Context(), ns, fmt.Sprintf(crashing, "depprobe-e2e/no-such-image:1.0", "Never", "")); err != nil {
		t.Fatal(err)
	}
	dbPod(t, ns, "ErrImageNeverPull")
	msg, _ := gaveUp(t, ns, "db=postgres://db:5432", "5m")
	says(t, "termination message", msg, `is in ErrImageNeverPull: container "db" cannot pull image "`, `no-such-image:1.0" (it does not exist)`,
		"(waiting cannot fix it: pods_not_ready): not ready: db (connect refused, pods_not_ready)")
}

func TestClusterUnschedulable(t *testing.T) {
	need(t)
	c := env.cluster
	ns := c.Namespace(t, "unsched")
	if err := c.Apply(t.Context(), ns, fmt.Sprintf(crashing, images.Busybox, "Never", "      nodeSelector: {disktype: nvme}")); err != nil {
		t.Fatal(err)
	}
	dbPod(t, ns, "Unschedulable")
	msg, _ := gaveUp(t, ns, "db=postgres://db:5432", "10s")
	says(t, "termination message", msg, `is Pending, unschedulable: 0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector`,
		"hint: the scheduler cannot place it")
}

func TestClusterSelectorMatchesNothing(t *testing.T) {
	need(t)
	c := env.cluster
	ctx := t.Context()
	ns := c.Namespace(t, "selector")
	if err := c.Dependency(ctx, ns, "db", images.Busybox, 5432, 1); err != nil {
		t.Fatal(err)
	}
	patch := `{"spec":{"selector":{"app":"database"}}}`
	if _, err := c.Client.CoreV1().Services(ns).Patch(ctx, "db", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	msg, _ := gaveUp(t, ns, "db=tcp://db:5432", "10s")
	says(t, "termination message", msg, `Service "db" selects app=database, and no pod in namespace "`+ns+`" has those labels (pod "db-`, `has app=db`,
		"hint: fix the Service's selector or the pods' labels: kubectl -n "+ns+" get pods --show-labels",
		"not ready: db (connect refused, no_pods)")
}

func TestClusterServiceInAnotherNamespace(t *testing.T) {
	need(t)
	c := env.cluster
	ctx := t.Context()
	ns, other := c.Namespace(t, "here"), c.Namespace(t, "there")
	if err := c.Dependency(ctx, other, "db", images.Busybox, 5432, 1); err != nil {
		t.Fatal(err)
	}
	// Saying where a missing Service exists needs list on services in every namespace,
	// which the chart does not grant: this test grants it to the chart's ServiceAccount.
	name := "depprobe-e2e-" + ns
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"list"}}}}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "diag-depprobe", Namespace: ns}}}
	if _, err := c.Client.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Client.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	if _, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Client.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	msg, logs := gaveUp(t, ns, "db=tcp://db:5432", "10s")
	// The name does not resolve: NXDOMAIN where cluster DNS forwards other names upstream,
	// SERVFAIL (dns_error) here, where CoreDNS forwards nothing.
	says(t, "termination message", msg, `db: `, `resolve "db"`,
		`Service "db" does not exist in namespace "`+ns+`"; it does in namespace`, `"`+other+`"`,
		"hint: name the namespace: write db.", "service_missing)")
	if strings.Contains(msg, "one cause") {
		t.Error("a missing Service was taken for cluster DNS")
	}
	says(t, "the gave-up log line", gaveUpLine(t, logs, "db"), `"step":"resolve"`, `it does in namespace`)
}

func TestClusterWrongTargetPort(t *testing.T) {
	need(t)
	c := env.cluster
	ctx := t.Context()
	ns := c.Namespace(t, "targetport")
	if err := c.Dependency(ctx, ns, "web", images.Busybox, 8080, 1); err != nil {
		t.Fatal(err)
	}
	patch := `{"spec":{"ports":[{"name":"http","port":8080,"targetPort":9090}]}}`
	if _, err := c.Client.CoreV1().Services(ns).Patch(ctx, "web", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitPod(ctx, ns, "app=web", "web ready", 120*time.Second, func(p *corev1.Pod) (bool, error) {
		s := cluster.Status(p, "httpd")
		return s != nil && s.Ready, fmt.Errorf("web: %+v", s)
	}); err != nil {
		t.Fatal(err)
	}
	msg, _ := gaveUp(t, ns, "web=http://web:8080/", "10s")
	says(t, "termination message", msg, `Service "web" sends port 8080 to targetPort 9090, which no container of its pods declares (pod "web-`, `they declare 8080/http)`,
		"not ready: web (connect refused, target_port)")
}

func TestClusterFailingJob(t *testing.T) {
	need(t)
	c := env.cluster
	ctx := t.Context()
	ns := c.Namespace(t, "job")
	zero, tr, f := int32(0), true, false
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "migrate"},
		Spec: batchv1.JobSpec{BackoffLimit: &zero, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: &f,
			SecurityContext:              &corev1.PodSecurityContext{RunAsNonRoot: &tr, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "migrate", Image: images.Busybox, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sh", "-c", "sleep 10; echo relation users already exists; exit 3"}, SecurityContext: cluster.RestrictedContainer()}},
		}}},
	}
	if _, err := c.Client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	msg, logs := gaveUp(t, ns, "migrate=k8s://job/migrate", "5m")
	says(t, "termination message", msg, `migrate: not_ready: Job "migrate" failed (BackoffLimitExceeded): Job has reached the specified backoff limit`,
		"hint: a failed Job does not run again: read its pods' logs (kubectl -n "+ns+" logs job/migrate)",
		"(waiting cannot fix it: job_failed): not ready: migrate (cluster not_ready, job_failed)")
	if d := time.Since(start); d > 2*time.Minute {
		t.Errorf("the wait on a failed Job took %s; want it to end at once, long before DEPPROBE_TIMEOUT=5m", d)
	}
	says(t, "the log", logs, `"step":"cluster"`, `is not complete`) // while the Job still ran
	golden(t, "job-failed.txt", msg)
}

// TestClusterForbidden: a pod whose service account may not read Jobs; depprobe says so at
// once, with the Role rules that would let it.
func TestClusterForbidden(t *testing.T) {
	need(t)
	c := env.cluster
	ctx := t.Context()
	ns := c.Namespace(t, "forbidden")
	tr := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Labels: map[string]string{"app": "client"}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: &tr, // the default ServiceAccount, which RBAC grants nothing
			RestartPolicy:                corev1.RestartPolicyNever,
			SecurityContext:              &corev1.PodSecurityContext{RunAsNonRoot: &tr, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			InitContainers:               []corev1.Container{depprobeWait("migrate=k8s://job/migrate", "5m")},
			Containers:                   []corev1.Container{{Name: "app", Image: images.Pause, ImagePullPolicy: corev1.PullNever, SecurityContext: cluster.RestrictedContainer()}},
		},
	}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	msg, logs := waitGaveUp(t, ns, "app=client", "wait")
	says(t, "termination message", msg,
		`migrate: forbidden: the Kubernetes API forbids system:serviceaccount:`+ns+`:default to get jobs.batch in namespace "`+ns+`"`,
		`hint: bind system:serviceaccount:`+ns+`:default to a Role in namespace "`+ns+`" with the rules [{apiGroups: ["batch"], resources: ["jobs"], verbs: ["get"]}] (the chart: rbac.create=true)`,
		"(waiting cannot fix it: forbidden): not ready: migrate (cluster forbidden)")
	says(t, "the gave-up log line", gaveUpLine(t, logs, "migrate"), `"outcome":"forbidden"`)
	golden(t, "forbidden.txt", msg)
}

// depprobeWait is a depprobe wait init container named "wait", restricted, with its
// pod's name from the downward API.
func depprobeWait(targets, timeout string) corev1.Container {
	return corev1.Container{
		Name: "wait", Image: images.Depprobe, ImagePullPolicy: corev1.PullNever, Args: []string{"wait"},
		Env: []corev1.EnvVar{
			{Name: "DEPPROBE_TARGETS", Value: targets},
			{Name: "DEPPROBE_TIMEOUT", Value: timeout},
			{Name: "DEPPROBE_POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          cluster.RestrictedContainer(),
	}
}

// TestClusterDNSScaledToZero: with CoreDNS at 0 replicas, kube-proxy rejects what is sent
// to the kube-dns Service; every name fails at resolve, and depprobe says it once.
func TestClusterDNSScaledToZero(t *testing.T) {
	need(t)
	c := env.cluster
	ctx := t.Context()
	ns := c.Namespace(t, "nodns")
	if err := c.Dependency(ctx, ns, "db", images.Busybox, 5432, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Scale(ctx, "kube-system", "coredns", 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restoreDNS(t) })
	if err := sandbox.WaitFor(ctx, "CoreDNS gone", 60*time.Second, 500*time.Millisecond, func() (bool, error) {
		pods, err := c.Client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
		if err != nil {
			return false, err
		}
		return len(pods.Items) == 0, fmt.Errorf("%d CoreDNS pods left", len(pods.Items))
	}); err != nil {
		t.Fatal(err)
	}
	msg, logs := gaveUp(t, ns, "db=tcp://db:5432,cache=redis://cache.data:6379", "15s")
	says(t, "termination message", msg, "one cause: cluster DNS", "evidence: db: resolve")
	lines := strings.Split(msg, "\n")
	if !strings.HasPrefix(lines[0], "one cause: cluster DNS") {
		t.Errorf("the termination message does not begin with the one cause: %q", lines[0])
	}
	says(t, "the log", logs, `"msg":"gave up: one cause"`, `"cause":"cluster_dns"`)
	golden(t, "dns-down.txt", msg)
}

// restoreDNS scales CoreDNS back to 1 and waits for it: the other scenarios need it. (A
// cleanup: the test's context is done by then.)
func restoreDNS(t *testing.T) {
	c := env.cluster
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Scale(ctx, "kube-system", "coredns", 1); err != nil {
		t.Errorf("scaling CoreDNS back: %v", err)
		return
	}
	if _, err := c.WaitPod(ctx, "kube-system", "k8s-app=kube-dns", "CoreDNS back", 120*time.Second, func(p *corev1.Pod) (bool, error) {
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, fmt.Errorf("%s not ready", p.Name)
	}); err != nil {
		t.Errorf("CoreDNS did not come back: %v", err)
	}
}

// TestClusterDNSEgressBlocked: an egress NetworkPolicy that lets nothing out to port 53.
// The cluster's CNI (the bridge plugin) enforces no NetworkPolicy, so the test drops the
// packets itself, with nftables in the node's network namespace (before kube-proxy's DNAT,
// every pod's DNS to the kube-dns Service), as an enforcing plugin would for this pod.
func TestClusterDNSEgressBlocked(t *testing.T) {
	need(t)
	c := env.cluster
	ctx := t.Context()
	ns := c.Namespace(t, "dnsblocked")
	if err := c.Dependency(ctx, ns, "db", images.Busybox, 5432, 1); err != nil {
		t.Fatal(err)
	}
	policy := `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-db}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/instance: diag}}
  policyTypes: [Egress]
  egress:
    - ports: [{protocol: TCP, port: 5432}]
`
	if err := c.Apply(ctx, ns, policy); err != nil {
		t.Fatal(err)
	}
	rules := fmt.Sprintf(`table inet depprobe_e2e_dns {
	chain prerouting {
		type filter hook prerouting priority -300; policy accept;
		ip saddr %s ip daddr %s udp dport 53 drop
		ip saddr %s ip daddr %s tcp dport 53 drop
	}
}
`, cluster.PodCIDR, cluster.DNSService, cluster.PodCIDR, cluster.DNSService)
	file := filepath.Join(t.TempDir(), "drop-dns.nft")
	if err := os.WriteFile(file, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Command(ctx, "nft", "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := c.Command(context.Background(), "nft", "delete", "table", "inet", "depprobe_e2e_dns").CombinedOutput(); err != nil {
			t.Errorf("removing the nftables table: %v: %s", err, out)
		}
	})
	msg, logs := gaveUp(t, ns, "db=tcp://db:5432,cache=redis://cache.data:6379", "30s")
	says(t, "termination message", msg, `one cause: cluster DNS is cut off: NetworkPolicy "only-db" selects this pod and lets nothing out to port 53`,
		"evidence: db: resolve timeout", "cache: resolve timeout")
	says(t, "the log", logs, `"cause":"cluster_dns"`)
	golden(t, "dns-egress.txt", msg)
}

// TestClusterMeshedPodRefused: a pod that Istio's injector annotated, whose proxy is a
// regular container (it starts only after the init containers): every target is refused
// at once, and depprobe says that the proxy cannot come up while it waits, at once. The
// refusals are real (kube-proxy rejects a Service without endpoints, the node resets a
// closed port); the mesh's iptables redirect that would cause them in a meshed pod is not
// installed here: there is no Istio.
func TestClusterMeshedPodRefused(t *testing.T) {
	need(t)
	c := env.cluster
	ctx := t.Context()
	ns := c.Namespace(t, "mesh")
	// A Service whose pods are not there (yet): refused, and nothing certain of its own (a
	// Deployment scaled to zero would be, and end the wait first).
	if err := c.Apply(ctx, ns, "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  selector: {app: db}\n  ports: [{port: 5432}]\n"); err != nil {
		t.Fatal(err)
	}
	helmInstall(t, ns, "diag", "workload.enabled=false", "tests.enabled=false", "rbac.create=true", "rbac.events=true")
	tr := true
	node := strings.Split(cluster.NodeCIDR, "/")[0]
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Labels: map[string]string{"app": "meshed"},
			Annotations: map[string]string{"sidecar.istio.io/status": `{"initContainers":["istio-init"],"containers":["istio-proxy"]}`}},
		Spec: corev1.PodSpec{
			ServiceAccountName:           "diag-depprobe",
			AutomountServiceAccountToken: &tr,
			RestartPolicy:                corev1.RestartPolicyNever,
			SecurityContext:              &corev1.PodSecurityContext{RunAsNonRoot: &tr, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			InitContainers:               []corev1.Container{depprobeWait("db=postgres://db:5432,api=tcp://"+node+":9", "5m")},
			Containers: []corev1.Container{
				{Name: "app", Image: images.Pause, ImagePullPolicy: corev1.PullNever, SecurityContext: cluster.RestrictedContainer()},
				{Name: "istio-proxy", Image: images.Pause, ImagePullPolicy: corev1.PullNever, SecurityContext: cluster.RestrictedContainer()},
			},
		},
	}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	msg, _ := waitGaveUp(t, ns, "app=meshed", "wait")
	says(t, "termination message", msg, "one cause: the istio proxy is not up",
		"istio-proxy is a regular container, which starts only after the init containers",
		`sidecar.istio.io/nativeSidecar: "true"`, "runAsUser: 1337", "(waiting cannot fix it: mesh_proxy)")
	if d := time.Since(start); d > 90*time.Second {
		t.Errorf("the wait took %s; want it to end at once, long before DEPPROBE_TIMEOUT=5m", d)
	}
	golden(t, "mesh.txt", msg)
}
