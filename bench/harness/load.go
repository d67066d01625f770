package main

// Load generation and the HTTP servers and clients the figures use.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"
)

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
