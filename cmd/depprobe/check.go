package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/depprobe/depprobe/internal/kube"
	"github.com/depprobe/depprobe/probe"
)

// check makes one attempt per target, all at once, and prints each
// target's ladder. It returns errNotReady when any target is not ready.
// In a pod, a cause that the targets share is printed first, with its
// evidence.
func check(ctx context.Context, c config, targets []*probe.Target, stdout io.Writer, client *kube.Client) error {
	results := make([]probe.Result, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			actx, cancel := context.WithTimeout(ctx, t.AttemptLimit(c.AttemptTimeout))
			defer cancel()
			results[i] = t.Probe(actx)
		})
	}
	wg.Wait()
	// This pod's own evidence costs two requests, worth them only where
	// the API is asked already: when a cluster step ran (check as an exec
	// probe runs every few seconds, and no limit spans its runs).
	diagnose := c.KubeDiagnosis && slices.ContainsFunc(results, func(r probe.Result) bool {
		return slices.ContainsFunc(r.Steps, func(s probe.StepResult) bool { return s.Step == probe.Cluster })
	})
	if oc, ok := newAnalyst(targets, client, diagnose).analyze(ctx, results); ok {
		for _, l := range oc.lines() {
			fmt.Fprintln(stdout, l)
		}
	}
	var unready, optional []string
	for i, r := range results {
		writeLadder(stdout, r, targets[i].Optional)
		switch {
		case r.Ready():
		case targets[i].Optional:
			optional = append(optional, r.Target)
		default:
			unready = append(unready, r.Target)
		}
	}
	if len(unready) > 0 {
		fmt.Fprintf(stdout, "%d of %s not ready: %s\n", len(unready), count(len(results), "target"), strings.Join(unready, ", "))
		return errNotReady
	}
	if len(optional) > 0 {
		fmt.Fprintf(stdout, "ready: %s; optional, not ready: %s\n", count(len(results)-len(optional), "required target"), strings.Join(optional, ", "))
		return nil
	}
	fmt.Fprintf(stdout, "ready: %s\n", count(len(results), "target"))
	return nil
}

// writeLadder prints one result as the steps it climbed, e.g.
//
//	✗ cache  redis://cache:6379  not ready: connect refused
//	    ✓ resolve  cache               ok       812µs
//	    ✗ connect  10.0.0.9:6379       refused  201µs
//	    ✗ cluster  service/cache       pods_not_ready  9ms
//	    refused: connect to "cache:6379" (10.0.0.9:6379): connection refused; Service "cache" selects ...
//	    hint: the container keeps exiting: ...
//
// In a pod, the cluster step after a failed resolve or connect says in
// its outcome column what the Kubernetes API found.
//
// An optional target's first line says so; it does not count.
func writeLadder(w io.Writer, r probe.Result, optional bool) {
	name := r.Target
	if optional {
		name += " (optional)"
	}
	switch {
	case r.Down:
		fmt.Fprintf(w, "✓ %s  %s  down, as until=down wants, in %s\n", name, r.URL, probe.RoundDuration(r.Duration))
	case r.Ready():
		fmt.Fprintf(w, "✓ %s  %s  ready in %s\n", name, r.URL, probe.RoundDuration(r.Duration))
	default:
		fmt.Fprintf(w, "✗ %s  %s  not ready: %s\n", name, r.URL, r.Summary())
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range r.Steps {
		mark := "✓"
		if s.Outcome != probe.OK {
			mark = "✗"
		}
		addr := s.Addr
		if s.Step == probe.Resolve && s.Outcome == probe.OK && (len(s.Addrs) != 1 || s.Addrs[0] != addr) {
			addr += " → " + strings.Join(s.Addrs, ", ")
		}
		outcome := string(s.Outcome)
		if s.Step == probe.Cluster && r.Step != probe.Cluster && r.Finding != nil {
			// The cluster step explains a failed resolve or connect: its
			// column says what it found.
			outcome = r.Finding.Cause
		}
		fmt.Fprintf(tw, "    %s %s\t%s\t%s\t%s\n", mark, s.Step, addr, outcome, probe.RoundDuration(s.Duration))
	}
	tw.Flush()
	if !r.Ready() {
		fmt.Fprintf(w, "    %s\n", r.Diagnosis())
		if r.Hint != "" {
			fmt.Fprintf(w, "    hint: %s\n", r.Hint)
		}
	}
}

// count says "1 target", "2 targets".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
