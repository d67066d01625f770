package main

// The figures of `serve`: memory, CPU and /readyz under load.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serve: depprobe serve with 100 ready tcp targets (100 listeners of the
// harness's own). CPU while idle; then /readyz under load from this second
// process: wrk's closed loop (the most it takes; its p99 at saturation is
// mostly queueing on a 2-core machine that also runs wrk) and an open loop
// at a fixed rate (latency from each request's scheduled time, so a stall
// cannot hide); what a /metrics scrape costs; peak RSS (VmHWM) after all
// of them; SIGTERM. (100 refused targets are in the long step: their
// steady state begins after 80 s.)
func (b *bench) serve(ctx context.Context, scale int) {
	rows := map[string]*row{}
	order := []string{"rss", "cpu", "metrics", "wrk", "open"}
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
	mk("cpu", "`serve`, 100 ready tcp targets: CPU per minute, idle", "≤ 0.5 s/min")
	mk("metrics", fmt.Sprintf("`/metrics`, 100 ready targets, one scrape a second for %s: page size; CPU per scrape (less the idle CPU)", idle), "≤ 5 ms and ≤ 256 KB per scrape")
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
	idleCPU := ms(c1-c0) / time.Since(t0).Minutes()
	rows["cpu"].cells[depprobe] = fmt.Sprintf("%.0f ms/min (VmRSS %s)", idleCPU, procMem(p, "VmRSS"))
	rows["cpu"].met = yesNo(idleCPU <= 500)
	// One scrape a second, each a fresh page (pages are shared for a
	// second): the CPU beyond the idle rate, per scrape.
	mc := &http.Client{Timeout: 5 * time.Second}
	var size int64
	scrapes := 0
	t0, c0 = time.Now(), procCPU(p)
	for time.Since(t0) < idle && ctx.Err() == nil {
		next := t0.Add(time.Duration(scrapes+1) * 1100 * time.Millisecond)
		if resp, err := mc.Get("http://" + addr + "/metrics"); err == nil {
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				size, scrapes = n, scrapes+1
			}
		}
		sleepCtx(ctx, time.Until(next))
	}
	c1 = procCPU(p)
	if scrapes > 0 {
		per := (ms(c1-c0) - idleCPU*time.Since(t0).Minutes()) / float64(scrapes)
		rows["metrics"].cells[depprobe] = fmt.Sprintf("%.0f KB; %.2f ms per scrape (%d scrapes)", float64(size)/1e3, per, scrapes)
		rows["metrics"].met = yesNo(per <= 5 && size <= 256<<10)
	}
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
}
