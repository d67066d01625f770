// Package sandbox runs daemons the way the e2e scenarios need them: inside a network
// namespace and a private mount namespace of their own, in cgroups of their own, with
// their state in a folder of the test's, and takes everything down again.
//
// A Sandbox is one such place (a "host": the Kubernetes node, or the Docker engine). What
// it creates (the network namespace, the cgroups, the daemons' PIDs) is recorded in a
// ledger file before it is created, so that `e2e/run.sh` can remove it even when the test
// binary dies (a panic, a go test timeout, a signal). Nothing it starts listens on, or
// sends to, an address outside its namespaces.
//
// It knows nothing of Kubernetes or Docker.
package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Controllers are the cgroup hierarchies (v1, and the v2 "unified" one of a hybrid host) a Sandbox makes its cgroup in: every one the
// kubelet and runc use, so that nothing they create lands outside the sandbox's root.
var Controllers = []string{"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd", "unified"}

// Sandbox is a network namespace with one address (Addr on a veth pair whose both ends
// stay inside, and a default route through it), a private mount namespace held by a
// process of its own, and a cgroup (Cgroup, under every controller) that holds the holder
// and so every process started in it. Its methods are not safe for concurrent use, except
// Dial.
type Sandbox struct {
	Name   string // network namespace name (ip netns list shows it) and cgroup name
	Dir    string // state folder: daemons' data, logs, sockets
	Addr   string // the address of the sandbox on its veth
	Cgroup string // path below each controller's mount, e.g. /depprobe-e2e-node-1234

	ledger  string
	holder  *exec.Cmd
	mu      sync.Mutex
	daemons []*Daemon
}

// Daemon is a process started in a Sandbox.
type Daemon struct {
	Name string
	Log  string // file with its stdout and stderr
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// PID is the daemon's process id.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// Exited is closed when the daemon has exited.
func (d *Daemon) Exited() <-chan struct{} { return d.done }

// Record appends a line to the ledger that e2e/run.sh reads to clean up after a test
// binary that could not (see the package doc). Kinds: netns NAME, cgroup PATH, pid N,
// dir PATH (a state folder, removed last).
func Record(ledger, kind, value string) error {
	if ledger == "" {
		return nil
	}
	f, err := os.OpenFile(ledger, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s %s\n", kind, value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// New makes the sandbox name, with its state under dir, and its address addr/cidr on a
// veth pair (the peer takes the next address, which is the default route). Mounts are
// (source, target) pairs made inside the private mount namespace before any daemon
// starts: binds over paths the daemons write to that cannot be configured away.
// ledger is the cleanup ledger (see Record), "" for none.
func New(ctx context.Context, name, dir, ledger, cidr string, mounts []Mount) (*Sandbox, error) {
	ip, ipnet, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, err
	}
	peer := slices.Clone(ip.To4())
	peer[3]++
	ones, _ := ipnet.Mask.Size()
	s := &Sandbox{Name: name, Dir: dir, Addr: ip.String(), Cgroup: "/" + name, ledger: ledger}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}

	if err := Record(ledger, "netns", name); err != nil {
		return nil, err
	}
	if err := run(ctx, "ip", "netns", "add", name); err != nil {
		return nil, err
	}
	steps := [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"},
		{"ip", "addr", "add", fmt.Sprintf("%s/%d", ip, ones), "dev", "eth0"},
		{"ip", "addr", "add", fmt.Sprintf("%s/%d", net.IP(peer), ones), "dev", "eth0-peer"},
		{"ip", "link", "set", "eth0", "up"},
		{"ip", "link", "set", "eth0-peer", "up"},
		// The kubelet and the apiserver pick the address of the default route's interface.
		{"ip", "route", "add", "default", "via", net.IP(peer).String(), "dev", "eth0"},
		// Namespaced: forwarding between this namespace's bridges, not the machine's.
		{"sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"},
	}
	for _, st := range steps {
		if err := run(ctx, append([]string{"nsenter", "--net=/run/netns/" + name}, st...)...); err != nil {
			s.Close()
			return nil, err
		}
	}

	for _, c := range Controllers {
		if err := Record(ledger, "cgroup", filepath.Join("/sys/fs/cgroup", c, s.Cgroup)); err != nil {
			s.Close()
			return nil, err
		}
		dir := filepath.Join("/sys/fs/cgroup", c, s.Cgroup)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			s.Close()
			return nil, err
		}
		if c == "cpuset" {
			// A new cpuset takes no task until it has CPUs and memory nodes: its parent's.
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/cpuset", f))
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, f), b, 0)
				}
				if err != nil {
					s.Close()
					return nil, err
				}
			}
		}
	}

	// The holder: a process that keeps the private mount namespace alive. It joins the
	// sandbox's cgroups before it unshares, so every daemon started beside it (nsenter
	// --target) and every process they start is in them too.
	holderLog := filepath.Join(dir, "holder.log")
	script := `set -e
for c in ` + strings.Join(Controllers, " ") + `; do echo $$ > /sys/fs/cgroup/$c` + s.Cgroup + `/cgroup.procs; done
exec nsenter --net=/run/netns/` + name + ` unshare --mount --propagation private sleep infinity`
	s.holder = exec.Command("sh", "-c", script)
	lf, err := os.Create(holderLog)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.holder.Stdout, s.holder.Stderr = lf, lf
	if err := s.holder.Start(); err != nil {
		lf.Close()
		s.Close()
		return nil, err
	}
	lf.Close()
	if err := Record(ledger, "pid", strconv.Itoa(s.holder.Process.Pid)); err != nil {
		s.Close()
		return nil, err
	}
	// Wait until the holder is in its own mount namespace (after the exec of sleep).
	self, _ := os.Readlink("/proc/self/ns/mnt")
	deadline := time.Now().Add(10 * time.Second)
	for {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", s.holder.Process.Pid))
		mnt, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", s.holder.Process.Pid))
		if strings.HasSuffix(exe, "/sleep") && mnt != "" && mnt != self {
			break
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(holderLog)
			s.Close()
			return nil, fmt.Errorf("sandbox %s: the mount namespace holder did not start: %s", name, out)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Name resolution inside the sandbox never reaches the machine's resolver: its own
	// /etc/resolv.conf names a loopback address where nothing listens (a query is refused
	// at once), and its /etc/hosts knows only localhost.
	resolv, hosts := filepath.Join(dir, "resolv.conf"), filepath.Join(dir, "hosts")
	if err := os.WriteFile(resolv, []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		s.Close()
		return nil, err
	}
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost\n"+ip.String()+" "+name+"\n"), 0o644); err != nil {
		s.Close()
		return nil, err
	}
	mounts = append([]Mount{{Source: resolv, Target: "/etc/resolv.conf", ReadOnly: true}, {Source: hosts, Target: "/etc/hosts", ReadOnly: true}}, mounts...)
	for _, m := range mounts {
		args := []string{"mount", "--bind", m.Source, m.Target}
		if m.Source == "tmpfs" {
			args = []string{"mount", "-t", "tmpfs", "tmpfs", m.Target}
		}
		if err := s.Exec(ctx, args...); err != nil {
			s.Close()
			return nil, err
		}
		if m.ReadOnly {
			if err := s.Exec(ctx, "mount", "-o", "remount,bind,ro", m.Target); err != nil {
				s.Close()
				return nil, err
			}
		}
	}
	return s, nil
}

// Mount is a mount made in a Sandbox's private mount namespace. Source "tmpfs" mounts a
// fresh tmpfs; anything else is bind-mounted.
type Mount struct {
	Source, Target string
	ReadOnly       bool
}

// enter is the nsenter prefix that runs a command in the sandbox's namespaces.
func (s *Sandbox) enter() []string {
	return []string{"nsenter", "--target", strconv.Itoa(s.holder.Process.Pid), "--mount", "--net", "--"}
}

// Command returns a command that runs argv inside the sandbox (its network and mount
// namespaces and, as a descendant of nothing there, the test's own cgroup: use Start for
// anything that must be cleaned up by cgroup).
func (s *Sandbox) Command(ctx context.Context, argv ...string) *exec.Cmd {
	full := append(s.enter(), argv...)
	return exec.CommandContext(ctx, full[0], full[1:]...)
}

// Exec runs argv inside the sandbox and returns its combined output in the error when it
// fails.
func (s *Sandbox) Exec(ctx context.Context, argv ...string) error {
	out, err := s.Command(ctx, argv...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, out)
	}
	return nil
}

// Start starts a daemon inside the sandbox, in its cgroups, logging to Dir/name.log.
func (s *Sandbox) Start(name string, env []string, argv ...string) (*Daemon, error) {
	logPath := filepath.Join(s.Dir, name+".log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	// Join the cgroups first (the holder's, by PID: cgroup.procs of the holder's dir), then
	// enter the namespaces and exec the daemon, so its PID is the one recorded.
	script := `for c in ` + strings.Join(Controllers, " ") + `; do echo $$ > /sys/fs/cgroup/$c` + s.Cgroup + `/cgroup.procs; done; exec "$@"`
	args := append([]string{"-c", script, "sh"}, s.enter()...)
	args = append(args, argv...)
	cmd := exec.Command("sh", args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	// Its own process group: a terminal's ^C reaches the test, which stops it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &Daemon{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	if err := Record(s.ledger, "pid", strconv.Itoa(cmd.Process.Pid)); err != nil {
		cmd.Process.Kill()
	}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	s.mu.Lock()
	s.daemons = append(s.daemons, d)
	s.mu.Unlock()
	return d, nil
}

// Stop sends SIGTERM to the daemon and waits up to grace for it to exit, then kills it.
func (d *Daemon) Stop(grace time.Duration) {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(grace):
		d.cmd.Process.Kill()
		<-d.done
	}
}

// Tail returns the last n lines of the daemon's log, for failure messages.
func (d *Daemon) Tail(n int) string { return Tail(d.Log, n) }

// Tail returns the last n lines of a file.
func Tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// WaitFor polls cond every interval until it returns true or an error, or timeout passes;
// then it returns an error that ends with the last reason cond gave.
func WaitFor(ctx context.Context, what string, timeout, interval time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%s: not within %s: %w", what, timeout, last)
			}
			return fmt.Errorf("%s: not within %s", what, timeout)
		case <-time.After(interval):
		}
	}
}

// Dial connects to addr from inside the sandbox's network namespace (the test binary
// itself stays outside): the socket is created by a thread that has entered the
// namespace, and keeps working from any thread afterwards.
func (s *Sandbox) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// This goroutine's thread is thrown away afterwards (never unlocked), so no other
		// goroutine ever runs in the sandbox's namespace.
		runtime.LockOSThread()
		ns, err := os.Open("/run/netns/" + s.Name)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("setns %s: %w", s.Name, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// Close stops every daemon (last started first), kills whatever is left in the sandbox's
// cgroups (container shims and their processes), removes the cgroups bottom-up, ends the
// mount namespace (which takes every mount made in it) and deletes the network namespace.
// It returns what it could not undo.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	ds := slices.Clone(s.daemons)
	s.mu.Unlock()
	for i := len(ds) - 1; i >= 0; i-- {
		ds[i].Stop(10 * time.Second)
	}
	if s.holder != nil && s.holder.Process != nil {
		s.holder.Process.Kill()
		s.holder.Wait()
	}
	var errs []error
	for _, c := range Controllers {
		if err := RemoveCgroup(filepath.Join("/sys/fs/cgroup", c, s.Cgroup)); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := os.Stat("/run/netns/" + s.Name); err == nil {
		if err := run(context.Background(), "ip", "netns", "delete", s.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RemoveCgroup kills every process in the cgroup dir and its descendants and removes them,
// deepest first. A missing dir is not an error.
func RemoveCgroup(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	// A frozen cgroup (freezer) would keep its processes from dying: thaw first.
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "freezer.state")); err == nil {
			os.WriteFile(filepath.Join(d, "freezer.state"), []byte("THAWED"), 0)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		alive := 0
		for _, d := range dirs {
			for _, pid := range procs(d) {
				alive++
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if alive == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		var err error
		for try := 0; try < 50; try++ {
			if err = syscall.Rmdir(dirs[i]); err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", dirs[i], err))
		}
	}
	return errors.Join(errs...)
}

func procs(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

func run(ctx context.Context, argv ...string) error {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, out)
	}
	return nil
}

// Copy copies a file, keeping its mode.
func Copy(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// MemoryUsage is the resident memory (total_rss of memory.stat, page cache excluded) of
// every process in the sandbox's memory cgroup and below, in bytes; 0 if unknown.
func MemoryUsage(s *Sandbox) int64 {
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", s.Cgroup, "memory.stat"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "total_rss "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
