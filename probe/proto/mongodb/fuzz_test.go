package mongodb

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/depprobe/depprobe/probe/proto"
)

// FuzzReplies: any bytes read as an OP_MSG reply, its BSON body, a hello
// verdict or a SCRAM server message never panic and never show the
// password; a verdict is ready only for a primary, a mongos, or a secondary
// without role=primary.
func FuzzReplies(f *testing.F) {
	reply := func(d *doc) []byte {
		body := d.bytes()
		b := make([]byte, 16, 21+len(body))
		binary.LittleEndian.PutUint32(b[8:], 1)
		binary.LittleEndian.PutUint32(b[12:], opMsg)
		b = append(append(b, 0, 0, 0, 0, 0), body...)
		binary.LittleEndian.PutUint32(b, uint32(len(b)))
		return b
	}
	f.Add(reply(new(doc).bool("isWritablePrimary", true).int32("ok", 1)))
	f.Add(reply(new(doc).str("setName", "rs0").bool("secondary", true).str("primary", "m1:27017").int32("ok", 1)))
	f.Add(reply(new(doc).int32("ok", 0).int32("code", 18).str("errmsg", "Authentication failed hunter2")))
	f.Add(reply(new(doc).binary("payload", []byte("r=abcdef,s=QSXCR+Q6sek8bf92,i=4096")).int32("conversationId", 1).int32("ok", 1)))
	in := proto.Input{Addr: "m1:27017", Password: "hunter2"}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseReply(b, 1)
		if err != nil {
			return
		}
		h.strings("hosts")
		h.document("topologyVersion")
		if err := replyError(in, h, "hello"); err != nil {
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("replyError shows the password: %v", err)
			}
			return
		}
		for _, o := range []Options{{}, {Primary: true}} {
			err := verdict(in, h, o, "")
			primary := h.bool("isWritablePrimary") || h.bool("ismaster") || h.str("msg") == "isdbgrid"
			if err == nil && !primary && (o.Primary || !h.bool("secondary") && !h.bool("arbiterOnly")) {
				t.Errorf("verdict(%v, %+v) = ready", h, o)
			}
		}
		proto.NewSCRAM(sha256.New, "u", "hunter2").Final(string(h.binary("payload")))
	})
}
