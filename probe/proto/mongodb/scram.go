package mongodb

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/depprobe/depprobe/probe/proto"
)

// scram logs in with SCRAM-SHA-256 or SCRAM-SHA-1 (RFC 5802, RFC 7677) as
// MongoDB speaks it (https://github.com/mongodb/specifications/blob/master/source/auth/auth.md):
// saslStart, saslContinue with the proof, and the server's signature
// checked. SCRAM-SHA-1's password is MongoDB's digest of it
// (md5("user:mongo:password") in hex). The password is not SASLprepped:
// a password of ASCII characters, as nearly all are, is its own SASLprep.
func (c *client) scram(in proto.Input, mech, db string) error {
	h, password := sha256.New, in.Password
	if mech == "SCRAM-SHA-1" {
		h = sha1.New
		sum := md5.Sum([]byte(in.User + ":mongo:" + in.Password))
		password = hex.EncodeToString(sum[:])
	}
	sc := proto.NewSCRAM(h, in.User, password)
	reply, err := c.command(new(doc).int32("saslStart", 1).str("mechanism", mech).
		binary("payload", []byte(sc.First())).int32("autoAuthorize", 1).
		doc("options", new(doc).bool("skipEmptyExchange", true)).str("$db", db))
	if err != nil {
		return err
	}
	if err := replyError(in, reply, "saslStart"); err != nil {
		return err
	}
	final, err := sc.Final(string(reply.binary("payload")))
	if err != nil {
		return proto.Fail(proto.Unexpected, fmt.Errorf("saslStart: %w", err))
	}
	conv, ok := reply.num("conversationId")
	if !ok {
		return proto.Failf(proto.Unexpected, "saslStart answered no conversationId")
	}
	cont := func(payload []byte) (fields, error) {
		return c.command(new(doc).int32("saslContinue", 1).int32("conversationId", int32(conv)).binary("payload", payload).str("$db", db))
	}
	if reply, err = cont([]byte(final)); err != nil {
		return err
	}
	if err := replyError(in, reply, "saslContinue"); err != nil {
		return err
	}
	if err := sc.Verify(string(reply.binary("payload"))); err != nil {
		return proto.Fail(proto.Unexpected, err)
	}
	for range 2 { // without skipEmptyExchange, one more empty round
		if reply.bool("done") {
			return nil
		}
		if reply, err = cont(nil); err != nil {
			return err
		}
		if err := replyError(in, reply, "saslContinue"); err != nil {
			return err
		}
	}
	return proto.Failf(proto.Unexpected, "the SCRAM conversation did not end")
}
