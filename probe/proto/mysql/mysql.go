// Package mysql checks a MySQL or MariaDB server like `mysqladmin ping`: its
// handshake and a login attempt that reaches a verdict.
//
// It imports only probe/proto (and the standard library): it knows
// nothing of targets, retries or logs.
package mysql

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/depprobe/depprobe/probe/proto"
)

// MySQL error codes the probe tells apart, at login and in role= and
// query= (https://mariadb.com/kb/en/mariadb-error-code-reference/).
const (
	mysqlTooManyConnections = 1040 // ER_CON_COUNT_ERROR
	mysqlDBAccessDenied     = 1044 // ER_DBACCESS_DENIED_ERROR
	mysqlAccessDenied       = 1045 // ER_ACCESS_DENIED_ERROR
	mysqlBadDB              = 1049 // ER_BAD_DB_ERROR
	mysqlShutdown           = 1053 // ER_SERVER_SHUTDOWN
	mysqlBadField           = 1054 // ER_BAD_FIELD_ERROR
	mysqlSyntax             = 1064 // ER_PARSE_ERROR
	mysqlNormalShutdown     = 1077 // ER_NORMAL_SHUTDOWN
	mysqlHostBlocked        = 1129 // ER_HOST_IS_BLOCKED
	mysqlHostNotAllowed     = 1130 // ER_HOST_NOT_PRIVILEGED
	mysqlTableAccess        = 1142 // ER_TABLEACCESS_DENIED_ERROR
	mysqlNoSuchTable        = 1146 // ER_NO_SUCH_TABLE
	mysqlLockWait           = 1205 // ER_LOCK_WAIT_TIMEOUT
	mysqlDeadlock           = 1213 // ER_LOCK_DEADLOCK
	// ER_ACCESS_DENIED_NO_PASSWORD_ERROR: MariaDB's "access denied" from an
	// authentication plugin other than the password ones (unix_socket,
	// …). A user that does not exist gets it too, at random: MariaDB
	// fakes a login as a randomly chosen existing user, so that the
	// answer does not tell which users exist (sql_acl.cc, find_mpvio_user).
	mysqlAccessDeniedPlugin = 1698
	mysqlAccountLocked      = 3118 // ER_ACCOUNT_HAS_BEEN_LOCKED (MySQL)
	mariadbAccountLocked    = 4151 // ER_ACCOUNT_HAS_BEEN_LOCKED (MariaDB)
)

// mysqlDenied reports whether an error code in place of the login verdict
// means the server refused this user its credentials: "Access denied for
// user" (1045, 1698) or a locked account. 1044, access denied to a database,
// is not one: the credentials were accepted.
func mysqlDenied(code uint16) bool {
	switch code {
	case mysqlAccessDenied, mysqlAccessDeniedPlugin, mysqlAccountLocked, mariadbAccountLocked:
		return true
	}
	return false
}

// Client capability flags (https://mariadb.com/kb/en/connection/#capabilities).
const (
	mysqlLongPassword     = 1 << 0
	mysqlProtocol41       = 1 << 9
	mysqlSecureConnection = 1 << 15
	mysqlPluginAuth       = 1 << 19
	mysqlConnectWithDB    = 1 << 3
	mysqlSSL              = 1 << 11
)

// Options are what a mysql:// or mariadb:// target's options set. The
// zero value is mysqladmin ping's check in plain text.
type Options struct {
	// SSLMode is ssl_mode=, the mysql client's --ssl-mode; TLSDefault:
	// disabled for the ping, preferred for a login (role=, query=), as
	// the mysql client's default.
	SSLMode proto.TLSMode
	// Primary: role=primary, the server must accept writes
	// (@@global.read_only = 0).
	Primary bool
	// Query is SQL that must return a row; empty: none.
	Query string
}

// login reports whether the check must log in: for role= or query=.
func (o Options) login() bool { return o.Primary || o.Query != "" }

// Check answers like `mysqladmin ping`
// (https://mariadb.com/kb/en/mariadb-admin/): the server is alive when it
// sends its initial handshake packet and lets a login attempt reach the
// authentication verdict. Error packets in place of the handshake or the
// verdict are mapped: 1040 too many connections and 1053/1077 shutdown are
// not_ready (waiting fixes them); 1129 host blocked and 1130 host not allowed
// are unexpected (the server is up but refuses this client until an
// administrator acts: FLUSH HOSTS, or a user for this address), and retried so
// that the fix is picked up without a restart.
//
// Why log in rather than close after the handshake packet: a client that
// drops the connection during the handshake counts against
// max_connect_errors (default 100), and the server then blocks the probing
// host (1129) for every client, the application included; a login attempt
// that ends in a verdict does not count. And MariaDB checks max_connections
// only once a user has authenticated, so "too many connections" is seen only
// by a login that succeeds.
//
// The login uses the URL's user (default "depprobe") and password (default
// none), with mysql_native_password or caching_sha2_password (fast path, or
// the full path: the password in clear over TLS, else encrypted with the
// server's RSA key), whichever the server asks for. "Access denied" (any of
// mysqlDenied's codes) is ready without a password in the URL (the server
// is alive, as mysqladmin says) and auth_failed with one, as the mysql
// client's login fails. After an OK it sends COM_QUIT.
//
// With role= or query= the login must succeed (a denial is auth_failed),
// and the queries follow (see ask). With ssl_mode= (or for role=/query=)
// the probe asks for TLS after the handshake packet when the server offers
// it (CLIENT_SSL), as the mysql client does.
//
// Packet formats: https://mariadb.com/kb/en/connection/
func Check(ctx context.Context, conn net.Conn, in proto.Input, opts Options) error {
	seq, p, err := mysqlRead(conn)
	if err != nil {
		return err
	}
	if len(p) > 0 && p[0] == 0xff {
		return mysqlError(in, p, false, false)
	}
	serverCaps, nonce, plugin, err := handshake(p)
	if err != nil {
		return err
	}
	if serverCaps&mysqlProtocol41 == 0 {
		return nil // a pre-4.1 server: it answers, which is all we ask of it
	}
	caps := uint32(mysqlLongPassword|mysqlProtocol41|mysqlSecureConnection|mysqlPluginAuth) & serverCaps
	caps |= mysqlProtocol41
	db := strings.TrimPrefix(in.Path, "/")
	if opts.login() && db != "" && serverCaps&mysqlConnectWithDB != 0 {
		caps |= mysqlConnectWithDB
	}
	var tc *proto.TLSConn
	if mode := opts.SSLMode.Effective(opts.login()); mode.Wants() {
		switch {
		case serverCaps&mysqlSSL != 0:
			caps |= mysqlSSL
			seq++
			if err := mysqlWrite(conn, seq, handshakeHead(caps)); err != nil { // SSLRequest
				return err
			}
			if tc, err = proto.Handshake(ctx, conn, mode.Config(in.TLS)); err != nil {
				return err
			}
			conn = tc
		case mode.Required():
			return proto.FailHint(proto.Unexpected,
				fmt.Sprintf("the server on %s does not offer TLS (have_ssl is off): give it a certificate (ssl_cert, ssl_key), or lower ssl_mode= to preferred or disabled", in.Addr),
				errors.New("the handshake packet has no CLIENT_SSL: no TLS"))
		}
	}
	err = login(conn, seq, in, opts, caps, nonce, plugin, db, tc != nil)
	if tc != nil {
		err = tc.Explain(err)
	}
	return err
}

// handshakeHead is the start of a HandshakeResponse41, which is all of an
// SSLRequest: capabilities, max packet size, charset, 23 zero bytes.
func handshakeHead(caps uint32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, caps)
	binary.Write(&b, binary.LittleEndian, uint32(1<<24)) // max packet size
	b.WriteByte(33)                                      // utf8_general_ci
	b.Write(make([]byte, 23))
	return b.Bytes()
}

// login sends the HandshakeResponse41 and follows the authentication to
// its verdict; secure tells whether the connection is TLS.
func login(conn net.Conn, seq byte, in proto.Input, opts Options, caps uint32, nonce []byte, plugin, db string, secure bool) error {
	user := in.User
	if user == "" {
		user = "depprobe"
	}
	pass := in.Password
	auth := mysqlScramble(plugin, pass, nonce)
	resp := bytes.NewBuffer(handshakeHead(caps))
	resp.WriteString(user)
	resp.WriteByte(0)
	resp.WriteByte(byte(len(auth)))
	resp.Write(auth)
	if caps&mysqlConnectWithDB != 0 {
		resp.WriteString(db)
		resp.WriteByte(0)
	}
	if caps&mysqlPluginAuth != 0 {
		resp.WriteString(plugin)
		resp.WriteByte(0)
	}
	if err := mysqlWrite(conn, seq+1, resp.Bytes()); err != nil {
		return err
	}
	// The verdict, possibly after an authentication method switch or more
	// authentication data.
	for range loginRounds {
		seq, p, err := mysqlRead(conn)
		if err != nil {
			return err
		}
		if len(p) == 0 {
			return proto.Failf(proto.Unexpected, "an empty packet during login")
		}
		var reply []byte
		switch p[0] {
		case 0x00: // OK: logged in
			if opts.login() {
				err = ask(conn, in, opts)
			}
			mysqlWrite(conn, 0, []byte{0x01}) // COM_QUIT
			return err
		case 0xff:
			// A denial counts against the password only if the password
			// was sent: not to a plugin depprobe cannot speak (ed25519,
			// PAM, GSSAPI), which got an empty answer. For role= and
			// query= the login must succeed.
			if opts.login() {
				return loginError(in, p)
			}
			return mysqlError(in, p, true, pass != "" && mysqlScramble(plugin, pass, nonce) != nil)
		case 0xfe: // switch authentication method: plugin\0, nonce
			name, data, _ := bytes.Cut(p[1:], []byte{0})
			plugin, nonce = string(name), bytes.TrimSuffix(data, []byte{0})
			reply = mysqlScramble(plugin, pass, nonce)
		case 0x01: // more data from the plugin
			switch {
			case plugin == "caching_sha2_password" && bytes.Equal(p[1:], []byte{3}):
				continue // fast authentication succeeded: OK follows
			case plugin == "caching_sha2_password" && bytes.Equal(p[1:], []byte{4}) && pass != "" && secure:
				reply = append([]byte(pass), 0) // full authentication over TLS: the password itself
			case plugin == "caching_sha2_password" && bytes.Equal(p[1:], []byte{4}) && pass != "":
				reply = []byte{2} // full authentication: ask for the RSA public key
			case plugin == "caching_sha2_password" && bytes.HasPrefix(p[1:], []byte("-----BEGIN")):
				if reply, err = mysqlRSAPassword(p[1:], pass, nonce); err != nil {
					return proto.Fail(proto.Unexpected, err)
				}
			case opts.login():
				return proto.Failf(proto.Unexpected, "the server asks for more of authentication plugin %q than depprobe speaks (mysql_native_password, caching_sha2_password)", proto.QuoteReply(plugin))
			default:
				return nil // a plugin we cannot follow: the server is up and talking
			}
		default:
			return proto.Failf(proto.Unexpected, "an unknown packet 0x%02x during login", p[0])
		}
		if err := mysqlWrite(conn, seq+1, reply); err != nil {
			return err
		}
	}
	// A server that keeps switching methods or asking for more data has
	// not let the login reach a verdict: it is not known to be alive.
	return proto.Failf(proto.Unexpected, "no login verdict (OK or error) after %d rounds of authentication", loginRounds)
}

// loginRounds bounds the packets the login reads: the longest real
// exchange, a method switch then caching_sha2_password's full
// authentication with the server's RSA key, reads three before the
// verdict.
const loginRounds = 4

// handshake decodes the server's first packet, a protocol 10 handshake:
// version\0, thread id (4), scramble part 1 (8), filler (1), capabilities
// low (2), charset (1), status (2), capabilities high (2), scramble length
// (1), reserved (10), scramble part 2 (12 and a NUL), plugin name\0.
func handshake(p []byte) (caps uint32, nonce []byte, plugin string, err error) {
	if len(p) < 2 || p[0] != 10 {
		return 0, nil, "", proto.Failf(proto.Unexpected, "not a MySQL or MariaDB server: the first packet is not a protocol 10 handshake")
	}
	_, rest, ok := bytes.Cut(p[1:], []byte{0}) // the server version
	if !ok || len(rest) < 15 {
		return 0, nil, "", proto.Failf(proto.Unexpected, "not a MySQL or MariaDB server: a malformed handshake packet")
	}
	caps = uint32(binary.LittleEndian.Uint16(rest[13:]))
	if len(rest) >= 20 {
		caps |= uint32(binary.LittleEndian.Uint16(rest[18:])) << 16
	}
	nonce = append([]byte{}, rest[4:12]...)
	plugin = "mysql_native_password"
	if len(rest) >= 31+13 {
		part2, name, _ := bytes.Cut(rest[31:], []byte{0})
		nonce = append(nonce, part2...)
		if n, _, _ := bytes.Cut(name, []byte{0}); len(n) > 0 {
			plugin = string(n)
		}
	}
	return caps, nonce, plugin, nil
}

// mysqlScramble answers a plugin's challenge (nonce) with the password.
// An empty password, or a plugin it does not know, gets an empty answer.
func mysqlScramble(plugin, pass string, nonce []byte) []byte {
	if pass == "" {
		return nil
	}
	switch plugin {
	case "mysql_native_password":
		// SHA1(password) XOR SHA1(nonce, SHA1(SHA1(password)))
		h1 := sha1.Sum([]byte(pass))
		h2 := sha1.Sum(h1[:])
		h3 := sha1.Sum(append(append([]byte{}, nonce...), h2[:]...))
		for i := range h1 {
			h1[i] ^= h3[i]
		}
		return h1[:]
	case "caching_sha2_password":
		// SHA256(password) XOR SHA256(SHA256(SHA256(password)), nonce)
		h1 := sha256.Sum256([]byte(pass))
		h2 := sha256.Sum256(h1[:])
		h3 := sha256.Sum256(append(h2[:], nonce...))
		for i := range h1 {
			h1[i] ^= h3[i]
		}
		return h1[:]
	}
	return nil
}

// mysqlRSAPassword encrypts the password for caching_sha2_password's full
// authentication without TLS: (password\0 XOR nonce) with RSA-OAEP under the
// server's public key.
func mysqlRSAPassword(pemKey []byte, pass string, nonce []byte) ([]byte, error) {
	block, _ := pem.Decode(pemKey)
	if block == nil {
		return nil, errors.New("the server's RSA public key is not PEM")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the server's RSA public key: %w", err)
	}
	key, ok := pub.(*rsa.PublicKey)
	if !ok || len(nonce) == 0 {
		return nil, errors.New("the server's public key is not an RSA key")
	}
	plain := append([]byte(pass), 0)
	for i := range plain {
		plain[i] ^= nonce[i%len(nonce)]
	}
	return rsa.EncryptOAEP(sha1.New(), rand.Reader, key, plain, nil)
}

// mysqlError maps an ERR packet: 0xff, code (2), ["#" SQLSTATE (5)], message.
// greeted tells whether the server sent its handshake first: an unknown
// error in its place is unexpected, one in place of the login verdict
// (access denied, unknown database) means the server is alive. sentPassword
// tells whether the login carried the URL's password: only then is a denial
// auth_failed.
func mysqlError(in proto.Input, p []byte, greeted, sentPassword bool) error {
	if len(p) < 3 {
		return proto.Failf(proto.Unexpected, "a malformed MySQL error packet")
	}
	code := binary.LittleEndian.Uint16(p[1:])
	err := fmt.Errorf("server says %q (error %d)", serverMessage(in, p), code)
	addr := in.Addr
	switch code {
	case mysqlTooManyConnections:
		return proto.FailHint(proto.NotReady, fmt.Sprintf("the server on %s is at max_connections: wait, or raise max_connections or lower the clients' pool sizes", addr), err)
	case mysqlShutdown, mysqlNormalShutdown:
		return proto.FailHint(proto.NotReady, fmt.Sprintf("the server on %s is shutting down: wait for it to come back", addr), err)
	case mysqlHostBlocked:
		return proto.FailHint(proto.Unexpected, fmt.Sprintf("the server on %s blocked this host after too many broken connections (max_connect_errors): run `mariadb-admin flush-hosts` (FLUSH HOSTS); waiting will not fix this", addr), err)
	case mysqlHostNotAllowed:
		return proto.FailHint(proto.Unexpected, fmt.Sprintf("the server on %s does not let this host connect: create a user for this client's address (or '%%'); waiting will not fix this", addr), err)
	}
	if !greeted {
		return proto.Fail(proto.Unexpected, err)
	}
	if mysqlDenied(code) && sentPassword {
		return proto.Fail(proto.AuthFailed, err)
	}
	return nil // any other verdict (access denied without a password, unknown database): the server is alive
}

// serverMessage is an ERR packet's message, printable, capped, the
// password masked.
func serverMessage(in proto.Input, p []byte) string {
	msg := p[3:]
	if len(msg) >= 6 && msg[0] == '#' {
		msg = msg[6:]
	}
	return proto.Scrub(proto.ServerText(string(msg)), in.Password)
}

// mysqlRead reads one packet: length (3, little endian), sequence (1),
// payload. Handshake packets are small; 64 KiB is plenty.
func mysqlRead(conn io.Reader) (seq byte, payload []byte, err error) {
	var h [4]byte
	if _, err := io.ReadFull(conn, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	if n > 64<<10 {
		return 0, nil, proto.Failf(proto.Unexpected, "not a MySQL or MariaDB server: the reply starts with %q", proto.QuoteReply(string(h[:])))
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(conn, payload); err != nil {
		return 0, nil, err
	}
	return h[3], payload, nil
}

// mysqlWrite writes one packet.
func mysqlWrite(conn net.Conn, seq byte, payload []byte) error {
	n := len(payload)
	_, err := conn.Write(append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...))
	return err
}
