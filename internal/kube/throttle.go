package kube

import (
	"sync"
	"time"
)

// The spacing of one target's lookups: at least LookupInterval apart, and
// while a lookup finds the cause the one before it found (its words may
// change: a restart count, a pod's name), twice as far apart each time, up
// to MaxLookupInterval. A new symptom (the socket's outcome changed, an
// object's status moved) is looked up at once, but not within
// MinLookupInterval of the last lookup.
const (
	LookupInterval    = 10 * time.Second
	MaxLookupInterval = 80 * time.Second
	MinLookupInterval = 2 * time.Second
)

// Throttle spaces the lookups of one target and keeps the last finding,
// which stands for the target until the next lookup. It is safe for
// concurrent use; one Throttle serves one target.
type Throttle struct {
	now func() time.Time

	mu       sync.Mutex
	has      bool
	key      string
	last     Finding
	lastErr  error
	at       time.Time     // when the last lookup began
	interval time.Duration // until the next lookup of the same key
}

// NewThrottle returns a Throttle on the clock now (time.Now when nil).
func NewThrottle(now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{now: now, interval: LookupInterval}
}

// Lookup returns the last finding (and its error) while key is the last
// lookup's and its interval has not passed; otherwise it calls f and keeps
// what f returns.
func (t *Throttle) Lookup(key string, f func() (Finding, error)) (Finding, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	since := now.Sub(t.at)
	if t.has && (key == t.key && since < t.interval || key != t.key && since < MinLookupInterval) {
		return t.last, t.lastErr
	}
	found, err := f()
	switch {
	case !t.has || key != t.key || err != nil || t.lastErr != nil || found.Cause != t.last.Cause || found.Object != t.last.Object:
		t.interval = LookupInterval
	default:
		t.interval = min(2*t.interval, MaxLookupInterval)
	}
	t.has, t.key, t.last, t.lastErr, t.at = true, key, found, err, now
	return found, err
}
