package packaging

import (
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

var (
	kubeExamples    = filepath.Join(repoRoot, "examples", "kubernetes")
	composeExamples = filepath.Join(repoRoot, "examples", "compose")
)

// globNames returns the base names of the files in dir matching pattern, and fails the
// test unless they are exactly want: an example added without a test, or a test whose
// example was removed, is an error.
func globNames(t *testing.T, dir, pattern string, want []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, filepath.Base(f))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s/%s = %q, want exactly %q", dir, pattern, got, want)
	}
}

// kubeExampleCases says, for each manifest under examples/kubernetes, where depprobe sits
// in the Deployment's pod.
var kubeExampleCases = map[string]func(t *testing.T, spec *corev1.PodSpec){
	"initcontainer.yaml": func(t *testing.T, spec *corev1.PodSpec) {
		c := onlyDepprobe(t, spec)
		if c.RestartPolicy != nil || firstArg(*c) != "wait" || !slices.Contains(containerNames(spec.InitContainers), c.Name) {
			t.Errorf("depprobe container %q: want a regular init container running wait", c.Name)
		}
	},
	"native-sidecar.yaml": func(t *testing.T, spec *corev1.PodSpec) {
		c := onlyDepprobe(t, spec)
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways || firstArg(*c) != "serve" {
			t.Errorf("depprobe container %q: want an init container with restartPolicy: Always running serve", c.Name)
		}
		if p := c.StartupProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.IntValue() != depprobePort {
			t.Errorf("depprobe container %q: startupProbe = %+v, want httpGet /readyz on %d", c.Name, p, depprobePort)
		}
		if len(spec.InitContainers) != 1 {
			t.Errorf("%d init containers, want only the sidecar", len(spec.InitContainers))
		}
	},
	"classic-sidecar.yaml": func(t *testing.T, spec *corev1.PodSpec) {
		c := onlyDepprobe(t, spec)
		if !slices.Contains(containerNames(spec.Containers), c.Name) || firstArg(*c) != "serve" {
			t.Errorf("depprobe container %q: want a regular container running serve", c.Name)
		}
		if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || probePort(c, p.HTTPGet.Port) != depprobePort {
			t.Errorf("depprobe container %q: readinessProbe = %+v, want httpGet /readyz on %d", c.Name, p, depprobePort)
		}
	},
}

func containerNames(cs []corev1.Container) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

// onlyDepprobe returns the one depprobe container of the pod, init or regular.
func onlyDepprobe(t *testing.T, spec *corev1.PodSpec) *corev1.Container {
	t.Helper()
	var found []*corev1.Container
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			if isDepprobe(&cs[i]) {
				found = append(found, &cs[i])
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d depprobe containers, want 1", len(found))
	}
	return found[0]
}

// TestKubernetesExamples validates the copy-paste manifests that docs/deploying.md shows, like the chart:
// strict decoding, the kube-apiserver's validation, restricted PSS, our rules, and where
// depprobe sits in the pod.
func TestKubernetesExamples(t *testing.T) {
	globNames(t, kubeExamples, "*.yaml", slices.Collect(func(yield func(string) bool) {
		for k := range kubeExampleCases {
			if !yield(k) {
				return
			}
		}
	}))
	for name, check := range kubeExampleCases {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(kubeExamples, name))
			if err != nil {
				t.Fatal(err)
			}
			var deploys int
			for _, m := range decodeManifests(t, name, data) {
				validateManifest(t, m)
				if d, ok := m.obj.(*appsv1.Deployment); ok {
					deploys++
					check(t, &d.Spec.Template.Spec)
				}
			}
			if deploys != 1 {
				t.Errorf("%d Deployments, want 1", deploys)
			}
		})
	}
}

// loadCompose loads a compose file the way `docker compose -f file config` does, with the
// compose-spec reference loader: schema validation, interpolation, normalization and
// consistency checks (depends_on naming a missing service, ...). The environment is empty,
// so the examples cannot lean on the machine's variables.
func loadCompose(t *testing.T, file string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithName(strings.TrimSuffix(filepath.Base(file), ".yaml")),
		cli.WithWorkingDirectory(filepath.Dir(file)),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return p
}

// depprobeServices returns the services that run the depprobe image.
func depprobeServices(p *types.Project) []types.ServiceConfig {
	var out []types.ServiceConfig
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range p.Services {
			if !yield(k) {
				return
			}
		}
	}) {
		s := p.Services[name]
		if isDepprobe(&corev1.Container{Image: s.Image}) {
			out = append(out, s)
		}
	}
	return out
}

// dependents returns the services that depend on name with the given condition.
func dependents(p *types.Project, name, condition string) []string {
	var out []string
	for _, s := range p.Services {
		if d, ok := s.DependsOn[name]; ok && d.Condition == condition {
			out = append(out, s.Name)
		}
	}
	return out
}

// checkTargetHosts asserts that every host in DEPPROBE_TARGETS of a service is a service of
// the project: a misspelt host would make the example wait forever.
func checkTargetHosts(t *testing.T, p *types.Project, env types.MappingWithEquals) {
	t.Helper()
	v := env["DEPPROBE_TARGETS"]
	if v == nil || *v == "" {
		t.Errorf("DEPPROBE_TARGETS not set")
		return
	}
	for _, target := range strings.FieldsFunc(*v, func(r rune) bool { return r == ',' || r == '\n' }) {
		fields := strings.Fields(target)
		if len(fields) == 0 {
			continue
		}
		raw := fields[0]
		if _, rest, ok := strings.Cut(raw, "="); ok && !strings.Contains(raw[:strings.Index(raw, "=")], "://") {
			raw = rest
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Errorf("target %q: %v", target, err)
			continue
		}
		if _, ok := p.Services[u.Hostname()]; !ok {
			t.Errorf("target %q: host %q is not a service of the project", target, u.Hostname())
		}
	}
}

// TestComposeExamples loads each compose example with the compose-spec loader and checks
// the pattern it shows.
func TestComposeExamples(t *testing.T) {
	globNames(t, composeExamples, "*.yaml", []string{"wait.yaml", "healthcheck.yaml", "entrypoint.yaml"})

	t.Run("wait.yaml", func(t *testing.T) {
		p := loadCompose(t, filepath.Join(composeExamples, "wait.yaml"))
		ds := depprobeServices(p)
		if len(ds) != 1 {
			t.Fatalf("%d depprobe services, want 1", len(ds))
		}
		s := ds[0]
		if !slices.Equal(s.Command, types.ShellCommand{"wait"}) {
			t.Errorf("%s: command %q, want [wait]", s.Name, s.Command)
		}
		if s.Restart != "" && s.Restart != types.RestartPolicyNo && !strings.HasPrefix(s.Restart, types.RestartPolicyOnFailure) {
			t.Errorf("%s: restart %q would run the one-shot again after it succeeded", s.Name, s.Restart)
		}
		if got := dependents(p, s.Name, types.ServiceConditionCompletedSuccessfully); len(got) == 0 {
			t.Errorf("no service depends on %s with condition %s", s.Name, types.ServiceConditionCompletedSuccessfully)
		}
		checkTargetHosts(t, p, s.Environment)
	})

	t.Run("healthcheck.yaml", func(t *testing.T) {
		p := loadCompose(t, filepath.Join(composeExamples, "healthcheck.yaml"))
		ds := depprobeServices(p)
		if len(ds) != 1 {
			t.Fatalf("%d depprobe services, want 1", len(ds))
		}
		s := ds[0]
		if s.HealthCheck == nil || s.HealthCheck.Disable {
			t.Fatalf("%s: no healthcheck", s.Name)
		}
		// CMD, not CMD-SHELL: the distroless image has no shell.
		if got, want := []string(s.HealthCheck.Test), []string{"CMD", "/depprobe", "check"}; !slices.Equal(got, want) {
			t.Errorf("%s: healthcheck test %q, want %q", s.Name, got, want)
		}
		// The service must outlive its first healthy check, or service_healthy never holds.
		if !slices.Equal(s.Command, types.ShellCommand{"serve"}) {
			t.Errorf("%s: command %q, want [serve], a process that keeps running", s.Name, s.Command)
		}
		if got := dependents(p, s.Name, types.ServiceConditionHealthy); len(got) == 0 {
			t.Errorf("no service depends on %s with condition %s", s.Name, types.ServiceConditionHealthy)
		}
		checkTargetHosts(t, p, s.Environment)
	})

	t.Run("entrypoint.yaml", func(t *testing.T) {
		p := loadCompose(t, filepath.Join(composeExamples, "entrypoint.yaml"))
		app, ok := p.Services["app"]
		if !ok || app.Build == nil {
			t.Fatalf("no service app with a build")
		}
		checkTargetHosts(t, p, app.Environment)

		df := parseDockerfile(t, filepath.Join(app.Build.Context, app.Build.Dockerfile))
		final := df.stages[len(df.stages)-1]
		var bin string
		for _, c := range commands[*instructions.CopyCommand](final) {
			if isDepprobe(&corev1.Container{Image: c.From}) && slices.Equal(c.SourcePaths, []string{"/depprobe"}) {
				bin = c.DestPath
			}
		}
		if bin == "" {
			t.Fatalf("%s: no COPY --from=<depprobe image> /depprobe", app.Build.Dockerfile)
		}
		eps := commands[*instructions.EntrypointCommand](final)
		if len(eps) != 1 || eps[0].PrependShell || len(eps[0].CmdLine) < 4 ||
			!slices.Equal(eps[0].CmdLine[:3], []string{bin, "wait", "--"}) {
			t.Errorf("%s: ENTRYPOINT %v, want exec form [%q, \"wait\", \"--\", app...]", app.Build.Dockerfile, eps, bin)
		}
	})
}

// TestVariablesExist checks every DEPPROBE_* name that the chart, the examples, the
// documentation (README.md, docs/) and the e2e suite's manifests set against `depprobe help`,
// which lists every variable the binary reads: depprobe refuses any other (exit 2), so a
// misspelt one would break the example that sets it.
func TestVariablesExist(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the product binary")
	}
	bin := filepath.Join(t.TempDir(), "depprobe")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/depprobe")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	help, err := exec.CommandContext(t.Context(), bin, "help").CombinedOutput()
	if err != nil {
		t.Fatalf("depprobe help: %v\n%s", err, help)
	}
	known := map[string]bool{}
	for _, v := range variable.FindAllString(string(help), -1) {
		known[v] = true
	}
	if len(known) < 10 {
		t.Fatalf("depprobe help lists %d DEPPROBE_ variables; the test cannot read it:\n%s", len(known), help)
	}

	var used int
	for _, dir := range []string{chartDir, kubeExamples, composeExamples, filepath.Join(repoRoot, "README.md"), filepath.Join(repoRoot, "docs"), filepath.Join(repoRoot, "e2e"), "testdata"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, v := range variable.FindAllString(string(data), -1) {
				used++
				if !known[v] {
					t.Errorf("%s: %s is not a variable depprobe reads (see depprobe help)", path, v)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if used < 20 {
		t.Errorf("found %d DEPPROBE_ variables in the chart and examples; the walk is broken", used)
	}
}

var variable = regexp.MustCompile(`\bDEPPROBE_[A-Z_]*[A-Z]\b`)
