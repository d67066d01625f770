package packaging

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

var chartDir = filepath.Join(repoRoot, "charts", "depprobe")

// containerWant is what one depprobe container of a rendered pod must be.
type containerWant struct {
	name    string
	cmd     string // wait, serve or check
	sidecar bool   // restartPolicy: Always
}

// chartCases says what each values file under charts/depprobe/ci must render. Every file
// there needs an entry, and every entry a file.
var chartCases = map[string]struct {
	init      []containerWant // the example Deployment's init containers, in order
	replicas  int32
	image     string // the depprobe image; "" means ghcr.io/depprobe/depprobe:<appVersion>
	secret    string // DEPPROBE_TARGETS comes from this Secret; "" means from a value
	readiness bool   // the sidecar has a readinessProbe
	liveness  bool   // the sidecar has a livenessProbe
	helmTest  bool   // a helm test pod is rendered
	rbac      bool   // rbac.create and rbac.events: a ServiceAccount, the Role, its binding
}{
	"init-values.yaml": {
		init:     []containerWant{{"depprobe-wait", "wait", false}},
		replicas: 1, helmTest: true,
	},
	"sidecar-values.yaml": {
		init:     []containerWant{{"depprobe", "serve", true}},
		replicas: 1, readiness: true, liveness: true, helmTest: true,
	},
	"both-values.yaml": {
		init:     []containerWant{{"depprobe-wait", "wait", false}, {"depprobe", "serve", true}},
		replicas: 2, liveness: true, helmTest: true,
	},
	"rbac-values.yaml": {
		init:     []containerWant{{"depprobe-wait", "wait", false}},
		replicas: 1, helmTest: true, rbac: true,
	},
	"custom-values.yaml": {
		init:     []containerWant{{"wait-for-deps", "wait", false}, {"deps", "serve", true}},
		replicas: 0, readiness: true,
		image:  "registry.example.com/mirror/depprobe@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		secret: "app-dependencies",
	},
}

// chartMeta reads the fields of Chart.yaml the tests compare against.
func chartMeta(t *testing.T) (appVersion, kubeVersion string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		APIVersion  string `json:"apiVersion"`
		AppVersion  string `json:"appVersion"`
		KubeVersion string `json:"kubeVersion"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if c.APIVersion != "v2" {
		t.Errorf("Chart.yaml apiVersion = %q, want v2", c.APIVersion)
	}
	return c.AppVersion, c.KubeVersion
}

func ciValueFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	if got, want := names, slices.Sorted(maps.Keys(chartCases)); !slices.Equal(got, want) {
		t.Errorf("ci values files %q, want exactly %q (one entry in chartCases per file)", got, want)
	}
	return names
}

// TestChartLint runs `helm lint --strict` with the default values and each CI values file,
// against the oldest and the newest Kubernetes version.
func TestChartLint(t *testing.T) {
	cases := append([]string{""}, ciValueFiles(t)...)
	for _, file := range cases {
		for _, kv := range kubeVersions {
			t.Run(file+"@"+kv, func(t *testing.T) {
				args := []string{"lint", "--strict", "--kube-version", kv, chartDir}
				if file != "" {
					args = append(args, "--values", filepath.Join(chartDir, "ci", file))
				}
				if out, err := runHelm(t, args...); err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
			})
		}
	}
}

// TestChartTemplate renders the chart with each CI values file, decodes every object
// strictly, validates it as the kube-apiserver would, checks the pods against the restricted
// Pod Security Standard and our own rules, and checks that the values file got the pod it
// asked for.
func TestChartTemplate(t *testing.T) {
	appVersion, _ := chartMeta(t)
	for _, file := range ciValueFiles(t) {
		want := chartCases[file]
		for _, kv := range kubeVersions {
			t.Run(file+"@"+kv, func(t *testing.T) {
				out, err := runHelm(t, "template", "ci", chartDir, "--namespace", "shop",
					"--kube-version", kv, "--values", filepath.Join(chartDir, "ci", file))
				if err != nil {
					t.Fatal(err)
				}
				ms := decodeManifests(t, file, out)
				var deploys []*appsv1.Deployment
				var testPods []*corev1.Pod
				var rbacObjs []any
				for _, m := range ms {
					validateManifest(t, m)
					switch o := m.obj.(type) {
					case *appsv1.Deployment:
						deploys = append(deploys, o)
					case *corev1.Pod:
						testPods = append(testPods, o)
					case *corev1.ServiceAccount, *rbacv1.Role, *rbacv1.RoleBinding:
						rbacObjs = append(rbacObjs, o)
					}
					if o, ok := m.obj.(interface{ GetNamespace() string }); ok && o.GetNamespace() != "shop" {
						t.Errorf("%s: namespace %q, want the release's %q", m.source, o.GetNamespace(), "shop")
					}
				}

				wantImage := want.image
				if wantImage == "" {
					wantImage = "ghcr.io/depprobe/depprobe:" + appVersion
				}
				if len(deploys) != 1 {
					t.Fatalf("rendered %d Deployments, want the example workload", len(deploys))
				}
				d := deploys[0]
				if d.Spec.Replicas == nil || *d.Spec.Replicas != want.replicas {
					t.Errorf("replicas = %v, want %d", d.Spec.Replicas, want.replicas)
				}
				spec := &d.Spec.Template.Spec
				var got []containerWant
				for _, c := range spec.InitContainers {
					got = append(got, containerWant{c.Name, firstArg(c), c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways})
					checkDepprobeContainer(t, &c, wantImage, want.secret)
					if c.RestartPolicy != nil {
						if (c.ReadinessProbe != nil) != want.readiness {
							t.Errorf("%s: readinessProbe = %v, want one: %v", c.Name, c.ReadinessProbe, want.readiness)
						}
						if (c.LivenessProbe != nil) != want.liveness {
							t.Errorf("%s: livenessProbe = %v, want one: %v", c.Name, c.LivenessProbe, want.liveness)
						}
					}
				}
				if !slices.Equal(got, want.init) {
					t.Errorf("init containers = %+v, want %+v", got, want.init)
				}
				if len(spec.Containers) != 1 || isDepprobe(&spec.Containers[0]) {
					t.Errorf("containers = %d, want the one stand-in app", len(spec.Containers))
				}
				checkRBAC(t, want.rbac, d, rbacObjs)

				if !want.helmTest {
					if len(testPods) != 0 {
						t.Errorf("rendered %d test pods, want none (tests.enabled=false)", len(testPods))
					}
					return
				}
				if len(testPods) != 1 {
					t.Fatalf("rendered %d Pods, want the helm test pod", len(testPods))
				}
				p := testPods[0]
				if p.Annotations["helm.sh/hook"] != "test" {
					t.Errorf("test pod annotations %v lack helm.sh/hook: test", p.Annotations)
				}
				if p.Spec.RestartPolicy != corev1.RestartPolicyNever {
					t.Errorf("test pod restartPolicy = %q, want Never: a test runs once", p.Spec.RestartPolicy)
				}
				if len(p.Spec.Containers) != 1 || firstArg(p.Spec.Containers[0]) != "check" {
					t.Fatalf("test pod containers %+v, want one running depprobe check", p.Spec.Containers)
				}
				checkDepprobeContainer(t, &p.Spec.Containers[0], wantImage, want.secret)
			})
		}
	}
}

func firstArg(c corev1.Container) string {
	if len(c.Args) == 0 {
		return ""
	}
	return c.Args[0]
}

// checkDepprobeContainer checks what the values choose for a depprobe container: image and
// where the targets come from.
func checkDepprobeContainer(t *testing.T, c *corev1.Container, image, secret string) {
	t.Helper()
	if c.Image != image {
		t.Errorf("%s: image = %q, want %q", c.Name, c.Image, image)
	}
	for _, e := range c.Env {
		if e.Name != "DEPPROBE_TARGETS" {
			continue
		}
		switch {
		case secret == "" && e.Value == "":
			t.Errorf("%s: DEPPROBE_TARGETS is empty", c.Name)
		case secret != "" && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != secret):
			t.Errorf("%s: DEPPROBE_TARGETS = %+v, want it from Secret %q", c.Name, e, secret)
		}
	}
}

// TestChartRejects renders values that must not render, so the schema and the templates'
// own checks are known to bite.
func TestChartRejects(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in helm's error output
	}{
		{"kubernetes older than native sidecars", []string{"--kube-version", "1.28.0"}, "kubeVersion"},
		{"unknown top-level key", []string{"--set", "replicas=2"}, "additional properties 'replicas' not allowed"},
		{"unknown nested key", []string{"--set", "image.registry=docker.io"}, "additional properties 'registry' not allowed"},
		{"unknown mode", []string{"--set", "workload.mode=classic"}, "workload/mode"},
		{"duration without unit", []string{"--set-string", "timeout=30"}, "/timeout"},
		{"duration as number", []string{"--set", "attemptTimeout=2"}, "/attemptTimeout"},
		{"short digest", []string{"--set", "image.digest=sha256:abc"}, "/image/digest"},
		{"port out of range", []string{"--set", "port=70000"}, "/port"},
		{"no targets", []string{"--set", "targets="}, "set targets, or targetsSecret.name"},
		{"unknown log format", []string{"--set", "logFormat=xml"}, "/logFormat"},
		{"extra env without value", []string{"--set", "extraEnv[0].name=DEPPROBE_INTERVAL"}, "value"},
		{"events without the Role", []string{"--set", "rbac.events=true"}, "rbac.events needs rbac.create"},
		{"rbac as a string", []string{"--set-string", "rbac.create=yes"}, "/rbac/create"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"template", "r", chartDir, "--kube-version", kubeVersions[0]}, tc.args...)
			if tc.args[0] == "--kube-version" {
				args = append([]string{"template", "r", chartDir}, tc.args...)
			}
			_, err := runHelm(t, args...)
			if err == nil {
				t.Fatalf("helm %q rendered, want an error mentioning %q", args, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\ndoes not mention %q", err, tc.want)
			}
		})
	}
}

// TestChartSchemaClosed walks values.schema.json: every object schema must set
// additionalProperties: false, so a misspelt value fails the install instead of being
// ignored. The one exception is Helm's "global", which Helm passes to every chart of a
// release and whose keys belong to the parent chart.
func TestChartSchemaClosed(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	var objects int
	var walk func(path string, s map[string]any)
	walk = func(path string, s map[string]any) {
		_, hasProps := s["properties"]
		if s["type"] == "object" || hasProps {
			objects++
			if ap, ok := s["additionalProperties"].(bool); path != "/properties/global" && (!ok || ap) {
				t.Errorf("schema %s: additionalProperties = %v, want false", path, s["additionalProperties"])
			}
		}
		if props, ok := s["properties"].(map[string]any); ok {
			for k, v := range props {
				if sub, ok := v.(map[string]any); ok {
					walk(path+"/properties/"+k, sub)
				}
			}
		}
		if items, ok := s["items"].(map[string]any); ok {
			walk(path+"/items", items)
		}
	}
	walk("", schema)
	if objects < 10 {
		t.Errorf("found %d object schemas; the walk is broken or the schema lost its structure", objects)
	}
}

// TestChartMetadata keeps Chart.yaml, the templates' default image tag and NOTES.txt in
// step with what the README and the issue promise.
func TestChartMetadata(t *testing.T) {
	appVersion, kubeVersion := chartMeta(t)
	if kubeVersion != ">=1.29.0-0" {
		t.Errorf("kubeVersion = %q, want >=1.29.0-0 (native sidecars)", kubeVersion)
	}
	tpl, err := os.ReadFile(filepath.Join(chartDir, "templates", "_depprobe.tpl"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{{- define "depprobe.defaultImageTag" -}}` + appVersion + `{{- end -}}`; !strings.Contains(string(tpl), want) {
		t.Errorf("_depprobe.tpl lacks %s: the default image tag must equal appVersion %q", want, appVersion)
	}
	notes, err := os.ReadFile(filepath.Join(chartDir, "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kubectl -n", "describe pod", ".status.initContainerStatuses[*]", ".lastState.terminated.message", "helm test"} {
		if !strings.Contains(string(notes), want) {
			t.Errorf("NOTES.txt does not mention %q", want)
		}
	}
}

// TestChartAsDependency renders testdata/parent, a chart of someone else's that has
// charts/depprobe as a dependency and includes its templates in its own pod, once with the
// dependency's values and once with a bare dict. Only the parent's Deployment may come out.
func TestChartAsDependency(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "shop")
	if err := os.CopyFS(parent, os.DirFS(filepath.Join("testdata", "parent"))); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(parent, "charts", "depprobe"), os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	kv := kubeVersions[len(kubeVersions)-1]
	if out, err := runHelm(t, "lint", "--strict", "--kube-version", kv, parent); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := runHelm(t, "template", "r", parent, "--kube-version", kv)
	if err != nil {
		t.Fatal(err)
	}
	ms := decodeManifests(t, "shop", out)
	if len(ms) != 1 {
		t.Fatalf("rendered %d objects, want only the parent's Deployment", len(ms))
	}
	validateManifest(t, ms[0])
	d, ok := ms[0].obj.(*appsv1.Deployment)
	if !ok {
		t.Fatalf("rendered %T, want *appsv1.Deployment", ms[0].obj)
	}
	init := d.Spec.Template.Spec.InitContainers
	if len(init) != 2 {
		t.Fatalf("%d init containers, want the wait container and the sidecar", len(init))
	}
	wantEnv := map[string]map[string]string{
		"depprobe-wait": {"DEPPROBE_TARGETS": "db=postgres://shop-db:5432,cache=redis://shop-cache:6379", "DEPPROBE_TIMEOUT": "2m"},
		"depprobe":      {"DEPPROBE_TARGETS": "payments=https://payments:8443/healthz", "DEPPROBE_LISTEN": ":9000"},
	}
	for _, c := range init {
		got := map[string]string{}
		for _, e := range c.Env {
			got[e.Name] = e.Value
		}
		for k, v := range wantEnv[c.Name] {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", c.Name, k, got[k], v)
			}
		}
		if want := "ghcr.io/depprobe/depprobe:"; !strings.HasPrefix(c.Image, want) {
			t.Errorf("%s: image %q, want the default %s<appVersion>", c.Name, c.Image, want)
		}
	}
}

// TestChartPackage packages the chart as `helm package` would publish it and checks what
// goes in: the templates, schema and notes, and not the CI values (.helmignore).
func TestChartPackage(t *testing.T) {
	appVersion, _ := chartMeta(t)
	dir := t.TempDir()
	if out, err := runHelm(t, "package", "--destination", dir, chartDir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	tgz, err := filepath.Glob(filepath.Join(dir, "depprobe-*.tgz"))
	if err != nil || len(tgz) != 1 {
		t.Fatalf("helm package made %q, want one depprobe-<version>.tgz", tgz)
	}
	f, err := os.Open(tgz[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	for _, want := range []string{"depprobe/Chart.yaml", "depprobe/values.yaml", "depprobe/values.schema.json",
		"depprobe/templates/_depprobe.tpl", "depprobe/templates/NOTES.txt", "depprobe/templates/tests/check.yaml"} {
		if !slices.Contains(names, want) {
			t.Errorf("package lacks %s; has %q", want, names)
		}
	}
	for _, n := range names {
		if strings.HasPrefix(n, "depprobe/ci/") {
			t.Errorf("package contains %s; .helmignore should leave the CI values out", n)
		}
	}
	t.Logf("%s: %d files (appVersion %s)", filepath.Base(tgz[0]), len(names), appVersion)
}

// checkRBAC checks rbac.create: without it, no object and no token in the pod; with it (and
// rbac.events), a ServiceAccount the pod runs as with its token, a Role whose rules are
// exactly the product's list (internal/kube/testdata/role-rules.yaml) plus create on events,
// and a RoleBinding of the one to the other, all in the release's namespace.
func checkRBAC(t *testing.T, want bool, d *appsv1.Deployment, objs []any) {
	t.Helper()
	spec := d.Spec.Template.Spec
	automount := spec.AutomountServiceAccountToken != nil && *spec.AutomountServiceAccountToken
	if !want {
		if len(objs) != 0 || automount {
			t.Errorf("rbac off: %d RBAC objects, token mounted %t; want none, false", len(objs), automount)
		}
		return
	}
	var (
		sa   *corev1.ServiceAccount
		role *rbacv1.Role
		rb   *rbacv1.RoleBinding
	)
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.ServiceAccount:
			sa = o
		case *rbacv1.Role:
			role = o
		case *rbacv1.RoleBinding:
			rb = o
		}
	}
	if sa == nil || role == nil || rb == nil {
		t.Fatalf("rbac on: ServiceAccount %v, Role %v, RoleBinding %v; want one of each", sa != nil, role != nil, rb != nil)
	}
	if spec.ServiceAccountName != sa.Name || !automount {
		t.Errorf("pod runs as %q with token mounted %t, want %q with its token", spec.ServiceAccountName, automount, sa.Name)
	}
	if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != role.Name || len(rb.Subjects) != 1 ||
		rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Name != sa.Name || rb.Subjects[0].Namespace != sa.Namespace {
		t.Errorf("RoleBinding %+v does not bind Role %q to ServiceAccount %s/%s", rb, role.Name, sa.Namespace, sa.Name)
	}
	data, err := os.ReadFile(filepath.Join(repoRoot, "internal", "kube", "testdata", "role-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var product struct{ Rules []rbacv1.PolicyRule }
	if err := yaml.UnmarshalStrict(data, &product); err != nil {
		t.Fatal(err)
	}
	wantRules := append(product.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}})
	if got, _ := json.Marshal(role.Rules); string(got) != string(must(json.Marshal(wantRules))) {
		t.Errorf("Role rules:\n%s\nwant the product's list and create on events:\n%s", got, must(json.Marshal(wantRules)))
	}
	for _, r := range role.Rules {
		for _, v := range r.Verbs {
			if v != "get" && v != "list" && !(v == "create" && slices.Equal(r.Resources, []string{"events"})) {
				t.Errorf("Role rule %+v: verb %q, want reads only (and create on events)", r, v)
			}
		}
		if slices.ContainsFunc(r.Resources, func(res string) bool { return res == "secrets" || res == "configmaps" || res == "*" }) {
			t.Errorf("Role rule %+v reads what may hold secrets", r)
		}
	}
	var events bool
	for _, c := range spec.InitContainers {
		for _, e := range c.Env {
			events = events || e.Name == "DEPPROBE_KUBE_EVENTS" && e.Value == "true"
		}
	}
	if !events {
		t.Error("rbac.events: no depprobe container has DEPPROBE_KUBE_EVENTS=true")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
