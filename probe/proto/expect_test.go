package proto_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/depprobe/depprobe/probe/proto"
)

func TestExpect(t *testing.T) {
	sub := func(s string) proto.Expect {
		e, err := proto.ExpectSubstring(s)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	re := func(s string) proto.Expect {
		e, err := proto.ExpectRegexp(s)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	long := strings.Repeat("x", proto.MaxExpectBytes)
	for _, tc := range []struct {
		name   string
		e      proto.Expect
		answer string
		want   string // "" = match
	}{
		{"zero matches all", proto.Expect{}, "", ""},
		{"substring", sub(`"status":"ok"`), `{"status":"ok"}`, ""},
		{"substring missing", sub("green"), `{"status":"red"}`, `expected the body to contain "green", found "{\"status\":\"red\"}"`},
		{"regexp", re(`^OK\b`), "OK 1", ""},
		{"regexp missing", re(`^OK$`), "DOWN", `expected the body to match /^OK$/, found "DOWN"`},
		{"empty answer", sub("x"), "", `expected the body to contain "x", found nothing`},
		{"control bytes shown as dots", sub("x"), "a\r\nb\x00", `found "a..b."`},
		{"found is cut", sub("x"), strings.Repeat("s3cr3t", 20), `found "s3cr3ts3cr3ts3cr3ts3cr3ts3cr3ts3"…`},
		{"past the bound is not seen", sub("needle"), long + "needle", `found "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"…`},
		{"within the bound is seen", sub("needle"), long[:100] + "needle", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.e.Match("the body", []byte(tc.answer))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Match = %v, want a match", err)
			case tc.want != "" && err == nil:
				t.Errorf("Match = nil, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("Match = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestExpectErrors(t *testing.T) {
	if _, err := proto.ExpectSubstring(""); err == nil {
		t.Error("ExpectSubstring(\"\") = nil error, want one")
	}
	_, err := proto.ExpectRegexp("(unclosed")
	if err == nil || !strings.Contains(err.Error(), "missing closing )") {
		t.Errorf("ExpectRegexp(\"(unclosed\") = %v, want an error naming the problem", err)
	}
}

// TestFoundUTF8: a cut never splits a character.
func TestFoundUTF8(t *testing.T) {
	got := proto.Found([]byte(strings.Repeat("é", 40)))
	if !utf8.ValidString(got) || strings.Contains(got, `\x`) || strings.Contains(got, `\uFFFD`) {
		t.Errorf("Found = %q, want whole characters", got)
	}
}

// FuzzExpect: any expression that compiles and any answer give a match or
// a mismatch whose text is short, valid UTF-8 and never holds more than
// FoundMax bytes of the answer.
func FuzzExpect(f *testing.F) {
	f.Add("green", `{"status":"green"}`)
	f.Add(`^ok\s*$`, "ok\r\n")
	f.Add("(", "\xff\xfe")
	f.Add(`[\p{Greek}]+`, strings.Repeat("λ", 100))
	f.Fuzz(func(t *testing.T, expr, answer string) {
		for _, build := range []func(string) (proto.Expect, error){proto.ExpectSubstring, proto.ExpectRegexp} {
			e, err := build(expr)
			if err != nil {
				continue
			}
			err = e.Match("the reply", []byte(answer))
			if err == nil {
				continue
			}
			msg := err.Error()
			if !utf8.ValidString(msg) {
				t.Fatalf("mismatch %q is not valid UTF-8", msg)
			}
			_, found, _ := strings.Cut(msg, ", found ")
			if len(found) > 2*4*proto.FoundMax+8 { // quoted, escaped, "…"
				t.Fatalf("found part %q is too long", found)
			}
		}
	})
}

// FuzzParseHeader: any option value parses or fails without showing the
// value in the error, and a parsed header has a plain name and a value
// without line breaks.
func FuzzParseHeader(f *testing.F) {
	f.Add("authorization:Bearer%20SECRETVALUE")
	f.Add("X-Tenant:a%2Cb")
	f.Add("x:%zzSECRETVALUE")
	f.Add("SECRETVALUE")
	f.Add("bad name:SECRETVALUE")
	f.Add("Content-Length:1")
	f.Add("x:@relative/SECRETVALUE")
	f.Add("x:%0aSECRETVALUE")
	f.Fuzz(func(t *testing.T, s string) {
		for _, kind := range []proto.HeaderKind{proto.HTTPHeader, proto.GRPCMetadata} {
			h, err := proto.ParseHeader(s, kind)
			if err != nil {
				// A marker only in the value (not in the name, not in a
				// file path) never shows.
				name, value, _ := strings.Cut(s, ":")
				if !strings.Contains(name, "SECRETVALUE") && !strings.HasPrefix(value, "@") && strings.Contains(err.Error(), "SECRETVALUE") {
					t.Fatalf("ParseHeader(%q) error %q shows the value", s, err)
				}
				continue
			}
			v, err := h.Value()
			if err != nil {
				continue // a file that is not there
			}
			if strings.ContainsAny(h.Name+v, "\r\n\x00") || strings.ContainsAny(h.Name, " :") {
				t.Fatalf("ParseHeader(%q) = %q: %q, not one clean line", s, h.Name, v)
			}
			if strings.Contains(v, "SECRETVALUE") && strings.Contains(h.String(), "SECRETVALUE") {
				t.Fatalf("String() = %q shows the value", h.String())
			}
		}
	})
}
