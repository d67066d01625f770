// Package proto is what every protocol check below probe shares: the input
// a check gets (never the target itself), the outcomes it may name, the
// failure that carries an outcome and a hint, and the helpers that bound
// and clean what a peer sends.
//
// It is the leaf of the probe tree: the protocol packages (proto/http,
// proto/postgres, …) import it and the standard library, never probe or
// each other. It knows nothing of targets, the ladder, retries, logs or
// environment variables.
package proto

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
)

// Input is what a protocol's check knows of its target: where it is, who to
// log in as, and the TLS config of the ladder's handshake. It is built once
// per target and only read: safe to share between concurrent attempts.
// Password is a secret: a check sends it only to the dependency and masks it
// (Scrub) in any text a server sends back.
type Input struct {
	// Addr is what the URL names, as results show it: "db:5432" (the
	// default port filled in), "/run/app.sock" for unix:// and file://.
	Addr string
	// Host is the URL's host name or IP literal, without port or brackets.
	Host string
	// Authority is the URL's host and port as written ("api", "api:8443"),
	// for HTTP's Host header.
	Authority string
	// User and Password are the URL's; HasUser and HasPassword tell an
	// empty one from none (mqtt://@host, redis://:@host).
	User, Password       string
	HasUser, HasPassword bool
	// Path is the URL's path, unescaped ("/app"; "" when none); for
	// unix:// and file:// the cleaned absolute path.
	Path string
	// RequestURI is the path and query as written, "/" when both are
	// empty: what an HTTP request asks for.
	RequestURI string
	// TLS is the config of the ladder's TLS step; nil for a scheme without
	// TLS. A check reads it (e.g. to say https in a request), never changes it.
	TLS *tls.Config
	// UserAgent is what a check that speaks HTTP sends:
	// "depprobe/<version>", the version the command prints.
	UserAgent string
}

// Outcome is how an attempt ended.
type Outcome string

// The outcomes. Each has a verdict in the retry loop: see Outcome.Fatal and
// Outcome.TimedOut.
const (
	OK          Outcome = "ok"           // ready
	NotFound    Outcome = "not_found"    // the name does not exist (NXDOMAIN)
	DNSError    Outcome = "dns_error"    // the resolver failed (SERVFAIL, no answer)
	Refused     Outcome = "refused"      // RST: nothing listens on that address and port
	Reset       Outcome = "reset"        // accepted, then reset before answering
	Closed      Outcome = "closed"       // accepted, then closed before answering
	NotReady    Outcome = "not_ready"    // the protocol answered "not yet"
	Unexpected  Outcome = "unexpected"   // an answer, but not the expected one
	Timeout     Outcome = "timeout"      // no answer within the attempt's time
	Unreachable Outcome = "unreachable"  // no route, or an ICMP reject
	CertInvalid Outcome = "cert_invalid" // the certificate does not verify
	AuthFailed  Outcome = "auth_failed"  // the credentials were rejected
	Forbidden   Outcome = "forbidden"    // the Kubernetes API denied depprobe's service account (403)
	Canceled    Outcome = "canceled"     // the caller gave up on the attempt (shutdown)
)

// Fatal reports whether waiting cannot fix the outcome, so that a wait gives
// up at once.
func (o Outcome) Fatal() bool { return o == CertInvalid || o == AuthFailed || o == Forbidden }

// TimedOut reports whether the outcome counts towards the consecutive
// timeouts that make a wait give up: packets that vanish (a firewall) and
// ICMP rejects (no route) rarely go away by waiting.
func (o Outcome) TimedOut() bool { return o == Timeout || o == Unreachable }

// Failure is a failure whose outcome the check knows for sure (a protocol
// that said "not yet", a status out of range). A check returns other errors
// (I/O errors) as they are; the ladder classifies those.
type Failure struct {
	Outcome Outcome
	Err     error
	Hint    string // the protocol's own hint; empty: the ladder's words for the outcome
}

func (e *Failure) Error() string { return e.Err.Error() }
func (e *Failure) Unwrap() error { return e.Err }

// Fail wraps err with the outcome it stands for.
func Fail(o Outcome, err error) error { return &Failure{Outcome: o, Err: err} }

// Failf is Fail with a formatted message.
func Failf(o Outcome, format string, args ...any) error {
	return &Failure{Outcome: o, Err: fmt.Errorf(format, args...)}
}

// FailHint is Fail with a hint of the protocol's own, for a failure whose
// likely cause the protocol knows better than the generic words for its
// outcome (a PostgreSQL standby, a Redis loading its dataset).
func FailHint(o Outcome, hint string, err error) error {
	return &Failure{Outcome: o, Err: err, Hint: hint}
}

// Check is a protocol step on an established connection (after TLS when
// the scheme has it), with the scheme's options bound. It returns nil when
// ready, a *Failure naming the outcome, or an I/O error for the ladder to
// classify. ctx's deadline is already the connection's.
type Check func(ctx context.Context, conn net.Conn, in Input) error

// Transport reports whether err came from the connection (a timeout, a
// reset, an end of stream, a cancellation) rather than from what the peer
// said: a check returns those as they are, for the ladder to classify, and
// turns the others into an Unexpected failure.
func Transport(err error) bool {
	var (
		errno  syscall.Errno
		netErr net.Error
	)
	return errors.As(err, &errno) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// IsTimeout reports whether err is a deadline that passed (the attempt's
// own), for a check that dials a connection of its own.
func IsTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout()
}

// RedactURL prints a URL with its password and every query value masked.
// A user name without a password is masked too, since that is where a
// token goes (https://TOKEN@host); for http and https the whole userinfo
// is. The fragment is dropped.
func RedactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		_, hasPassword := c.User.Password()
		if hasPassword && c.Scheme != "http" && c.Scheme != "https" {
			c.User = url.UserPassword(c.User.Username(), "xxxxx")
		} else {
			c.User = url.User("xxxxx")
		}
	}
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			q[k] = []string{"xxxxx"}
		}
		c.RawQuery = q.Encode()
	}
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}

// UnwrapURLError drops a *url.Error's copy of the URL, which may hold a
// secret, and returns what went wrong with it.
func UnwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// NoRow is the failure of a query= that returned no row: not_ready, since
// what it looks for (a migration, a row) may not be there yet.
func NoRow(in Input) error {
	return FailHint(NotReady,
		fmt.Sprintf("the query= of %s returned no row yet: is what it looks for (a migration, a row) not there yet, or does the query look in the wrong place?", in.Addr),
		errors.New("query= returned no row"))
}

// MaxLine caps a protocol's text line (a Redis reply, a NATS INFO), so that
// a peer that never sends a newline cannot make the probe buffer without
// bound.
const MaxLine = 64 << 10

// ReadLine reads one line ending in "\n" of at most MaxLine bytes and returns
// it without its "\r\n". A longer line is an Unexpected failure.
func ReadLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		b = append(b, chunk...)
		switch {
		case err == nil:
			return strings.TrimRight(string(b), "\r\n"), nil
		case len(b) > MaxLine:
			return "", Failf(Unexpected, "a reply line longer than %d bytes", MaxLine)
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(b) > 0:
			return "", fmt.Errorf("reply cut short after %q: %w", QuoteReply(string(b)), io.ErrUnexpectedEOF)
		default:
			return "", err
		}
	}
}

// QuoteReply shortens what a peer sent to a few printable characters, to
// name it in an error without echoing a whole response.
func QuoteReply(s string) string { return Printable(s, 40) }

// ServerText is a message a server sent to explain itself ("Too many
// connections"), made printable and capped at a line's length.
func ServerText(s string) string { return Printable(s, 200) }

// Printable replaces control characters and cuts s after max bytes.
func Printable(s string, max int) string {
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '.'
		}
		return r
	}, s)
}

// Scrub masks secret in a message a server sent, in case the server echoes
// what it was given (none of the servers depprobe speaks to is known to, but
// a password must never reach a log).
func Scrub(msg, secret string) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "xxxxx")
}

// Unescape decodes the %XX escapes of an option value that holds free text
// (a request body, a header value, send= and expect=, a query): an option
// cannot hold a blank, a comma that is followed by another target, or a
// control byte, so those are written as in a URL (%20 a blank, %2C a comma,
// %0D%0A a line break, %25 a percent sign). Every option that takes text
// uses this one rule. The error never shows the value, which may be a
// secret.
func Unescape(v string) (string, error) {
	d, err := url.PathUnescape(v)
	if err != nil {
		return "", errors.New("a % starts no %XX escape (write %25 for a percent sign)")
	}
	return d, nil
}
