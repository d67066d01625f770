package grpc

import (
	"bytes"
	"io"
	"testing"
)

// FuzzFrames: any byte stream read as the server's HTTP/2 frames, and any
// message decoded as a HealthCheckResponse, never panics; what is kept is
// bounded.
func FuzzFrames(f *testing.F) {
	ok := h2Frame(nil, h2Settings, 0, 0, nil)
	ok = h2Frame(ok, h2Headers, h2EndHeaders, 1, []byte{0x88}) // :status 200, indexed
	ok = h2Frame(ok, h2Data, 0, 1, []byte{0, 0, 0, 0, 2, 0x08, 0x01})
	ok = h2Frame(ok, h2Headers, h2EndHeaders|h2EndStream, 1, []byte{0x40, 0x0b, 'g', 'r', 'p', 'c', '-', 's', 't', 'a', 't', 'u', 's', 0x01, '0'})
	f.Add(ok)
	f.Add(h2Frame(nil, h2GoAway, 0, 0, make([]byte, 8)))
	f.Add(h2Frame(nil, h2Data, h2Padded, 1, []byte{9, 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := h2Response(bytes.NewReader(b), io.Discard)
		if err == nil && len(a.body) > 64<<10 {
			t.Errorf("kept a body of %d bytes", len(a.body))
		}
		grpcStatusField(b)
	})
}
