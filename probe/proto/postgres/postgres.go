// Package postgres checks a PostgreSQL server with the semantics of
// pg_isready (a StartupMessage and the first reply), or, for role= and
// query=, by logging in and asking.
//
// It imports only probe/proto (and the standard library): it knows
// nothing of targets, retries or logs.
package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/depprobe/depprobe/probe/proto"
)

// Options are what a postgres:// target's options set. The zero value is
// pg_isready's check in plain text.
type Options struct {
	// SSLMode is sslmode=, libpq's meanings; TLSDefault: disable for
	// pg_isready's check, prefer for a login (role=, query=), as libpq's
	// default.
	SSLMode proto.TLSMode
	// Role is "primary" (not in recovery) or "standby" (in recovery);
	// empty: either.
	Role string
	// Query is SQL that must return a row; empty: none.
	Query string
}

// login reports whether the check logs in: for role= or query=.
func (o Options) login() bool { return o.Role != "" || o.Query != "" }

// Check follows pg_isready
// (https://www.postgresql.org/docs/current/app-pg-isready.html), which asks
// libpq's PQping: it sends a StartupMessage for protocol 3.0 and reads the
// first reply. An authentication request (or AuthenticationOk, under trust)
// means the server accepts connections; so does any error except SQLSTATE
// 57P03 cannot_connect_now ("the database system is starting up", "... is
// shutting down", "... is not accepting connections" on a standby without
// hot_standby), which is not_ready. Like PQping, it counts every other error
// (no pg_hba.conf entry, unknown role or database, too many clients) as
// accepting connections: the server is up and answering, which is what a
// readiness gate asks; a wrong password is the application's problem to
// report. No password is sent: the probe reads the first reply and closes,
// as pg_isready does, which the server does not log as an error.
//
// With role= or query= it logs in instead (see login): the URL's user and
// password, SCRAM-SHA-256, md5 or a clear-text password as the server asks,
// then the queries.
//
// The user is the URL's (default "postgres", which exists on most servers,
// so that a trust setup does not log "role does not exist" at every
// attempt), the database the URL's path (default: the user's name). With
// sslmode= (or a login) it first sends an SSLRequest and, when the server
// answers 'S', runs the TLS handshake (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-SSL).
//
// Message formats: https://www.postgresql.org/docs/current/protocol-message-formats.html
func Check(ctx context.Context, conn net.Conn, in proto.Input, opts Options) error {
	if mode := opts.SSLMode.Effective(opts.login()); mode.Wants() {
		tc, err := startTLS(ctx, conn, in, mode)
		if err != nil {
			return err
		}
		if tc != nil {
			return tc.Explain(session(tc, in, opts))
		}
	}
	return session(conn, in, opts)
}

// startTLS sends an SSLRequest and, when the server accepts, runs the
// handshake; nil and no error when the server has no TLS and the mode
// lets the session go on in plain text.
func startTLS(ctx context.Context, conn net.Conn, in proto.Input, mode proto.TLSMode) (*proto.TLSConn, error) {
	if _, err := conn.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil { // SSLRequest: 80877103
		return nil, err
	}
	// One byte, read unbuffered: nothing the server sends before the
	// handshake may be taken for its TLS (CVE-2021-23222).
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return nil, err
	}
	switch b[0] {
	case 'S':
		return proto.Handshake(ctx, conn, mode.Config(in.TLS))
	case 'N':
		if mode.Required() {
			return nil, proto.FailHint(proto.Unexpected,
				fmt.Sprintf("PostgreSQL on %s does not offer TLS (ssl = off): turn ssl on in the server, or lower sslmode= to prefer or disable", in.Addr),
				errors.New("the server answered the SSLRequest with N: no TLS"))
		}
		return nil, nil
	}
	return nil, proto.Failf(proto.Unexpected, "not a PostgreSQL server: the SSLRequest was answered with %q", proto.QuoteReply(string(b[:])))
}

// session sends the StartupMessage and reads the first reply, or logs in.
func session(conn net.Conn, in proto.Input, opts Options) error {
	user := in.User
	if user == "" {
		user = "postgres"
	}
	db := strings.TrimPrefix(in.Path, "/")
	if db == "" {
		db = user
	}
	var msg bytes.Buffer
	msg.Write([]byte{0, 0, 0, 0})                       // length, set below
	binary.Write(&msg, binary.BigEndian, uint32(3<<16)) // protocol 3.0
	for _, kv := range []string{"user", user, "database", db, "application_name", "depprobe"} {
		msg.WriteString(kv)
		msg.WriteByte(0)
	}
	msg.WriteByte(0)
	b := msg.Bytes()
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	if _, err := conn.Write(b); err != nil {
		return err
	}
	if opts.login() {
		return login(conn, in, user, opts)
	}

	var head [5]byte
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		return err
	}
	typ, n := head[0], binary.BigEndian.Uint32(head[1:])
	// A StartupMessage reply is short; 8 KiB holds any error message.
	if (typ != 'R' && typ != 'E' && typ != 'v') || n < 4 || n > 8<<10 {
		return proto.Failf(proto.Unexpected, "not a PostgreSQL server: the reply starts with %q", proto.QuoteReply(string(head[:])))
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(conn, body); err != nil {
		return err
	}
	switch typ {
	case 'R': // an authentication request: the server accepts connections
		if len(body) >= 4 && binary.BigEndian.Uint32(body) == 0 {
			// AuthenticationOk (trust): end the session politely.
			conn.Write([]byte{'X', 0, 0, 0, 4})
		}
		return nil
	case 'v': // NegotiateProtocolVersion: the server answers
		return nil
	}
	fields := pgErrorFields(body)
	if fields['C'] != "57P03" {
		return nil // any other error: the server is up (PQping's rule)
	}
	return startingUp(in, fields)
}

// startingUp is 57P03's failure.
func startingUp(in proto.Input, fields map[byte]string) error {
	hint := fmt.Sprintf("PostgreSQL on %s is up but not accepting connections yet: starting up or shutting down; wait for it", in.Addr)
	if strings.Contains(fields['D'], "Hot standby mode is disabled") || strings.Contains(fields['M'], "not accepting connections") {
		// A standby with hot_standby=off: it refuses connections for as
		// long as it is a standby, which is until it is promoted.
		hint = fmt.Sprintf("PostgreSQL on %s is a standby with hot_standby=off: it accepts no connection for as long as it is a standby, so waiting helps only if it is promoted; set hot_standby=on, or point the target at the primary", in.Addr)
	}
	return proto.FailHint(proto.NotReady, hint, fmt.Errorf("server says %q (SQLSTATE 57P03)", serverMessage(in, fields)))
}

// serverMessage is an ErrorResponse's message and detail, printable,
// capped, the password masked.
func serverMessage(in proto.Input, fields map[byte]string) string {
	msg := fields['M']
	if d := fields['D']; d != "" {
		msg += " (" + strings.TrimSuffix(d, ".") + ")"
	}
	return proto.Scrub(proto.ServerText(msg), in.Password)
}

// sqlState is an ErrorResponse's SQLSTATE (field C), as a message may
// show it: five digits or capital letters. Anything else a server put
// there is not shown: "none" when it sent no code, else "malformed".
func sqlState(f map[byte]string) string {
	c := f['C']
	switch {
	case c == "":
		return "none"
	case len(c) != 5 || strings.ContainsFunc(c, func(r rune) bool { return (r < '0' || r > '9') && (r < 'A' || r > 'Z') }):
		return "malformed"
	}
	return c
}

// pgErrorFields decodes an ErrorResponse body: (code byte, C string)*, 0.
func pgErrorFields(b []byte) map[byte]string {
	f := map[byte]string{}
	for len(b) > 1 && b[0] != 0 {
		code := b[0]
		s, rest, ok := bytes.Cut(b[1:], []byte{0})
		if !ok {
			break
		}
		f[code] = string(s)
		b = rest
	}
	return f
}
