package packaging

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/apps"
	_ "k8s.io/kubernetes/pkg/apis/apps/install" // registers apps/v1 defaults and conversions
	appsvalidation "k8s.io/kubernetes/pkg/apis/apps/validation"
	"k8s.io/kubernetes/pkg/apis/core"
	_ "k8s.io/kubernetes/pkg/apis/core/install" // registers core/v1 defaults and conversions
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"k8s.io/kubernetes/pkg/apis/rbac"
	_ "k8s.io/kubernetes/pkg/apis/rbac/install" // registers rbac/v1 defaults and conversions
	rbacvalidation "k8s.io/kubernetes/pkg/apis/rbac/validation"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

// depprobePort is the port `depprobe serve` listens on unless DEPPROBE_LISTEN says otherwise.
const depprobePort = 3377

// manifest is one object of a multi-document YAML stream, decoded strictly into its
// k8s.io/api type.
type manifest struct {
	source string         // file, or helm's "# Source:" template, it came from
	obj    runtime.Object // *appsv1.Deployment, *corev1.Pod, ...
}

// kinds lists every kind that the chart and the examples may contain. Anything else fails
// the test: an object we do not know how to validate must not slip through unvalidated.
var kinds = map[schema.GroupVersionKind]func() runtime.Object{
	appsv1.SchemeGroupVersion.WithKind("Deployment"):     func() runtime.Object { return &appsv1.Deployment{} },
	corev1.SchemeGroupVersion.WithKind("Pod"):            func() runtime.Object { return &corev1.Pod{} },
	corev1.SchemeGroupVersion.WithKind("Secret"):         func() runtime.Object { return &corev1.Secret{} },
	corev1.SchemeGroupVersion.WithKind("ServiceAccount"): func() runtime.Object { return &corev1.ServiceAccount{} },
	rbacv1.SchemeGroupVersion.WithKind("Role"):           func() runtime.Object { return &rbacv1.Role{} },
	rbacv1.SchemeGroupVersion.WithKind("RoleBinding"):    func() runtime.Object { return &rbacv1.RoleBinding{} },
}

var (
	docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)
	helmSource   = regexp.MustCompile(`(?m)^# Source: (.+)$`)
)

// decodeManifests splits a YAML stream into documents and decodes each one with
// yaml.UnmarshalStrict into the k8s.io/api type its apiVersion and kind name, so an unknown
// or misspelt field, or a duplicate key, is an error, as it is for `kubectl apply
// --validate=strict`.
func decodeManifests(t *testing.T, name string, data []byte) []manifest {
	t.Helper()
	var out []manifest
	for _, doc := range docSeparator.Split(string(data), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		src := name
		if m := helmSource.FindStringSubmatch(doc); m != nil {
			src = m[1]
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		newObj, ok := kinds[tm.GroupVersionKind()]
		if !ok {
			t.Errorf("%s: kind %s is not one this test knows how to validate", src, tm.GroupVersionKind())
			continue
		}
		obj := newObj()
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Errorf("%s: strict decode into %T: %v", src, obj, err)
			continue
		}
		out = append(out, manifest{source: src, obj: obj})
	}
	return out
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// validateManifest runs what the kube-apiserver runs on create: defaulting, conversion to
// the internal types, the registry strategy's validation and its warnings. Then it checks
// every pod template against the restricted Pod Security Standard and depprobe's own rules.
func validateManifest(t *testing.T, m manifest) {
	t.Helper()
	// The apiserver fills in the namespace from the request URL before validating;
	// plain manifests meant for `kubectl apply -n` leave it out.
	if acc, ok := m.obj.(metav1.Object); ok && acc.GetNamespace() == "" {
		acc.SetNamespace("default")
	}
	legacyscheme.Scheme.Default(m.obj)

	ctx := t.Context()
	var errs field.ErrorList
	var warnings []string
	switch obj := m.obj.(type) {
	case *appsv1.Deployment:
		var in apps.Deployment
		if err := legacyscheme.Scheme.Convert(obj, &in, nil); err != nil {
			t.Fatalf("%s: convert to internal: %v", m.source, err)
		}
		// As k8s.io/kubernetes/pkg/registry/apps/deployment.Strategy.Validate does.
		opts := podutil.GetValidationOptionsFromPodTemplate(&in.Spec.Template, nil)
		errs = appsvalidation.ValidateDeployment(&in, opts)
		warnings = podutil.GetWarningsForPodTemplate(ctx, field.NewPath("spec", "template"), &in.Spec.Template, nil)
		checkPod(t, m.source, &obj.Spec.Template.ObjectMeta, &obj.Spec.Template.Spec)
	case *corev1.Pod:
		var in core.Pod
		if err := legacyscheme.Scheme.Convert(obj, &in, nil); err != nil {
			t.Fatalf("%s: convert to internal: %v", m.source, err)
		}
		// As k8s.io/kubernetes/pkg/registry/core/pod.Strategy.Validate does.
		opts := podutil.GetValidationOptionsFromPodSpecAndMeta(&in.Spec, nil, &in.ObjectMeta, nil)
		opts.ResourceIsPod = true
		errs = corevalidation.ValidatePodCreate(&in, opts)
		warnings = podutil.GetWarningsForPod(ctx, &in, nil)
		checkPod(t, m.source, &obj.ObjectMeta, &obj.Spec)
	case *corev1.Secret:
		var in core.Secret
		if err := legacyscheme.Scheme.Convert(obj, &in, nil); err != nil {
			t.Fatalf("%s: convert to internal: %v", m.source, err)
		}
		errs = corevalidation.ValidateSecret(&in)
	case *corev1.ServiceAccount:
		var in core.ServiceAccount
		if err := legacyscheme.Scheme.Convert(obj, &in, nil); err != nil {
			t.Fatalf("%s: convert to internal: %v", m.source, err)
		}
		errs = corevalidation.ValidateServiceAccount(&in)
	case *rbacv1.Role:
		var in rbac.Role
		if err := legacyscheme.Scheme.Convert(obj, &in, nil); err != nil {
			t.Fatalf("%s: convert to internal: %v", m.source, err)
		}
		errs = rbacvalidation.ValidateRole(&in)
	case *rbacv1.RoleBinding:
		var in rbac.RoleBinding
		if err := legacyscheme.Scheme.Convert(obj, &in, nil); err != nil {
			t.Fatalf("%s: convert to internal: %v", m.source, err)
		}
		errs = rbacvalidation.ValidateRoleBinding(&in)
	default:
		t.Fatalf("%s: no validation for %T", m.source, obj)
	}
	for _, err := range errs {
		t.Errorf("%s: kube-apiserver validation: %v", m.source, err)
	}
	for _, w := range warnings {
		t.Errorf("%s: kube-apiserver warning: %s", m.source, w)
	}
}

// pssVersions are the policy versions a namespace could pin with
// pod-security.kubernetes.io/enforce-version: the oldest Kubernetes the chart supports, and
// latest.
var pssVersions = []psaapi.Version{psaapi.MajorMinorVersion(1, 29), psaapi.LatestVersion()}

// checkPod checks a pod spec against the restricted Pod Security Standard, with the
// evaluator of the pod-security admission plugin, and against depprobe's own rules.
func checkPod(t *testing.T, src string, meta *metav1.ObjectMeta, spec *corev1.PodSpec) {
	t.Helper()
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatalf("pod security evaluator: %v", err)
	}
	for _, v := range pssVersions {
		lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: v}
		for _, r := range evaluator.EvaluatePod(lv, meta, spec) {
			if !r.Allowed {
				t.Errorf("%s: violates PodSecurity %q: %s (%s)", src, lv, r.ForbiddenReason, r.ForbiddenDetail)
			}
		}
	}
	for _, msg := range podRuleViolations(spec) {
		t.Errorf("%s: %s", src, msg)
	}
}

// podRuleViolations returns, in words, every way the pod breaks a rule of depprobe's own,
// beyond what Kubernetes enforces:
//
//   - a regular init container carries no probe (the kubelet would never run it);
//   - a native sidecar (an init container with restartPolicy: Always) has a startupProbe,
//     which is what holds back the containers after it until the dependencies are ready;
//   - no probe sets host (it would probe another machine than the pod's);
//   - every depprobe container runs a depprobe command, reports FallbackToLogsOnError, has
//     requests and a memory limit, a read-only root filesystem and the distroless nonroot
//     user;
//   - a `serve` container's probes aim at /readyz or /livez on the port it listens on,
//     and its startup probe at /readyz.
func podRuleViolations(spec *corev1.PodSpec) []string {
	var bad []string
	report := func(c *corev1.Container, format string, args ...any) {
		bad = append(bad, fmt.Sprintf("container %q: ", c.Name)+fmt.Sprintf(format, args...))
	}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		switch {
		case !sidecar && (c.StartupProbe != nil || c.ReadinessProbe != nil || c.LivenessProbe != nil):
			report(c, "a regular init container must carry no probe")
		case sidecar && c.StartupProbe == nil:
			report(c, "a native sidecar needs a startupProbe to gate the containers after it")
		}
	}
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for i := range all {
		c := &all[i]
		for kind, p := range probes(c) {
			if p.HTTPGet != nil && p.HTTPGet.Host != "" {
				report(c, "%s sets httpGet.host %q", kind, p.HTTPGet.Host)
			}
			if p.TCPSocket != nil && p.TCPSocket.Host != "" {
				report(c, "%s sets tcpSocket.host %q", kind, p.TCPSocket.Host)
			}
		}
		if isDepprobe(c) {
			bad = append(bad, depprobeContainerViolations(c)...)
		}
	}
	return bad
}

func probes(c *corev1.Container) map[string]*corev1.Probe {
	m := map[string]*corev1.Probe{}
	for kind, p := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		if p != nil {
			m[kind] = p
		}
	}
	return m
}

// isDepprobe tells a depprobe container by its image, whatever registry it comes from.
func isDepprobe(c *corev1.Container) bool {
	ref := c.Image
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return strings.HasSuffix(ref, "/depprobe") || ref == "depprobe"
}

func depprobeContainerViolations(c *corev1.Container) []string {
	var bad []string
	report := func(format string, args ...any) {
		bad = append(bad, fmt.Sprintf("container %q: ", c.Name)+fmt.Sprintf(format, args...))
	}
	cmd := ""
	if len(c.Args) > 0 {
		cmd = c.Args[0]
	}
	if len(c.Command) > 0 {
		report("sets command %q: the image's ENTRYPOINT is /depprobe, set args instead", c.Command)
	}
	if cmd != "wait" && cmd != "serve" && cmd != "check" {
		report("args %q do not start with wait, serve or check", c.Args)
	}
	if c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		report("terminationMessagePolicy = %q, want %q", c.TerminationMessagePolicy, corev1.TerminationMessageFallbackToLogsOnError)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		report("needs cpu and memory requests and a memory limit, got %v", c.Resources)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		report("has no securityContext")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		report("root filesystem is not read-only")
	case sc.RunAsUser == nil || *sc.RunAsUser != 65532:
		report("runAsUser is not 65532, the distroless nonroot user")
	}
	if !hasTargets(c) {
		report("sets neither DEPPROBE_TARGETS nor DEPPROBE_TARGETS_FILE")
	}

	ps := probes(c)
	if cmd != "serve" {
		if len(ps) > 0 {
			report("%s has probes, but only `depprobe serve` answers them", cmd)
		}
		return bad
	}
	port := depprobePort
	for _, e := range c.Env {
		if e.Name == "DEPPROBE_LISTEN" {
			_, p, _ := strings.Cut(e.Value, ":")
			n, err := strconv.Atoi(p)
			if err != nil {
				report("DEPPROBE_LISTEN %q has no port", e.Value)
			}
			port = n
		}
	}
	if ps["startupProbe"] != nil && (ps["startupProbe"].HTTPGet == nil || ps["startupProbe"].HTTPGet.Path != "/readyz") {
		report("startupProbe must be httpGet /readyz")
	}
	for kind, p := range ps {
		if p.HTTPGet == nil {
			report("%s is not an httpGet probe", kind)
			continue
		}
		if p.HTTPGet.Path != "/readyz" && p.HTTPGet.Path != "/livez" && !strings.HasPrefix(p.HTTPGet.Path, "/readyz/") {
			report("%s path %q is not an endpoint of depprobe serve", kind, p.HTTPGet.Path)
		}
		if got := probePort(c, p.HTTPGet.Port); got != port {
			report("%s port %d, but depprobe serve listens on %d", kind, got, port)
		}
	}
	return bad
}

func hasTargets(c *corev1.Container) bool {
	for _, e := range c.Env {
		if e.Name == "DEPPROBE_TARGETS" || e.Name == "DEPPROBE_TARGETS_FILE" {
			return true
		}
	}
	return false
}

// probePort resolves a probe's port, which may name a container port.
func probePort(c *corev1.Container, p intstr.IntOrString) int {
	if p.StrVal == "" {
		return int(p.IntVal)
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	return -1
}
