package faults

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite table.md from what this run observed")

var (
	// binary is the depprobe built for this run.
	binary string
	// missing says why this machine cannot run the suite (not root, no ip,
	// no nft, no network namespaces); nil when it can.
	missing error
	// buildErr is a failed build of depprobe: always a failure.
	buildErr error
	// ipCmd and nftCmd are the paths of ip and nft.
	ipCmd, nftCmd string
)

// prefix starts every namespace and /etc/netns directory this process
// makes: "dpf-<pid>-". The pid tells a later run whether they are stale.
var prefix = fmt.Sprintf("dpf-%d-", os.Getpid())

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	missing = prerequisites()
	if missing == nil {
		removeStale()
		dir, err := os.MkdirTemp("", prefix+"bin-")
		if err != nil {
			buildErr = err
		} else {
			defer os.RemoveAll(dir)
			binary = filepath.Join(dir, "depprobe")
			buildErr = build(binary)
		}
	}
	code := m.Run()
	if *update && code == 0 && missing == nil {
		if err := writeTable("table.md"); err != nil {
			fmt.Fprintln(os.Stderr, "faults: writing table.md:", err)
			return 1
		}
	}
	return code
}

// build compiles depprobe the way it ships: static, without cgo, so that
// it uses Go's own resolver and reads the namespace's resolv.conf.
func build(out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "github.com/depprobe/depprobe/cmd/depprobe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/depprobe: %v\n%s", err, b)
	}
	return nil
}

// requireNet skips the test when the machine cannot run the suite, or
// fails it under CI=true, where the suite must run.
func requireNet(t *testing.T) {
	t.Helper()
	if missing != nil {
		if inCI() {
			t.Fatalf("fault suite cannot run: %v (CI=%s: install iproute2 and nftables and run as root)", missing, os.Getenv("CI"))
		}
		t.Skipf("fault suite skipped: %v (it needs root, iproute2 and nftables; under CI=true this is a failure)", missing)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

func inCI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}

// prerequisites checks for root, ip and nft, and that a namespace can be
// made and filtered here (a container may forbid it even to root).
func prerequisites() error {
	if os.Geteuid() != 0 {
		return errors.New("not root")
	}
	var err error
	if ipCmd, err = lookSbin("ip"); err != nil {
		return fmt.Errorf("ip (iproute2) not found: %w", err)
	}
	if nftCmd, err = lookSbin("nft"); err != nil {
		return fmt.Errorf("nft (nftables) not found: %w", err)
	}
	ns := prefix + "try"
	if b, err := exec.Command(ipCmd, "netns", "add", ns).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add: %v: %s", err, strings.TrimSpace(string(b)))
	}
	defer exec.Command(ipCmd, "netns", "delete", ns).Run()
	if b, err := exec.Command(ipCmd, "netns", "exec", ns, nftCmd, "list", "ruleset").CombinedOutput(); err != nil {
		return fmt.Errorf("nft in a namespace: %v: %s", err, strings.TrimSpace(string(b)))
	}
	return nil
}

// lookSbin finds a command in PATH, then in the sbin directories that a
// non-root PATH often lacks.
func lookSbin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// removeStale deletes the namespaces and /etc/netns directories that an
// earlier run left behind when it was killed. A run still alive (its pid
// exists) keeps its own.
func removeStale() {
	out, _ := exec.Command(ipCmd, "netns", "list").Output()
	for line := range strings.Lines(string(out)) {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if stale(name) {
			exec.Command(ipCmd, "netns", "delete", name).Run()
		}
	}
	dirs, _ := filepath.Glob("/etc/netns/dpf-*")
	for _, d := range dirs {
		if stale(filepath.Base(d)) {
			os.RemoveAll(d)
		}
	}
}

// stale reports whether name is "dpf-<pid>-…" of a process that is gone.
func stale(name string) bool {
	rest, ok := strings.CutPrefix(name, "dpf-")
	if !ok {
		return false
	}
	pidText, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid == os.Getpid() {
		return false
	}
	_, err = os.Stat(fmt.Sprintf("/proc/%d", pid))
	return errors.Is(err, os.ErrNotExist)
}
