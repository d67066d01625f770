//go:build ignore

// readyz-load sends GETs at a fixed rate (open loop: a request is sent on
// schedule whether or not the ones before have answered, as kubelets and
// scrapers do) over a few keep-alive connections, and prints requests/s,
// latency percentiles measured from each request's scheduled time, and
// errors. wrk measures the other thing, the most a closed loop can push.
//
//	go run bench/readyz-load.go -url http://127.0.0.1:3377/readyz -rate 2000 -d 10s
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	var (
		url   = flag.String("url", "http://127.0.0.1:3377/readyz", "what to GET")
		rate  = flag.Int("rate", 1000, "requests per second")
		dur   = flag.Duration("d", 10*time.Second, "how long")
		conns = flag.Int("c", 8, "keep-alive connections (concurrent requests at most)")
	)
	flag.Parse()
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns},
	}
	var (
		mu       sync.Mutex
		lat      []time.Duration
		errs     int
		statuses = map[int]int{}
		wg       sync.WaitGroup
		sem      = make(chan struct{}, *conns*4) // bounded: a stalled server shows up as latency, not as unbounded goroutines
	)
	total := int(dur.Seconds() * float64(*rate))
	every := time.Second / time.Duration(*rate)
	start := time.Now()
	for i := range total {
		at := start.Add(time.Duration(i) * every)
		time.Sleep(time.Until(at))
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			resp, err := client.Get(*url)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			d := time.Since(at)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs++
				return
			}
			statuses[resp.StatusCode]++
			lat = append(lat, d)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	fmt.Printf("%d requests in %s: %.0f req/s; latency p50 %s p90 %s p99 %s p99.9 %s max %s; errors %d; status %v\n",
		len(lat)+errs, elapsed.Round(time.Millisecond), float64(len(lat)+errs)/elapsed.Seconds(),
		pct(.50).Round(time.Microsecond), pct(.90).Round(time.Microsecond), pct(.99).Round(time.Microsecond),
		pct(.999).Round(time.Microsecond), pct(1).Round(time.Microsecond), errs, statuses)
	if errs > 0 {
		os.Exit(1)
	}
}
