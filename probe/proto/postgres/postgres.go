// Package postgres checks a PostgreSQL server with the semantics of
// pg_isready: a StartupMessage and the first reply.
//
// It imports only probe/proto (and the standard library): it knows
// nothing of targets, retries or logs.
package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/depprobe/depprobe/probe/proto"
)

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
// report.
//
// No password is ever sent, so none can leak: the probe reads the first
// reply and closes, as pg_isready does, which the server does not log as an
// error. The user is the URL's (default "postgres", which exists on most
// servers, so that a trust setup does not log "role does not exist" at every
// attempt), the database the URL's path (default: the user's name).
// TLS is not negotiated: the server answers a plain StartupMessage even when
// its pg_hba.conf demands TLS (with an error, which counts as accepting).
//
// Message formats: https://www.postgresql.org/docs/current/protocol-message-formats.html
func Check(ctx context.Context, conn net.Conn, in proto.Input) error {
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
	msgText := fields['M']
	if d := fields['D']; d != "" {
		msgText += " (" + strings.TrimSuffix(d, ".") + ")"
	}
	hint := fmt.Sprintf("PostgreSQL on %s is up but not accepting connections yet: starting up or shutting down; wait for it", in.Addr)
	if strings.Contains(fields['D'], "Hot standby mode is disabled") || strings.Contains(fields['M'], "not accepting connections") {
		// A standby with hot_standby=off: it refuses connections for as
		// long as it is a standby, which is until it is promoted.
		hint = fmt.Sprintf("PostgreSQL on %s is a standby with hot_standby=off: it accepts no connection for as long as it is a standby, so waiting helps only if it is promoted; set hot_standby=on, or point the target at the primary", in.Addr)
	}
	return proto.FailHint(proto.NotReady, hint,
		fmt.Errorf("server says %q (SQLSTATE 57P03)", proto.Scrub(proto.ServerText(msgText), in.Password)))
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
