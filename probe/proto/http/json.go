package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/depprobe/depprobe/probe/proto"
)

// JSONWant is option json=: the value at a path of a JSON body must be one
// of a few values, `.status=green|yellow`.
//
// The path starts with '.', then keys and indexes: `.status`,
// `.checks.db.state`, `.items[0].ready`, `.[2]` (the root is an array),
// `.` (the root itself). A key is any run of characters but `.`, `[`,
// `=` and `|`; an index is a number in brackets. The values are separated
// by '|' and compared with the JSON value's text: a string as it is
// (without quotes), a number as written in the body (`1` is not `1.0`),
// `true`, `false`, `null`. %XX escapes are decoded in the values (a blank
// is %20, a '|' %7C).
type JSONWant struct {
	path   []jsonStep
	text   string // the path as written, for messages
	values []string
}

type jsonStep struct {
	key   string
	index int // for an index step
	isIdx bool
}

// MaxJSONPath caps a path's steps: a health answer is never deeper.
const MaxJSONPath = 32

// ParseJSONWant reads option json='s value. Its errors show the
// option's text, which is configuration, not a secret.
func ParseJSONWant(s string) (JSONWant, error) {
	if !utf8.ValidString(s) {
		return JSONWant{}, errors.New("the option is not valid UTF-8")
	}
	path, vals, ok := strings.Cut(s, "=")
	if !ok || !strings.HasPrefix(path, ".") {
		return JSONWant{}, errors.New("write .path=value, e.g. .status=green or .items[0].ready=true|yes")
	}
	w := JSONWant{text: path}
	rest := path
	if rest == "." {
		rest = "" // the root itself
	}
	for rest != "" {
		if len(w.path) == MaxJSONPath {
			return JSONWant{}, fmt.Errorf("a path of more than %d steps", MaxJSONPath)
		}
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			key := rest[:end]
			if key == "" && (end == len(rest) || rest[end] == '.') {
				return JSONWant{}, fmt.Errorf("path %q has an empty key", path)
			}
			if strings.Contains(key, "|") {
				return JSONWant{}, fmt.Errorf("path %q: a key cannot hold '|'", path)
			}
			if key != "" {
				w.path = append(w.path, jsonStep{key: key})
			}
			rest = rest[end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return JSONWant{}, fmt.Errorf("path %q: a '[' without its ']'", path)
			}
			n, err := strconv.Atoi(rest[1:end])
			if err != nil || n < 0 || n > 1<<20 {
				return JSONWant{}, fmt.Errorf("path %q: [%s] is not an index (a number from 0)", path, rest[1:end])
			}
			w.path = append(w.path, jsonStep{index: n, isIdx: true})
			rest = rest[end+1:]
		default:
			return JSONWant{}, fmt.Errorf("path %q: after ']' comes '.' or '['", path)
		}
	}
	for _, v := range strings.Split(vals, "|") {
		d, err := proto.Unescape(v)
		if err != nil {
			return JSONWant{}, err
		}
		if d == "" {
			return JSONWant{}, errors.New("an empty value: write .path=value[|value…]")
		}
		if !utf8.ValidString(d) {
			return JSONWant{}, errors.New("a value is not valid UTF-8")
		}
		w.values = append(w.values, d)
	}
	return w, nil
}

// String is the option as a person reads it: `.status = green or yellow`.
func (w JSONWant) String() string {
	return w.text + " to be " + strings.Join(w.values, " or ")
}

// Match checks a body: nil when the value at the path is one of the
// values, else an error that says what was expected and what was found
// (the value cut to proto.FoundMax bytes; never the body).
func (w JSONWant) Match(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("expected %s, found a body that is not JSON (%s)", w, proto.Found(body))
	}
	where := "."
	for _, s := range w.path {
		switch {
		case s.isIdx:
			a, ok := v.([]any)
			if !ok || s.index >= len(a) {
				return fmt.Errorf("expected %s, found no [%d] at %s", w, s.index, where)
			}
			v = a[s.index]
			where = strings.TrimSuffix(where, ".") + fmt.Sprintf("[%d]", s.index)
		default:
			m, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("expected %s, found no object at %s", w, where)
			}
			if v, ok = m[s.key]; !ok {
				return fmt.Errorf("expected %s, found no key %q at %s", w, proto.Printable(s.key, 40), where)
			}
			where = strings.TrimSuffix(where, ".") + "." + s.key
		}
	}
	var got string
	switch x := v.(type) {
	case string:
		got = x
	case json.Number:
		got = x.String()
	case bool:
		got = strconv.FormatBool(x)
	case nil:
		got = "null"
	case []any:
		return fmt.Errorf("expected %s, found an array of %d", w, len(x))
	default:
		return fmt.Errorf("expected %s, found an object", w)
	}
	for _, want := range w.values {
		if got == want {
			return nil
		}
	}
	return fmt.Errorf("expected %s, found %s", w, proto.Found([]byte(got)))
}
