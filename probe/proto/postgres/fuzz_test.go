package postgres

import (
	"bytes"
	"testing"
)

// FuzzErrorFields: any ErrorResponse body decodes without a panic, and
// every field is a NUL-free string of the body.
func FuzzErrorFields(f *testing.F) {
	f.Add([]byte("SFATAL\x00C57P03\x00Mthe database system is starting up\x00\x00"))
	f.Add([]byte("C28000\x00Mrole \"x\" does not exist"))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		for code, v := range pgErrorFields(b) {
			if bytes.IndexByte([]byte(v), 0) >= 0 || !bytes.Contains(b, append([]byte{code}, v...)) {
				t.Errorf("field %q = %q is not a NUL-free string of the body", code, v)
			}
		}
	})
}
