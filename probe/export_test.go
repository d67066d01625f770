package probe

// WithTimer gives a policy the timer that this package's tests wait on
// instead of real time (a fake that fires at once and records the waits).
// It is compiled into tests only: the seam is not part of the API.
func WithTimer(p Policy, t timer) Policy {
	p.timer = t
	return p
}
