package proto

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxExpectBytes is how many bytes of an answer an expectation looks at:
// the start of an HTTP body, what a TCP peer sent. A match further on is
// not seen; a longer answer is cut, never buffered whole.
const MaxExpectBytes = 64 << 10

// Expect is what an answer must contain: a substring (option expect=) or
// an RE2 regular expression (option expect_re=). The zero value expects
// nothing and matches every answer. It is safe for concurrent use.
type Expect struct {
	sub string
	re  *regexp.Regexp
}

// ExpectSubstring builds the expectation of option expect=: the answer
// contains s, byte for byte. An empty s is an error.
func ExpectSubstring(s string) (Expect, error) {
	if s == "" {
		return Expect{}, errors.New("want a non-empty text to find")
	}
	return Expect{sub: s}, nil
}

// ExpectRegexp builds the expectation of option expect_re=: the answer
// matches the RE2 expression (https://github.com/google/re2/wiki/Syntax);
// a bad expression is an error that says where.
func ExpectRegexp(expr string) (Expect, error) {
	if expr == "" {
		return Expect{}, errors.New("want a non-empty regular expression")
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		var syn *syntax.Error
		if errors.As(err, &syn) {
			return Expect{}, fmt.Errorf("not an RE2 regular expression: %s in %#q", syn.Code, syn.Expr)
		}
		return Expect{}, fmt.Errorf("not an RE2 regular expression: %v", err)
	}
	return Expect{re: re}, nil
}

// Set reports whether the expectation expects something.
func (e Expect) Set() bool { return e.sub != "" || e.re != nil }

// String is the expectation as a person reads it: `"green"` or `/^ok$/`.
// The expectation comes from the configuration, not from the peer: it is
// not a secret.
func (e Expect) String() string {
	switch {
	case e.re != nil:
		return "/" + e.re.String() + "/"
	case e.sub != "":
		return strconv.Quote(e.sub)
	}
	return "anything"
}

// Match checks the answer b (its first MaxExpectBytes bytes: callers read
// no more). It returns nil when the answer matches, else an error that says what was expected and what was found: the found text is
// the answer's start, printable and cut to a few dozen characters (an
// answer may hold a secret: it is never echoed whole). what names the
// answer ("the body", "the reply"). Callers choose the outcome.
func (e Expect) Match(what string, b []byte) error {
	if len(b) > MaxExpectBytes {
		b = b[:MaxExpectBytes]
	}
	switch {
	case e.re != nil && e.re.Match(b):
		return nil
	case e.re == nil && (e.sub == "" || bytes.Contains(b, []byte(e.sub))):
		return nil
	}
	return fmt.Errorf("expected %s %s, found %s", what, e.verb(), Found(b))
}

// Option is the option that set the expectation: "expect=" or
// "expect_re=".
func (e Expect) Option() string {
	if e.re != nil {
		return "expect_re="
	}
	return "expect="
}

func (e Expect) verb() string {
	if e.re != nil {
		return "to match " + e.String()
	}
	return "to contain " + e.String()
}

// FoundMax is how many characters of a peer's answer a mismatch shows.
const FoundMax = 32

// Found names what a peer answered in a mismatch: `"status: starting…"`
// (its start, printable, cut at a character boundary after at most FoundMax
// bytes, quoted), or "nothing" for an empty answer.
func Found(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	cut := len(b) > FoundMax
	if cut {
		n := FoundMax
		for n > 0 && !utf8.RuneStart(b[n]) {
			n--
		}
		b = b[:n]
	}
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '.'
		}
		return r
	}, strings.ToValidUTF8(string(b), "\uFFFD"))
	q := strconv.Quote(s)
	if cut {
		q += "…"
	}
	return q
}
