// Package engine runs a Docker Engine (Debian's dockerd, with the containerd it
// supervises) inside a sandbox, and the docker and compose clients against it. Its bridge,
// iptables rules, containers and images live in the sandbox's namespaces and folder.
package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/depprobe/depprobe/e2e/sandbox"
)

// CLI is the docker client used: Debian's, whose built-in BuildKit client builds the
// Dockerfile (a newer docker CLI needs the buildx plugin for that).
var CLI = "/usr/bin/docker"

// Engine is a running dockerd.
type Engine struct {
	Box     *sandbox.Sandbox
	Socket  string // unix socket of the Engine API
	Compose string // docker-compose v2 binary, "" until set by the caller
	dockerd *sandbox.Daemon
}

// Start starts dockerd in its own sandbox under dir. The sandbox's name is name (an ip
// netns name; keep it unique per run). coredns, when not "", is a CoreDNS binary run as
// the engine's upstream resolver: it answers NXDOMAIN for every name, as a real resolver
// does for a compose service name that no container holds (a stopped dependency), so
// compose's embedded DNS behaves as on a user's machine without asking anyone outside.
func Start(ctx context.Context, name, dir, ledger, coredns string) (*Engine, error) {
	box, err := sandbox.New(ctx, name, dir, ledger, "192.168.251.1/30", []sandbox.Mount{
		// dockerd and its containerd keep sockets and state under /run (the shims' sockets
		// are in /run/containerd/s whatever the configuration says): a tmpfs of this
		// namespace's own, gone with it.
		{Source: "tmpfs", Target: "/run"},
	})
	if err != nil {
		return nil, err
	}
	e := &Engine{Box: box, Socket: filepath.Join(dir, "docker.sock")}
	if coredns != "" {
		corefile := filepath.Join(dir, "Corefile")
		if err := os.WriteFile(corefile, []byte(". {\n    template ANY ANY {\n        rcode NXDOMAIN\n    }\n}\n"), 0o644); err != nil {
			box.Close()
			return nil, err
		}
		if _, err := box.Start("resolver", nil, coredns, "-conf", corefile, "-dns.port", "53"); err != nil {
			box.Close()
			return nil, err
		}
	}
	d, err := box.Start("dockerd", nil, "dockerd",
		"--host", "unix://"+e.Socket,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--cgroup-parent", box.Cgroup+"/docker",
		"--storage-driver", "overlay2",
		// Containers' upstream resolver: the sandbox's veth peer, where the resolver above
		// listens (compose's embedded DNS forwards the names it does not know there).
		"--dns", "192.168.251.2",
		"--log-level", "warn",
	)
	if err != nil {
		box.Close()
		return nil, err
	}
	e.dockerd = d
	err = sandbox.WaitFor(ctx, "dockerd answers", 60*time.Second, 100*time.Millisecond, func() (bool, error) {
		select {
		case <-d.Exited():
			return false, fmt.Errorf("dockerd exited: %s", d.Tail(20))
		default:
		}
		_, err := e.Docker(ctx, "version", "--format", "{{.Server.Version}}")
		return err == nil, err
	})
	if err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Env is the environment of a docker or compose client of this engine.
func (e *Engine) Env() []string {
	return append(os.Environ(), "DOCKER_HOST=unix://"+e.Socket, "DOCKER_BUILDKIT=1",
		// No ~/.docker of the machine's user: a config folder of the engine's own.
		"DOCKER_CONFIG="+filepath.Join(e.Box.Dir, "client"))
}

// Docker runs the docker CLI against the engine and returns its stdout; a failure's error
// carries stderr.
func (e *Engine) Docker(ctx context.Context, args ...string) (string, error) {
	return e.run(ctx, nil, CLI, args...)
}

// DockerIn runs the docker CLI with stdin.
func (e *Engine) DockerIn(ctx context.Context, stdin *os.File, args ...string) (string, error) {
	return e.run(ctx, stdin, CLI, args...)
}

// ComposeCmd runs docker-compose v2 against the engine, in dir, and returns its combined
// output (compose writes progress to stderr).
func (e *Engine) ComposeCmd(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, e.Compose, args...)
	cmd.Dir = dir
	cmd.Env = e.Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker-compose %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (e *Engine) run(ctx context.Context, stdin *os.File, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = e.Env()
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Log is the tail of dockerd's log, for failure messages.
func (e *Engine) Log(n int) string { return e.dockerd.Tail(n) }

// RSS is dockerd's resident memory and that of every process in the sandbox's cgroup,
// in bytes (memory.usage_in_bytes of the sandbox's memory cgroup).
func (e *Engine) RSS() int64 { return sandbox.MemoryUsage(e.Box) }

// Close removes every container, then stops dockerd and removes the sandbox.
func (e *Engine) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if ids, err := e.Docker(ctx, "ps", "-aq"); err == nil && strings.TrimSpace(ids) != "" {
		e.Docker(ctx, append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
	}
	return e.Box.Close()
}
