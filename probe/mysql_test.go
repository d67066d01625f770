package probe_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
)

// TestMariaDBLogin: role=primary, query= and ssl_mode= against a private
// MariaDB with TLS (the test CA's server certificate, clients verified
// against the CA for REQUIRE X509), users with a password, REQUIRE SSL
// and REQUIRE X509, a migrations table, and read_only switched on and off.
func TestMariaDBLogin(t *testing.T) {
	ca := newTestCA(t, "")
	m := startMariaDB(t, "--ssl-cert="+ca.serverCert, "--ssl-key="+ca.srvKey, "--ssl-ca="+ca.caFile)
	m.sql(t, `CREATE DATABASE app;
CREATE TABLE app.schema_migrations (version varchar(20));
INSERT INTO app.schema_migrations VALUES ('41'), ('42');
CREATE DATABASE other;
CREATE TABLE other.secret_things (x int);
CREATE USER app@'%' IDENTIFIED BY 'maria-pw';
GRANT SELECT ON app.* TO app@'%';
CREATE USER tlsonly@'%' IDENTIFIED BY 'tls-pw' REQUIRE SSL;
GRANT SELECT ON app.schema_migrations TO tlsonly@'%';
CREATE USER client@'%' REQUIRE SUBJECT '/CN=client';
GRANT SELECT ON app.schema_migrations TO client@'%';`)
	addr := m.addr
	const migrated = " query=SELECT%201%20FROM%20schema_migrations%20WHERE%20version='42'"
	for _, tc := range []struct {
		name, spec string
		want       probe.Outcome
		text       []string
	}{
		{"primary", "mysql://app:maria-pw@" + addr + "/app role=primary", probe.OK, nil},
		{"wrong password", "mysql://app:nope@" + addr + "/app role=primary", probe.AuthFailed, []string{"Access denied for user 'app'"}},
		{"no password", "mysql://app@" + addr + "/app" + migrated, probe.AuthFailed, []string{"'app'"}},
		{"migration there", "mariadb://app:maria-pw@" + addr + "/app" + migrated, probe.OK, nil},
		// role= reads its result set to the end, so that query= reads its own.
		{"primary and migration there", "mysql://app:maria-pw@" + addr + "/app role=primary" + migrated, probe.OK, nil},
		{"primary and migration not yet", "mysql://app:maria-pw@" + addr + "/app role=primary query=SELECT%201%20FROM%20schema_migrations%20WHERE%20version='43'", probe.NotReady, []string{"returned no row"}},
		{"migration not yet", "mysql://app:maria-pw@" + addr + "/app query=SELECT%201%20FROM%20schema_migrations%20WHERE%20version='43'", probe.NotReady, []string{"returned no row"}},
		{"table not yet", "mysql://app:maria-pw@" + addr + "/app query=SELECT%20*%20FROM%20later", probe.NotReady, []string{"error 1146", "have the migrations run?"}},
		{"no result set", "mysql://app:maria-pw@" + addr + "/app query=DO%201", probe.NotReady, []string{"returned no row"}},
		{"permission denied", "mysql://app:maria-pw@" + addr + "/app query=SELECT%20*%20FROM%20other.secret_things", probe.Unexpected, []string{"error 1142", "may not run the query="}},
		{"syntax error", "mysql://app:maria-pw@" + addr + "/app query=SELEC%201", probe.Unexpected, []string{"error 1064", "fix the query"}},
		{"unknown database", "mysql://app:maria-pw@" + addr + "/nodb role=primary", probe.Unexpected, []string{"error 1044"}},
		{"many rows, first one enough", "mysql://app:maria-pw@" + addr + "/app query=SELECT%20a.version%20FROM%20schema_migrations%20a%2C%20schema_migrations%20b%2Cschema_migrations%20c", probe.OK, nil},
		{"ssl_mode required", "mysql://app:maria-pw@" + addr + "/app ssl_mode=required role=primary", probe.OK, nil},
		{"verify_identity", "mysql://app:maria-pw@" + addr + "/app ssl_mode=VERIFY_IDENTITY ca=" + ca.caFile + migrated, probe.OK, nil},
		{"verify_identity, system CAs", "mysql://app:maria-pw@" + addr + "/app ssl_mode=verify_identity role=primary", probe.CertInvalid, nil},
		{"verify_identity, wrong name", "mysql://app:maria-pw@" + addr + "/app ssl_mode=verify_identity ca=" + ca.caFile + " servername=db.example.org role=primary", probe.CertInvalid, []string{`wanted "db.example.org"`}},
		{"verify_ca ignores the name", "mysql://app:maria-pw@" + addr + "/app ssl_mode=verify_ca ca=" + ca.caFile + " servername=db.example.org role=primary", probe.OK, nil},
		{"REQUIRE SSL, plain", "mysql://tlsonly:tls-pw@" + addr + "/app ssl_mode=disabled" + migrated, probe.AuthFailed, nil},
		{"REQUIRE SSL, preferred", "mysql://tlsonly:tls-pw@" + addr + "/app" + migrated, probe.OK, nil},
		{"REQUIRE SUBJECT, client certificate", "mysql://client@" + addr + "/app ssl_mode=verify_identity" + ca.client() + migrated, probe.OK, nil},
		{"REQUIRE SUBJECT, none", "mysql://client@" + addr + "/app ssl_mode=verify_identity ca=" + ca.caFile + migrated, probe.AuthFailed, nil},
		{"ping semantics stay", "mysql://app@" + addr, probe.OK, nil},
		{"ping over TLS", "mysql://" + addr + " ssl_mode=verify_identity ca=" + ca.caFile, probe.OK, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := attempt(t, target(t, tc.spec), 5*time.Second)
			checkResult(t, r, probe.Protocol, tc.want)
			checkText(t, r, tc.text...)
			for _, secret := range []string{"maria-pw", "tls-pw", "version="} {
				if strings.Contains(r.Diagnosis()+r.Hint, secret) {
					t.Errorf("the result shows %q: %s / %s", secret, r.Diagnosis(), r.Hint)
				}
			}
		})
	}

	t.Run("read only", func(t *testing.T) {
		m.sql(t, "SET GLOBAL read_only = 1")
		r := attempt(t, target(t, "mysql://app:maria-pw@"+addr+"/app role=primary"), 5*time.Second)
		checkResult(t, r, probe.Protocol, probe.NotReady)
		checkText(t, r, "read-only", "read_only = 1")
		m.sql(t, "SET GLOBAL read_only = 0")
		checkResult(t, attempt(t, target(t, "mysql://app:maria-pw@"+addr+"/app role=primary"), 5*time.Second), probe.Protocol, probe.OK)
	})
	t.Run("server without TLS", func(t *testing.T) {
		plain := startMariaDB(t)
		plain.sql(t, "CREATE USER app@'%' IDENTIFIED BY 'maria-pw'")
		checkResult(t, attempt(t, target(t, "mysql://app:maria-pw@"+plain.addr+" role=primary"), 5*time.Second), probe.Protocol, probe.OK)
		r := attempt(t, target(t, "mysql://app:maria-pw@"+plain.addr+" ssl_mode=required role=primary"), 5*time.Second)
		checkResult(t, r, probe.Protocol, probe.Unexpected)
		checkText(t, r, "does not offer TLS")
	})
}

// TestMySQLNoLoginVerdict: a server that answers every login packet with
// another authentication method switch never lets the login reach a
// verdict; that is unexpected, not ready.
func TestMySQLNoLoginVerdict(t *testing.T) {
	packet := func(seq byte, p string) []byte {
		return append([]byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), seq}, p...)
	}
	// A MariaDB 10.11 handshake packet (mysql_native_password), then an
	// authentication method switch.
	greeting := packet(0, "\x0a5.5.5-10.11.6-MariaDB\x00\x01\x00\x00\x00abcdefgh\x00\xfe\xf7\x2d\x02\x00\xff\x81\x15\x00\x00\x00\x00\x00\x00\x1d\x00\x00\x00ijklmnopqrst\x00mysql_native_password\x00")
	switchAuth := "\xfemysql_native_password\x00" + strings.Repeat("n", 20) + "\x00"
	ln := loopback.Listen(t)
	loopback.Serve(t, ln, func(c net.Conn) {
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(greeting); err != nil {
				return
			}
			for range 16 { // every packet the client sends gets a switch
				var h [4]byte
				if _, err := io.ReadFull(c, h[:]); err != nil {
					return
				}
				if _, err := io.CopyN(io.Discard, c, int64(h[0])|int64(h[1])<<8|int64(h[2])<<16); err != nil {
					return
				}
				if _, err := c.Write(packet(h[3]+1, switchAuth)); err != nil {
					return
				}
			}
		}()
	})
	for _, spec := range []string{"mysql://" + ln.Addr().String(), "mysql://app:pw@" + ln.Addr().String() + "/app role=primary"} {
		r := attempt(t, target(t, spec), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.Unexpected)
		checkText(t, r, "no login verdict")
	}
}
