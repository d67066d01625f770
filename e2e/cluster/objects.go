package cluster

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/depprobe/depprobe/e2e/sandbox"
)

// Namespace creates a namespace for one test, named after prefix with a unique suffix,
// where the PodSecurity admission plugin enforces the restricted standard (the label
// users set), and deletes it when the test ends. It waits for the namespace's default
// ServiceAccount, without which the ServiceAccount admission plugin refuses pods.
func (c *Cluster) Namespace(t *testing.T, prefix string) string {
	t.Helper()
	ctx := t.Context()
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: prefix + "-",
		Labels: map[string]string{
			"pod-security.kubernetes.io/enforce":         "restricted",
			"pod-security.kubernetes.io/enforce-version": "latest",
		},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.DumpNamespace(t, ns.Name)
		}
		c.Client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	err = c.wait(ctx, "the default ServiceAccount exists", 60*time.Second, func() (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// DumpNamespace logs what a failed test needs to see: kubectl get all, describe pods,
// and the events, of the namespace.
func (c *Cluster) DumpNamespace(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, args := range [][]string{
		{"get", "all", "-o", "wide"},
		{"describe", "pods"},
		{"get", "events", "--sort-by", ".lastTimestamp"},
	} {
		out, _ := c.Kubectl(ctx, append([]string{"-n", ns}, args...)...)
		t.Logf("kubectl -n %s %s:\n%s", ns, strings.Join(args, " "), out)
	}
}

// RestrictedContainer is the container security context of the restricted Pod Security
// Standard, as the nonroot user 65532.
func RestrictedContainer() *corev1.SecurityContext {
	f, tr := false, true
	uid := int64(65532)
	return &corev1.SecurityContext{
		RunAsNonRoot: &tr, RunAsUser: &uid, RunAsGroup: &uid,
		AllowPrivilegeEscalation: &f, ReadOnlyRootFilesystem: &tr,
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// Dependency creates a Deployment name (busybox httpd answering 200 on port, in image)
// and a Service name in front of it, with replicas pods (0: a dependency that has not
// come yet). It returns once both exist.
func (c *Cluster) Dependency(ctx context.Context, ns, name, image string, port int32, replicas int32) error {
	labels := map[string]string{"app": name}
	grace := int64(1)
	_, err := c.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					// httpd is PID 1 and ignores SIGTERM: scaled down, it goes at once.
					TerminationGracePeriodSeconds: &grace,
					AutomountServiceAccountToken:  new(bool),
					Containers: []corev1.Container{{
						Name:            "httpd",
						Image:           image,
						ImagePullPolicy: corev1.PullNever,
						Command:         []string{"httpd", "-f", "-p", fmt.Sprint(port), "-h", "/www"},
						Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: port}},
						SecurityContext: RestrictedContainer(),
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}},
							PeriodSeconds: 1,
						},
					}},
				},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	_, err = c.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: port, TargetPort: intstr.FromInt32(port)}},
		},
	}, metav1.CreateOptions{})
	return err
}

// Scale sets a Deployment's replicas.
func (c *Cluster) Scale(ctx context.Context, ns, name string, replicas int32) error {
	s, err := c.Client.AppsV1().Deployments(ns).GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	s.Spec.Replicas = replicas
	_, err = c.Client.AppsV1().Deployments(ns).UpdateScale(ctx, name, s, metav1.UpdateOptions{})
	return err
}

// WaitPod polls the pods matching selector in ns until cond holds for one of them, and
// returns that pod. cond's error is the reason shown if the deadline passes.
func (c *Cluster) WaitPod(ctx context.Context, ns, selector, what string, timeout time.Duration, cond func(*corev1.Pod) (bool, error)) (*corev1.Pod, error) {
	var found *corev1.Pod
	err := c.wait(ctx, what, timeout, func() (bool, error) {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err
		}
		if len(pods.Items) == 0 {
			return false, fmt.Errorf("no pod matches %q", selector)
		}
		var last error
		for i := range pods.Items {
			ok, err := cond(&pods.Items[i])
			if ok {
				found = &pods.Items[i]
				return true, nil
			}
			last = err
		}
		return false, last
	})
	return found, err
}

// Status finds a container's status by name among a pod's init and regular containers.
func Status(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// Helm runs helm (the binary at path) inside the node's namespaces and returns its
// combined output.
func (c *Cluster) Helm(ctx context.Context, helm string, args ...string) (string, error) {
	out, err := c.Command(ctx, append([]string{helm}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Apply applies a manifest with kubectl apply -f in ns.
func (c *Cluster) Apply(ctx context.Context, ns, manifest string) error {
	f, err := os.CreateTemp(c.cfg.Dir, "manifest-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(manifest); err != nil {
		return err
	}
	f.Close()
	_, err = c.Kubectl(ctx, "-n", ns, "apply", "-f", f.Name())
	return err
}

// Memory is the resident memory of every process of the node (daemons, shims, pods).
func (c *Cluster) Memory() int64 { return sandbox.MemoryUsage(c.Box) }
