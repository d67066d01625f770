package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/depprobe/depprobe/e2e/engine"
)

// Tags of the images this package makes.
const (
	Busybox    = "depprobe-e2e/busybox:1"
	GoStandin  = "depprobe-e2e/golang:standin"
	BaseStand  = "depprobe-e2e/static:standin"
	Frontend   = "docker/dockerfile:1"
	Pause      = "registry.k8s.io/pause:3.10"
	Depprobe   = "depprobe-e2e/depprobe:e2e"
	CoreDNSTag = "depprobe-e2e/coredns:e2e"
)

// Import writes files as a root filesystem and imports it into the engine as tag, with
// Dockerfile instructions (ENV, USER, ENTRYPOINT, LABEL, ...) applied by `docker import
// --change`.
func Import(ctx context.Context, e *engine.Engine, tag string, changes []string, files []File) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	werr := make(chan error, 1)
	go func() {
		err := writeTar(w, files)
		w.Close()
		werr <- err
	}()
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	args = append(args, "-", tag)
	_, err = e.DockerIn(ctx, r, args...)
	r.Close()
	if terr := <-werr; terr != nil && !errors.Is(terr, io.ErrClosedPipe) {
		return fmt.Errorf("image %s: %w", tag, terr)
	}
	return err
}

// busyboxFiles is a static busybox with a symlink per applet in /bin: a shell, httpd,
// nc, sleep... for stand-in applications and dependencies.
func busyboxFiles() ([]File, error) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return nil, fmt.Errorf("busybox (Debian's busybox-static): %w", err)
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return nil, err
	}
	files := []File{{Path: "/bin/busybox", Src: bb, Mode: 0o755}}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "busybox" {
			files = append(files, File{Path: "/bin/" + applet, Link: "busybox"})
		}
	}
	return append(files,
		File{Path: "/tmp", Dir: true, Mode: 0o1777},
		File{Path: "/etc/passwd", Data: []byte(passwd)},
		File{Path: "/etc/group", Data: []byte(group)},
		File{Path: "/www/index.html", Data: []byte("ok\n")},
	), nil
}

// The users of distroless/static:nonroot.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
)

// BuildBusybox imports the busybox image.
func BuildBusybox(ctx context.Context, e *engine.Engine) error {
	files, err := busyboxFiles()
	if err != nil {
		return err
	}
	return Import(ctx, e, Busybox, []string{"ENV PATH=/bin", `CMD ["sh"]`}, files)
}

// BuildBaseStandin imports the stand-in for gcr.io/distroless/static-debian13:nonroot:
// the machine's CA certificates, /etc/passwd and /etc/group with nonroot (65532), /tmp,
// the nonroot home, and nothing else (no shell), under the same image settings.
func BuildBaseStandin(ctx context.Context, e *engine.Engine) error {
	return Import(ctx, e, BaseStand, []string{
		"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
		"USER 65532",
		"WORKDIR /home/nonroot",
	}, []File{
		{Path: "/etc/passwd", Data: []byte(passwd)},
		{Path: "/etc/group", Data: []byte(group)},
		{Path: "/etc/ssl/certs/ca-certificates.crt", Src: "/etc/ssl/certs/ca-certificates.crt", Mode: 0o644},
		{Path: "/tmp", Dir: true, Mode: 0o1777},
		{Path: "/home/nonroot", Dir: true, Mode: 0o700, UID: 65532, GID: 65532},
	})
}

// BuildGoStandin imports the stand-in for golang:1.26-trixie: busybox for the shell that
// RUN needs, the machine's Go toolchain, and a file:// module proxy holding exactly the
// modules the product's go.mod needs (copied from this machine's module cache), so that
// the Dockerfile's own `go mod download` and `go build` run unchanged with no network.
func BuildGoStandin(ctx context.Context, e *engine.Engine, repo string) error {
	goroot, err := goEnv("GOROOT")
	if err != nil {
		return err
	}
	proxy, err := moduleProxy(ctx, repo)
	if err != nil {
		return err
	}
	files, err := busyboxFiles()
	if err != nil {
		return err
	}
	files = append(files,
		File{Path: "/usr/local/go", Src: goroot, Skip: func(rel string) bool {
			// Not needed to build: the toolchain's own tests, docs and sources of cmd/.
			switch rel {
			case "test", "doc", "api", "misc", "src/cmd", "pkg/tool/linux_amd64/vet":
				return true
			}
			return strings.HasSuffix(rel, "_test.go") || strings.Contains(rel, "/testdata")
		}},
		File{Path: "/go", Dir: true, Mode: 0o777},
		File{Path: "/root", Dir: true, Mode: 0o700},
	)
	files = append(files, proxy...)
	return Import(ctx, e, GoStandin, []string{
		"ENV PATH=/usr/local/go/bin:/go/bin:/bin",
		"ENV GOPATH=/go",
		"ENV HOME=/root",
		"ENV GOTOOLCHAIN=local",
		"ENV GOPROXY=file:///goproxy",
		// go.sum still verifies every module; only the checksum database is out of reach.
		"ENV GOSUMDB=off",
		"WORKDIR /go",
	}, files)
}

// moduleProxy returns the files of a GOPROXY folder with the .info, .mod and .zip of every
// module of the product's build list, from the module cache (downloaded first if needed).
func moduleProxy(ctx context.Context, repo string) ([]File, error) {
	dl := exec.CommandContext(ctx, "go", "mod", "download")
	dl.Dir = repo
	if out, err := dl.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go mod download: %w: %s", err, out)
	}
	cache, err := goEnv("GOMODCACHE")
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-json", "all")
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -m all: %w", err)
	}
	var files []File
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var m struct {
			Path, Version, GoMod string
			Main                 bool
		}
		if err := dec.Decode(&m); err != nil {
			return nil, err
		}
		if m.Main || m.GoMod == "" {
			continue
		}
		dir := filepath.Dir(m.GoMod) // .../cache/download/<escaped path>/@v
		rel, err := filepath.Rel(filepath.Join(cache, "cache", "download"), dir)
		if err != nil {
			return nil, err
		}
		for _, ext := range []string{".info", ".mod", ".zip"} {
			src := filepath.Join(dir, m.Version+ext)
			if _, err := os.Stat(src); err == nil {
				files = append(files, File{Path: filepath.Join("/goproxy", rel, m.Version+ext), Src: src, Mode: 0o644})
			}
		}
	}
	return files, nil
}

func goEnv(name string) (string, error) {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// BuildFrontend imports BuildKit's Dockerfile frontend (built by components/build.sh) as
// docker/dockerfile:1, with the labels of the published image, so that the Dockerfile's
// `# syntax=docker/dockerfile:1` line resolves to it: the engine's BuildKit prefers a local
// image and pulls nothing.
func BuildFrontend(ctx context.Context, e *engine.Engine, dir string) error {
	return Import(ctx, e, Frontend, []string{
		`LABEL moby.buildkit.frontend.network.none="true"`,
		`LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"`,
		`ENTRYPOINT ["/bin/dockerfile-frontend"]`,
	}, []File{{Path: "/bin/dockerfile-frontend", Src: filepath.Join(dir, "dockerfile-frontend"), Mode: 0o755}})
}

// BuildPause imports kubernetes' pause (built by components/build.sh), as the tag the
// kubelet and the chart's stand-in app use.
func BuildPause(ctx context.Context, e *engine.Engine, dir string) error {
	return Import(ctx, e, Pause, []string{"USER 65535:65535", `ENTRYPOINT ["/pause"]`},
		[]File{{Path: "/pause", Src: filepath.Join(dir, "pause"), Mode: 0o755}})
}

// BuildCoreDNS imports CoreDNS (built by components/build.sh).
func BuildCoreDNS(ctx context.Context, e *engine.Engine, dir string) error {
	return Import(ctx, e, CoreDNSTag, []string{`ENTRYPOINT ["/coredns"]`},
		[]File{
			{Path: "/coredns", Src: filepath.Join(dir, "coredns"), Mode: 0o755},
			{Path: "/etc/ssl/certs/ca-certificates.crt", Src: "/etc/ssl/certs/ca-certificates.crt", Mode: 0o644},
		})
}

// BuildDepprobe builds depprobe's image from the project's Dockerfile, unchanged, with
// the stand-ins as base images (which must be imported first, with the frontend).
func BuildDepprobe(ctx context.Context, e *engine.Engine, repo, version string) (string, error) {
	return e.Docker(ctx, "build",
		"--build-arg", "GO_IMAGE="+GoStandin,
		"--build-arg", "BASE_IMAGE="+BaseStand,
		"--build-arg", "VERSION="+version,
		"--progress", "plain",
		"-t", Depprobe, repo)
}

// Save writes the images as a docker archive (docker save), which containerd imports.
func Save(ctx context.Context, e *engine.Engine, path string, tags ...string) error {
	_, err := e.Docker(ctx, append([]string{"save", "-o", path}, tags...)...)
	return err
}
