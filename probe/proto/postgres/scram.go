package postgres

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxIterations caps the PBKDF2 iterations a server may ask of SCRAM
// (PostgreSQL's default is 4096): a hostile server could otherwise make
// the probe burn seconds of CPU per attempt, past its deadline.
const maxIterations = 1 << 20

// scram is one client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as
// PostgreSQL speaks it (https://www.postgresql.org/docs/current/sasl-authentication.html):
// no channel binding ("n,,"), an empty user name in the messages (the
// server takes the StartupMessage's).
type scram struct {
	password    string
	clientNonce string
	firstBare   string // client-first-message-bare
	authMessage string
	salted      []byte
}

// first is the client-first-message.
func (s *scram) first() []byte {
	b := make([]byte, 18)
	rand.Read(b)
	s.clientNonce = base64.RawStdEncoding.EncodeToString(b)
	s.firstBare = "n=,r=" + s.clientNonce
	return []byte("n,," + s.firstBare)
}

// final answers the server-first-message with the client-final-message.
func (s *scram) final(serverFirst []byte) ([]byte, error) {
	var nonce, salt64, iter string
	for _, kv := range strings.Split(string(serverFirst), ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "r":
			nonce = v
		case "s":
			salt64 = v
		case "i":
			iter = v
		}
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	n, nerr := strconv.Atoi(iter)
	switch {
	case !strings.HasPrefix(nonce, s.clientNonce) || len(nonce) == len(s.clientNonce):
		return nil, errors.New("SCRAM: the server's nonce does not extend the client's")
	case err != nil || len(salt) == 0:
		return nil, errors.New("SCRAM: a malformed salt")
	case nerr != nil || n < 1 || n > maxIterations:
		return nil, fmt.Errorf("SCRAM: %q iterations (want 1 to %d)", iter, maxIterations)
	}
	// The password is used as it is, without SASLprep; for ASCII
	// passwords (and most others) that is the same.
	s.salted, err = pbkdf2.Key(sha256.New, s.password, salt, n, sha256.Size)
	if err != nil {
		return nil, err
	}
	clientKey := hmacSHA256(s.salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	withoutProof := "c=biws,r=" + nonce // biws: base64("n,,")
	s.authMessage = s.firstBare + "," + string(serverFirst) + "," + withoutProof
	proof := hmacSHA256(storedKey[:], s.authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// verify checks the server-final-message: the server proves that it knows
// the password too, so that a server that is not the real one cannot pass
// for ready.
func (s *scram) verify(serverFinal []byte) error {
	msg := string(serverFinal)
	if e, ok := strings.CutPrefix(msg, "e="); ok {
		return fmt.Errorf("SCRAM: the server says %q", e)
	}
	v, ok := strings.CutPrefix(msg, "v=")
	if !ok || s.salted == nil {
		return errors.New("SCRAM: a malformed server-final-message")
	}
	got, err := base64.StdEncoding.DecodeString(v)
	want := hmacSHA256(hmacSHA256(s.salted, "Server Key"), s.authMessage)
	if err != nil || !hmac.Equal(got, want) {
		return errors.New("SCRAM: the server's signature does not verify: it does not know the password")
	}
	return nil
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// md5Password is the answer to AuthenticationMD5Password:
// "md5" + md5hex(md5hex(password + user) + salt).
func md5Password(user, password string, salt []byte) string {
	inner := md5.Sum([]byte(password + user))
	outer := md5.Sum(append([]byte(hex.EncodeToString(inner[:])), salt...))
	return "md5" + hex.EncodeToString(outer[:])
}
