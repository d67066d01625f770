package main

// The long figures: what waiting for minutes costs, and how soon a late
// dependency is noticed. They run side by side (each is mostly asleep),
// so that the whole step takes about five minutes.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// long runs the figures below concurrently and adds their rows in order.
func (b *bench) long(ctx context.Context, scale int) {
	var (
		wg   sync.WaitGroup
		rows [4][]row
	)
	wg.Go(func() { rows[0] = b.cpu60(ctx, scale) })
	wg.Go(func() { rows[1] = b.lateReaction(ctx, scale) })
	wg.Go(func() { rows[2] = b.fiveMinutes(ctx, scale) })
	wg.Go(func() { rows[3] = b.serveRefused(ctx, scale) })
	wg.Wait()
	for _, rs := range rows {
		for _, r := range rs {
			b.add(r)
		}
	}
}

// cpu60: CPU (user+sys) of a 60 s wait on a refused target, start-up
// included; every tool gives up by its own deadline (the nc loop under
// timeout(1)), so that rusage covers the children it waited for.
func (b *bench) cpu60(ctx context.Context, scale int) []row {
	d := pick(scale, 10, 60)
	deadline := time.Duration(d) * time.Second
	r := row{figure: fmt.Sprintf("CPU (user+sys) while waiting %d s on a refused target, start-up included (n=%d; others n=1)", d, pick(scale, 1, 3)), cells: map[string]string{}, budget: "≤ 150 ms"}
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		cpus  = map[string][]float64{}
		fails = map[string]int{}
	)
	for _, name := range toolOrder {
		runs := 1
		if name == depprobe {
			runs = pick(scale, 1, 3)
		}
		for range runs {
			argv := b.tools[name].argv("127.0.0.1", b.freePort(), deadline)
			wg.Go(func() {
				p, err := b.launch(argv, []string{"DEPPROBE_TIMEOUT=" + deadline.String()}, nil)
				ok := err == nil && p.wait(ctx, deadline+10*time.Second)
				mu.Lock()
				defer mu.Unlock()
				if !ok {
					fails[name]++
					return
				}
				cpu, _ := p.usage()
				cpus[name] = append(cpus[name], ms(cpu))
			})
		}
	}
	wg.Wait()
	for _, name := range toolOrder {
		r.cells[name] = cell(cpus[name], fails[name], "ms")
	}
	r.met = metIf(cpus[depprobe], func(m float64) bool { return m <= 150 })
	return []row{r}
}

// lateReaction: the dependency starts listening 60–75 s after the tool
// (uniformly, so that its phase against the retry schedule is random); the
// figure is listen → exit 0. The SYNs sent over seconds 50–60 give the
// attempts per second after a minute.
func (b *bench) lateReaction(ctx context.Context, scale int) []row {
	n, nBase := pick(scale, 2, 30), pick(scale, 1, 3)
	from := time.Duration(pick(scale, 15, 60)) * time.Second
	react := row{figure: fmt.Sprintf("reaction when the dependency comes after a minute: listens at %g–%g s → exit 0, defaults (n=%d; others n=%d)", from.Seconds(), from.Seconds()+15, n, nBase), cells: map[string]string{}, budget: "≤ 250 ms median"}
	rate := row{figure: fmt.Sprintf("attempts/s on a refused target after a minute (SYNs over s %g–%g, same runs)", from.Seconds()-10, from.Seconds()), cells: map[string]string{}, budget: "—"}
	var mu sync.Mutex
	res := map[string]*struct {
		react, rate []float64
		fails       int
	}{}
	var wg sync.WaitGroup
	for _, name := range toolOrder {
		res[name] = &struct {
			react, rate []float64
			fails       int
		}{}
		runs := nBase
		if name == depprobe {
			runs = n
		}
		for range runs {
			wg.Go(func() {
				x := res[name]
				fail := func() { mu.Lock(); x.fails++; mu.Unlock() }
				port := b.freePort()
				cnt := b.nft.watch(port)
				defer cnt.remove()
				p, err := b.launch(b.tools[name].argv("127.0.0.1", port, from+60*time.Second), nil, nil)
				if err != nil {
					fail()
					return
				}
				defer p.kill()
				sleepCtx(ctx, from-10*time.Second)
				c0, ok0 := cnt.read()
				sleepCtx(ctx, 10*time.Second)
				c1, ok1 := cnt.read()
				sleepCtx(ctx, time.Duration(rand.Float64()*15*float64(time.Second)))
				select {
				case <-p.done:
					fail() // gave up before anything listened
					return
				default:
				}
				l, err := listen(port)
				listened := time.Now()
				if err != nil {
					fail()
					return
				}
				defer l.Close()
				if !p.wait(ctx, 10*time.Second) || p.exitCode() != 0 {
					fail()
					return
				}
				mu.Lock()
				defer mu.Unlock()
				x.react = append(x.react, ms(p.end.Sub(listened)))
				if ok0 && ok1 {
					x.rate = append(x.rate, float64(c1-c0)/10)
				}
			})
		}
	}
	wg.Wait()
	for _, name := range toolOrder {
		react.cells[name] = cell(res[name].react, res[name].fails, "ms")
		rate.cells[name] = cell(res[name].rate, 0, "/s")
	}
	react.met = metIf(res[depprobe].react, func(m float64) bool { return m <= 250 })
	rows := []row{react}
	if b.nft != nil {
		rows = append(rows, rate)
	}
	return rows
}

// fiveMinutes: depprobe waits five minutes on 10 refused targets, and on
// one: its resident memory every 30 s and at its peak (VmHWM, read just
// before it is stopped), its CPU, and the attempts one target saw.
func (b *bench) fiveMinutes(ctx context.Context, scale int) []row {
	total := time.Duration(pick(scale, 30, 300)) * time.Second
	every := total / 10
	one := func(targets int) (curve []string, peak float64, cpu time.Duration, syns int64, err error) {
		args := []string{b.tools[depprobe].argv("127.0.0.1", 1, 0)[0], "wait"}
		var first *watched
		for i := range targets {
			port := b.freePort()
			if i == 0 {
				first = b.nft.watch(port)
				defer first.remove()
			}
			args = append(args, fmt.Sprintf("tcp://127.0.0.1:%d", port))
		}
		p, err := b.launch(args, []string{"DEPPROBE_TIMEOUT=0"}, nil)
		if err != nil {
			return nil, 0, 0, 0, err
		}
		defer p.kill()
		t0 := time.Now()
		for i := 1; i <= 10 && ctx.Err() == nil; i++ {
			sleepCtx(ctx, time.Until(t0.Add(time.Duration(i)*every)))
			curve = append(curve, strings.TrimSuffix(procMem(p, "VmRSS"), " MB"))
		}
		hwm := procMem(p, "VmHWM")
		cpu = procCPU(p)
		syns, _ = first.read()
		peak, err = strconv.ParseFloat(strings.TrimSuffix(hwm, " MB"), 64)
		return curve, peak, cpu, syns, err
	}
	label := fmt.Sprintf("%g s", every.Seconds())
	ten := row{figure: fmt.Sprintf("`wait` on 10 refused targets for %s: VmRSS every %s (MB); peak (VmHWM); CPU", total, label), cells: map[string]string{}, budget: "≤ 10 MB peak"}
	single := row{figure: fmt.Sprintf("`wait` on 1 refused target for %s: VmRSS every %s (MB); peak; CPU; attempts (SYNs)", total, label), cells: map[string]string{}, budget: "—"}
	for _, r := range []*row{&ten, &single} {
		for _, name := range toolOrder[1:] {
			r.cells[name] = "n/a"
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		curve, peak, cpu, _, err := one(10)
		if err != nil {
			ten.cells[depprobe] = "failed: " + err.Error()
			return
		}
		ten.cells[depprobe] = fmt.Sprintf("%s; peak %.1f MB; CPU %.0f ms", strings.Join(curve, ", "), peak, ms(cpu))
		ten.met = yesNo(peak <= 10)
	})
	wg.Go(func() {
		curve, peak, cpu, syns, err := one(1)
		if err != nil {
			single.cells[depprobe] = "failed: " + err.Error()
			return
		}
		single.cells[depprobe] = fmt.Sprintf("%s; peak %.1f MB; CPU %.0f ms; %d attempts", strings.Join(curve, ", "), peak, ms(cpu), syns)
	})
	wg.Wait()
	return []row{ten, single}
}

// serveRefused: depprobe serve with 100 refused targets: CPU per minute
// once every target has been down long enough for the backoff's ceiling
// to stop growing (s 90–150), then ten of them start listening, one
// after the other: listen → /readyz/NAME answers 200.
func (b *bench) serveRefused(ctx context.Context, scale int) []row {
	from, to := time.Duration(pick(scale, 5, 90))*time.Second, time.Duration(pick(scale, 15, 150))*time.Second
	cpu := row{figure: fmt.Sprintf("`serve`, 100 refused tcp targets: CPU per minute at steady state (s %g–%g)", from.Seconds(), to.Seconds()), cells: map[string]string{}, budget: "≤ 2 s/min"}
	flip := row{figure: fmt.Sprintf("`serve`: a target refused for %g s starts listening → /readyz/NAME answers 200 (n=10, one after the other)", to.Seconds()), cells: map[string]string{}, budget: "≤ 1 s (max)"}
	for _, r := range []*row{&cpu, &flip} {
		for _, name := range toolOrder[1:] {
			r.cells[name] = "n/a"
		}
	}
	rows := []row{cpu, flip}
	ports := make([]int, 100)
	var targets []string
	for i := range ports {
		ports[i] = b.freePort()
		targets = append(targets, fmt.Sprintf("r%03d=tcp://127.0.0.1:%d", i, ports[i]))
	}
	addr := fmt.Sprintf("127.0.0.1:%d", b.freePort())
	p, err := b.launch([]string{b.o.depprobe, "serve"}, []string{"DEPPROBE_LISTEN=" + addr, "DEPPROBE_TARGETS=" + strings.Join(targets, ","), "DEPPROBE_LOG_LEVEL=warn"}, nil)
	if err != nil {
		rows[0].cells[depprobe] = "failed: " + err.Error()
		return rows
	}
	defer p.kill()
	base := "http://" + addr
	if err := waitUp(ctx, p, base+"/livez", 10*time.Second); err != nil {
		rows[0].cells[depprobe] = "not available: " + err.Error()
		return rows
	}
	t0 := time.Now()
	sleepCtx(ctx, time.Until(t0.Add(from)))
	c0, at0 := procCPU(p), time.Now()
	sleepCtx(ctx, time.Until(t0.Add(to)))
	c1 := procCPU(p)
	perMin := ms(c1-c0) / time.Since(at0).Minutes()
	rows[0].cells[depprobe] = fmt.Sprintf("%.0f ms/min (VmRSS %s)", perMin, procMem(p, "VmRSS"))
	rows[0].met = yesNo(perMin <= 2000)
	c := &http.Client{Timeout: time.Second}
	var flips []float64
	fails := 0
	for i := 0; i < 10 && ctx.Err() == nil; i++ {
		l, err := listen(ports[i])
		listened := time.Now()
		if err != nil {
			fails++
			continue
		}
		defer l.Close()
		url := fmt.Sprintf("%s/readyz/r%03d", base, i)
		seen := false
		for time.Since(listened) < 5*time.Second && ctx.Err() == nil {
			resp, err := c.Get(url)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					seen = true
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
		if !seen {
			fails++
			continue
		}
		flips = append(flips, ms(time.Since(listened)))
	}
	rows[1].cells[depprobe] = cell(flips, fails, "ms")
	if len(flips) > 0 && fails == 0 {
		_, _, hi := stats(flips)
		rows[1].met = yesNo(hi <= 1000)
	}
	return rows
}
