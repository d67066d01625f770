package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// helmModule is the helm release the chart is checked with, built from the Go module proxy
// (no binary download: the proxy is the one registry CI can reach).
const helmModule = "helm.sh/helm/v3/cmd/helm@v3.22.0"

// kubeVersions are passed to every helm command with --kube-version: a helm built with
// `go install` has no Kubernetes version stamped in and would assume v1.20. The first is the
// oldest the chart's kubeVersion allows; the second the one whose validation code this
// module links (k8s.io/kubernetes v1.37.2).
var kubeVersions = []string{"1.29.0", "1.37.0"}

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helm returns the path of a helm binary, building it once into the user's cache directory
// (DEPPROBE_HELM names a prebuilt one instead). A cold build takes minutes on two cores;
// later runs find it there.
func helm(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		if p := os.Getenv("DEPPROBE_HELM"); p != "" {
			helmPath = p
			return
		}
		cache, err := os.UserCacheDir()
		if err != nil {
			helmErr = err
			return
		}
		dir := filepath.Join(cache, "depprobe-packaging", filepath.Base(helmModule))
		helmPath = filepath.Join(dir, "helm")
		if _, err := os.Stat(helmPath); err == nil {
			return
		}
		// Build into a fresh directory and rename it into place, so that an interrupted
		// build never leaves a half-written binary that later runs would trust.
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			helmErr = err
			return
		}
		tmp, err := os.MkdirTemp(filepath.Dir(dir), "build-")
		if err != nil {
			helmErr = err
			return
		}
		defer os.RemoveAll(tmp)
		start := time.Now()
		cmd := exec.Command("go", "install", "-trimpath", helmModule)
		// Build outside this module, so that helm gets its own go.mod's dependency versions,
		// not the ones this module pins for k8s.io/kubernetes.
		cmd.Dir = tmp
		cmd.Env = append(os.Environ(), "GOBIN="+tmp, "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			helmErr = &buildError{err: err, out: out}
			return
		}
		if err := os.Rename(tmp, dir); err != nil && !os.IsExist(err) {
			helmErr = err
			return
		}
		t.Logf("built %s in %s", helmModule, time.Since(start).Round(time.Second))
	})
	if helmErr != nil {
		t.Fatalf("helm: %v", helmErr)
	}
	return helmPath
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string {
	return "go install " + helmModule + ": " + e.err.Error() + "\n" + string(e.out)
}

// runHelm runs helm with args and returns its stdout, and its stderr as an error when it
// fails.
func runHelm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), helm(t), args...)
	// No kubeconfig, no repositories, no plugins of the machine's: render offline only.
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "kubeconfig"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), &helmError{args: args, err: err, stderr: stderr.String(), stdout: stdout.String()}
	}
	return stdout.Bytes(), nil
}

type helmError struct {
	args           []string
	err            error
	stderr, stdout string
}

func (e *helmError) Error() string {
	return "helm " + strings.Join(e.args, " ") + ": " + e.err.Error() + "\n" + e.stderr + e.stdout
}
