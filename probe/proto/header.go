package proto

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Header is one request header (HTTP) or metadata entry (gRPC) of option
// header=: `Name:value`, or `Name:@/path` whose value is read from a file
// at every attempt, so that a rotated token (a mounted Secret, a projected
// service account token) is used without a restart. The value is a
// secret: Header's methods and errors never show it. Safe for concurrent
// use.
type Header struct {
	Name  string // as it is sent: canonical for HTTP ("X-Token"), lowercase for gRPC
	value string // the inline value, %XX escapes decoded
	file  string // where the value is read from; empty: inline
}

// HeaderKind says whose rules a header's name follows.
type HeaderKind int

// The kinds of header.
const (
	HTTPHeader   HeaderKind = iota // an HTTP/1.1 request header
	GRPCMetadata                   // gRPC metadata: lowercase, no reserved names
)

// MaxHeaderFile caps a header value read from a file (a token is a few KiB
// at most); a bigger file is an error, never read whole.
const MaxHeaderFile = 16 << 10

// ParseHeader reads option header='s value: a name, a colon, and an inline
// value (where %XX escapes are decoded: %20 is a blank, %2C a comma, %25 a
// percent sign, %40 an '@' that starts the value) or '@' and an absolute
// file path. A file must be readable now (a configuration error
// otherwise). Errors name the header and the file, never the value.
func ParseHeader(s string, kind HeaderKind) (Header, error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok {
		// No colon: do not echo s, which may be a token written without
		// its name.
		return Header{}, errors.New("write Name:value or Name:@/path/to/file")
	}
	name = strings.TrimSpace(name)
	if !token(name) {
		return Header{}, fmt.Errorf("header name %q: use letters, digits and !#$%%&'*+-.^_`|~", Printable(name, 40))
	}
	switch kind {
	case GRPCMetadata:
		name = strings.ToLower(name)
		if forbiddenHeader(name) || strings.HasPrefix(name, "grpc-") || name == "content-type" || name == "user-agent" || name == "host" {
			return Header{}, fmt.Errorf("header %s is set by the probe itself", name)
		}
	default:
		if forbiddenHeader(strings.ToLower(name)) {
			return Header{}, fmt.Errorf("header %s is set by the probe itself", name)
		}
		name = canonical(name)
	}
	h := Header{Name: name}
	if file, isFile := strings.CutPrefix(value, "@"); isFile {
		if !strings.HasPrefix(file, "/") {
			return Header{}, fmt.Errorf("header %s: the file after @ must be an absolute path", name)
		}
		h.file = file
		_, err := h.Value()
		return h, err
	}
	v, err := Unescape(value)
	if err != nil {
		return Header{}, fmt.Errorf("header %s: %v", name, err)
	}
	if strings.ContainsAny(v, "\r\n\x00") {
		return Header{}, fmt.Errorf("header %s: the value holds a line break or NUL", name)
	}
	h.value = strings.TrimSpace(v)
	return h, nil
}

// Value is the header's value: the inline one, or the file's content read
// now without its trailing line break and blanks. Its errors name the
// header and the file, never the content.
func (h Header) Value() (string, error) {
	if h.file == "" {
		return h.value, nil
	}
	f, err := os.Open(h.file)
	if err != nil {
		return "", fmt.Errorf("header %s: %w", h.Name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxHeaderFile+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("header %s: %w", h.Name, err)
	case len(b) > MaxHeaderFile:
		return "", fmt.Errorf("header %s: the file %s is larger than %d KiB", h.Name, h.file, MaxHeaderFile>>10)
	}
	v := strings.TrimSpace(string(b))
	if strings.ContainsAny(v, "\r\n\x00") {
		return "", fmt.Errorf("header %s: the file %s holds more than one line", h.Name, h.file)
	}
	return v, nil
}

// String names the header without its value: "Authorization: xxxxx".
func (h Header) String() string { return h.Name + ": xxxxx" }

// token reports whether s is an HTTP token (RFC 9110, section 5.6.2).
func token(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// forbiddenHeader reports whether a lowercase name frames the message or
// the connection, which the probe sets itself.
func forbiddenHeader(name string) bool {
	switch name {
	case "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade":
		return true
	}
	return false
}

// canonical is the canonical form of an HTTP header name: "x-token" →
// "X-Token".
func canonical(name string) string {
	b := []byte(strings.ToLower(name))
	upper := true
	for i, c := range b {
		if upper && c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
		upper = c == '-'
	}
	return string(b)
}
