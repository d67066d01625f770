package proto

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// TLSMode is how a protocol that starts in plain text and asks for TLS on
// the same connection (PostgreSQL's SSLRequest, MySQL's SSL request)
// negotiates it: libpq's sslmode, the mysql client's --ssl-mode.
type TLSMode int

// The modes, from none to the strictest.
const (
	TLSDefault    TLSMode = iota // the zero value: not set, the protocol's default
	TLSDisable                   // never ask for TLS
	TLSPrefer                    // ask; go on in plain text when the server has none; no verification
	TLSRequire                   // TLS or fail; no verification (verify-ca when a CA file is given, as libpq does)
	TLSVerifyCA                  // TLS, the chain verified against the CA, any host name
	TLSVerifyFull                // TLS, the chain and the host name verified
)

// Effective is the mode a check uses: m when the target set one; else, as
// libpq and the mysql client default, prefer for a check that logs in
// (login: role=, query=) and disable for one that only pings.
func (m TLSMode) Effective(login bool) TLSMode {
	switch {
	case m != TLSDefault:
		return m
	case login:
		return TLSPrefer
	}
	return TLSDisable
}

// Wants reports whether the mode asks the server for TLS.
func (m TLSMode) Wants() bool { return m >= TLSPrefer }

// Required reports whether a server without TLS fails the attempt.
func (m TLSMode) Required() bool { return m >= TLSRequire }

// Config derives the handshake's config from the target's base config
// (its CA, client certificate and server name): require and prefer skip
// verification (require with a CA file verifies the chain, as libpq's
// does), verify-ca verifies the chain but not the name, verify-full both.
// The base's RootCAs are set only by a ca= option (nil: the system's).
func (m TLSMode) Config(base *tls.Config) *tls.Config {
	c := base.Clone()
	if m == TLSRequire && c.RootCAs != nil {
		m = TLSVerifyCA
	}
	switch m {
	case TLSPrefer, TLSRequire:
		c.InsecureSkipVerify = true
	case TLSVerifyCA:
		c.InsecureSkipVerify = true // the chain is verified below, without the name
		roots := c.RootCAs
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("the server sent no certificate")
			}
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
			for _, ic := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(ic)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			if err != nil {
				return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
			}
			return nil
		}
	}
	return c
}
