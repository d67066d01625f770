package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/depprobe/depprobe/internal/kube"
	"github.com/depprobe/depprobe/probe"
)

// wait probes every target concurrently until all are ready (nil), or
// gives up: DEPPROBE_TIMEOUT, a target's fatal outcome or too many timeouts
// (which end the whole wait: the app cannot start without that target), or
// a signal; in a pod, also a cause of all targets that the API makes
// certain (a mesh proxy that cannot start before this wait ends). Giving
// up logs one ERROR line per unready target, and the cause they share
// first when there is one, and writes the termination message. With
// DEPPROBE_KUBE_EVENTS, the verdict is published as Events on the pod
// while the wait goes on.
func wait(ctx context.Context, c config, targets []*probe.Target, log *slog.Logger, client *kube.Client) error {
	rep := probe.NewReporter(log, 0, nil) // elapsed counts from here
	log.Info("waiting for dependencies",
		slog.String("targets", describeTargets(targets)),
		slog.String("timeout", c.Timeout.String()),
		slog.String("attempt_timeout", c.AttemptTimeout.String()),
		slog.Int("max_timeouts", c.MaxTimeouts),
		slog.String("backoff", c.describeBackoff()),
	)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.Timeout > 0 {
		wctx, cancel = context.WithTimeout(wctx, c.Timeout)
		defer cancel()
	}
	// Optional targets are probed and logged alongside, but not waited for:
	// their probing stops once the others are done and each has had its
	// first attempt, so the log says how they were.
	octx, stopOptional := context.WithCancel(wctx)
	defer stopOptional()
	var (
		results             = make([]probe.Result, len(targets))
		errs                = make([]error, len(targets))
		wg, optWG, optFirst sync.WaitGroup
		an                  = newAnalyst(targets, client, c.KubeDiagnosis)
		pub                 *publisher
		certain             struct {
			sync.Mutex
			cause *oneCause
		}
	)
	if c.KubeEvents && client != nil {
		pub = newPublisher(ctx, client, an, log)
	}
	// observe logs a result and reads every target's together: a cause
	// that the API makes certain ends the wait.
	observe := func(i int, r probe.Result) {
		rep.Observe(ctx, r)
		oc, ok := an.observe(ctx, i, r)
		switch {
		case ok && oc.certain:
			certain.Lock()
			if certain.cause == nil {
				certain.cause = &oc
				cancel()
			}
			certain.Unlock()
		case ok:
			pub.note(i, r, &oc)
		case r.Outcome != probe.Canceled:
			pub.note(i, r, nil)
		}
	}
	for i, t := range targets {
		if t.Optional {
			optFirst.Add(1)
			first := sync.OnceFunc(optFirst.Done)
			optWG.Go(func() {
				defer first()
				probe.Wait(octx, t, c.policy(), func(r probe.Result) { observe(i, r); first() })
			})
			continue
		}
		wg.Go(func() {
			results[i], errs[i] = probe.Wait(wctx, t, c.policy(), func(r probe.Result) { observe(i, r) })
			if errs[i] != nil && wctx.Err() == nil {
				cancel() // this target cannot become ready: stop waiting for the others
			}
		})
	}
	wg.Wait()
	optFirst.Wait()
	stopOptional()
	optWG.Wait()
	elapsed := rep.Elapsed().Round(time.Millisecond)

	var unready []int
	for i, t := range targets {
		if errs[i] != nil && !t.Optional {
			unready = append(unready, i)
		}
	}
	if len(unready) == 0 {
		log.Info("all dependencies ready", slog.Int("targets", len(targets)), slog.String("elapsed", elapsed.String()))
		pub.finish(ctx, true, fmt.Sprintf("every dependency is ready after %s", elapsed))
		return nil
	}
	// Why the wait ended: the first target's own reason, else the deadline
	// or the signal.
	var why error
	for _, i := range unready {
		if errors.Is(errs[i], probe.ErrTimeouts) {
			errs[i] = fmt.Errorf("%w (DEPPROBE_MAX_TIMEOUTS=%d)", errs[i], c.MaxTimeouts)
		}
	}
	for _, i := range unready {
		if !errors.Is(errs[i], context.Canceled) && !errors.Is(errs[i], context.DeadlineExceeded) {
			why = errs[i]
			break
		}
	}
	certain.Lock()
	oc, shared := certain.cause, certain.cause != nil
	certain.Unlock()
	switch {
	case why != nil:
	case shared:
		why = fmt.Errorf("%w: %s", probe.ErrFatal, oc.cause)
	case ctx.Err() != nil:
		why = errors.New("interrupted by a signal")
	default:
		why = fmt.Errorf("DEPPROBE_TIMEOUT=%s reached", c.Timeout)
	}
	if !shared {
		var found oneCause
		found, shared = an.analyze(ctx, an.snapshot())
		oc = &found
	}
	var lines []string
	if shared {
		// Said first: the cause the targets share, then each target.
		log.Error("gave up: one cause", slog.String("cause", oc.cause), slog.String("err", oc.text),
			slog.String("evidence", strings.Join(oc.evidence, "; ")), slog.String("hint", oc.hint))
		lines = append(lines, oc.lines()...)
	}
	for _, i := range unready {
		r, reason := results[i], errs[i]
		if !errors.Is(reason, probe.ErrFatal) && !errors.Is(reason, probe.ErrTimeouts) && !errors.Is(reason, probe.ErrDeadline) {
			reason = why
		}
		// A target whose first attempt the end of the wait cut short is
		// reported as not yet checked (probe.Wait returns that attempt).
		rep.GaveUp(ctx, r, reason, elapsed)
		lines = append(lines, fmt.Sprintf("%s: %s", r.Target, r.Diagnosis()), "  hint: "+r.Hint)
	}
	// The key sentence must fit Kubernetes' 4096 bytes whole: name eight
	// targets at most.
	var names []string
	for j, i := range unready {
		if j == 8 {
			names = append(names, fmt.Sprintf("and %d more", len(unready)-j))
			break
		}
		names = append(names, fmt.Sprintf("%s (%s)", targets[i].Name, results[i].Summary()))
	}
	key := fmt.Sprintf("depprobe gave up after %s (%s): not ready: %s", elapsed, why, strings.Join(names, ", "))
	if shared {
		key = fmt.Sprintf("depprobe gave up after %s (%s): one cause: %s; not ready: %s", elapsed, why, oc.text, strings.Join(names, ", "))
	}
	pub.finish(ctx, false, key)
	writeTerminationLog(c.TerminationLog, lines, key, log)
	return errNotReady
}

// terminationLimit is what Kubernetes keeps of a termination message.
const terminationLimit = 4096

// defaultTerminationLog is where Kubernetes reads a container's
// termination message from.
const defaultTerminationLog = "/dev/termination-log"

// writeTerminationLog writes the diagnosis for `kubectl describe pod`: the
// details, then the key sentence last, cut from the front to 4096 bytes.
// The default path is only written when it exists (Kubernetes creates it),
// so that a run outside Kubernetes, even as root, leaves nothing in /dev; a
// path of the user's choosing is created, and a missing directory is no
// error.
func writeTerminationLog(path string, lines []string, key string, log *slog.Logger) {
	if path == "" {
		return
	}
	msg := strings.Join(append(lines, key), "\n") + "\n"
	if len(msg) > terminationLimit {
		msg = "…" + msg[len(msg)-terminationLimit+len("…"):]
	}
	flags := os.O_WRONLY | os.O_TRUNC
	if path != defaultTerminationLog {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err == nil {
		_, err = f.WriteString(msg)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("cannot write the termination message", slog.String("path", path), slog.String("err", err.Error()))
	}
}

func describeTargets(targets []*probe.Target) string {
	parts := make([]string, len(targets))
	for i, t := range targets {
		parts[i] = t.Name + "=" + t.URL()
	}
	return strings.Join(parts, ", ")
}
