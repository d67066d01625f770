package stream

import (
	"bytes"
	"fmt"
	"testing"
)

// FuzzUnescape: any option value either decodes or is refused, never
// panics; any bytes, escaped as the docs say, decode to themselves.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`ruok`, `QUIT\r\n`, `\x20\t\\`, `\x`, `\q`, `a\`, "\xff\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		Unescape(s)
		var esc bytes.Buffer
		for _, c := range []byte(s) {
			switch {
			case c == '\\':
				esc.WriteString(`\\`)
			case c < 0x21 || c > 0x7e:
				fmt.Fprintf(&esc, `\x%02x`, c)
			default:
				esc.WriteByte(c)
			}
		}
		if b, err := Unescape(esc.String()); err != nil || string(b) != s {
			t.Errorf("Unescape(%q) = %q, %v; want %q", esc.String(), b, err, s)
		}
	})
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`ruok`: "ruok", `QUIT\r\n`: "QUIT\r\n", `a\x20b\tc\\d`: "a b\tc\\d", `\x7F`: "\x7f"} {
		if b, err := Unescape(in); err != nil || string(b) != want {
			t.Errorf("Unescape(%q) = %q, %v; want %q", in, b, err, want)
		}
	}
}
