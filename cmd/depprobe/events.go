package main

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/depprobe/depprobe/internal/kube"
	"github.com/depprobe/depprobe/probe"
)

// eventInterval is the least time between two Events of one depprobe: a
// verdict that changes faster is published when the interval has passed,
// the latest one only. A variable: tests shorten it.
var eventInterval = 10 * time.Second

// publisher publishes wait's verdict as Events on depprobe's own pod
// (DEPPROBE_KUBE_EVENTS=true), so that kubectl describe pod shows it while
// the wait goes on: one goroutine, the latest verdict only, at most one
// Event per eventInterval, and one only when the verdict changed. The
// verdict is every target's together, once each has had a result: the
// cause they share, or each unready target's step, outcome and cluster
// cause (its diagnosis's text, which may change at every attempt — an
// address, a restart count — is said but makes no new Event). A nil
// *publisher publishes nothing.
type publisher struct {
	client *kube.Client
	an     *analyst
	log    *slog.Logger
	cancel context.CancelFunc

	mu         sync.Mutex
	results    []verdict // per target: its last verdict; key "" before its first result
	shared     verdict   // the cause they share; key "" when none
	pending    string    // the message to publish next; "" none
	pendingKey string    // its verdict
	sentKey    string    // the verdict of the last message published
	wake       chan struct{}
	done       chan struct{}
	warned     bool // a Warning was published: the end is worth an Event too
	stopped    bool
}

// verdict is what the publisher knows of a target, or of the cause the
// targets share: a key that changes with the verdict, and its words.
type verdict struct{ key, text string }

// newPublisher starts the publishing goroutine; finish ends it.
func newPublisher(ctx context.Context, client *kube.Client, an *analyst, log *slog.Logger) *publisher {
	ctx, cancel := context.WithCancel(ctx)
	p := &publisher{client: client, an: an, log: log, cancel: cancel, results: make([]verdict, len(an.targets)), wake: make(chan struct{}, 1), done: make(chan struct{})}
	go p.run(ctx)
	return p
}

// note records target i's result and the cause the targets share (nil:
// none), and asks for the verdict to be published when it changed.
func (p *publisher) note(i int, r probe.Result, shared *oneCause) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if r.Ready() {
		p.results[i] = verdict{key: "ready"}
	} else {
		key := string(r.Step) + " " + string(r.Outcome)
		if r.Finding != nil {
			key += " " + r.Finding.Cause
		}
		p.results[i] = verdict{key: key, text: r.Target + ": " + r.Diagnosis() + " (hint: " + r.Hint + ")"}
	}
	p.shared = verdict{}
	if shared != nil {
		p.shared = verdict{key: "one cause " + shared.cause, text: "one cause: " + shared.text + " (" + strings.Join(shared.evidence, "; ") + ")"}
	}
	key, msg := p.verdict()
	if p.stopped || key == "" || key == p.sentKey {
		p.pending, p.pendingKey = "", "" // nothing new: no Event
		p.mu.Unlock()
		return
	}
	p.pending, p.pendingKey = msg, key
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// verdict is every target's together: key "" while a target has had no
// result, or when every one is ready. p.mu is held.
func (p *publisher) verdict() (key, msg string) {
	var keys, texts []string
	for i, v := range p.results {
		switch v.key {
		case "":
			return "", ""
		case "ready":
		default:
			keys = append(keys, strconv.Itoa(i)+" "+v.key)
			texts = append(texts, v.text)
		}
	}
	if len(keys) == 0 {
		return "", ""
	}
	if p.shared.key != "" {
		return p.shared.key, p.shared.text
	}
	return strings.Join(keys, "\n"), strings.Join(texts, "; ")
}

func (p *publisher) run(ctx context.Context) {
	defer close(p.done)
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		if wait := time.Until(last.Add(eventInterval)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		p.mu.Lock()
		msg, key := p.pending, p.pendingKey
		p.pending, p.pendingKey = "", ""
		p.mu.Unlock()
		if msg == "" {
			continue
		}
		last = time.Now()
		if !p.publish(ctx, "Warning", msg, key) {
			return
		}
	}
}

// publish sends one Event of the verdict key; false when the API forbids
// it, which ends the publishing (one debug line says so).
func (p *publisher) publish(ctx context.Context, typ, msg, key string) bool {
	uid := ""
	if self := p.an.pod(); self != nil {
		uid = self.UID
	} else if self := p.an.lookupSelf(ctx); self != nil {
		uid = self.UID
	}
	reason := kube.EventReason
	if typ == "Normal" {
		reason = "DependenciesReady"
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probe.ClusterTimeout)
	defer cancel()
	err := p.client.Event(cctx, uid, typ, reason, msg)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		p.sentKey = key
		p.warned = p.warned || typ == "Warning"
		return true
	}
	if fe := (*kube.ForbiddenError)(nil); errors.As(err, &fe) {
		p.stopped = true
		p.log.Debug("no Events", slog.String("reason", err.Error()))
		return false
	}
	p.log.Debug("an Event was not published", slog.String("reason", err.Error()))
	return true
}

// finish stops the goroutine and publishes the wait's end at once: the
// give-up's key sentence (a Warning), or, after a Warning, that every
// dependency is ready.
func (p *publisher) finish(ctx context.Context, ready bool, msg string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.pending, p.pendingKey = "", ""
	stopped, warned := p.stopped, p.warned
	p.stopped = true
	p.mu.Unlock()
	p.cancel()
	<-p.done
	if stopped || ready && !warned {
		return
	}
	typ := "Warning"
	if ready {
		typ = "Normal"
	}
	p.publish(ctx, typ, msg, "end")
}
