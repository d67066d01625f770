package e2e_test

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depprobe/depprobe/e2e/cluster"
	"github.com/depprobe/depprobe/e2e/engine"
	"github.com/depprobe/depprobe/e2e/images"
	"github.com/depprobe/depprobe/e2e/sandbox"
)

// env is what TestMain brings up once for every scenario: the engine that built the images
// (and runs the compose scenarios) and the cluster. A scenario calls need(t) first.
var env struct {
	repo    string
	work    string
	engine  *engine.Engine
	cluster *cluster.Cluster
	helm    string
	missing string // why the scenarios cannot run; "" when they can
	setup   error  // a failure of the bring-up itself
}

// need skips the test when a prerequisite is missing, or fails it under CI=true, where a
// missing prerequisite is a defect of the machine's set-up (.ci/run installs them all).
func need(t *testing.T) {
	t.Helper()
	if env.setup != nil {
		t.Fatalf("bring-up failed: %v", env.setup)
	}
	if env.missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("prerequisite missing under CI=true: %s", env.missing)
		}
		t.Skipf("prerequisite missing: %s (make e2e as root on Debian with .ci/run's packages)", env.missing)
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		ctx := context.Background()
		if testing.Short() {
			env.missing = "-short"
			return m.Run()
		}
		env.missing = prerequisites()
		if env.missing != "" {
			return m.Run()
		}
		cleanup, err := bringUp(ctx)
		defer cleanup()
		if err != nil {
			env.setup = err
			fmt.Fprintf(os.Stderr, "e2e: bring-up failed: %v\n", err)
		}
		code := m.Run()
		if env.engine != nil && env.cluster != nil {
			fmt.Fprintf(os.Stderr, "e2e: resident memory after the scenarios: node %d MB, engine %d MB\n",
				env.cluster.Memory()>>20, env.engine.RSS()>>20)
		}
		return code
	}()
	os.Exit(code)
}

// prerequisites names the first missing one: root, the Debian packages, cgroup v1 or v2
// mounts. "" when all are there.
func prerequisites() string {
	if os.Geteuid() != 0 {
		return "root (namespaces, mounts, cgroups)"
	}
	for _, bin := range []string{"dockerd", engine.CLI, "containerd", "containerd-shim-runc-v2", "runc", "ctr", "etcd", "nsenter", "unshare", "ip", "nft", "iptables", "busybox", "cc", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback", "/usr/lib/cni/portmap"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " (" + err.Error() + ")"
		}
	}
	return ""
}

// components are what bringUp needs from components/build.sh; DEPPROBE_E2E_COMPONENTS
// overrides the list (to bring up the cluster before compose is built, say).
var components = strings.Fields(cmp.Or(os.Getenv("DEPPROBE_E2E_COMPONENTS"), "frontend pause coredns compose helm kube"))

// component builds (or finds in the cache) a component with components/build.sh.
func component(ctx context.Context, name string) (string, error) {
	start := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(env.repo, "e2e", "components", "build.sh"), name)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("components/build.sh %s: %w", name, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		fmt.Fprintf(os.Stderr, "e2e: component %s ready in %s\n", name, d.Round(time.Second))
	}
	return strings.TrimSpace(string(out)), nil
}

func bringUp(ctx context.Context) (cleanup func(), err error) {
	var undo []func()
	cleanup = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	wd, _ := os.Getwd()
	env.repo = filepath.Dir(wd)

	comps := map[string]string{}
	for _, c := range components {
		if comps[c], err = component(ctx, c); err != nil {
			return cleanup, err
		}
	}
	env.helm = filepath.Join(comps["helm"], "helm")

	env.work, err = os.MkdirTemp("", "depprobe-e2e-")
	if err != nil {
		return cleanup, err
	}
	ledger := os.Getenv("DEPPROBE_E2E_LEDGER")
	if err := sandbox.Record(ledger, "dir", env.work); err != nil {
		return cleanup, err
	}
	undo = append(undo, func() {
		if os.Getenv("DEPPROBE_E2E_KEEP") != "" {
			fmt.Fprintf(os.Stderr, "e2e: kept %s\n", env.work)
			return
		}
		os.RemoveAll(env.work)
	})
	tag := fmt.Sprintf("dpe2e-%d", os.Getpid())

	start := time.Now()
	e, err := engine.Start(ctx, tag+"-engine", filepath.Join(env.work, "engine"), ledger, filepath.Join(comps["coredns"], "coredns"))
	if err != nil {
		return cleanup, fmt.Errorf("engine: %w", err)
	}
	undo = append(undo, func() {
		if err := e.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: engine teardown: %v\n", err)
		}
	})
	e.Compose = filepath.Join(comps["compose"], "docker-compose")
	env.engine = e
	fmt.Fprintf(os.Stderr, "e2e: engine up in %s\n", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	steps := []struct {
		name string
		f    func() error
	}{
		{"busybox", func() error { return images.BuildBusybox(ctx, e) }},
		{"static stand-in", func() error { return images.BuildBaseStandin(ctx, e) }},
		{"golang stand-in", func() error { return images.BuildGoStandin(ctx, e, env.repo) }},
		{"dockerfile frontend", func() error { return images.BuildFrontend(ctx, e, comps["frontend"]) }},
		{"pause", func() error { return images.BuildPause(ctx, e, comps["pause"]) }},
		{"coredns", func() error { return images.BuildCoreDNS(ctx, e, comps["coredns"]) }},
		{"depprobe (Dockerfile)", func() error {
			_, err := images.BuildDepprobe(ctx, e, env.repo, "v0.0.0-e2e")
			return err
		}},
	}
	for _, s := range steps {
		t0 := time.Now()
		if err := s.f(); err != nil {
			return cleanup, fmt.Errorf("image %s: %w", s.name, err)
		}
		fmt.Fprintf(os.Stderr, "e2e: image %s in %s\n", s.name, time.Since(t0).Round(time.Millisecond))
	}
	fmt.Fprintf(os.Stderr, "e2e: images built in %s (engine's memory %d MB)\n", time.Since(start).Round(time.Millisecond), e.RSS()>>20)

	archive := filepath.Join(env.work, "images.tar")
	if err := images.Save(ctx, e, archive, images.Busybox, images.Pause, images.CoreDNSTag, images.Depprobe); err != nil {
		return cleanup, err
	}

	start = time.Now()
	c, err := cluster.Start(ctx, cluster.Config{
		Name:     tag + "-node",
		Dir:      filepath.Join(env.work, "node"),
		Ledger:   ledger,
		KubeBin:  comps["kube"],
		Images:   archive,
		CoreDNS:  images.CoreDNSTag,
		PauseTag: images.Pause,
	})
	if err != nil {
		return cleanup, fmt.Errorf("cluster: %w", err)
	}
	undo = append(undo, func() {
		if err := c.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: cluster teardown: %v\n", err)
		}
	})
	env.cluster = c
	fmt.Fprintf(os.Stderr, "e2e: cluster up in %s (daemons' memory %d MB)\n", time.Since(start).Round(time.Millisecond), sandbox.MemoryUsage(c.Box)>>20)
	return cleanup, nil
}
