package proto

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// MaxSCRAMIterations caps the PBKDF2 iterations a server may ask of SCRAM
// (PostgreSQL's and MongoDB's defaults are 4096 and 15000): a hostile
// server could otherwise make the probe hash for seconds, past its
// deadline, which PBKDF2 does not watch.
const MaxSCRAMIterations = 1 << 20

// SCRAM is the client side of one SCRAM exchange (RFC 5802; SHA-256: RFC
// 7677) without channel binding ("n,,"), as PostgreSQL and MongoDB speak
// it. The password is used as written, without SASLprep: the same for a
// password of ASCII characters, as nearly all are. Use one per attempt.
type SCRAM struct {
	hash        func() hash.Hash
	password    string
	nonce       string
	firstBare   string // client-first-message-bare
	authMessage string
	serverSig   []byte
}

// NewSCRAM starts an exchange for user (empty for PostgreSQL, which takes
// the StartupMessage's) with hash h (sha256.New, sha1.New).
func NewSCRAM(h func() hash.Hash, user, password string) *SCRAM {
	raw := make([]byte, 18)
	rand.Read(raw)
	s := &SCRAM{hash: h, password: password, nonce: base64.StdEncoding.EncodeToString(raw)}
	user = strings.NewReplacer("=", "=3D", ",", "=2C").Replace(user)
	s.firstBare = "n=" + user + ",r=" + s.nonce
	return s
}

// First is the client-first-message.
func (s *SCRAM) First() string { return "n,," + s.firstBare }

// Final answers the server-first-message with the client-final-message
// (the proof). Its errors say what was wrong, never the password.
func (s *SCRAM) Final(serverFirst string) (string, error) {
	var r, salt64, iter string
	for _, attr := range strings.Split(serverFirst, ",") {
		k, v, _ := strings.Cut(attr, "=")
		switch k {
		case "r":
			r = v
		case "s":
			salt64 = v
		case "i":
			iter = v
		}
	}
	salt, serr := base64.StdEncoding.DecodeString(salt64)
	n, nerr := strconv.Atoi(iter)
	switch {
	case !strings.HasPrefix(r, s.nonce) || len(r) == len(s.nonce):
		return "", errors.New("SCRAM: the server's nonce does not extend the client's")
	case serr != nil || len(salt) == 0:
		return "", errors.New("SCRAM: a malformed salt")
	case nerr != nil || n < 1 || n > MaxSCRAMIterations:
		return "", fmt.Errorf("SCRAM: %s iterations asked (want 1 to %d)", QuoteReply(iter), MaxSCRAMIterations)
	}
	salted, err := pbkdf2.Key(s.hash, s.password, salt, n, s.hash().Size())
	if err != nil {
		return "", err
	}
	clientKey := s.mac(salted, "Client Key")
	stored := s.hash()
	stored.Write(clientKey)
	withoutProof := "c=biws,r=" + r // biws: base64("n,,")
	s.authMessage = s.firstBare + "," + serverFirst + "," + withoutProof
	proof := s.mac(stored.Sum(nil), s.authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	s.serverSig = s.mac(s.mac(salted, "Server Key"), s.authMessage)
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
}

// Verify checks the server-final-message ("v=signature"): the server
// proves that it knows the password too, so that a server that is not the
// real one cannot pass for ready.
func (s *SCRAM) Verify(serverFinal string) error {
	if e, ok := strings.CutPrefix(serverFinal, "e="); ok {
		return fmt.Errorf("SCRAM: the server says %q", ServerText(e))
	}
	v, ok := strings.CutPrefix(serverFinal, "v=")
	got, err := base64.StdEncoding.DecodeString(v)
	if !ok || err != nil || s.serverSig == nil || !hmac.Equal(got, s.serverSig) {
		return errors.New("SCRAM: the server's signature does not verify: it does not know the password (is something between the probe and the server?)")
	}
	return nil
}

func (s *SCRAM) mac(key []byte, msg string) []byte {
	m := hmac.New(s.hash, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
