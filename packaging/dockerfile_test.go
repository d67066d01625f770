package packaging

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// repoRoot is the product module, one level above this one.
const repoRoot = ".."

// distroless is the final image: static binaries only, no shell, user nonroot = 65532.
const distroless = "gcr.io/distroless/static-debian13:nonroot"

// dockerfile is a Dockerfile as BuildKit sees it: its stages and global ARGs, parsed by
// the parser and instruction decoder of the dockerfile frontend, with its linter on.
type dockerfile struct {
	stages   []instructions.Stage
	metaArgs []instructions.ArgCommand
}

// parseDockerfile parses path the way `docker build` does and fails the test on any parse
// warning or lint finding.
func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, w := range res.Warnings {
		t.Errorf("%s: parser warning: %s", path, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, desc, url, msg string, loc []parser.Range) {
		t.Errorf("%s:%v: lint %s: %s (%s)", path, loc, rule, msg, url)
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return dockerfile{stages: stages, metaArgs: metaArgs}
}

// commands returns the commands of type T in a stage, in order.
func commands[T instructions.Command](s instructions.Stage) []T {
	var out []T
	for _, c := range s.Commands {
		if tc, ok := c.(T); ok {
			out = append(out, tc)
		}
	}
	return out
}

// goBuild is the `go build` command line of the Dockerfile's build stage, with the build
// args expanded the way BuildKit's shell lexer expands them.
type goBuild struct {
	env     map[string]string // NAME=value words before `go`
	args    []string          // everything after `go`, starting with "build"
	ldflags string
	out     string // -o
	pkg     string // the last word
}

// testVersion stands in for --build-arg VERSION, to see it come out of `depprobe version`.
const testVersion = "v0.0.0-packaging-test"

// findGoBuild finds the RUN of the build stage that runs `go build` and expands it with
// TARGETOS/TARGETARCH of this machine and VERSION=testVersion.
func findGoBuild(t *testing.T, build instructions.Stage) goBuild {
	t.Helper()
	var line string
	for _, r := range commands[*instructions.RunCommand](build) {
		if l := strings.Join(r.CmdLine, " "); strings.Contains(l, "go build") {
			if line != "" {
				t.Fatalf("build stage has two RUNs with go build")
			}
			line = l
		}
	}
	if line == "" {
		t.Fatalf("build stage %q has no RUN with go build", build.Name)
	}
	args := map[string]string{"TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH, "VERSION": testVersion}
	words, err := shell.NewLex('\\').ProcessWords(line, shell.EnvsFromSlice(envSlice(args)))
	if err != nil {
		t.Fatalf("expand %q: %v", line, err)
	}
	gb := goBuild{env: map[string]string{}}
	i := 0
	for ; i < len(words) && strings.Contains(words[i], "=") && words[i] != "go"; i++ {
		k, v, _ := strings.Cut(words[i], "=")
		gb.env[k] = v
	}
	if i+1 >= len(words) || words[i] != "go" || words[i+1] != "build" {
		t.Fatalf("RUN %q: want [NAME=value ...] go build ..., got words %q", line, words)
	}
	gb.args = words[i+1:]
	for j := 1; j < len(gb.args); j++ {
		a := gb.args[j]
		switch {
		case a == "-o" && j+1 < len(gb.args):
			gb.out = gb.args[j+1]
		case strings.HasPrefix(a, "-o="):
			gb.out = strings.TrimPrefix(a, "-o=")
		case a == "-ldflags" && j+1 < len(gb.args):
			gb.ldflags = gb.args[j+1]
		case strings.HasPrefix(a, "-ldflags="):
			gb.ldflags = strings.TrimPrefix(a, "-ldflags=")
		}
	}
	gb.pkg = gb.args[len(gb.args)-1]
	return gb
}

// baseName is the image a stage starts FROM, with the global ARGs expanded to their
// defaults: what a `docker build` without --build-arg pulls.
func baseName(t *testing.T, df dockerfile, s instructions.Stage) string {
	t.Helper()
	defaults := map[string]string{}
	for _, a := range df.metaArgs {
		for _, kv := range a.Args {
			if kv.Value != nil {
				defaults[kv.Key] = *kv.Value
			}
		}
	}
	name, err := shell.NewLex('\\').ProcessWordWithMatches(s.BaseName, shell.EnvsFromSlice(envSlice(defaults)))
	if err != nil {
		t.Fatalf("expand FROM %q: %v", s.BaseName, err)
	}
	return name.Result
}

func envSlice(m map[string]string) []string {
	var s []string
	for k, v := range m {
		s = append(s, k+"="+v)
	}
	return s
}

// TestDockerfile asserts what SPEC.md "Packaging" and issue 6 ask of the image: a
// cross-compiling multi-stage build of a static, stripped, version-stamped binary, on a
// distroless nonroot base, run as 65532 with exec-form ENTRYPOINT and HEALTHCHECK.
func TestDockerfile(t *testing.T) {
	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	if len(df.stages) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(df.stages))
	}
	build, final := df.stages[0], df.stages[len(df.stages)-1]

	t.Run("build stage", func(t *testing.T) {
		if build.Platform != "$BUILDPLATFORM" {
			t.Errorf("FROM --platform=%q, want $BUILDPLATFORM: build natively, cross-compile for the target", build.Platform)
		}
		if base := baseName(t, df, build); !regexp.MustCompile(`^golang:1\.26(\.\d+)?-[a-z]+$`).MatchString(base) {
			t.Errorf("build stage FROM %q, want golang:1.26-<distro>, the Go the module needs", base)
		}
		var declared []string
		for _, a := range commands[*instructions.ArgCommand](build) {
			for _, kv := range a.Args {
				declared = append(declared, kv.Key)
			}
		}
		for _, want := range []string{"TARGETOS", "TARGETARCH", "VERSION"} {
			if !slices.Contains(declared, want) {
				t.Errorf("build stage declares ARGs %q, missing %s", declared, want)
			}
		}

		gb := findGoBuild(t, build)
		wantEnv := map[string]string{"CGO_ENABLED": "0", "GOOS": runtime.GOOS, "GOARCH": runtime.GOARCH}
		for k, v := range wantEnv {
			if gb.env[k] != v {
				t.Errorf("go build env %s = %q, want %q (from TARGETOS/TARGETARCH)", k, gb.env[k], v)
			}
		}
		if !slices.Contains(gb.args, "-trimpath") {
			t.Errorf("go build args %q lack -trimpath", gb.args)
		}
		ld := strings.Fields(gb.ldflags)
		for _, want := range []string{"-s", "-w", "-X"} {
			if !slices.Contains(ld, want) {
				t.Errorf("-ldflags %q lack %s", gb.ldflags, want)
			}
		}
		if !slices.Contains(ld, "main.version="+testVersion) {
			t.Errorf("-ldflags %q do not stamp main.version with the VERSION build arg", gb.ldflags)
		}
		if gb.pkg != "./cmd/depprobe" {
			t.Errorf("go build builds %q, want ./cmd/depprobe", gb.pkg)
		}

		// The binary must reach the final stage from exactly where go build wrote it.
		var copied bool
		for _, c := range commands[*instructions.CopyCommand](final) {
			if c.From == build.Name && slices.Equal(c.SourcePaths, []string{gb.out}) && c.DestPath == "/depprobe" {
				copied = true
			}
		}
		if !copied {
			t.Errorf("final stage has no COPY --from=%s %s /depprobe", build.Name, gb.out)
		}
	})

	t.Run("final stage", func(t *testing.T) {
		if base := baseName(t, df, final); base != distroless {
			t.Errorf("final FROM %q, want %q", base, distroless)
		}
		if final.Platform != "" {
			t.Errorf("final FROM --platform=%q, want the target platform (no flag)", final.Platform)
		}
		// distroless has no shell: a RUN would fail, and shell-form commands could not start.
		if runs := commands[*instructions.RunCommand](final); len(runs) > 0 {
			t.Errorf("final stage has %d RUN instructions; distroless has no shell", len(runs))
		}
		users := commands[*instructions.UserCommand](final)
		if len(users) == 0 || users[len(users)-1].User != "65532:65532" {
			t.Errorf("final USER = %v, want numeric 65532:65532 so runAsNonRoot can verify it", users)
		}
		eps := commands[*instructions.EntrypointCommand](final)
		switch {
		case len(eps) != 1:
			t.Errorf("final stage has %d ENTRYPOINTs, want 1", len(eps))
		case eps[0].PrependShell || !slices.Equal(eps[0].CmdLine, []string{"/depprobe"}):
			t.Errorf("ENTRYPOINT %q (shell form %v), want exec form [\"/depprobe\"]", eps[0].CmdLine, eps[0].PrependShell)
		}
		for _, c := range commands[*instructions.CmdCommand](final) {
			if c.PrependShell {
				t.Errorf("CMD %q is in shell form; distroless has no shell", c.CmdLine)
			}
		}
		hcs := commands[*instructions.HealthCheckCommand](final)
		if len(hcs) != 1 {
			t.Fatalf("final stage has %d HEALTHCHECKs, want 1", len(hcs))
		}
		// "CMD" is exec form; "CMD-SHELL" would need /bin/sh.
		if got, want := hcs[0].Health.Test, []string{"CMD", "/depprobe", "check"}; !slices.Equal(got, want) {
			t.Errorf("HEALTHCHECK test = %q, want %q", got, want)
		}
	})
}

// TestDockerfileBinary builds the binary with the Dockerfile's own `go build` line, in a
// copy of the build context filtered by .dockerignore, and checks the result: static,
// stripped, no build paths, version stamped. Its size is logged for the release notes
// (SPEC.md budget: at most 10 MB).
func TestDockerfileBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the product binary")
	}
	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	gb := findGoBuild(t, df.stages[0])

	ctxDir := copyBuildContext(t, repoRoot)
	bin := filepath.Join(t.TempDir(), "depprobe")
	args := slices.Clone(gb.args)
	for i, a := range args {
		if a == gb.out {
			args[i] = bin
		}
	}
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Dir = ctxDir
	cmd.Env = append(os.Environ(), envSlice(gb.env)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("binary built with the Dockerfile's flags: %d bytes (%.2f MiB) for %s/%s; budget 10 MB",
		st.Size(), float64(st.Size())/(1<<20), runtime.GOOS, runtime.GOARCH)

	if layer, err := gzippedLayerSize(bin, "depprobe"); err != nil {
		t.Errorf("layer: %v", err)
	} else {
		t.Logf("its image layer (tar of /depprobe, gzip): %d bytes (%.2f MiB)", layer, float64(layer)/(1<<20))
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("not an ELF binary: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("binary has an ELF interpreter: it is dynamically linked, distroless/static cannot run it")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("binary needs shared libraries %q", libs)
	}
	for _, s := range f.Sections {
		if s.Name == ".symtab" || strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			t.Errorf("binary has section %s: not stripped by -s -w", s.Name)
		}
	}
	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(ctxDir)) {
		t.Errorf("binary contains the build directory %q: -trimpath missing", ctxDir)
	}

	out, err := exec.CommandContext(t.Context(), bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("depprobe version: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), testVersion) {
		t.Errorf("depprobe version printed %q, want the stamped %q", out, testVersion)
	}
}

// gzippedLayerSize returns the size of the layer that `COPY --from=build /out/depprobe
// /depprobe` adds to the image as a registry stores it: a tar of the one file, gzipped with
// the default level, as BuildKit pushes it.
func gzippedLayerSize(path, name string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var cw countingWriter
	zw := gzip.NewWriter(&cw)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return 0, err
	}
	if _, err := tw.Write(data); err != nil {
		return 0, err
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return cw.n, nil
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// copyBuildContext copies the files of dir that `docker build dir` would send, that is all
// but those .dockerignore excludes, into a temporary directory, so a .dockerignore that
// leaves out a needed file fails this test as it would fail the image build.
func copyBuildContext(t *testing.T, dir string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		skip, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		if skip {
			// Exclusion patterns (!) could re-include files below an ignored directory;
			// ours has none, so skipping the whole directory is what Docker does too.
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, 0o644)
		}
		return nil // sockets, symlinks: not part of a Go build
	})
	if err != nil {
		t.Fatalf("copy build context: %v", err)
	}
	if pm.Exclusions() {
		t.Fatalf(".dockerignore has ! exclusions, which copyBuildContext does not implement")
	}
	return dst
}
