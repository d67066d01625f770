package mongodb

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"

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
	var raw [18]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return err
	}
	nonce := base64.StdEncoding.EncodeToString(raw[:])
	user := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(in.User)
	first := "n=" + user + ",r=" + nonce
	reply, err := c.command(new(doc).int32("saslStart", 1).str("mechanism", mech).
		binary("payload", []byte("n,,"+first)).int32("autoAuthorize", 1).
		doc("options", new(doc).bool("skipEmptyExchange", true)).str("$db", db))
	if err != nil {
		return err
	}
	if err := replyError(in, reply, "saslStart"); err != nil {
		return err
	}
	final, signature, err := scramProof(h, password, first, string(reply.binary("payload")), nonce)
	if err != nil {
		return err
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
	if v := string(reply.binary("payload")); v != "v="+signature {
		return proto.Failf(proto.Unexpected, "the server's SCRAM signature does not match: it does not hold this user's password (is something between the probe and the server?)")
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

// scramProof answers the server's first message: the client's final
// message and the server signature to expect.
func scramProof(h func() hash.Hash, password, clientFirst, serverFirst, nonce string) (final, signature string, err error) {
	var r, salt string
	iterations := 0
	for _, attr := range strings.Split(serverFirst, ",") {
		k, v, _ := strings.Cut(attr, "=")
		switch k {
		case "r":
			r = v
		case "s":
			salt = v
		case "i":
			iterations, _ = strconv.Atoi(v)
		}
	}
	saltBytes, serr := base64.StdEncoding.DecodeString(salt)
	// 4096 is SCRAM's usual minimum (RFC 7677); the cap keeps a hostile
	// peer from making the probe hash for minutes.
	if !strings.HasPrefix(r, nonce) || len(r) == len(nonce) || serr != nil || len(saltBytes) == 0 || iterations < 1 || iterations > 1<<20 {
		return "", "", proto.Failf(proto.Unexpected, "saslStart answered a malformed SCRAM message %q", proto.QuoteReply(serverFirst))
	}
	salted, err := pbkdf2.Key(h, password, saltBytes, iterations, h().Size())
	if err != nil {
		return "", "", err
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	stored := h()
	stored.Write(clientKey)
	withoutProof := "c=biws,r=" + r
	auth := clientFirst + "," + serverFirst + "," + withoutProof
	sig := mac(stored.Sum(nil), auth)
	proof := make([]byte, len(clientKey))
	for i := range clientKey {
		proof[i] = clientKey[i] ^ sig[i]
	}
	serverSig := mac(mac(salted, "Server Key"), auth)
	return fmt.Sprintf("%s,p=%s", withoutProof, base64.StdEncoding.EncodeToString(proof)), base64.StdEncoding.EncodeToString(serverSig), nil
}
