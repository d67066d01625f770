package kafka

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/depprobe/depprobe/probe/proto"
)

// FuzzResponses: any response body read as ApiVersions, SaslHandshake,
// SaslAuthenticate or Metadata never panics and never allocates for a
// forged count; a Metadata answer is ready only when it names a controller.
func FuzzResponses(f *testing.F) {
	// ApiVersions v0: no error, Metadata 0-12.
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 3, 0, 0, 0, 12})
	// Metadata v4: one broker (1, "k1", 9092, no rack), cluster "c",
	// controller 1, one topic "t" with one partition led by 1.
	m := binary.BigEndian.AppendUint32(nil, 0)
	m = binary.BigEndian.AppendUint32(m, 1)
	m = binary.BigEndian.AppendUint32(m, 1)
	m = appendString(m, "k1")
	m = binary.BigEndian.AppendUint32(m, 9092)
	m = binary.BigEndian.AppendUint16(m, 0xffff)
	m = appendString(m, "c")
	m = binary.BigEndian.AppendUint32(m, 1)
	m = binary.BigEndian.AppendUint32(m, 1)
	m = append(m, 0, 0)
	m = appendString(m, "t")
	m = append(m, 0)
	m = binary.BigEndian.AppendUint32(m, 1)
	m = append(m, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1)
	f.Add(m)
	f.Add([]byte{0, 58, 0, 7, 'h', 'u', 'n', 't', 'e', 'r', '2', 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	in := proto.Input{Addr: "k1:9092", Password: "hunter2"}
	f.Fuzz(func(t *testing.T, b []byte) {
		parseAPIVersions(b)
		parseHandshake(b)
		parseAuthenticate(b)
		m, err := parseMetadata(b)
		if err != nil {
			return
		}
		for _, o := range []Options{{}, {Topic: "t"}} {
			if err := m.verdict(in, o); err == nil && m.controller < 0 {
				t.Errorf("verdict(%+v) = ready without a controller", m)
			} else if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("verdict shows the password: %v", err)
			}
		}
	})
}
