// Command harness measures every budget in SPEC.md ("Budgets") for depprobe
// and, in the same run, for the tools users reach for today: wait-for-it,
// an `until nc -z` loop, wait-on and wait-port. It prints a markdown table
// (figure | depprobe | baselines… | budget | met?) and the machine it ran on.
//
// bench/run.sh builds depprobe and this program and runs it; see there for
// what it needs installed. It runs as root: attempts are counted exactly by
// an nftables counter on SYNs to the target's port on lo, and the dropped-SYN
// figure needs two network namespaces of its own joined by a veth pair.
// Everything it creates (processes, the nft table, the namespaces) is
// removed when it ends, also on SIGINT/SIGTERM; run.sh removes them again by
// name (-tag) in case the harness itself was killed.
//
// The harness never asserts anything: it reports. Timings on a shared
// machine are noisy, so it prints the load average before and after.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Tool names, in table order.
const (
	depprobe  = "depprobe"
	waitForIt = "wait-for-it"
	ncLoop    = "nc loop"
	waitOn    = "wait-on"
	waitPort  = "wait-port"
)

var toolOrder = []string{depprobe, waitForIt, ncLoop, waitOn, waitPort}

type options struct {
	depprobe string // the static depprobe binary
	node     string // bench/.node: <tool>/node_modules/.bin/<tool>
	tag      string // prefix of the namespaces and the nft table
	out      string // results.md
	quick    bool   // few runs: to try the harness, not to quote
}

func main() {
	var o options
	flag.StringVar(&o.depprobe, "depprobe", "", "path of the depprobe binary to measure (static, stripped)")
	flag.StringVar(&o.node, "node", "bench/.node", "directory holding wait-on/ and wait-port/ npm installs")
	flag.StringVar(&o.tag, "tag", fmt.Sprintf("dpb%d", os.Getpid()), "name prefix of the netns and nft table this run creates (≤ 8 characters)")
	flag.StringVar(&o.out, "out", "bench/results.md", "where to write the markdown results")
	flag.BoolVar(&o.quick, "quick", false, "few runs, short durations: to try the harness")
	flag.Parse()
	if o.depprobe == "" {
		fmt.Fprintln(os.Stderr, "harness: -depprobe is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
}

// bench holds what one run shares: the tools, the attempt counter, the live
// processes (so that cleanup can kill them) and the rows measured so far.
type bench struct {
	o     options
	tools map[string]*tool
	nft   *counter // nil when nftables is not usable: attempts are not counted
	procs sync.Map // pid → *proc
	rows  []row
	notes []string
	used  sync.Map // ports handed out by freePort
}

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

// row is one line of the table.
type row struct {
	figure string
	cells  map[string]string
	budget string
	met    string
}

func run(ctx context.Context, o options) error {
	b := &bench{o: o}
	defer b.cleanup()
	if err := b.setupTools(); err != nil {
		return err
	}
	var err error
	if b.nft, err = newCounter(o.tag); err != nil {
		b.note("attempts not counted: nftables counter not available: %v", err)
		b.nft = nil
	}
	load0 := loadavg()
	fmt.Fprintf(os.Stderr, "harness: load average at start: %s\n", load0)
	scale := 1
	if o.quick {
		scale = 0
	}
	steps := []struct {
		name string
		f    func(context.Context, int)
	}{
		{"exec → exit 0", b.execToExit},
		{"reaction", b.reaction},
		{"steady state", b.steadyState},
		{"cpu and rss", b.cpuAndRSS},
		{"dropped SYNs", b.droppedSYN},
		{"binary size", func(context.Context, int) { b.binarySize() }},
		{"serve", b.serve},
	}
	for _, s := range steps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t0 := time.Now()
		fmt.Fprintf(os.Stderr, "harness: %s …\n", s.name)
		s.f(ctx, scale)
		fmt.Fprintf(os.Stderr, "harness: %s done in %s\n", s.name, time.Since(t0).Round(100*time.Millisecond))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	md := b.markdown(load0, loadavg())
	fmt.Print(md)
	if o.out != "" {
		return os.WriteFile(o.out, []byte(md), 0o644)
	}
	return nil
}

func (b *bench) note(format string, args ...any) {
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}

func (b *bench) add(r row) { b.rows = append(b.rows, r) }

// ---------------------------------------------------------------- the tools

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

// ---------------------------------------------------------------- processes

// proc is one started tool, in a process group of its own so that the
// whole tree can be killed.
type proc struct {
	cmd   *exec.Cmd
	start time.Time
	end   time.Time
	done  chan struct{}
	err   error
}

// baseEnv is the harness's environment without DEPPROBE_* variables, so
// that every tool runs with its defaults.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DEPPROBE_") {
			env = append(env, kv)
		}
	}
	return append(env, "DEPPROBE_TERMINATION_LOG=/dev/null")
}

func (b *bench) launch(argv []string, env []string, stderr io.Writer) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(baseEnv(), env...)
	cmd.Stderr = stderr // nil: /dev/null, no copying goroutine
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	b.procs.Store(pid, p)
	go func() {
		p.err = cmd.Wait()
		p.end = time.Now()
		// The group may outlive its leader (sleep, nc): end it too.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		b.procs.Delete(pid)
		close(p.done)
	}()
	return p, nil
}

// wait waits up to limit for p to exit by itself; after that it kills p's
// group. It reports whether p exited by itself.
func (p *proc) wait(ctx context.Context, limit time.Duration) bool {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	p.kill()
	return false
}

func (p *proc) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

func (p *proc) elapsed() time.Duration { return p.end.Sub(p.start) }

func (p *proc) exitCode() int { return p.cmd.ProcessState.ExitCode() }

// usage is the rusage of the process and of the descendants it waited for:
// user+sys CPU, and the largest peak RSS among them.
func (p *proc) usage() (cpu time.Duration, maxRSS int64) {
	ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, 0
	}
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpu, ru.Maxrss * 1024
}

func (b *bench) cleanup() {
	b.procs.Range(func(_, v any) bool {
		v.(*proc).kill()
		return true
	})
	if b.nft != nil {
		b.nft.close()
	}
	// The namespaces go in droppedSYN's own defer; this is the fallback.
	for _, ns := range []string{b.o.tag + "c", b.o.tag + "s"} {
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// freePort is a loopback port that nothing listens on, outside the
// ephemeral range so that no other program's connect takes it meanwhile.
func (b *bench) freePort() int {
	for {
		p := 20000 + rand.IntN(10000)
		if _, dup := b.used.LoadOrStore(p, true); dup {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
}

// listen listens on 127.0.0.1:port and accepts (and closes) connections
// until the returned listener is closed.
func listen(port int) (net.Listener, error) {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l, nil
}

// ---------------------------------------------------------------- figures

// execToExit: one tcp target already listening on loopback; time from
// exec to exit 0.
func (b *bench) execToExit(ctx context.Context, scale int) {
	n := pick(scale, 3, 20)
	port := b.freePort()
	l, err := listen(port)
	if err != nil {
		b.note("exec → exit: %v", err)
		return
	}
	defer l.Close()
	r := row{figure: fmt.Sprintf("exec → exit 0, 1 tcp target already up on loopback (n=%d)", n), cells: map[string]string{}, budget: "≤ 5 ms median"}
	for _, name := range toolOrder {
		t := b.tools[name]
		var ds []float64
		fails := 0
		for i := 0; i < n && ctx.Err() == nil; i++ {
			p, err := b.launch(t.argv("127.0.0.1", port, 0), nil, nil)
			if err != nil {
				fails++
				continue
			}
			if !p.wait(ctx, 10*time.Second) || p.exitCode() != 0 {
				fails++
				continue
			}
			ds = append(ds, ms(p.elapsed()))
		}
		r.cells[name] = cell(ds, fails, "ms")
		if name == depprobe {
			r.met = metIf(ds, func(m float64) bool { return m <= 5 })
		}
	}
	b.add(r)
}

// reaction: the listener starts D seconds after the tool, D uniform in
// 0.5–1.5 s so that its phase against the tool's retry schedule is random;
// the figure is listen → exit 0. The SYNs the tool sent meanwhile are
// counted by nft. depprobe runs alone; the four baselines, which are
// slower, run side by side to keep the whole bench short.
func (b *bench) reaction(ctx context.Context, scale int) {
	n := pick(scale, 3, 20)
	nBase := pick(scale, 3, 15)
	type res struct {
		react, syns, rate []float64
		fails             int
	}
	results := map[string]*res{}
	one := func(t *tool, r *res) {
		port := b.freePort()
		cnt := b.nft.watch(port)
		defer cnt.remove()
		d := time.Duration((0.5 + rand.Float64()) * float64(time.Second))
		p, err := b.launch(t.argv("127.0.0.1", port, 0), nil, nil)
		if err != nil {
			r.fails++
			return
		}
		select {
		case <-p.done:
			r.fails++ // gave up before anything listened
			return
		case <-time.After(d):
		case <-ctx.Done():
			p.kill()
			return
		}
		l, err := listen(port)
		listened := time.Now()
		if err != nil {
			p.kill()
			r.fails++
			return
		}
		defer l.Close()
		if !p.wait(ctx, 5*time.Second) || p.exitCode() != 0 {
			r.fails++
			return
		}
		r.react = append(r.react, ms(p.end.Sub(listened)))
		if syns, ok := cnt.read(); ok {
			r.syns = append(r.syns, float64(syns))
			r.rate = append(r.rate, float64(syns)/p.elapsed().Seconds())
		}
	}
	results[depprobe] = &res{}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		one(b.tools[depprobe], results[depprobe])
	}
	var wg sync.WaitGroup
	for _, name := range toolOrder[1:] {
		results[name] = &res{}
		wg.Go(func() {
			for i := 0; i < nBase && ctx.Err() == nil; i++ {
				one(b.tools[name], results[name])
			}
		})
	}
	wg.Wait()
	r := row{figure: fmt.Sprintf("reaction: dependency starts listening → exit 0, defaults (n=%d; baselines n=%d)", n, nBase), cells: map[string]string{}, budget: "≤ 60 ms median"}
	a := row{figure: "attempts (SYNs) made while waiting 0.5–1.5 s, incl. the one that succeeds", cells: map[string]string{}, budget: "—", met: ""}
	ar := row{figure: "attempts per second while waiting (SYNs ÷ run time)", cells: map[string]string{}, budget: "—"}
	for _, name := range toolOrder {
		x := results[name]
		r.cells[name] = cell(x.react, x.fails, "ms")
		a.cells[name] = cell(x.syns, 0, "")
		ar.cells[name] = cell(x.rate, 0, "/s")
	}
	r.met = metIf(results[depprobe].react, func(m float64) bool { return m <= 60 })
	b.add(r)
	if b.nft != nil {
		b.add(a)
		b.add(ar)
	}
}

// steadyState: a refused tcp target (nothing listens) and an HTTP target
// that answers 503; attempts per second over seconds 2–7. All tools run
// side by side: the counts do not depend on the load.
func (b *bench) steadyState(ctx context.Context, scale int) {
	from, to := 2*time.Second, 7*time.Second
	if scale == 0 {
		from, to = 1*time.Second, 3*time.Second
	}
	refused := row{figure: fmt.Sprintf("attempts/s, refused target, steady state (SYNs over s %g–%g)", from.Seconds(), to.Seconds()), cells: map[string]string{}, budget: "≤ 10"}
	notReady := row{figure: fmt.Sprintf("attempts/s, HTTP 503 target (`not_ready`), steady state (requests over s %g–%g)", from.Seconds(), to.Seconds()), cells: map[string]string{}, budget: "fewer than refused"}
	var (
		mu          sync.Mutex
		wg          sync.WaitGroup
		refusedRate = map[string]float64{}
		nrRate      = map[string]float64{}
	)
	measure := func(name string, argv []string, count func() (int64, bool), into map[string]float64, r *row) {
		p, err := b.launch(argv, nil, nil)
		if err != nil {
			mu.Lock()
			r.cells[name] = "failed: " + err.Error()
			mu.Unlock()
			return
		}
		defer p.kill()
		sleepCtx(ctx, from)
		c0, ok0 := count()
		sleepCtx(ctx, to-from)
		c1, ok1 := count()
		exited := false
		select {
		case <-p.done:
			exited = true
		default:
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case exited:
			r.cells[name] = fmt.Sprintf("exited early (%d)", p.exitCode())
		case !ok0 || !ok1:
			r.cells[name] = "not counted"
		default:
			rate := float64(c1-c0) / (to - from).Seconds()
			into[name] = rate
			r.cells[name] = fmt.Sprintf("%.1f /s", rate)
		}
	}
	for _, name := range toolOrder {
		t := b.tools[name]
		if b.nft != nil {
			port := b.freePort()
			cnt := b.nft.watch(port)
			wg.Go(func() {
				defer cnt.remove()
				measure(name, t.argv("127.0.0.1", port, 0), cnt.read, refusedRate, &refused)
			})
		}
		if t.httpArgv == nil {
			notReady.cells[name] = "n/a (tcp only)"
			continue
		}
		srv, hits, err := unavailableServer()
		if err != nil {
			notReady.cells[name] = "failed: " + err.Error()
			continue
		}
		wg.Go(func() {
			defer srv.Close()
			measure(name, t.httpArgv("http://"+srv.Addr().String()+"/healthz", 0), func() (int64, bool) { return hits(), true }, nrRate, &notReady)
		})
	}
	wg.Wait()
	if r, ok := refusedRate[depprobe]; ok {
		refused.met = yesNo(r <= 10)
	}
	if nr, ok := nrRate[depprobe]; ok {
		if r, ok := refusedRate[depprobe]; ok {
			notReady.met = yesNo(nr < r)
		}
	}
	if b.nft != nil {
		b.add(refused)
	}
	b.add(notReady)
}

// unavailableServer answers every request with 503 and counts them.
func unavailableServer() (net.Listener, func() int64, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	var (
		mu sync.Mutex
		n  int64
	)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			n++
			mu.Unlock()
			http.Error(w, "starting up", http.StatusServiceUnavailable)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(l) }()
	return l, func() int64 { mu.Lock(); defer mu.Unlock(); return n }, nil
}

// cpuAndRSS: each tool waits 5 s on a refused target and gives up by its
// own deadline (the nc loop under timeout(1)), so that it reaps its
// children and rusage covers the whole tree. Then depprobe and wait-on
// (the tools that take several targets) wait 5 s on 10 refused targets.
func (b *bench) cpuAndRSS(ctx context.Context, scale int) {
	rounds := pick(scale, 1, 3)
	const deadline = 5 * time.Second
	type res struct {
		cpu, rss, wall []float64
		fails          int
	}
	// Peak RSS comes from GNU time's %M, the maxrss of a child it forked:
	// the harness's own rusage of what it starts is useless for that, since
	// Linux records the parent's RSS in the child's maxrss at exec (os/exec
	// starts children with vfork, which shares the parent's memory). CPU is
	// the harness's rusage of time(1), so it includes time's own ~0.3 ms.
	tmp, err := os.MkdirTemp("", "depprobe-bench-rss")
	if err != nil {
		b.note("cpu and rss: %v", err)
		return
	}
	defer os.RemoveAll(tmp)
	var seq atomic.Int64
	do := func(argv []string, env []string, r *res) {
		out := filepath.Join(tmp, strconv.FormatInt(seq.Add(1), 10))
		p, err := b.launch(append([]string{"/usr/bin/time", "-f", "%M", "-o", out}, argv...), env, nil)
		if err != nil {
			r.fails++
			return
		}
		if !p.wait(ctx, deadline+5*time.Second) {
			r.fails++
			return
		}
		cpu, _ := p.usage()
		kbs, err := os.ReadFile(out)
		if err != nil {
			r.fails++
			return
		}
		// time(1) writes "Command exited with non-zero status N" first.
		fields := strings.Fields(string(kbs))
		rss, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			r.fails++
			return
		}
		r.cpu = append(r.cpu, ms(cpu))
		r.rss = append(r.rss, rss*1024/1e6)
		r.wall = append(r.wall, p.elapsed().Seconds())
	}
	one := map[string]*res{}
	ten := map[string]*res{}
	for _, name := range toolOrder {
		one[name], ten[name] = &res{}, &res{}
	}
	dpEnv := []string{"DEPPROBE_TIMEOUT=" + deadline.String()}
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		var wg sync.WaitGroup
		for _, name := range toolOrder {
			t := b.tools[name]
			argv := t.argv("127.0.0.1", b.freePort(), deadline)
			wg.Go(func() { do(argv, dpEnv, one[name]) })
		}
		wg.Wait()
	}
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		var wg sync.WaitGroup
		for _, name := range toolOrder {
			t := b.tools[name]
			if t.multiArgv == nil {
				continue
			}
			var addrs []string
			for range 10 {
				addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", b.freePort()))
			}
			argv := t.multiArgv(addrs, deadline)
			wg.Go(func() { do(argv, dpEnv, ten[name]) })
		}
		wg.Wait()
	}
	cpu := row{figure: fmt.Sprintf("CPU (user+sys) while waiting 5 s on a refused target, start-up included (n=%d)", rounds), cells: map[string]string{}, budget: "≤ 30 ms"}
	rss := row{figure: "peak RSS, `wait` on 1 refused target, 5 s", cells: map[string]string{}, budget: "—"}
	rss10 := row{figure: "peak RSS, `wait` on 10 refused targets, 5 s", cells: map[string]string{}, budget: "≤ 10 MB"}
	cpu10 := row{figure: "CPU (user+sys), 10 refused targets, 5 s", cells: map[string]string{}, budget: "—"}
	for _, name := range toolOrder {
		cpu.cells[name] = cell(one[name].cpu, one[name].fails, "ms")
		rss.cells[name] = cell(one[name].rss, one[name].fails, "MB")
		if b.tools[name].multiArgv == nil {
			rss10.cells[name] = "n/a (one target per process)"
			cpu10.cells[name] = "n/a"
			continue
		}
		rss10.cells[name] = cell(ten[name].rss, ten[name].fails, "MB")
		cpu10.cells[name] = cell(ten[name].cpu, ten[name].fails, "ms")
	}
	cpu.met = metIf(one[depprobe].cpu, func(m float64) bool { return m <= 30 })
	rss10.met = metIf(ten[depprobe].rss, func(m float64) bool { return m <= 10 })
	b.add(cpu)
	b.add(rss)
	b.add(rss10)
	b.add(cpu10)
}

// droppedSYN: two namespaces of this run's own, joined by a veth pair; in
// the server's, nft drops SYNs to the port. depprobe runs with its
// defaults (DEPPROBE_TIMEOUT=5m, capped here at 60 s); the baselines get a
// 20 s deadline of their own, which they all wait out.
func (b *bench) droppedSYN(ctx context.Context, scale int) {
	n := pick(scale, 1, 3)
	baseDeadline := 20 * time.Second
	if scale == 0 {
		baseDeadline = 8 * time.Second
	}
	r := row{figure: fmt.Sprintf("give up on a target whose SYNs are dropped, defaults (netns; n=%d; baselines given a %s deadline)", n, baseDeadline), cells: map[string]string{},
		budget: "≈ MAX_TIMEOUTS × ATTEMPT_TIMEOUT + backoff = 3 × 2 s + 0.07 s"}
	cli, srv := b.o.tag+"c", b.o.tag+"s"
	subnet := fmt.Sprintf("10.254.%d", 200+os.Getpid()%50)
	cliAddr, srvAddr := subnet+".1", subnet+".2"
	port := 5432
	defer func() {
		for _, ns := range []string{cli, srv} {
			_ = exec.Command("ip", "netns", "del", ns).Run()
		}
	}()
	setup := [][]string{
		{"ip", "netns", "add", cli},
		{"ip", "netns", "add", srv},
		{"ip", "-n", cli, "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", srv},
		{"ip", "-n", cli, "addr", "add", cliAddr + "/30", "dev", "v0"},
		{"ip", "-n", srv, "addr", "add", srvAddr + "/30", "dev", "v1"},
		{"ip", "-n", cli, "link", "set", "lo", "up"},
		{"ip", "-n", srv, "link", "set", "lo", "up"},
		{"ip", "-n", cli, "link", "set", "v0", "up"},
		{"ip", "-n", srv, "link", "set", "v1", "up"},
		{"ip", "netns", "exec", srv, "nft", "add table inet t; add chain inet t in { type filter hook input priority 0; policy accept; }; add rule inet t in tcp dport " + strconv.Itoa(port) + " drop"},
	}
	for _, c := range setup {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			b.note("dropped-SYN figure skipped: %s: %v: %s", strings.Join(c, " "), err, strings.TrimSpace(string(out)))
			for _, name := range toolOrder {
				r.cells[name] = "skipped"
			}
			b.add(r)
			return
		}
	}
	inNS := func(argv []string) []string { return append([]string{"ip", "netns", "exec", cli}, argv...) }
	type res struct {
		secs  []float64
		codes []int
		fails int
	}
	results := map[string]*res{}
	var wg sync.WaitGroup
	for _, name := range toolOrder {
		t := b.tools[name]
		x := &res{}
		results[name] = x
		runs, d, limit := 1, baseDeadline, baseDeadline+10*time.Second
		if name == depprobe {
			runs, d, limit = n, 0, 60*time.Second
		}
		wg.Go(func() {
			for i := 0; i < runs && ctx.Err() == nil; i++ {
				p, err := b.launch(inNS(t.argv(srvAddr, port, d)), nil, nil)
				if err != nil {
					x.fails++
					continue
				}
				if !p.wait(ctx, limit) {
					x.secs = append(x.secs, limit.Seconds())
					x.codes = append(x.codes, -1)
					continue
				}
				x.secs = append(x.secs, p.elapsed().Seconds())
				x.codes = append(x.codes, p.exitCode())
			}
		})
	}
	wg.Wait()
	for _, name := range toolOrder {
		x := results[name]
		c := cell(x.secs, x.fails, "s")
		if name != depprobe && len(x.secs) > 0 {
			c += fmt.Sprintf(" = its whole deadline (exit %d)", x.codes[0])
		}
		if name == depprobe && len(x.codes) > 0 {
			c += fmt.Sprintf(" (exit %d)", x.codes[0])
		}
		r.cells[name] = c
	}
	r.met = metIf(results[depprobe].secs, func(m float64) bool { return m >= 5.5 && m <= 7.5 })
	b.add(r)
}

// binarySize: what a user installs to get each tool.
func (b *bench) binarySize() {
	r := row{figure: "size of what one installs", cells: map[string]string{}, budget: "≤ 10 MB (static, stripped, all schemes)"}
	if fi, err := os.Stat(b.o.depprobe); err == nil {
		mb := float64(fi.Size()) / 1e6
		r.cells[depprobe] = fmt.Sprintf("%.2f MB static binary", mb)
		r.met = yesNo(mb <= 10)
	}
	bash, _ := exec.LookPath("bash")
	r.cells[waitForIt] = fmt.Sprintf("%s script + bash %s", kb(fileSize(lookPath("wait-for-it"))), mbs(fileSize(bash)))
	r.cells[ncLoop] = fmt.Sprintf("nc %s + sh", kb(fileSize(resolve(lookPath("nc")))))
	nodeBin := fileSize(resolve(lookPath("node")))
	for _, name := range []string{waitOn, waitPort} {
		r.cells[name] = fmt.Sprintf("%s node_modules + node %s", mbs(duBytes(filepath.Join(b.o.node, name, "node_modules"))), mbs(nodeBin))
	}
	b.add(r)
}

// serve: depprobe serve with 100 ready tcp targets (100 listeners of the
// harness's own). CPU while idle; then /readyz under load from this second
// process: wrk's closed loop (the most it takes; its p99 at saturation is
// mostly queueing on a 2-core machine that also runs wrk) and an open loop
// at a fixed rate (latency from each request's scheduled time, so a stall
// cannot hide); peak RSS (VmHWM) after both; SIGTERM. Then 100 refused
// targets, the costliest steady state, for CPU.
func (b *bench) serve(ctx context.Context, scale int) {
	rows := map[string]*row{}
	order := []string{"rss", "cpu", "cpuref", "wrk", "open"}
	mk := func(key, figure, budget string) {
		r := &row{figure: figure, cells: map[string]string{}, budget: budget}
		for _, name := range toolOrder[1:] {
			r.cells[name] = "n/a"
		}
		rows[key] = r
	}
	idle, load, rate := 15*time.Second, 10*time.Second, 1000
	if scale == 0 {
		idle, load = 3*time.Second, 2*time.Second
	}
	mk("rss", "`serve`, 100 tcp targets: peak RSS (VmHWM after the loads below)", "≤ 20 MB")
	mk("cpu", "`serve`, 100 ready tcp targets: CPU per minute, idle", "—")
	mk("cpuref", "`serve`, 100 refused tcp targets: CPU per minute", "—")
	mk("wrk", fmt.Sprintf("`/readyz` closed loop, wrk -t1 -c4 -d%s: requests/s; p99 at saturation; errors", load), "—")
	mk("open", fmt.Sprintf("`/readyz` open loop, %d requests/s over 4 keep-alive connections for %s: p50, p99, errors", rate, load), "no errors, p99 ≤ 5 ms")
	defer func() {
		for _, k := range order {
			if rows[k].cells[depprobe] == "" {
				rows[k].cells[depprobe] = "not measured"
			}
			b.add(*rows[k])
		}
	}()
	fail := func(why string) {
		for _, k := range order {
			if rows[k].cells[depprobe] == "" {
				rows[k].cells[depprobe] = why
			}
		}
	}
	var targets []string
	for i := range 100 {
		l, err := listen(0)
		if err != nil {
			fail("skipped: " + err.Error())
			return
		}
		defer l.Close()
		targets = append(targets, fmt.Sprintf("t%03d=tcp://%s", i, l.Addr()))
	}
	start := func(targets []string) (*proc, string, *lockedBuffer, error) {
		addr := fmt.Sprintf("127.0.0.1:%d", b.freePort())
		stderr := &lockedBuffer{}
		p, err := b.launch([]string{b.o.depprobe, "serve"}, []string{"DEPPROBE_LISTEN=" + addr, "DEPPROBE_TARGETS=" + strings.Join(targets, ","), "DEPPROBE_LOG_LEVEL=warn"}, stderr)
		return p, addr, stderr, err
	}
	p, addr, stderr, err := start(targets)
	if err != nil {
		fail("failed: " + err.Error())
		return
	}
	defer p.kill()
	url := "http://" + addr + "/readyz"
	if err := waitReady(ctx, p, url, 10*time.Second); err != nil {
		fail("not available: " + err.Error() + firstLine(stderr.String()))
		return
	}
	sleepCtx(ctx, time.Second)
	t0, c0 := time.Now(), procCPU(p)
	sleepCtx(ctx, idle)
	c1 := procCPU(p)
	rows["cpu"].cells[depprobe] = fmt.Sprintf("%.0f ms/min (VmRSS %s)", ms(c1-c0)/time.Since(t0).Minutes(), procMem(p, "VmRSS"))
	if _, err := exec.LookPath("wrk"); err != nil {
		rows["wrk"].cells[depprobe] = "skipped: wrk not installed"
	} else if out, err := exec.CommandContext(ctx, "wrk", "-t1", "-c4", "-d"+strconv.Itoa(int(load.Seconds()))+"s", "--latency", url).CombinedOutput(); err != nil {
		rows["wrk"].cells[depprobe] = "wrk failed: " + err.Error()
	} else {
		w := parseWrk(string(out))
		rows["wrk"].cells[depprobe] = fmt.Sprintf("%.0f /s; p99 %.2f ms (p50 %.2f); %d errors, %d non-2xx of %d", w.rps, w.p99, w.p50, w.errors, w.non2xx, w.requests)
	}
	sleepCtx(ctx, time.Second)
	o := openLoop(ctx, url, rate, 4, load)
	rows["open"].cells[depprobe] = fmt.Sprintf("p50 %.2f ms, p99 %.2f ms, max %.1f ms; %d errors of %d", o.p50, o.p99, o.max, o.errors, o.requests)
	rows["open"].met = yesNo(o.p99 <= 5 && o.errors == 0 && o.requests > 0)
	hwm := procMem(p, "VmHWM")
	rows["rss"].cells[depprobe] = hwm
	if v, err := strconv.ParseFloat(strings.TrimSuffix(hwm, " MB"), 64); err == nil {
		rows["rss"].met = yesNo(v <= 20)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if !p.wait(ctx, 10*time.Second) {
		b.note("serve did not stop within 10 s of SIGTERM")
	}
	var refused []string
	for i := range 100 {
		refused = append(refused, fmt.Sprintf("r%03d=tcp://127.0.0.1:%d", i, b.freePort()))
	}
	p2, addr2, _, err := start(refused)
	if err != nil {
		rows["cpuref"].cells[depprobe] = "failed: " + err.Error()
		return
	}
	defer p2.kill()
	if err := waitUp(ctx, p2, "http://"+addr2+"/livez", 10*time.Second); err != nil {
		rows["cpuref"].cells[depprobe] = "not available: " + err.Error()
		return
	}
	sleepCtx(ctx, 2*time.Second)
	t0, c0 = time.Now(), procCPU(p2)
	sleepCtx(ctx, idle/2)
	c1 = procCPU(p2)
	rows["cpuref"].cells[depprobe] = fmt.Sprintf("%.0f ms/min (VmRSS %s)", ms(c1-c0)/time.Since(t0).Minutes(), procMem(p2, "VmRSS"))
}

type openResult struct {
	p50, p99, max    float64
	requests, errors int64
}

// openLoop GETs url at rate per second for d over conns keep-alive
// connections. Each request has a scheduled time; its latency is measured
// from then, so a request that waited for a free connection counts the
// wait (no coordinated omission). Non-200 answers are errors.
func openLoop(ctx context.Context, url string, rate, conns int, d time.Duration) openResult {
	tr := &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	sched := make(chan time.Time, rate*int(d.Seconds()+1))
	var (
		mu   sync.Mutex
		lats []float64
		errs int64
		wg   sync.WaitGroup
	)
	for range conns {
		wg.Go(func() {
			for at := range sched {
				if wait := time.Until(at); wait > 0 {
					time.Sleep(wait)
				}
				resp, err := c.Get(url)
				ok := err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				lat := ms(time.Since(at))
				mu.Lock()
				lats = append(lats, lat)
				if !ok {
					errs++
				}
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := 0; ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d {
			break
		}
		sched <- at
	}
	close(sched)
	wg.Wait()
	r := openResult{requests: int64(len(lats)), errors: errs}
	if len(lats) > 0 {
		slices.Sort(lats)
		r.p50 = lats[len(lats)/2]
		r.p99 = lats[len(lats)*99/100]
		r.max = lats[len(lats)-1]
	}
	return r
}

// waitReady polls url until it answers 200, p exits, or limit passes.
func waitReady(ctx context.Context, p *proc, url string, limit time.Duration) error {
	return poll(ctx, p, url, limit, func(code int) bool { return code == http.StatusOK })
}

// waitUp polls url until it answers at all.
func waitUp(ctx context.Context, p *proc, url string, limit time.Duration) error {
	return poll(ctx, p, url, limit, func(int) bool { return true })
}

func poll(ctx context.Context, p *proc, url string, limit time.Duration, ok func(int) bool) error {
	deadline := time.Now().Add(limit)
	c := &http.Client{Timeout: time.Second}
	last := "no answer"
	for time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case <-p.done:
			return fmt.Errorf("exited (%d): ", p.exitCode())
		default:
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if ok(resp.StatusCode) {
				return nil
			}
			last = resp.Status
		}
		sleepCtx(ctx, 50*time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %s (%s)", url, limit, last)
}

type wrkResult struct {
	rps, p50, p99            float64
	requests, errors, non2xx int64
}

var (
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkReqs     = regexp.MustCompile(`(\d+) requests in`)
	wrkPct      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkSockErrs = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

func parseWrk(s string) wrkResult {
	var w wrkResult
	if m := wrkRPS.FindStringSubmatch(s); m != nil {
		w.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := wrkReqs.FindStringSubmatch(s); m != nil {
		w.requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	for _, m := range wrkPct.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if m[1] == "50" {
			w.p50 = v
		} else {
			w.p99 = v
		}
	}
	if m := wrkSockErrs.FindStringSubmatch(s); m != nil {
		for _, x := range m[1:] {
			n, _ := strconv.ParseInt(x, 10, 64)
			w.errors += n
		}
	}
	if m := wrkNon2xx.FindStringSubmatch(s); m != nil {
		w.non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return w
}

// procCPU is a running process's CPU time so far: the sum over its threads
// of /proc/PID/task/TID/schedstat's first field (nanoseconds on a CPU),
// finer than /proc/PID/stat's 10 ms ticks. Go keeps its threads, so none
// is lost to a thread that exited.
func procCPU(p *proc) time.Duration {
	dir := fmt.Sprintf("/proc/%d/task", p.cmd.Process.Pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			total += time.Duration(ns)
		}
	}
	return total
}

// procMem is a VmRSS or VmHWM line of a running process, in MB.
func procMem(p *proc, field string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return "?"
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kbs, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return fmt.Sprintf("%.1f MB", kbs*1024/1e6)
		}
	}
	return "?"
}

// ---------------------------------------------------------------- nftables

// counter counts SYNs (SYN without ACK) sent to a loopback port, with one
// named nft counter per watched port in a table of this run's own. The
// chain only counts: its policy is accept and it has no other rule.
type counter struct {
	table string
	mu    sync.Mutex
}

func newCounter(tag string) (*counter, error) {
	c := &counter{table: tag}
	if err := nft(fmt.Sprintf("add table inet %s\nadd chain inet %s out { type filter hook output priority 0; policy accept; }", c.table, c.table)); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *counter) close() { _ = nft("delete table inet " + c.table) }

// watched is one port's counter; all methods are no-ops on a nil counter.
type watched struct {
	c    *counter
	port int
	ok   bool
}

func (c *counter) watch(port int) *watched {
	w := &watched{c: c, port: port}
	if c == nil {
		return w
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err := nft(fmt.Sprintf("add counter inet %[1]s p%[2]d\nadd rule inet %[1]s out oifname \"lo\" tcp dport %[2]d tcp flags & (syn | ack) == syn counter name \"p%[2]d\"", c.table, port))
	w.ok = err == nil
	return w
}

var nftPackets = regexp.MustCompile(`packets (\d+)`)

func (w *watched) read() (int64, bool) {
	if w.c == nil || !w.ok {
		return 0, false
	}
	out, err := exec.Command("nft", "list", "counter", "inet", w.c.table, fmt.Sprintf("p%d", w.port)).Output()
	if err != nil {
		return 0, false
	}
	m := nftPackets.FindSubmatch(out)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(string(m[1]), 10, 64)
	return n, err == nil
}

// remove deletes the port's rule and counter.
func (w *watched) remove() {
	if w.c == nil || !w.ok {
		return
	}
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	out, err := exec.Command("nft", "-a", "list", "chain", "inet", w.c.table, "out").Output()
	if err != nil {
		return
	}
	re := regexp.MustCompile(fmt.Sprintf(`counter name "p%d" # handle (\d+)`, w.port))
	if m := re.FindSubmatch(out); m != nil {
		_ = nft(fmt.Sprintf("delete rule inet %s out handle %s\ndelete counter inet %s p%d", w.c.table, m[1], w.c.table, w.port))
	}
}

func nft(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ---------------------------------------------------------------- output

func (b *bench) markdown(load0, load1 string) string {
	var s strings.Builder
	s.WriteString("| figure | depprobe | wait-for-it | nc loop | wait-on | wait-port | SPEC budget | met? |\n")
	s.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range b.rows {
		fmt.Fprintf(&s, "| %s |", r.figure)
		for _, name := range toolOrder {
			c := r.cells[name]
			if c == "" {
				c = "—"
			}
			fmt.Fprintf(&s, " %s |", c)
		}
		met := r.met
		if met == "" {
			met = "—"
		}
		fmt.Fprintf(&s, " %s | %s |\n", r.budget, met)
	}
	s.WriteString("\nCells: median (min–max) over n runs. CPU is user+sys from rusage, the tool's process and every child it waited for. Peak RSS is rusage maxrss through GNU time (the largest single process of the tree; GNU time's own fork, ~1 MB, is the floor); for `serve`, VmHWM just before SIGTERM.\n")
	s.WriteString("\nMachine: ")
	s.WriteString(machine())
	fmt.Fprintf(&s, "; load average (1, 5, 15 min) %s at the start, %s at the end.\n", load0, load1)
	s.WriteString("\nTools: ")
	var vs []string
	for _, name := range toolOrder {
		vs = append(vs, b.tools[name].version)
	}
	vs = append(vs, "node "+firstLine(output("node", "--version")), firstLine(output("wrk", "-v")))
	s.WriteString(strings.Join(vs, "; "))
	s.WriteString(".\n")
	if len(b.notes) > 0 {
		s.WriteString("\nNotes:\n")
		for _, n := range b.notes {
			fmt.Fprintf(&s, "- %s\n", n)
		}
	}
	if b.o.quick {
		s.WriteString("\n(-quick: few runs, short durations; not for quoting.)\n")
	}
	return s.String()
}

func machine() string {
	model := "?"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%d CPUs (nproc %s), %s, Linux %s, %s", runtime.NumCPU(), firstLine(output("nproc")), model, firstLine(output("uname", "-r")), runtime.GOARCH)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// cell formats median (min–max) of xs, with the count of failed runs.
func cell(xs []float64, fails int, unit string) string {
	var c string
	switch {
	case len(xs) == 0:
		c = "no run succeeded"
	case len(xs) == 1:
		c = num(xs[0], unit)
	default:
		m, lo, hi := stats(xs)
		c = fmt.Sprintf("%s (%s–%s)", num(m, unit), num(lo, ""), num(hi, ""))
	}
	if fails > 0 {
		c += fmt.Sprintf(", %d failed", fails)
	}
	return c
}

func num(x float64, unit string) string {
	var s string
	switch {
	case x >= 100:
		s = fmt.Sprintf("%.0f", x)
	case x >= 10:
		s = fmt.Sprintf("%.1f", x)
	default:
		s = fmt.Sprintf("%.2f", x)
	}
	if unit != "" {
		s += " " + strings.TrimPrefix(unit, " ")
	}
	return s
}

func stats(xs []float64) (median, lo, hi float64) {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	median = s[n/2]
	if n%2 == 0 {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	return median, s[0], s[n-1]
}

func metIf(xs []float64, ok func(median float64) bool) string {
	if len(xs) == 0 {
		return "not measured"
	}
	m, _, _ := stats(xs)
	return yesNo(ok(m))
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func pick(scale, quick, full int) int {
	if scale == 0 {
		return quick
	}
	return full
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
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

// lockedBuffer is a strings.Builder safe for exec's copying goroutine and
// a concurrent reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
