package probe_test

import (
	"bufio"
	be "encoding/binary"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
)

// pgServer is a private PostgreSQL cluster with TLS (the test CA's server
// certificate; clients verified against the CA for cert authentication),
// password users of every method, and a migrations table.
type pgServer struct {
	dir, addr, port string
	ca              *testCA
	srv             *server
}

// startPGWithUsers initdbs a cluster, writes its pg_hba.conf and starts it
// with TLS on a free port.
func startPGWithUsers(t *testing.T) *pgServer {
	t.Helper()
	dir := postgresCluster(t)
	ca := newTestCA(t, "postgres")
	hba := strings.Join([]string{
		"local all all trust",
		"local replication all trust",
		"host all md5user 127.0.0.1/32 md5",
		"host all pwuser 127.0.0.1/32 password",
		"hostssl all client 127.0.0.1/32 cert",
		"hostnossl all tlsonly 127.0.0.1/32 reject",
		"host all all 127.0.0.1/32 scram-sha-256",
	}, "\n") + "\n"
	hbaFile := filepath.Join(dir, "data", "pg_hba.conf")
	if err := os.WriteFile(hbaFile, []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	chown(t, hbaFile, "postgres")
	addr, srv := startPostgres(t, dir, "ssl=on", "ssl_cert_file="+ca.serverCert, "ssl_key_file="+ca.srvKey, "ssl_ca_file="+ca.caFile)
	_, port, _ := net.SplitHostPort(addr)
	pg := &pgServer{dir: dir, addr: addr, port: port, ca: ca, srv: srv}
	waitReady(t, target(t, "postgres://"+addr))
	pg.sql(t, `CREATE USER app PASSWORD 'scram-pw';
SET password_encryption = 'md5'; CREATE USER md5user PASSWORD 'md5-pw'; RESET password_encryption;
CREATE USER pwuser PASSWORD 'clear-pw';
CREATE USER tlsonly PASSWORD 'tls-pw';
CREATE USER client;
CREATE TABLE schema_migrations (version text);
INSERT INTO schema_migrations VALUES ('41'), ('42');
GRANT SELECT ON schema_migrations TO app, md5user, pwuser, tlsonly, client;
CREATE TABLE secret_things (x int);`)
	return pg
}

// sql runs statements as postgres through the cluster's socket.
func (pg *pgServer) sql(t *testing.T, stmts string) {
	t.Helper()
	run(t, exec.Command(pgBinary(t, "psql"), "-X", "-q", "-h", pg.dir, "-p", pg.port, "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", stmts))
}

// TestPostgresLogin: role= and query= log in with every password method
// PostgreSQL has (SCRAM-SHA-256, md5, password) and with a client
// certificate, over TLS as sslmode= says; a standby made with
// pg_basebackup answers role=standby.
func TestPostgresLogin(t *testing.T) {
	pg := startPGWithUsers(t)
	addr, ca := pg.addr, pg.ca
	const migrated = " query=SELECT%201%20FROM%20schema_migrations%20WHERE%20version='42'"
	for _, tc := range []struct {
		name, spec string
		want       probe.Outcome
		text       []string
	}{
		{"scram", "postgres://app:scram-pw@" + addr + "/postgres role=primary", probe.OK, nil},
		{"scram wrong password", "postgres://app:nope@" + addr + "/postgres role=primary", probe.AuthFailed, []string{`refused user "app"`, "28P01", "password authentication failed"}},
		{"no password", "postgres://app@" + addr + "/postgres role=primary", probe.AuthFailed, []string{`asks user "app" for a password`}},
		{"md5", "postgres://md5user:md5-pw@" + addr + "/postgres" + migrated, probe.OK, nil},
		{"md5 wrong password", "postgres://md5user:nope@" + addr + "/postgres" + migrated, probe.AuthFailed, []string{`"md5user"`}},
		{"clear-text password", "postgres://pwuser:clear-pw@" + addr + "/postgres" + migrated, probe.OK, nil},
		{"unknown user", "postgres://ghost:x@" + addr + "/postgres role=primary", probe.AuthFailed, []string{`"ghost"`}},
		{"unknown database", "postgres://app:scram-pw@" + addr + "/nodb role=primary", probe.NotReady, []string{"3D000", "does not exist"}},
		{"role standby on a primary", "postgres://app:scram-pw@" + addr + "/postgres role=standby", probe.NotReady, []string{"is a primary", "want a standby"}},
		{"migration there", "postgres://app:scram-pw@" + addr + "/postgres" + migrated, probe.OK, nil},
		{"migration not yet", "postgres://app:scram-pw@" + addr + "/postgres query=SELECT%201%20FROM%20schema_migrations%20WHERE%20version='43'", probe.NotReady, []string{"returned no row"}},
		{"table not yet", "postgres://app:scram-pw@" + addr + "/postgres query=SELECT%20*%20FROM%20later", probe.NotReady, []string{"42P01", "have the migrations run?"}},
		{"permission denied", "postgres://app:scram-pw@" + addr + "/postgres query=SELECT%20*%20FROM%20secret_things", probe.Unexpected, []string{"42501", "may not run the query="}},
		{"syntax error", "postgres://app:scram-pw@" + addr + "/postgres query=SELEC%201", probe.Unexpected, []string{"42601", "fix the query"}},
		{"many rows, first one enough", "postgres://app:scram-pw@" + addr + "/postgres query=SELECT%20generate_series(1%2C100000)", probe.OK, nil},
		{"sslmode require", "postgres://app:scram-pw@" + addr + "/postgres sslmode=require role=primary", probe.OK, nil},
		{"verify-full", "postgres://app:scram-pw@" + addr + "/postgres sslmode=verify-full ca=" + ca.caFile + " role=primary", probe.OK, nil},
		{"verify-full, system CAs", "postgres://app:scram-pw@" + addr + "/postgres sslmode=verify-full role=primary", probe.CertInvalid, nil},
		{"verify-full, wrong name", "postgres://app:scram-pw@" + addr + "/postgres sslmode=verify-full ca=" + ca.caFile + " servername=db.example.org role=primary", probe.CertInvalid, []string{`wanted "db.example.org"`}},
		{"verify-ca ignores the name", "postgres://app:scram-pw@" + addr + "/postgres sslmode=verify-ca ca=" + ca.caFile + " servername=db.example.org role=primary", probe.OK, nil},
		{"require with ca verifies", "postgres://app:scram-pw@" + addr + "/postgres sslmode=require ca=" + ca.strangerCert + " role=primary", probe.CertInvalid, nil},
		{"hostssl only, plain", "postgres://tlsonly:tls-pw@" + addr + "/postgres sslmode=disable role=primary", probe.AuthFailed, []string{"pg_hba.conf"}},
		{"hostssl only, prefer", "postgres://tlsonly:tls-pw@" + addr + "/postgres role=primary", probe.OK, nil},
		{"client certificate", "postgres://client@" + addr + "/postgres sslmode=verify-full" + ca.client() + migrated, probe.OK, nil},
		{"client certificate missing", "postgres://client@" + addr + "/postgres sslmode=verify-full ca=" + ca.caFile + migrated, probe.AuthFailed, nil},
		{"pg_isready semantics stay", "postgres://app:nope@" + addr + "/postgres", probe.OK, nil},
		{"pg_isready over TLS", "postgres://" + addr + " sslmode=verify-full ca=" + ca.caFile, probe.OK, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := attempt(t, target(t, tc.spec), 5*time.Second)
			checkResult(t, r, probe.Protocol, tc.want)
			checkText(t, r, tc.text...)
			for _, secret := range []string{"scram-pw", "md5-pw", "clear-pw", "tls-pw", "version=", "generate_series"} {
				if strings.Contains(r.Diagnosis()+r.Hint, secret) {
					t.Errorf("the result shows %q: %s / %s", secret, r.Diagnosis(), r.Hint)
				}
			}
		})
	}

	t.Run("standby", func(t *testing.T) {
		sdir := serverDir(t, "postgres")
		run(t, command(t, "postgres", "", pgBinary(t, "pg_basebackup"), "-h", pg.dir, "-p", pg.port, "-U", "postgres",
			"-D", filepath.Join(sdir, "data"), "-R", "--no-sync", "-X", "stream"))
		saddr, _ := startPostgres(t, sdir) // no ssl: the primary's ssl settings were command-line ones
		standby := target(t, "postgres://app:scram-pw@"+saddr+"/postgres role=standby"+migrated)
		waitReady(t, standby)
		r := attempt(t, target(t, "postgres://app:scram-pw@"+saddr+"/postgres role=primary"), 5*time.Second)
		checkResult(t, r, probe.Protocol, probe.NotReady)
		checkText(t, r, "is a standby", "failover or promotion")
		checkResult(t, attempt(t, target(t, "postgres://app:scram-pw@"+addr+"/postgres role=primary"), 5*time.Second), probe.Protocol, probe.OK)

		// A server without TLS: prefer goes on in plain text, require fails.
		checkResult(t, attempt(t, target(t, "postgres://app:scram-pw@"+saddr+"/postgres sslmode=prefer role=standby"), 5*time.Second), probe.Protocol, probe.OK)
		r = attempt(t, target(t, "postgres://app:scram-pw@"+saddr+"/postgres sslmode=require role=standby"), 5*time.Second)
		checkResult(t, r, probe.Protocol, probe.Unexpected)
		checkText(t, r, "does not offer TLS")
	})
}

// TestPostgresHostileSCRAM: a server that pretends to know the password
// (a wrong SCRAM server signature) is not ready, and one that asks for a
// billion PBKDF2 iterations is refused before any is computed.
func TestPostgresHostileSCRAM(t *testing.T) {
	for _, tc := range []struct{ name, iterations, final, want string }{
		{"forged signature", "4096", "v=AAAA", "does not know the password"},
		{"costly iterations", "1000000000", "", "iterations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := loopback.Listen(t)
			loopback.Serve(t, ln, func(c net.Conn) {
				go func() {
					defer c.Close()
					c.SetDeadline(time.Now().Add(5 * time.Second))
					r := bufio.NewReader(c)
					var n uint32
					be.Read(r, be.BigEndian, &n)
					io.CopyN(io.Discard, r, int64(n)-4) // StartupMessage
					c.Write(pgMsg('R', append([]byte{0, 0, 0, 10}, "SCRAM-SHA-256\x00\x00"...)))
					typ, body := pgRead(r) // SASLInitialResponse
					if typ != 'p' {
						return
					}
					_, first, _ := strings.Cut(string(body), "n,,n=,r=")
					c.Write(pgMsg('R', append([]byte{0, 0, 0, 11}, "r="+first+"SERVER,s=c2FsdA==,i="+tc.iterations...)))
					if typ, _ := pgRead(r); typ != 'p' {
						return
					}
					c.Write(pgMsg('R', append([]byte{0, 0, 0, 12}, tc.final...)))
					c.Write(pgMsg('R', []byte{0, 0, 0, 0}))
					c.Write(pgMsg('Z', []byte{'I'}))
					io.Copy(io.Discard, r)
				}()
			})
			r := attempt(t, target(t, "postgres://app:pw@"+ln.Addr().String()+" role=primary sslmode=disable"), 2*time.Second)
			checkResult(t, r, probe.Protocol, probe.Unexpected)
			checkText(t, r, tc.want)
		})
	}
}

func pgMsg(typ byte, body []byte) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	be.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
	return append(b, body...)
}

func pgRead(r *bufio.Reader) (byte, []byte) {
	typ, err := r.ReadByte()
	if err != nil {
		return 0, nil
	}
	var n uint32
	be.Read(r, be.BigEndian, &n)
	if n < 4 || n > 1<<16 {
		return 0, nil
	}
	body := make([]byte, n-4)
	io.ReadFull(r, body)
	return typ, body
}
