package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/depprobe/depprobe/internal/kube"
	"github.com/depprobe/depprobe/probe"
)

// eventInterval is the least time between two Events of one depprobe: a
// verdict that changes faster is published when the interval has passed,
// the latest one only.
const eventInterval = 10 * time.Second

// publisher publishes wait's verdict as Events on depprobe's own pod
// (DEPPROBE_KUBE_EVENTS=true), so that kubectl describe pod shows it while
// the wait goes on: one goroutine, the latest message only, at most one
// Event per eventInterval. A nil *publisher publishes nothing.
type publisher struct {
	client *kube.Client
	an     *analyst
	log    *slog.Logger
	cancel context.CancelFunc

	mu      sync.Mutex
	pending string // the message to publish next; "" none
	sent    string // the last message published
	wake    chan struct{}
	done    chan struct{}
	warned  bool // a Warning was published: the end is worth an Event too
	stopped bool
}

// newPublisher starts the publishing goroutine; stop ends it.
func newPublisher(ctx context.Context, client *kube.Client, an *analyst, log *slog.Logger) *publisher {
	ctx, cancel := context.WithCancel(ctx)
	p := &publisher{client: client, an: an, log: log, cancel: cancel, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go p.run(ctx)
	return p
}

// note asks for msg to be published, replacing what is pending.
func (p *publisher) note(msg string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if msg == p.sent || p.stopped {
		p.mu.Unlock()
		return
	}
	p.pending = msg
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
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
		msg := p.pending
		p.pending = ""
		p.mu.Unlock()
		if msg == "" {
			continue
		}
		last = time.Now()
		if !p.publish(ctx, "Warning", msg) {
			return
		}
	}
}

// publish sends one Event; false when the API forbids it, which ends the
// publishing (one debug line says so).
func (p *publisher) publish(ctx context.Context, typ, msg string) bool {
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
		p.sent = msg
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
	p.pending = ""
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
	p.publish(ctx, typ, msg)
}
