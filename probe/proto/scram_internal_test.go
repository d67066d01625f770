package proto

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"strings"
	"testing"
)

// TestSCRAM: the client proof and server signature of the examples in RFC
// 5802 (SCRAM-SHA-1) and RFC 7677 (SCRAM-SHA-256), with their nonces.
func TestSCRAM(t *testing.T) {
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
			s := NewSCRAM(tc.h, "user", "pencil")
			s.nonce, s.firstBare = tc.nonce, "n=user,r="+tc.nonce
			final, err := s.Final(tc.server)
			if err != nil || final != tc.final {
				t.Errorf("Final = %q, %v; want %q", final, err, tc.final)
			}
			if err := s.Verify("v=" + tc.signature); err != nil {
				t.Errorf("Verify(the RFC's signature) = %v", err)
			}
			if err := s.Verify("v=" + base64.StdEncoding.EncodeToString([]byte("forged"))); err == nil {
				t.Error("Verify(a forged signature) = nil")
			}
		})
	}
	s := NewSCRAM(sha256.New, "user", "pencil")
	s.nonce, s.firstBare = "abc", "n=user,r=abc"
	if _, err := s.Final("r=xyz,s=QSXCR+Q6sek8bf92,i=4096"); err == nil {
		t.Error("Final accepted a server nonce that does not extend the client's")
	}
	if _, err := s.Final("r=abcd,s=QSXCR+Q6sek8bf92,i=999999999"); err == nil {
		t.Error("Final accepted a billion iterations")
	}
	if got := NewSCRAM(sha256.New, "a=b,c", "x").First(); !strings.HasPrefix(got, "n,,n=a=3Db=2Cc,r=") {
		t.Errorf("First() = %q, want the user name escaped", got)
	}
}
