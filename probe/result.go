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
	Canceled    = proto.Canceled    // the caller gave up on the attempt (shutdown)
)

// costly reports whether the dependency did work to produce the outcome (it
// accepted a connection, spoke its protocol), so that the retry loop backs
// off further than for a refused connect, which costs the server nothing.
func costly(o Outcome) bool {
	switch o {
	case NotReady, Unexpected, Reset, Closed, AuthFailed, CertInvalid:
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
	Target   string        // the target's name
	URL      string        // the target's URL, redacted
	Host     string        // what the URL names: "db:5432", "/run/app.sock"
	Step     Step          // where the attempt stopped: the failed step, or the last step when OK
	Outcome  Outcome       // how it ended
	Addr     string        // the address that answered, or the one whose failure is reported
	Addrs    []string      // every address the name (every host of the URL) resolved to
	Steps    []StepResult  // every step climbed, in order
	Err      error         // the wrapped cause, nil when OK
	Hint     string        // likely causes in plain words, empty when OK
	Start    time.Time     // when the attempt began
	Duration time.Duration // all steps together
	Limit    time.Duration // the attempt's time limit, zero when it had none
}

// Ready reports whether the attempt found the target ready.
func (r Result) Ready() bool { return r.Outcome == OK }

// Summary is a few words for an endpoint or a short line:
// "ok", "connect refused", "protocol not_ready".
func (r Result) Summary() string {
	switch r.Outcome {
	case OK:
		return string(OK)
	case Canceled:
		return "not yet checked"
	}
	return string(r.Step) + " " + string(r.Outcome)
}

// Diagnosis is the one-line sentence a person reads, e.g.
// `timeout: connect to "db:5432" (10.0.0.7:5432) got no answer within 2s` or
// `refused: connect to "db:5432" (10.0.0.7:5432): connection refused`.
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
