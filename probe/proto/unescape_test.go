package proto

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzUnescape: any option value either decodes or is refused with an
// error that never shows it; any bytes, escaped as the docs say, decode to
// themselves.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{"ruok", "QUIT%0D%0A", "%20%09%25", "%", "%2", "%zz", "a+b", "\xff\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		const msg = "a % starts no %XX escape (write %25 for a percent sign)"
		if _, err := Unescape(s); err != nil && err.Error() != msg {
			t.Errorf("Unescape(%q): error %q, want %q (a fixed text, never the value)", s, err, msg)
		}
		var esc strings.Builder
		for _, c := range []byte(s) {
			if c < 0x21 || c > 0x7e || c == '%' || c == ',' {
				fmt.Fprintf(&esc, "%%%02X", c)
			} else {
				esc.WriteByte(c)
			}
		}
		if got, err := Unescape(esc.String()); err != nil || got != s {
			t.Errorf("Unescape(%q) = %q, %v; want %q", esc.String(), got, err, s)
		}
	})
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{"ruok": "ruok", "QUIT%0D%0A": "QUIT\r\n", "a%20b%09c%25d": "a b\tc%d", "a+b": "a+b", `\x20`: `\x20`} {
		if got, err := Unescape(in); err != nil || got != want {
			t.Errorf("Unescape(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"%", "%2", "100%", "%zz"} {
		if _, err := Unescape(in); err == nil {
			t.Errorf("Unescape(%q): no error, want one", in)
		}
	}
}
