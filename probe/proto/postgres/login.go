package postgres

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/depprobe/depprobe/probe/proto"
)

// maxMessage caps one message from the server while logged in: the
// startup's parameters, an error, a row of the probe's queries. A larger
// one is not a reply the probe asked for.
const maxMessage = 1 << 20

// login authenticates as user with the URL's password (SCRAM-SHA-256, md5
// or clear text, as the server asks), waits for ReadyForQuery, then asks
// what opts want: SELECT pg_is_in_recovery() for role=, then query=,
// which must return a row (the probe stops reading at the first). It ends
// with Terminate.
func login(conn io.ReadWriter, in proto.Input, user string, opts Options) error {
	r := bufio.NewReader(conn)
	defer conn.Write([]byte{'X', 0, 0, 0, 4}) // Terminate
	var sc *proto.SCRAM
	for {
		typ, body, err := readMessage(r)
		if err != nil {
			return err
		}
		switch typ {
		case 'R':
			if len(body) < 4 {
				return proto.Failf(proto.Unexpected, "a malformed authentication request")
			}
			reply, err := authenticate(in, user, binary.BigEndian.Uint32(body), body[4:], &sc)
			if err != nil {
				return err
			}
			if reply != nil {
				if _, err := conn.Write(reply); err != nil {
					return err
				}
			}
		case 'E':
			return loginError(in, user, pgErrorFields(body))
		case 'S', 'K', 'N', 'v': // parameters, cancel key, notices, protocol version
		case 'Z': // ReadyForQuery: logged in
			return ask(conn, r, in, opts)
		default:
			return proto.Failf(proto.Unexpected, "an unexpected message %q during login", typ)
		}
	}
}

// authenticate answers one authentication request; nil for
// AuthenticationOk and SASLFinal (after verifying it).
func authenticate(in proto.Input, user string, code uint32, data []byte, sc **proto.SCRAM) ([]byte, error) {
	needPassword := func() error {
		if in.HasPassword {
			return nil
		}
		return proto.FailHint(proto.AuthFailed,
			fmt.Sprintf("PostgreSQL on %s asks user %q for a password: put it in the URL (postgres://%s:PASSWORD@…, in a Secret: DEPPROBE_TARGETS_FILE); waiting will not fix this", in.Addr, user, user),
			fmt.Errorf("the server asks user %q for a password, and the URL has none", user))
	}
	switch code {
	case 0: // AuthenticationOk
		return nil, nil
	case 3: // AuthenticationCleartextPassword
		if err := needPassword(); err != nil {
			return nil, err
		}
		return message('p', []byte(in.Password+"\x00")), nil
	case 5: // AuthenticationMD5Password: a 4-byte salt
		if err := needPassword(); err != nil {
			return nil, err
		}
		if len(data) < 4 {
			return nil, proto.Failf(proto.Unexpected, "a malformed MD5 password request")
		}
		return message('p', []byte(md5Password(user, in.Password, data[:4])+"\x00")), nil
	case 10: // AuthenticationSASL: mechanisms, each NUL-terminated
		if err := needPassword(); err != nil {
			return nil, err
		}
		if !bytes.Contains(append([]byte{0}, data...), []byte("\x00SCRAM-SHA-256\x00")) {
			return nil, proto.Failf(proto.Unexpected, "the server offers SASL mechanisms %q, and depprobe speaks SCRAM-SHA-256 (without channel binding)", proto.QuoteReply(string(bytes.ReplaceAll(data, []byte{0}, []byte{' '}))))
		}
		// The user name in the messages is empty: the server takes the
		// StartupMessage's (https://www.postgresql.org/docs/current/sasl-authentication.html).
		*sc = proto.NewSCRAM(sha256.New, "", in.Password)
		first := (*sc).First()
		var b bytes.Buffer
		b.WriteString("SCRAM-SHA-256\x00")
		binary.Write(&b, binary.BigEndian, uint32(len(first)))
		b.WriteString(first)
		return message('p', b.Bytes()), nil
	case 11: // AuthenticationSASLContinue
		if *sc == nil {
			return nil, proto.Failf(proto.Unexpected, "a SASL continuation without a SASL start")
		}
		final, err := (*sc).Final(string(data))
		if err != nil {
			return nil, proto.Fail(proto.Unexpected, err)
		}
		return message('p', []byte(final)), nil
	case 12: // AuthenticationSASLFinal
		if *sc == nil {
			return nil, proto.Failf(proto.Unexpected, "a SASL final message without a SASL start")
		}
		if err := (*sc).Verify(string(data)); err != nil {
			return nil, proto.Fail(proto.Unexpected, err)
		}
		return nil, nil
	}
	// 2 Kerberos, 7 GSSAPI, 9 SSPI, …
	return nil, proto.Failf(proto.Unexpected, "the server asks for authentication method %d, which depprobe does not speak (it speaks SCRAM-SHA-256, md5 and password)", code)
}

// ask runs the queries of role= and query= on a logged-in session.
func ask(w io.Writer, r *bufio.Reader, in proto.Input, opts Options) error {
	if opts.Role != "" {
		row, err := query(w, r, in, "SELECT pg_is_in_recovery()", true)
		if err != nil {
			return err
		}
		standby := row == "t"
		switch {
		case row != "t" && row != "f":
			return proto.Failf(proto.Unexpected, "pg_is_in_recovery() answered %s, want t or f", proto.Found([]byte(row)))
		case opts.Role == "primary" && standby:
			return proto.FailHint(proto.NotReady,
				fmt.Sprintf("PostgreSQL on %s is a standby (in recovery), and role=primary wants the primary: wait for a failover or promotion, or point the target at the primary's address", in.Addr),
				errors.New("the server is a standby (pg_is_in_recovery() = true), want the primary"))
		case opts.Role == "standby" && !standby:
			return proto.FailHint(proto.NotReady,
				fmt.Sprintf("PostgreSQL on %s is a primary (not in recovery), and role=standby wants a standby: is the target the standby's address?", in.Addr),
				errors.New("the server is a primary (pg_is_in_recovery() = false), want a standby"))
		}
	}
	if opts.Query != "" {
		if _, err := query(w, r, in, opts.Query, false); err != nil {
			return err
		}
	}
	return nil
}

// query sends one simple Query and returns the first column of its first
// row. With drain it reads on to ReadyForQuery (so that another query can
// follow); without, it stops at the first row. A query that returns no
// row is not_ready. The query's text is configuration, shown nowhere;
// what the rows hold is data, shown nowhere but role='s t or f.
func query(w io.Writer, r *bufio.Reader, in proto.Input, sql string, drain bool) (string, error) {
	if _, err := w.Write(message('Q', []byte(sql+"\x00"))); err != nil {
		return "", err
	}
	var (
		first string
		rows  int
		qerr  error
	)
	for {
		typ, body, err := readMessage(r)
		if err != nil {
			return "", err
		}
		switch typ {
		case 'D': // DataRow: int16 columns, then int32 length and bytes per column
			if rows == 0 && len(body) >= 6 && binary.BigEndian.Uint16(body) > 0 {
				if n := int32(binary.BigEndian.Uint32(body[2:])); n >= 0 && int(n) <= len(body)-6 {
					first = string(body[6 : 6+n])
				}
			}
			rows++
			if !drain {
				return first, nil
			}
		case 'E':
			if qerr == nil {
				qerr = queryError(in, pgErrorFields(body))
			}
		case 'T', 'C', 'I', 'N', 'S': // row description, complete, empty, notice, parameter
		case 'Z':
			switch {
			case qerr != nil:
				return "", qerr
			case rows == 0:
				return "", proto.NoRow(in)
			}
			return first, nil
		default:
			return "", proto.Failf(proto.Unexpected, "an unexpected message %q after a query", typ)
		}
	}
}

// loginError maps an ErrorResponse during login.
func loginError(in proto.Input, user string, f map[byte]string) error {
	code := sqlState(f)
	err := fmt.Errorf("server says %q (SQLSTATE %s)", serverMessage(in, f), code)
	switch {
	case code == "57P03":
		return startingUp(in, f)
	case code == "28P01", code == "28000":
		// 28P01 invalid_password; 28000: no pg_hba.conf entry, a role
		// that does not exist or may not log in.
		return proto.FailHint(proto.AuthFailed,
			fmt.Sprintf("PostgreSQL on %s refused user %q: check the user, the password and pg_hba.conf (which hosts, databases and methods it allows); waiting will not fix this", in.Addr, user), err)
	case code == "3D000":
		return proto.FailHint(proto.NotReady,
			fmt.Sprintf("the database of the URL's path does not exist on %s (yet): is it created by a job that has not run, or is the name wrong?", in.Addr), err)
	case strings.HasPrefix(code, "53"): // too many connections, out of memory, disk full
		return proto.FailHint(proto.NotReady,
			fmt.Sprintf("PostgreSQL on %s is out of a resource (connections, memory or disk): wait, or raise max_connections", in.Addr), err)
	}
	return proto.Fail(proto.Unexpected, err)
}

// queryError maps an ErrorResponse to a query: what migrations have not
// created yet (a table, a column, a schema, a function) and what waiting
// can end (a standby's conflicts, locks, resources) is not_ready; a
// syntax error, a permission denied and the rest are unexpected.
func queryError(in proto.Input, f map[byte]string) error {
	code := sqlState(f)
	err := fmt.Errorf("the query failed: server says %q (SQLSTATE %s)", serverMessage(in, f), code)
	switch {
	case code == "42P01", code == "42703", code == "3F000", code == "42883":
		return proto.FailHint(proto.NotReady,
			fmt.Sprintf("the query= of %s names a table, column, schema or function that does not exist yet: have the migrations run?", in.Addr), err)
	case strings.HasPrefix(code, "40"), strings.HasPrefix(code, "53"), strings.HasPrefix(code, "55"), strings.HasPrefix(code, "57"):
		return proto.Fail(proto.NotReady, err)
	case code == "42501":
		return proto.FailHint(proto.Unexpected,
			fmt.Sprintf("the URL's user may not run the query= on %s: grant it SELECT, or use another user", in.Addr), err)
	}
	return proto.FailHint(proto.Unexpected, fmt.Sprintf("the query= failed on %s: fix the query (it is retried, but waiting will not fix it)", in.Addr), err)
}

// readMessage reads one backend message: type (1), length (4, itself
// included), body.
func readMessage(r *bufio.Reader) (byte, []byte, error) {
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n < 4 || n > maxMessage {
		return 0, nil, proto.Failf(proto.Unexpected, "not a PostgreSQL message: %q", proto.QuoteReply(string(head[:])))
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return head[0], body, nil
}

// message frames a frontend message.
func message(typ byte, body []byte) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
	return append(b, body...)
}
