package probe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// failHint is fail with a hint of the protocol's own, for a failure whose
// likely cause the protocol knows better than hint's generic words for its
// outcome (a PostgreSQL standby, a Redis loading its dataset).
func failHint(o Outcome, hint string, err error) error {
	return &stepError{outcome: o, err: err, hint: hint}
}

// maxLine caps a protocol's text line (a Redis reply, a NATS INFO), so that
// a peer that never sends a newline cannot make the probe buffer without
// bound.
const maxLine = 64 << 10

// readLine reads one line ending in "\n" of at most maxLine bytes and returns
// it without its "\r\n". A longer line is an Unexpected failure.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		b = append(b, chunk...)
		switch {
		case err == nil:
			return strings.TrimRight(string(b), "\r\n"), nil
		case len(b) > maxLine:
			return "", failf(Unexpected, "a reply line longer than %d bytes", maxLine)
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(b) > 0:
			return "", fmt.Errorf("reply cut short after %q: %w", quoteReply(string(b)), io.ErrUnexpectedEOF)
		default:
			return "", err
		}
	}
}

// quoteReply shortens what a peer sent to a few printable characters, to
// name it in an error without echoing a whole response.
func quoteReply(s string) string { return printable(s, 40) }

// serverText is a message a server sent to explain itself ("Too many
// connections"), made printable and capped at a line's length.
func serverText(s string) string { return printable(s, 200) }

// printable replaces control characters and cuts s after max bytes.
func printable(s string, max int) string {
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

// scrub masks secret in a message a server sent, in case the server echoes
// what it was given (none of the servers depprobe speaks to is known to, but
// a password must never reach a log).
func scrub(msg, secret string) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "xxxxx")
}

// password is the URL's password, empty when it has none.
func (t *Target) password() string {
	if t.url.User == nil {
		return ""
	}
	p, _ := t.url.User.Password()
	return p
}

// username is the URL's user name, empty when it has none.
func (t *Target) username() string {
	if t.url.User == nil {
		return ""
	}
	return t.url.User.Username()
}
