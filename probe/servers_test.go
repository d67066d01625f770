package probe_test

// Real servers for the protocol tests: the machine's standard instances on
// their usual loopback ports for "ready", and private instances on free
// ports, started here, where a test must control a server's state.
//
// Locally a missing server binary or standard service skips the test with
// the reason; under CI=true it fails it (see inCI).

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
)

// missing skips the test, or fails it under CI, for a prerequisite that is
// not there.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if inCI() {
		t.Fatalf("%s (CI=true: a missing server is a failure; .ci/run installs and starts them)", msg)
	}
	t.Skipf("%s: skipped (install the Debian package and start the service as .ci/run does)", msg)
}

// standard returns addr when the machine's standard instance of a service
// answers there.
func standard(t testing.TB, service, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		missing(t, "%s is not running on %s: %v", service, addr, err)
	}
	c.Close()
	return addr
}

// binary finds a server program on PATH or at one of the given paths.
func binary(t testing.TB, name string, paths ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	missing(t, "%s not found on PATH or in %v", name, paths)
	return ""
}

// freePort is a loopback port nothing listens on right now.
func freePort(t testing.TB) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(loopback.Refused(t))
	return port
}

// eventually polls cond until it holds or d has passed.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond) // a poll interval, not a wait for an event
	}
}

// serverDir is a temporary directory a server running as account can use:
// t.TempDir's parent is private to this user, so it is opened up for
// traversal.
func serverDir(t testing.TB, account string) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() == 0 && account != "" {
		if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
			t.Fatal(err)
		}
		chown(t, dir, account)
	}
	return dir
}

// chown gives path to account when the test runs as root.
func chown(t testing.TB, path, account string) {
	t.Helper()
	if os.Geteuid() != 0 || account == "" {
		return
	}
	u, err := user.Lookup(account)
	if err != nil {
		missing(t, "user %q: %v", account, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// command builds a server command that runs as account when the test runs
// as root (PostgreSQL refuses to run as root), with its output in a log the
// test prints on failure.
func command(t testing.TB, account, logFile, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	if os.Geteuid() == 0 && account != "" {
		u, err := user.Lookup(account)
		if err != nil {
			missing(t, "user %q: %v", account, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Env = append(os.Environ(), "HOME="+u.HomeDir, "USER="+account)
	}
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		cmd.Stdout, cmd.Stderr = f, f
	}
	return cmd
}

// run runs a setup command to its end.
func run(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
}

// server is a private server process the test started.
type server struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// start starts cmd and stops it (SIGTERM, then SIGKILL after 10s) at the
// end of the test, printing its log when the test failed.
func start(t testing.TB, cmd *exec.Cmd, logFile string) *server {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	s := &server{cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() { cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() && logFile != "" {
			b, _ := os.ReadFile(logFile)
			t.Logf("%s log:\n%s", filepath.Base(cmd.Path), tail(string(b), 4000))
		}
	})
	return s
}

// stop ends the server and waits for it.
func (s *server) stop(t testing.TB) {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// listening waits until something accepts connections on addr, failing if
// the server exits first.
func (s *server) listening(t testing.TB, addr string) {
	t.Helper()
	eventually(t, 60*time.Second, "server listening on "+addr, func() bool {
		select {
		case <-s.done:
			b, _ := os.ReadFile(s.log)
			t.Fatalf("%s exited before listening on %s:\n%s", filepath.Base(s.cmd.Path), addr, tail(string(b), 4000))
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// holdConn opens a connection closed at the end of the test.
func holdConn(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// relay accepts on a loopback port and forwards every connection to addr
// from the source address from, so that a server sees a client other than
// 127.0.0.1 (which MariaDB exempts from its host checks).
func relay(t testing.TB, from, addr string) string {
	t.Helper()
	ln := loopback.Listen(t)
	loopback.Serve(t, ln, func(c net.Conn) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: time.Second}
		up, err := d.Dial("tcp", addr)
		if err != nil {
			c.Close()
			return
		}
		go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
		go func() { io.Copy(c, up); c.Close(); up.Close() }()
	})
	return ln.Addr().String()
}

// certificate makes a self-signed certificate for 127.0.0.1 and "localhost"
// and writes cert.pem and key.pem into dir, readable by account.
func certificate(t testing.TB, dir, account string) (certFile, keyFile string, cert tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "depprobe test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for f, b := range map[string][]byte{certFile: certPEM, keyFile: keyPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		chown(t, f, account)
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// --- PostgreSQL ---

// pgBinary finds a PostgreSQL server program in Debian's
// /usr/lib/postgresql/VERSION/bin (the newest), where the postgresql package
// puts it, or else on PATH; initdb and postgres come from the same place.
func pgBinary(t testing.TB, name string) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return pgVersion(b) - pgVersion(a) })
	for _, d := range dirs {
		if p := filepath.Join(d, name); fileExists(p) {
			return p
		}
	}
	return binary(t, name)
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// pgVersion is the major version in a /usr/lib/postgresql/VERSION/bin path.
func pgVersion(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

// postgresCluster initdbs a private cluster (scram-sha-256 authentication,
// so a startup answers with an authentication request) in a temporary
// directory owned by the postgres user.
func postgresCluster(t testing.TB) (dir string) {
	t.Helper()
	initdb := pgBinary(t, "initdb")
	pgBinary(t, "postgres")
	dir = serverDir(t, "postgres")
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("test-superuser-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	chown(t, pw, "postgres")
	run(t, command(t, "postgres", "", initdb, "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"-A", "scram-sha-256", "--pwfile", pw, "--no-sync", "--no-instructions"))
	return dir
}

// startPostgres runs the cluster in dir on a free port and returns its
// address once it listens.
func startPostgres(t testing.TB, dir string, settings ...string) (addr string, s *server) {
	t.Helper()
	port := freePort(t)
	args := []string{"-D", filepath.Join(dir, "data"), "-p", port, "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"}
	for _, kv := range settings {
		args = append(args, "-c", kv)
	}
	logFile := filepath.Join(dir, "postgres.log")
	s = start(t, command(t, "postgres", logFile, pgBinary(t, "postgres"), args...), logFile)
	addr = net.JoinHostPort("127.0.0.1", port)
	s.listening(t, addr)
	return addr, s
}

// --- Redis ---

// startRedis runs a private redis-server on a free port with the given
// extra arguments, in dir (a new temporary directory when empty). With
// --tls-cert-file among them, the port is a TLS port and the plain port is
// off.
func startRedis(t testing.TB, dir string, args ...string) string {
	t.Helper()
	bin := binary(t, "redis-server", "/usr/bin/redis-server")
	if dir == "" {
		dir = t.TempDir()
	}
	port := freePort(t)
	listen := []string{"--port", port}
	if slices.Contains(args, "--tls-cert-file") {
		listen = []string{"--port", "0", "--tls-port", port}
	}
	all := append(append(listen, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir), args...)
	logFile := filepath.Join(dir, "redis-"+port+".log")
	s := start(t, command(t, "", logFile, bin, all...), logFile)
	addr := net.JoinHostPort("127.0.0.1", port)
	s.listening(t, addr)
	return addr
}

// redisDo sends one command and returns the first line of its reply.
func redisDo(t testing.TB, addr string, args ...string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	fmt.Fprintf(c, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(c, "$%d\r\n%s\r\n", len(a), a)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("redis %v: %v", args, err)
	}
	return strings.TrimSpace(line)
}

// --- MariaDB ---

// mariadb is a private MariaDB server.
type mariadb struct {
	addr, socket string
}

// startMariaDB installs a data directory and runs mariadbd on a free port.
func startMariaDB(t testing.TB, args ...string) mariadb {
	t.Helper()
	install := binary(t, "mariadb-install-db", "/usr/bin/mariadb-install-db")
	mariadbd := binary(t, "mariadbd", "/usr/sbin/mariadbd")
	binary(t, "mariadb", "/usr/bin/mariadb")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	var asRoot []string
	if os.Geteuid() == 0 {
		asRoot = []string{"--user=root"} // mariadbd refuses root unless told
	}
	run(t, exec.Command(install, append([]string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db"}, asRoot...)...))
	port := freePort(t)
	m := mariadb{addr: net.JoinHostPort("127.0.0.1", port), socket: filepath.Join(dir, "sock")}
	logFile := filepath.Join(dir, "mariadbd.log")
	all := append([]string{"--no-defaults", "--datadir=" + data, "--port=" + port, "--bind-address=127.0.0.1",
		"--socket=" + m.socket, "--skip-log-bin", "--innodb-buffer-pool-size=8M", "--log-error=" + logFile}, asRoot...)
	s := start(t, command(t, "", "", mariadbd, append(all, args...)...), logFile)
	s.listening(t, m.addr)
	return m
}

// sql runs statements as root through the server's socket.
func (m mariadb) sql(t testing.TB, stmts string) {
	t.Helper()
	run(t, exec.Command("mariadb", "--no-defaults", "-S", m.socket, "-uroot", "-e", stmts))
}

// mysqlLogin logs user (no password) in with a raw handshake and keeps the
// session open until the end of the test. It reports whether the server
// said OK.
func mysqlLogin(t testing.TB, addr, user string) bool {
	t.Helper()
	c := holdConn(t, addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		t.Fatal(err)
	}
	io.CopyN(io.Discard, c, int64(h[0])|int64(h[1])<<8|int64(h[2])<<16)
	p := []byte{0x00, 0x82, 0x08, 0x00, 0, 0, 0, 1, 33} // PROTOCOL_41|SECURE_CONNECTION|PLUGIN_AUTH, max packet, charset
	p = append(p, make([]byte, 23)...)
	p = append(append(p, user...), 0, 0)
	p = append(append(p, "mysql_native_password"...), 0)
	c.Write(append([]byte{byte(len(p)), 0, 0, 1}, p...))
	if _, err := io.ReadFull(c, h[:]); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, int(h[0])|int(h[1])<<8)
	io.ReadFull(c, reply)
	return len(reply) > 0 && reply[0] == 0
}

// --- Mosquitto, NATS ---

// startMosquitto runs a private broker with the given configuration lines
// (a listener on a free port is added).
func startMosquitto(t testing.TB, lines ...string) (addr, dir string) {
	t.Helper()
	bin := binary(t, "mosquitto", "/usr/sbin/mosquitto")
	dir = t.TempDir()
	port := freePort(t)
	conf := []string{"listener " + port + " 127.0.0.1", "persistence false"}
	if os.Geteuid() == 0 {
		conf = append(conf, "user root") // read the test's files; do not switch to the mosquitto user
	}
	conf = append(conf, lines...)
	cf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(cf, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "mosquitto.log")
	s := start(t, command(t, "", logFile, bin, "-c", cf), logFile)
	addr = net.JoinHostPort("127.0.0.1", port)
	s.listening(t, addr)
	return addr, dir
}

// startNATS runs a private nats-server with the given configuration.
func startNATS(t testing.TB, config string) string {
	t.Helper()
	bin := binary(t, "nats-server", "/usr/sbin/nats-server")
	dir := t.TempDir()
	port := freePort(t)
	cf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(cf, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "nats.log")
	s := start(t, command(t, "", logFile, bin, "-a", "127.0.0.1", "-p", port, "-c", cf), logFile)
	addr := net.JoinHostPort("127.0.0.1", port)
	s.listening(t, addr)
	return addr
}
