package main

// The figures of `wait`: one function per row (or rows) of the table.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// execToExit: one tcp target already listening on loopback; time from
// exec to exit 0, CPU (user+sys) and minor page faults. depprobe runs in
// triples with bench/dialer (a static Go program that only dials) and the
// same dialer built with -tags stack (it links crypto/tls and net/http, as
// depprobe must), in an order that rotates, so that all three see the same
// machine; the budget is the median of the ratios to the bare dialer, and
// the stack dialer says how much of that ratio linking TLS and HTTP costs
// alone. The other tools run n times each.
func (b *bench) execToExit(ctx context.Context, scale int) {
	n := pick(scale, 6, 42)
	port := b.freePort()
	l, err := listen(port)
	if err != nil {
		b.note("exec → exit: %v", err)
		return
	}
	defer l.Close()
	type sample struct{ wall, cpu, faults float64 }
	once := func(argv []string) (sample, bool) {
		p, err := b.launch(argv, nil, nil)
		if err != nil {
			return sample{}, false
		}
		if !p.wait(ctx, 10*time.Second) || p.exitCode() != 0 {
			return sample{}, false
		}
		cpu, _ := p.usage()
		return sample{ms(p.elapsed()), ms(cpu), float64(p.minorFaults())}, true
	}
	wall := row{figure: fmt.Sprintf("exec → exit 0, 1 tcp target already up on loopback: wall (n=%d; depprobe in triples with a bare Go dialer and the stack dialer)", n), cells: map[string]string{}, budget: "≤ 1.3× the dialer (median of the ratios)"}
	cpu := row{figure: "exec → exit 0: CPU (user+sys), same runs", cells: map[string]string{}, budget: "≤ 1.3× the dialer"}
	faults := row{figure: "exec → exit 0: minor page faults, same runs", cells: map[string]string{}, budget: "—"}
	floor := row{figure: "exec → exit 0, same runs: the stack dialer (the bare dialer linking crypto/tls and net/http, as depprobe must), its ratio to the bare dialer, and depprobe's to it", cells: map[string]string{}, budget: "—", met: "—"}
	// depprobe, the dialer and the stack dialer, in triples.
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	argvs := [3][]string{b.tools[depprobe].argv("127.0.0.1", port, 0), {b.o.dialer, addr}, {b.o.stackDialer, addr}}
	var got [3][3][]float64   // program (depprobe, dialer, stack dialer) × figure (wall, cpu, faults)
	var ratio [3][2][]float64 // depprobe/dialer, stack/dialer, depprobe/stack × wall, cpu
	fails := 0
	for i := 0; i < n && ctx.Err() == nil; i++ {
		var s [3]sample
		ok := true
		for k := range 3 {
			j := (i + k) % 3
			var okJ bool
			s[j], okJ = once(argvs[j])
			ok = ok && okJ
		}
		if !ok {
			fails++
			continue
		}
		for j := range 3 {
			got[j][0] = append(got[j][0], s[j].wall)
			got[j][1] = append(got[j][1], s[j].cpu)
			got[j][2] = append(got[j][2], s[j].faults)
		}
		for r, p := range [3][2]int{{0, 1}, {2, 1}, {0, 2}} {
			a, z := s[p[0]], s[p[1]]
			ratio[r][0] = append(ratio[r][0], a.wall/z.wall)
			if z.cpu > 0 {
				ratio[r][1] = append(ratio[r][1], a.cpu/z.cpu)
			}
		}
	}
	paired := func(k int, unit string) string {
		c := cell(got[0][k], fails, unit) + "; dialer " + cell(got[1][k], 0, unit)
		if k < 2 {
			c += "; ratio " + cell(ratio[0][k], 0, "×")
		}
		return c
	}
	wall.cells[depprobe], cpu.cells[depprobe], faults.cells[depprobe] = paired(0, "ms"), paired(1, "ms"), paired(2, "")
	wall.met = metIf(ratio[0][0], func(m float64) bool { return m <= 1.3 })
	cpu.met = metIf(ratio[0][1], func(m float64) bool { return m <= 1.3 })
	floor.cells[depprobe] = fmt.Sprintf("wall %s, %s the dialer's, depprobe %s its; CPU %s, %s, depprobe %s; faults %s",
		cell(got[2][0], 0, "ms"), cell(ratio[1][0], 0, "×"), cell(ratio[2][0], 0, "×"),
		cell(got[2][1], 0, "ms"), cell(ratio[1][1], 0, "×"), cell(ratio[2][1], 0, "×"), cell(got[2][2], 0, ""))
	for _, name := range toolOrder[1:] {
		var s [3][]float64
		fails := 0
		for i := 0; i < pick(scale, 3, 20) && ctx.Err() == nil; i++ {
			x, ok := once(b.tools[name].argv("127.0.0.1", port, 0))
			if !ok {
				fails++
				continue
			}
			s[0], s[1], s[2] = append(s[0], x.wall), append(s[1], x.cpu), append(s[2], x.faults)
		}
		wall.cells[name], cpu.cells[name], faults.cells[name] = cell(s[0], fails, "ms"), cell(s[1], fails, "ms"), cell(s[2], fails, "")
		floor.cells[name] = "—"
	}
	b.add(wall)
	b.add(cpu)
	b.add(faults)
	b.add(floor)
}

// reaction: the listener starts D seconds after the tool, D uniform in
// 0.5–1.5 s so that its phase against the tool's retry schedule is random;
// the figure is listen → exit 0. The SYNs the tool sent meanwhile are
// counted by nft. depprobe runs alone; the four baselines, which are
// slower, run side by side to keep the whole bench short. depprobe's
// reaction is about half its 100 ms interval, uniform from 0 to 100 ms:
// the median of 20 runs strays by ±11 ms (one standard deviation) from
// the 50 ms it estimates, of 60 by ±6.5 ms.
func (b *bench) reaction(ctx context.Context, scale int) {
	n := pick(scale, 3, 60)
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
	// depprobe runs alone (its CPU is a budget; two cores shared with
	// node would blur it), in pairs with the dialer waiting on the same
	// schedule: the least a Go program pays for those wake-ups on this
	// machine. The baselines run side by side.
	loop := &res{}
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		dp := func() { do(b.tools[depprobe].argv("127.0.0.1", b.freePort(), deadline), dpEnv, one[depprobe]) }
		dl := func() {
			do([]string{b.o.dialer, fmt.Sprintf("127.0.0.1:%d", b.freePort()), deadline.String()}, nil, loop)
		}
		if i%2 == 0 {
			dp()
			dl()
		} else {
			dl()
			dp()
		}
		var wg sync.WaitGroup
		for _, name := range toolOrder[1:] {
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
	cpu := row{figure: fmt.Sprintf("CPU (user+sys) while waiting 5 s on a refused target, start-up included (n=%d; depprobe alone, the others side by side)", rounds), cells: map[string]string{}, budget: "≤ 30 ms"}
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
	cpu.cells[depprobe] += "; the dialer waiting on the same schedule " + cell(loop.cpu, loop.fails, "ms")
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
