package probe

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/depprobe/depprobe/probe/proto"
)

// Step is a rung of the diagnosis ladder. An attempt climbs the steps in
// order and stops at the first that fails.
type Step string

// The steps, in the order an attempt climbs them. A scheme skips the steps it
// has no use for: unix:// has no resolve step, tcp:// no tls or protocol step.
const (
	Resolve  Step = "resolve"  // the host name becomes addresses
	Connect  Step = "connect"  // a stream connection to one of them
	TLS      Step = "tls"      // a verified TLS handshake
	Protocol Step = "protocol" // the dependency's own answer
	// Cluster asks the Kubernetes API: after a failed resolve or connect
	// of a Service name, what the API says one level up (the attempt's
	// outcome stays the socket's); for a k8s:// target, the only step.
	Cluster Step = "cluster"
)

// Outcome is how an attempt ended. It is defined in probe/proto, where the
// protocol checks name the outcomes they know for sure; Fatal and TimedOut
// are its verdicts in the retry loop.
type Outcome = proto.Outcome

// The outcomes.
const (
	OK          = proto.OK          // ready
	NotFound    = proto.NotFound    // the name does not exist (NXDOMAIN)
	DNSError    = proto.DNSError    // the resolver failed (SERVFAIL, no answer)
	Refused     = proto.Refused     // RST: nothing listens on that address and port
	Reset       = proto.Reset       // accepted, then reset before answering
	Closed      = proto.Closed      // accepted, then closed before answering
	NotReady    = proto.NotReady    // the protocol answered "not yet"
	Unexpected  = proto.Unexpected  // an answer, but not the expected one
	Timeout     = proto.Timeout     // no answer within the attempt's time
	Unreachable = proto.Unreachable // no route, or an ICMP reject
	CertInvalid = proto.CertInvalid // the certificate does not verify
	AuthFailed  = proto.AuthFailed  // the credentials were rejected
	Forbidden   = proto.Forbidden   // the Kubernetes API denied depprobe's service account (403)
	Canceled    = proto.Canceled    // the caller gave up on the attempt (shutdown)
)

// costly reports whether the dependency did work to produce the outcome (it
// accepted a connection, spoke its protocol), so that the retry loop backs
// off further than for a refused connect, which costs the server nothing.
func costly(o Outcome) bool {
	switch o {
	case NotReady, Unexpected, Reset, Closed, AuthFailed, CertInvalid, Forbidden:
		return true
	}
	return false
}

// StepResult is what one step did. A name with several addresses gives one
// connect StepResult per address.
type StepResult struct {
	Step     Step
	Addr     string        // the address or path the step worked on; empty for resolve of a literal
	Addrs    []string      // resolve: the addresses the name resolved to
	Duration time.Duration // how long the step took
	Outcome  Outcome       // OK when the step passed
	Err      error         // the cause when it failed
}

// Result is the typed outcome of one attempt on one target. A Result is a
// value: it is safe to copy and to share once returned. Nothing in it holds a
// secret: URL is redacted, and errors never carry the URL's userinfo.
type Result struct {
	Target  string       // the target's name
	URL     string       // the target's URL, redacted
	Host    string       // what the URL names: "db:5432", "/run/app.sock"
	Step    Step         // where the attempt stopped: the failed step, or the last step when OK
	Outcome Outcome      // how it ended
	Addr    string       // the address that answered, or the one whose failure is reported
	Addrs   []string     // every address the name (every host of the URL) resolved to
	Steps   []StepResult // every step climbed, in order
	Err     error        // the wrapped cause, nil when OK
	Hint    string       // likely causes in plain words, empty when OK
	// Finding is what the cluster step learned from the Kubernetes API;
	// nil when it did not run or had nothing to add. When set, Hint is its.
	Finding  *Finding
	Start    time.Time     // when the attempt began
	Duration time.Duration // all steps together
	Limit    time.Duration // the attempt's time limit, zero when it had none
	// Down: an until=down target found nothing answering, which makes it
	// ready; Steps say how (connect refused, name not found).
	Down bool
}

// Ready reports whether the attempt found the target ready.
func (r Result) Ready() bool { return r.Outcome == OK }

// Fatal reports whether waiting cannot fix what the attempt found: a fatal
// outcome (cert_invalid, auth_failed, forbidden), or a finding the
// Kubernetes API makes certain (a failed Job, a workload scaled to zero,
// an image that does not exist).
func (r Result) Fatal() bool {
	return !r.Ready() && (r.Outcome.Fatal() || r.Finding != nil && r.Finding.Certain)
}

// Finding is what the Kubernetes API says about a target: the cause one
// level up of a socket's failure (the Service has no ready endpoint, its
// pods crash), or the state of a k8s:// target's object.
type Finding struct {
	Cause     string // a stable word: "pods_not_ready", "service_missing", "job_failed", …; "ready" for a ready object
	Namespace string // the namespace of Object
	Object    string // what it is about, as kubectl names it: "service/db", "job/migrate"
	Text      string // what was found, naming the objects
	Hint      string // the fix
	Certain   bool   // the API makes it certain that waiting cannot fix it
}

// Summary is a few words for an endpoint or a short line:
// "ok", "connect refused", "protocol not_ready"; with what the Kubernetes
// API found, "connect refused, pods_not_ready", "cluster not_ready, job_failed".
func (r Result) Summary() string {
	switch r.Outcome {
	case OK:
		return string(OK)
	case Canceled:
		return "not yet checked"
	}
	if r.Finding != nil {
		return string(r.Step) + " " + string(r.Outcome) + ", " + r.Finding.Cause
	}
	return string(r.Step) + " " + string(r.Outcome)
}

// Diagnosis is the one-line sentence a person reads, e.g.
// `timeout: connect to "db:5432" (10.0.0.7:5432) got no answer within 2s` or
// `refused: connect to "db:5432" (10.0.0.7:5432): connection refused`.
// When the cluster step found the cause one level up, its sentence
// follows: `…: connection refused; Service "db" selects 1 pod (app=db),
// none ready: …`; for a k8s:// target it is the whole diagnosis.
// It is empty when the attempt succeeded. An attempt cut short by its
// caller (Canceled) is "not yet checked", with the time it had spent and
// the step it was in.
func (r Result) Diagnosis() string {
	switch {
	case r.Outcome == OK:
		return ""
	case r.Outcome == Canceled && r.Step == "":
		return fmt.Sprintf("not yet checked: the attempt was cut short after %s", RoundDuration(r.Duration))
	case r.Outcome == Canceled:
		return fmt.Sprintf("not yet checked: the attempt was cut short after %s, in the %s step with %q", RoundDuration(r.Duration), r.Step, r.Host)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", r.Outcome)
	if r.Step == Cluster { // a k8s:// target: the API's answer is the diagnosis
		if r.Finding != nil {
			b.WriteString(r.Finding.Text)
		} else if r.Err != nil {
			b.WriteString(cause(r.Err))
		}
		return b.String()
	}
	switch r.Step {
	case Resolve:
		fmt.Fprintf(&b, "resolve %q", hostOnly(r.Host))
	case Connect:
		fmt.Fprintf(&b, "connect to %q", r.Host)
	case TLS:
		fmt.Fprintf(&b, "tls handshake with %q", r.Host)
	default:
		fmt.Fprintf(&b, "%s with %q", r.Step, r.Host)
	}
	if r.Addr != "" && r.Addr != r.Host && r.Step != Resolve {
		fmt.Fprintf(&b, " (%s)", r.Addr)
	}
	if r.Outcome == Timeout && r.Limit > 0 {
		fmt.Fprintf(&b, " got no answer within %s", RoundDuration(r.Limit.Round(time.Millisecond)))
	} else if r.Err != nil {
		fmt.Fprintf(&b, ": %s", cause(r.Err))
	}
	if r.Finding != nil {
		fmt.Fprintf(&b, "; %s", r.Finding.Text)
	}
	return b.String()
}

// hostOnly drops the port from "host:port".
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// cause is the innermost words of err that add something: "connection
// refused" rather than "dial tcp 10.0.0.7:5432: connect: connection refused",
// which repeats what the sentence already says.
func cause(err error) string {
	var (
		errno  syscall.Errno
		dnsErr *net.DNSError
		f      *proto.Failure
	)
	switch {
	case errors.As(err, &f):
		return f.Err.Error()
	case errors.As(err, &dnsErr):
		return dnsErr.Err
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the server closed the connection without answering"
	}
	return err.Error()
}

// StepDurations renders the per-step durations, e.g.
// "resolve=1.2ms connect=310µs protocol=2ms".
func (r Result) StepDurations() string {
	var b strings.Builder
	for i, s := range r.Steps {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", s.Step, RoundDuration(s.Duration))
	}
	return b.String()
}

// RoundDuration keeps about three significant digits, enough for a person.
func RoundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}
