package mqtt

import (
	"bufio"
	"bytes"
	"testing"
)

// FuzzConnack: any reply read as a CONNACK never panics; a return code
// comes only from a well-formed one.
func FuzzConnack(f *testing.F) {
	f.Add([]byte{0x20, 2, 0, 0})
	f.Add([]byte{0x20, 2, 0, 5})
	f.Add([]byte{0x20, 3, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		rc, err := connack(bufio.NewReader(bytes.NewReader(b)))
		if err == nil && (len(b) < 4 || b[0] != 0x20 || b[1] != 2 || b[3] != rc) {
			t.Errorf("connack(%x) = %d, nil; want an error for a malformed CONNACK", b, rc)
		}
	})
}
