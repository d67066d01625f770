package mongodb

import (
	"crypto/sha1"
	"crypto/sha256"
	"hash"
	"testing"
)

// TestSCRAMProof: the client proof and server signature of the examples
// in RFC 5802 (SCRAM-SHA-1) and RFC 7677 (SCRAM-SHA-256).
func TestSCRAMProof(t *testing.T) {
	for _, tc := range []struct {
		name             string
		h                func() hash.Hash
		nonce, server    string
		final, signature string
	}{
		{"RFC 5802", sha1.New, "fyko+d2lbbFgONRv9qkxdawL",
			"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
			"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
			"rmF9pqV8S7suAoZWja4dJRkFsKQ="},
		{"RFC 7677", sha256.New, "rOprNGfwEbeRWgbNEkqO",
			"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			final, sig, err := scramProof(tc.h, "pencil", "n=user,r="+tc.nonce, tc.server, tc.nonce)
			if err != nil || final != tc.final || sig != tc.signature {
				t.Errorf("scramProof = %q, %q, %v; want %q, %q", final, sig, err, tc.final, tc.signature)
			}
		})
	}
	if _, _, err := scramProof(sha256.New, "pencil", "n=user,r=abc", "r=xyz,s=QSXCR+Q6sek8bf92,i=4096", "abc"); err == nil {
		t.Error("scramProof accepted a server nonce that does not extend the client's")
	}
	if _, _, err := scramProof(sha256.New, "pencil", "n=user,r=abc", "r=abcd,s=QSXCR+Q6sek8bf92,i=999999999", "abc"); err == nil {
		t.Error("scramProof accepted a billion iterations")
	}
}
