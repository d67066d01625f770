package proto

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// TLSConn is a client TLS connection that knows whether the server asked
// for a client certificate, so that a server's refusal of the certificate
// (or of its absence) reads as auth_failed, not as a broken handshake.
// It is used by one attempt at a time.
type TLSConn struct {
	*tls.Conn
	asked atomic.Bool // the server sent a CertificateRequest
	gave  bool        // a certificate (cert=) was configured
}

// VerdictWait is how long a TLS 1.3 client waits after its handshake for
// the server's verdict on the client certificate, when nothing else would
// bring it. In TLS 1.3 the client's handshake ends before the server has
// checked the certificate; a refusal arrives as an alert afterwards (RFC
// 8446, section 4.4.2.4).
const VerdictWait = 250 * time.Millisecond

// Handshake runs a client handshake on conn with config c (c's client
// certificate, if any, is presented when the server asks for one). A
// server that asked for a certificate and then broke off with an alert
// refused it: that error is an AuthFailed Failure.
func Handshake(ctx context.Context, conn net.Conn, c *tls.Config) (*TLSConn, error) {
	tc := &TLSConn{gave: len(c.Certificates) > 0}
	c = c.Clone()
	certs := c.Certificates
	c.Certificates = nil
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		tc.asked.Store(true)
		if len(certs) > 0 {
			return &certs[0], nil
		}
		return &tls.Certificate{}, nil // none: the server decides
	}
	tc.Conn = tls.Client(conn, c)
	return tc, tc.refused(tc.HandshakeContext(ctx))
}

// Verdict waits, after a TLS 1.3 handshake in which the server asked for a
// client certificate, at most VerdictWait (less when ctx ends sooner) for
// the server to refuse it. Silence, data or a close mean it let the client
// in. For a protocol that speaks first, Explain does the same at no cost.
func (tc *TLSConn) Verdict(ctx context.Context) error {
	if !tc.asked.Load() || tc.ConnectionState().Version < tls.VersionTLS13 {
		return nil
	}
	until := time.Now().Add(VerdictWait)
	if d, ok := ctx.Deadline(); ok && d.Before(until) {
		until = d
	}
	tc.SetReadDeadline(until)
	_, err := tc.Read(make([]byte, 1))
	if d, ok := ctx.Deadline(); ok {
		tc.SetReadDeadline(d)
	}
	if err = tc.refused(err); IsFailure(err, AuthFailed) {
		return err
	}
	return nil
}

// Explain turns a protocol step's error into the server's refusal of the
// client certificate when that is what it was: a TLS 1.3 server that
// refuses sends an alert and closes, which the protocol may meet as a
// reset or an end of stream on its first write or read; then the alert is
// read (for a few milliseconds at most) to tell.
func (tc *TLSConn) Explain(err error) error {
	if err == nil || !tc.asked.Load() {
		return err
	}
	if err := tc.refused(err); IsFailure(err, AuthFailed) {
		return err
	}
	var f *Failure
	if errors.As(err, &f) || !Transport(err) {
		return err
	}
	tc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, rerr := tc.Read(make([]byte, 1)); IsFailure(tc.refused(rerr), AuthFailed) {
		return tc.refused(rerr)
	}
	return err
}

// refused makes a remote alert after the server asked for a client
// certificate an AuthFailed Failure.
func (tc *TLSConn) refused(err error) error {
	var op *net.OpError
	if err == nil || !tc.asked.Load() || !errors.As(err, &op) || op.Op != "remote error" {
		return err
	}
	if tc.gave {
		return FailHint(AuthFailed,
			"the server refused the client certificate of cert=: is it signed by a CA the server trusts, not expired, and meant for client authentication? waiting will not fix this",
			fmt.Errorf("the server refused the client certificate: %w", err))
	}
	return FailHint(AuthFailed,
		"the server wants a client certificate: set cert= and key= to one signed by a CA it trusts; waiting will not fix this",
		fmt.Errorf("the server wants a client certificate: %w", err))
}

// IsFailure reports whether err is a Failure with outcome o.
func IsFailure(err error, o Outcome) bool {
	var f *Failure
	return errors.As(err, &f) && f.Outcome == o
}
