package main

// The waiters compared: how each is started, its version and its size.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// tool is how to run one waiter.
type tool struct {
	name string
	// argv waits for host:port (a tcp target); deadline 0 means the tool's
	// default (for the nc loop: none).
	argv func(host string, port int, deadline time.Duration) []string
	// httpArgv waits for an HTTP URL to answer 2xx; nil: the tool has no HTTP
	// check.
	httpArgv func(url string, deadline time.Duration) []string
	// multiArgv waits for several tcp targets in one process; nil: one
	// target per process.
	multiArgv func(addrs []string, deadline time.Duration) []string
	env       []string
	version   string
	size      string
}

func (b *bench) setupTools() error {
	dp, err := filepath.Abs(b.o.depprobe)
	if err != nil {
		return err
	}
	b.tools = map[string]*tool{}
	b.tools[depprobe] = &tool{
		name: depprobe,
		argv: func(h string, p int, d time.Duration) []string {
			return []string{dp, "wait", fmt.Sprintf("tcp://%s:%d", h, p)}
		},
		httpArgv: func(u string, d time.Duration) []string { return []string{dp, "wait", u} },
		multiArgv: func(addrs []string, d time.Duration) []string {
			argv := []string{dp, "wait"}
			for _, a := range addrs {
				argv = append(argv, "tcp://"+a)
			}
			return argv
		},
		version: firstLine(output(dp, "version")),
	}
	b.tools[waitForIt] = &tool{
		name: waitForIt,
		argv: func(h string, p int, d time.Duration) []string {
			argv := []string{"wait-for-it", "-q", "-h", h, "-p", strconv.Itoa(p)}
			if d > 0 {
				argv = append(argv, "-t", strconv.Itoa(int(d.Seconds())))
			}
			return argv
		},
		version: "wait-for-it " + debVersion("wait-for-it"),
	}
	b.tools[ncLoop] = &tool{
		name: ncLoop,
		argv: func(h string, p int, d time.Duration) []string {
			loop := fmt.Sprintf("until nc -z %s %d; do sleep 1; done", h, p)
			if d > 0 {
				return []string{"timeout", strconv.Itoa(int(d.Seconds())), "sh", "-c", loop}
			}
			return []string{"sh", "-c", loop}
		},
		version: "netcat-openbsd " + debVersion("netcat-openbsd"),
	}
	for _, name := range []string{waitOn, waitPort} {
		bin, err := filepath.Abs(filepath.Join(b.o.node, name, "node_modules", ".bin", name))
		if err != nil {
			return err
		}
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%s is not installed (%v); bench/run.sh installs it", name, err)
		}
		t := &tool{name: name, version: name + " " + npmVersion(filepath.Join(b.o.node, name), name)}
		if name == waitOn {
			t.argv = func(h string, p int, d time.Duration) []string {
				argv := []string{bin, fmt.Sprintf("tcp:%s:%d", h, p)}
				if d > 0 {
					argv = append(argv, "-t", strconv.Itoa(int(d.Milliseconds())))
				}
				return argv
			}
			t.httpArgv = func(u string, d time.Duration) []string {
				return []string{bin, "http-get" + strings.TrimPrefix(u, "http")}
			}
			t.multiArgv = func(addrs []string, d time.Duration) []string {
				argv := []string{bin}
				for _, a := range addrs {
					argv = append(argv, "tcp:"+a)
				}
				if d > 0 {
					argv = append(argv, "-t", strconv.Itoa(int(d.Milliseconds())))
				}
				return argv
			}
		} else {
			t.argv = func(h string, p int, d time.Duration) []string {
				argv := []string{bin, fmt.Sprintf("%s:%d", h, p)}
				if d > 0 {
					argv = append(argv, "-t", strconv.Itoa(int(d.Milliseconds())))
				}
				return argv
			}
			t.httpArgv = func(u string, d time.Duration) []string { return []string{bin, u} }
		}
		b.tools[name] = t
	}
	for _, need := range []string{"wait-for-it", "nc", "timeout", "sh", "node", "/usr/bin/time"} {
		if _, err := exec.LookPath(need); err != nil {
			return fmt.Errorf("%s not found on PATH; bench/run.sh says what to install", need)
		}
	}
	return nil
}

func output(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return "?"
	}
	return string(out)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

func debVersion(pkg string) string {
	return strings.TrimSpace(output("dpkg-query", "-W", "-f", "${Version}", pkg))
}

func npmVersion(dir, pkg string) string {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", pkg, "package.json"))
	if err != nil {
		return "?"
	}
	m := regexp.MustCompile(`"version":\s*"([^"]+)"`).FindSubmatch(b)
	if m == nil {
		return "?"
	}
	return string(m[1])
}

func lookPath(name string) string {
	p, _ := exec.LookPath(name)
	return p
}

func resolve(p string) string {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		return p
	}
	return r
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func duBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func kb(n int64) string  { return fmt.Sprintf("%.1f KB", float64(n)/1e3) }
func mbs(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
