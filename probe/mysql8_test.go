package probe_test

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/replication"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/vtenv"

	"github.com/depprobe/depprobe/probe"
)

// Debian 12 has no MySQL 8 server, and no registry reachable here has one,
// so caching_sha2_password (MySQL 8's default) is tested against the
// MySQL protocol server of Vitess (vitess.io/vitess/go/mysql, what vtgate
// serves MySQL 8 clients with): its caching_sha2_password is the real
// exchange, fast path (the server's cache holds the password's hash) and
// full authentication (a cache miss, as after a MySQL 8 restart: the
// password over TLS). Vitess speaks caching_sha2_password only over TLS:
// the plain-text fast path and the RSA path (full authentication without
// TLS, the server's public key) are implemented from MySQL's
// documentation and not tested against a server.

// sha2Users is the server's user store: "cached" is in the
// caching_sha2_password cache (fast path); "full" is not (full
// authentication, which Vitess allows only over TLS).
type sha2Users struct{ password string }

func (u sha2Users) HandleUser(string) bool { return true }

func (u sha2Users) UserEntryWithCacheHash(_ *mysql.Conn, salt []byte, user string, authResponse []byte, _ net.Addr) (mysql.Getter, mysql.CacheState, error) {
	denied := sqlerror.NewSQLErrorf(sqlerror.ERAccessDeniedError, sqlerror.SSAccessDeniedError, "Access denied for user '%v'", user)
	switch user {
	case "cached":
		if string(authResponse) == string(mysql.ScrambleCachingSha2Password(salt, []byte(u.password))) {
			return &mysql.StaticUserData{}, mysql.AuthAccepted, nil
		}
		return nil, mysql.AuthRejected, denied
	case "full":
		return nil, mysql.AuthNeedMoreData, nil
	}
	return nil, mysql.AuthRejected, denied
}

func (u sha2Users) UserEntryWithPassword(_ *mysql.Conn, user, password string, _ net.Addr) (mysql.Getter, error) {
	if user == "full" && password == u.password {
		return &mysql.StaticUserData{}, nil
	}
	return nil, sqlerror.NewSQLErrorf(sqlerror.ERAccessDeniedError, sqlerror.SSAccessDeniedError, "Access denied for user '%v'", user)
}

type sha2AuthServer struct{ users sha2Users }

func (a sha2AuthServer) AuthMethods() []mysql.AuthMethod {
	return []mysql.AuthMethod{mysql.NewSha2CachingAuthMethod(a.users, a.users, a.users)}
}

func (a sha2AuthServer) DefaultAuthMethodDescription() mysql.AuthMethodDescription {
	return mysql.CachingSha2Password
}

// sqlHandler answers read_only and the migrations query.
type sqlHandler struct {
	mysql.UnimplementedHandler
	env      *vtenv.Environment
	readOnly string
}

func (h *sqlHandler) ComQuery(_ *mysql.Conn, query string, callback func(*sqltypes.Result) error) error {
	field := []*querypb.Field{{Name: "x", Type: sqltypes.VarChar}}
	switch {
	case query == "SELECT @@global.read_only":
		return callback(&sqltypes.Result{Fields: field, Rows: [][]sqltypes.Value{{sqltypes.NewVarChar(h.readOnly)}}})
	case strings.Contains(query, "version='42'"):
		return callback(&sqltypes.Result{Fields: field, Rows: [][]sqltypes.Value{{sqltypes.NewVarChar("1")}}})
	}
	return callback(&sqltypes.Result{Fields: field})
}

func (h *sqlHandler) ComQueryMulti(c *mysql.Conn, sql string, callback func(sqltypes.QueryResponse, bool, bool) error) error {
	return h.ComQuery(c, sql, func(r *sqltypes.Result) error { return callback(sqltypes.QueryResponse{QueryResult: r}, false, true) })
}

func (h *sqlHandler) ComPrepare(*mysql.Conn, string) ([]*querypb.Field, uint16, error) {
	return nil, 0, nil
}

func (h *sqlHandler) ComStmtExecute(*mysql.Conn, *mysql.PrepareData, func(*sqltypes.Result) error) error {
	return nil
}

func (h *sqlHandler) ComRegisterReplica(*mysql.Conn, string, uint16, string, string) error {
	return nil
}

func (h *sqlHandler) ComBinlogDump(*mysql.Conn, string, uint32) error { return nil }

func (h *sqlHandler) ComBinlogDumpGTID(*mysql.Conn, string, uint64, replication.GTIDSet, uint16) error {
	return nil
}

func (h *sqlHandler) WarningCount(*mysql.Conn) uint16 { return 0 }

func (h *sqlHandler) Env() *vtenv.Environment { return h.env }

// vitessServer serves the MySQL protocol on a loopback port, with TLS from
// the test CA when tlsConfig is set.
func vitessServer(t *testing.T, h *sqlHandler, tlsConfig *tls.Config) string {
	t.Helper()
	h.env = vtenv.NewTestEnv()
	l, err := mysql.NewListener("tcp", "127.0.0.1:0", sha2AuthServer{sha2Users{password: "sha2-pw"}}, h, 5*time.Second, 5*time.Second, false, false, 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if tlsConfig != nil {
		l.TLSConfig.Store(tlsConfig)
	}
	done := make(chan struct{})
	go func() { l.Accept(); close(done) }()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

// TestMySQL8CachingSHA2: caching_sha2_password's fast path and full
// authentication against a real implementation of the server side.
func TestMySQL8CachingSHA2(t *testing.T) {
	ca := newTestCA(t, "")
	h := &sqlHandler{readOnly: "0"}
	addr := vitessServer(t, h, &tls.Config{Certificates: []tls.Certificate{ca.server}})
	const migrated = " query=SELECT%201%20FROM%20schema_migrations%20WHERE%20version='42'"
	for _, tc := range []struct {
		name, spec string
		want       probe.Outcome
	}{
		{"ping", "mysql://" + addr, probe.OK},
		{"fast path, TLS", "mysql://cached:sha2-pw@" + addr + " ssl_mode=verify_identity ca=" + ca.caFile + " role=primary", probe.OK},
		{"fast path, wrong password", "mysql://cached:nope@" + addr + " role=primary", probe.AuthFailed},
		{"full authentication over TLS", "mysql://full:sha2-pw@" + addr + " ssl_mode=required" + migrated, probe.OK},
		{"full authentication, wrong password", "mysql://full:nope@" + addr + " ssl_mode=required" + migrated, probe.AuthFailed},
		{"no row", "mysql://full:sha2-pw@" + addr + " ssl_mode=required query=SELECT%201%20FROM%20schema_migrations%20WHERE%20version='43'", probe.NotReady},
		{"ping with a password, full authentication", "mysql://full:sha2-pw@" + addr + " ssl_mode=preferred", probe.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := attempt(t, target(t, tc.spec), 5*time.Second)
			checkResult(t, r, probe.Protocol, tc.want)
			if strings.Contains(r.Diagnosis()+r.Hint, "sha2-pw") {
				t.Errorf("the result shows the password: %s / %s", r.Diagnosis(), r.Hint)
			}
		})
	}
	h.readOnly = "1"
	r := attempt(t, target(t, "mysql://cached:sha2-pw@"+addr+" role=primary"), 5*time.Second)
	checkResult(t, r, probe.Protocol, probe.NotReady)
	checkText(t, r, "read-only")
}
