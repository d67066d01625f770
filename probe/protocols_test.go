package probe_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
)

// The standard instances of go-svc machines (see .ci/run).
const (
	stdPostgres = "127.0.0.1:5432"
	stdMariaDB  = "127.0.0.1:3306"
	stdRedis    = "127.0.0.1:6379"
	stdRabbitMQ = "127.0.0.1:5672"
	stdMQTT     = "127.0.0.1:1883"
	stdNATS     = "127.0.0.1:4222"
)

// checkText fails unless the result's Error() and Hint contain every want.
func checkText(t *testing.T, r probe.Result, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(r.Diagnosis()+"\n"+r.Hint, w) {
			t.Errorf("Diagnosis() = %q, Hint = %q, want them to mention %q", r.Diagnosis(), r.Hint, w)
		}
	}
}

// waitReady polls a target until it is ready.
func waitReady(t *testing.T, tg *probe.Target) {
	t.Helper()
	var r probe.Result
	eventually(t, 60*time.Second, tg.URL()+" ready", func() bool {
		r = attempt(t, tg, 2*time.Second)
		return r.Ready()
	})
}

func TestPostgresReady(t *testing.T) {
	addr := standard(t, "PostgreSQL", stdPostgres)
	for _, url := range []string{
		"postgres://" + addr,                   // trust: AuthenticationOk
		"postgresql://nobody@" + addr + "/nod", // FATAL 28000 role does not exist: up, as pg_isready says
	} {
		r := attempt(t, target(t, url), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.OK)
	}
}

// TestPostgresStandbyNotReady runs a private cluster: as a primary with
// scram-sha-256 it answers a startup with an authentication request
// (ready); restarted as a standby with hot_standby=off it answers SQLSTATE
// 57P03, not_ready, for as long as it runs.
func TestPostgresStandbyNotReady(t *testing.T) {
	dir := postgresCluster(t)
	addr, primary := startPostgres(t, dir)
	waitReady(t, target(t, "postgres://"+addr))
	r := attempt(t, target(t, "postgres://app:hunter2@"+addr+"/app"), 2*time.Second)
	checkResult(t, r, probe.Protocol, probe.OK) // an authentication request; no password is sent
	primary.stop(t)

	signal := filepath.Join(dir, "data", "standby.signal")
	if err := os.WriteFile(signal, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	chown(t, signal, "postgres")
	addr, _ = startPostgres(t, dir, "hot_standby=off")
	// "starting up" until recovery has begun, then "not accepting
	// connections" for good.
	eventually(t, 30*time.Second, "the standby in recovery", func() bool {
		r = attempt(t, target(t, "postgres://"+addr), 2*time.Second)
		return strings.Contains(r.Diagnosis(), "not accepting connections")
	})
	for range 3 { // it stays so: a state, not a moment of start-up
		r = attempt(t, target(t, "postgres://"+addr), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.NotReady)
	}
	checkText(t, r, "not accepting connections", "57P03", "standby", "hot_standby=off",
		"accepts no connection for as long as it is a standby", "promoted", "hot_standby=on")
	if strings.Contains(r.Hint, "wait for it") {
		t.Errorf("Hint = %q: a standby without hot_standby never becomes ready by waiting alone", r.Hint)
	}
}

func TestMySQLReady(t *testing.T) {
	addr := standard(t, "MariaDB", stdMariaDB)
	for _, url := range []string{
		"mysql://" + addr,               // access denied for "depprobe": alive, as mysqladmin ping says
		"mariadb://root@" + addr,        // root without a password: logged in, then COM_QUIT
		"mysql://nobody@" + addr + "/x", // unknown user
	} {
		r := attempt(t, target(t, url), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.OK)
	}
}

// TestMariaDBStates drives a private server through the refusals the probe
// tells apart. A relay makes its connections come from 127.0.0.2, since
// MariaDB does not apply its host checks to 127.0.0.1.
func TestMariaDBStates(t *testing.T) {
	m := startMariaDB(t, "--max-connect-errors=2", "--max-connections=10")
	remote := relay(t, "127.0.0.2", m.addr)

	t.Run("host not allowed", func(t *testing.T) {
		r := attempt(t, target(t, "mysql://"+remote), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.Unexpected)
		checkText(t, r, "error 1130", "not allowed to connect", "does not let this host connect")
	})
	m.sql(t, "CREATE USER app@'%'; CREATE USER pw@'%' IDENTIFIED BY 'hunter2'")

	t.Run("probes never get the host blocked", func(t *testing.T) {
		// max_connect_errors=2: two clients that hang up during the
		// handshake block the host; the probe's login attempts do not.
		for range 5 {
			r := attempt(t, target(t, "mysql://"+remote), 2*time.Second)
			checkResult(t, r, probe.Protocol, probe.OK)
		}
	})
	t.Run("host blocked", func(t *testing.T) {
		for range 2 {
			c := holdConn(t, remote)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			c.Read(make([]byte, 256)) // the handshake
			c.Close()
		}
		eventually(t, 10*time.Second, "host blocked", func() bool {
			r := attempt(t, target(t, "mysql://"+remote), 2*time.Second)
			if r.Outcome == probe.OK {
				return false
			}
			checkResult(t, r, probe.Protocol, probe.Unexpected)
			checkText(t, r, "error 1129", "flush-hosts")
			return true
		})
		m.sql(t, "FLUSH HOSTS")
		checkResult(t, attempt(t, target(t, "mysql://"+remote), 2*time.Second), probe.Protocol, probe.OK)
	})
	t.Run("credentials", func(t *testing.T) {
		checkResult(t, attempt(t, target(t, "mysql://pw:hunter2@"+m.addr), 2*time.Second), probe.Protocol, probe.OK)
		r := attempt(t, target(t, "mysql://pw:wrong@"+m.addr), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.AuthFailed)
		checkText(t, r, "error 1045")
		checkResult(t, attempt(t, target(t, "mysql://pw@"+m.addr), 2*time.Second), probe.Protocol, probe.OK)
	})
	t.Run("denied by a plugin", func(t *testing.T) {
		// unix_socket over TCP: the server says 1698 "Access denied", as
		// the mysql client shows; with a password that is auth_failed.
		m.sql(t, "CREATE USER sock@'%' IDENTIFIED VIA unix_socket")
		r := attempt(t, target(t, "mysql://sock:hunter2@"+m.addr), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.AuthFailed)
		checkText(t, r, "error 1698")
		checkResult(t, attempt(t, target(t, "mysql://sock@"+m.addr), 2*time.Second), probe.Protocol, probe.OK)
	})
	t.Run("unknown users with a password", func(t *testing.T) {
		// MariaDB answers a user that does not exist as if it were a
		// random existing one (here sock, unix_socket: 1698, or another:
		// 1045), so that the answer does not tell which users exist. Every
		// name must be auth_failed, as `mariadb -u NAME -pPASSWORD` fails.
		codes := map[string]int{}
		for i := range 40 {
			r := attempt(t, target(t, fmt.Sprintf("mysql://nobody%d:hunter2@%s", i, m.addr)), 2*time.Second)
			checkResult(t, r, probe.Protocol, probe.AuthFailed)
			for _, code := range []string{"error 1045", "error 1698"} {
				if strings.Contains(r.Diagnosis(), code) {
					codes[code]++
				}
			}
		}
		t.Logf("the server's answers to 40 unknown users: %v", codes)
	})
	t.Run("too many connections", func(t *testing.T) {
		// Fill max_connections=10 with sessions (the server may still
		// count a session that just ended, so retry a refused login).
		held := 0
		eventually(t, 10*time.Second, "10 sessions held", func() bool {
			if mysqlLogin(t, m.addr, "app") {
				held++
			}
			return held == 10
		})
		r := attempt(t, target(t, "mysql://app@"+m.addr), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.NotReady)
		checkText(t, r, "error 1040", "Too many connections", "max_connections")
	})
}

func TestRedisReady(t *testing.T) {
	addr := standard(t, "Redis", stdRedis)
	checkResult(t, attempt(t, target(t, "redis://"+addr), 2*time.Second), probe.Protocol, probe.OK)
	checkResult(t, attempt(t, target(t, "redis://"+addr+"/3"), 2*time.Second), probe.Protocol, probe.OK)
}

// TestRedisLoading starts a private Redis on an RDB file of 20000 keys,
// loaded slowly (key-load-delay), and catches it answering LOADING.
func TestRedisLoading(t *testing.T) {
	dir := t.TempDir()
	seed := startRedis(t, dir, "--enable-debug-command", "yes")
	if got := redisDo(t, seed, "DEBUG", "POPULATE", "20000"); got != "+OK" {
		t.Fatalf("DEBUG POPULATE: %s", got)
	}
	if got := redisDo(t, seed, "SAVE"); got != "+OK" {
		t.Fatalf("SAVE: %s", got)
	}
	// 20000 keys at 100µs each: about 2s of loading, answering clients
	// between every KiB read.
	addr := startRedis(t, dir, "--key-load-delay", "100", "--loading-process-events-interval-bytes", "1024")
	tg := target(t, "redis://"+addr)
	r := attempt(t, tg, 2*time.Second)
	if r.Ready() {
		t.Fatal("ready before loading 20000 keys slowly: make the RDB file bigger or the delay longer")
	}
	checkResult(t, r, probe.Protocol, probe.NotReady)
	checkText(t, r, "LOADING", "loading its dataset")
	waitReady(t, tg)
}

func TestRedisStates(t *testing.T) {
	t.Run("replica without its master", func(t *testing.T) {
		_, port, _ := net.SplitHostPort(loopback.Refused(t))
		addr := startRedis(t, "", "--replicaof", "127.0.0.1", port, "--replica-serve-stale-data", "no")
		r := attempt(t, target(t, "redis://"+addr), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.NotReady)
		checkText(t, r, "MASTERDOWN", "lost its master")
	})
	t.Run("maxclients", func(t *testing.T) {
		addr := startRedis(t, "", "--maxclients", "1")
		// Take the one client slot; the server may still count the
		// connection that saw it listening, so retry until it is ours.
		eventually(t, 10*time.Second, "a Redis connection held", func() bool {
			c := holdConn(t, addr)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			io.WriteString(c, "PING\r\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.SetReadDeadline(time.Time{})
			return strings.HasPrefix(line, "+PONG")
		})
		r := attempt(t, target(t, "redis://"+addr), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.NotReady)
		checkText(t, r, "max number of clients", "maxclients")
	})
	t.Run("password", func(t *testing.T) {
		addr := startRedis(t, "", "--requirepass", "hunter2")
		if got := redisDo(t, addr, "AUTH", "hunter2"); got != "+OK" {
			t.Fatalf("AUTH: %s", got)
		}
		for _, tc := range []struct {
			url  string
			want probe.Outcome
		}{
			{"redis://" + addr, probe.OK},                 // NOAUTH: up, the application holds the password
			{"redis://:hunter2@" + addr, probe.OK},        // AUTH password
			{"redis://default:hunter2@" + addr, probe.OK}, // AUTH user password
			{"redis://:wrong@" + addr, probe.AuthFailed},
			{"redis://alice:hunter2@" + addr, probe.AuthFailed},
		} {
			checkResult(t, attempt(t, target(t, tc.url), 2*time.Second), probe.Protocol, tc.want)
		}
	})
	t.Run("acl user", func(t *testing.T) {
		addr := startRedis(t, "")
		if got := redisDo(t, addr, "ACL", "SETUSER", "alice", "on", ">hunter2", "~*", "-@all", "+get"); got != "+OK" {
			t.Fatalf("ACL SETUSER: %s", got)
		}
		// alice may not PING: authenticated, and the server is up.
		checkResult(t, attempt(t, target(t, "redis://alice:hunter2@"+addr), 2*time.Second), probe.Protocol, probe.OK)
		checkResult(t, attempt(t, target(t, "redis://alice:nope@"+addr), 2*time.Second), probe.Protocol, probe.AuthFailed)
	})
	t.Run("password given to a server without one", func(t *testing.T) {
		addr := standard(t, "Redis", stdRedis)
		r := attempt(t, target(t, "redis://:hunter2@"+addr), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.AuthFailed)
	})
	t.Run("rediss", func(t *testing.T) {
		dir := t.TempDir()
		certFile, keyFile, _ := certificate(t, dir, "")
		tlsAddr := startRedis(t, dir, "--tls-cert-file", certFile, "--tls-key-file", keyFile,
			"--tls-ca-cert-file", certFile, "--tls-auth-clients", "no")
		checkResult(t, attempt(t, target(t, "rediss://"+tlsAddr+" ca="+certFile), 2*time.Second), probe.Protocol, probe.OK)
		checkResult(t, attempt(t, target(t, "rediss://:hunter2@"+tlsAddr+" ca="+certFile), 2*time.Second), probe.Protocol, probe.AuthFailed)
		r := attempt(t, target(t, "rediss://"+tlsAddr), 2*time.Second)
		checkResult(t, r, probe.TLS, probe.CertInvalid)
		r = attempt(t, target(t, "redis://"+tlsAddr), 2*time.Second)
		if r.Step != probe.Protocol || r.Ready() {
			t.Errorf("redis:// on a TLS port: %s %s, want a protocol failure", r.Step, r.Outcome)
		}
	})
}

func TestAMQP(t *testing.T) {
	addr := standard(t, "RabbitMQ", stdRabbitMQ)
	for _, tc := range []struct {
		url  string
		want probe.Outcome
		text string
	}{
		{"amqp://" + addr, probe.OK, ""},                        // Connection.Start
		{"amqp://guest:guest@" + addr, probe.OK, ""},            // Tune, Open "/", Close
		{"amqp://guest:guest@" + addr + "/%2F", probe.OK, ""},   // vhost "/" spelled out
		{"amqp://guest:wrong@" + addr, probe.AuthFailed, "403"}, // ACCESS_REFUSED
		{"amqp://guest:guest@" + addr + "/nope", probe.Unexpected, "530"},
	} {
		r := attempt(t, target(t, tc.url), 3*time.Second)
		checkResult(t, r, probe.Protocol, tc.want)
		if tc.text != "" {
			checkText(t, r, tc.text)
		}
	}
}

// TestAMQPOtherVersion: a broker that speaks another AMQP version answers
// the header with its own (AMQP 1.0 here), which no real broker on this
// machine can be made to do.
func TestAMQPOtherVersion(t *testing.T) {
	ln := loopback.Listen(t)
	loopback.Serve(t, ln, func(c net.Conn) {
		io.ReadFull(c, make([]byte, 8))
		c.Write([]byte("AMQP\x00\x01\x00\x00"))
		c.Close()
	})
	r := attempt(t, target(t, "amqp://"+ln.Addr().String()), time.Second)
	checkResult(t, r, probe.Protocol, probe.Unexpected)
	checkText(t, r, "does not speak AMQP 0-9-1", "0-1-0-0")
}

func TestNATS(t *testing.T) {
	addr := standard(t, "NATS", stdNATS)
	checkResult(t, attempt(t, target(t, "nats://"+addr), 2*time.Second), probe.Protocol, probe.OK)

	t.Run("max connections", func(t *testing.T) {
		addr := startNATS(t, "max_connections: 1\n")
		// Take the one connection; the server may still count the
		// connection that saw it listening, so retry until it is ours.
		eventually(t, 10*time.Second, "a NATS connection held", func() bool {
			c := holdConn(t, addr)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			io.WriteString(c, "CONNECT {}\r\nPING\r\n")
			line := ""
			for sc := bufio.NewScanner(c); sc.Scan() && !strings.HasPrefix(line, "PONG") && !strings.HasPrefix(line, "-ERR"); {
				line = sc.Text()
			}
			c.SetReadDeadline(time.Time{})
			return strings.HasPrefix(line, "PONG")
		})
		r := attempt(t, target(t, "nats://"+addr), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.NotReady)
		checkText(t, r, "maximum connections exceeded")
	})
	t.Run("credentials", func(t *testing.T) {
		addr := startNATS(t, "authorization { user: app, password: hunter2 }\n")
		for _, tc := range []struct {
			url  string
			want probe.Outcome
		}{
			{"nats://" + addr, probe.OK}, // auth required: up, the application holds the credentials
			{"nats://app:hunter2@" + addr, probe.OK},
			{"nats://app:wrong@" + addr, probe.AuthFailed},
		} {
			checkResult(t, attempt(t, target(t, tc.url), 2*time.Second), probe.Protocol, tc.want)
		}
	})
	t.Run("token", func(t *testing.T) {
		addr := startNATS(t, "authorization { token: s3cr3t-token }\n")
		checkResult(t, attempt(t, target(t, "nats://s3cr3t-token@"+addr), 2*time.Second), probe.Protocol, probe.OK)
		checkResult(t, attempt(t, target(t, "nats://wrong-token@"+addr), 2*time.Second), probe.Protocol, probe.AuthFailed)
	})
}

func TestMQTT(t *testing.T) {
	addr := standard(t, "Mosquitto", stdMQTT)
	checkResult(t, attempt(t, target(t, "mqtt://"+addr), 2*time.Second), probe.Protocol, probe.OK)

	t.Run("credentials", func(t *testing.T) {
		passwd := binary(t, "mosquitto_passwd", "/usr/bin/mosquitto_passwd")
		dir := t.TempDir()
		pwFile := filepath.Join(dir, "passwd")
		run(t, exec.Command(passwd, "-b", "-c", pwFile, "app", "hunter2"))
		addr, _ := startMosquitto(t, "allow_anonymous false", "password_file "+pwFile)
		for _, tc := range []struct {
			url  string
			want probe.Outcome
		}{
			{"mqtt://" + addr, probe.OK}, // "not authorized" without credentials: up
			{"mqtt://app:hunter2@" + addr, probe.OK},
			{"mqtt://app:wrong@" + addr, probe.AuthFailed},
		} {
			r := attempt(t, target(t, tc.url), 2*time.Second)
			checkResult(t, r, probe.Protocol, tc.want)
		}
	})
	t.Run("mqtts", func(t *testing.T) {
		dir := t.TempDir()
		certFile, keyFile, _ := certificate(t, dir, "")
		addr, _ := startMosquitto(t, "certfile "+certFile, "keyfile "+keyFile)
		checkResult(t, attempt(t, target(t, "mqtts://"+addr+" ca="+certFile), 2*time.Second), probe.Protocol, probe.OK)
		checkResult(t, attempt(t, target(t, "mqtts://"+addr), 2*time.Second), probe.TLS, probe.CertInvalid)
	})
}

// grpcServer serves gRPC on a loopback port; with health it registers the
// standard health service with "" SERVING, "up" SERVING and "down"
// NOT_SERVING.
func grpcServer(t *testing.T, withHealth bool, opts ...grpc.ServerOption) string {
	t.Helper()
	ln := loopback.Listen(t)
	srv := grpc.NewServer(opts...)
	if withHealth {
		h := health.NewServer()
		h.SetServingStatus("up", healthpb.HealthCheckResponse_SERVING)
		h.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
		healthpb.RegisterHealthServer(srv, h)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return ln.Addr().String()
}

func TestGRPC(t *testing.T) {
	addr := grpcServer(t, true)
	for _, tc := range []struct {
		spec string
		want probe.Outcome
		text string
	}{
		{"grpc://" + addr, probe.OK, ""},
		{"grpc://" + addr + " service=up", probe.OK, ""},
		{"grpc://" + addr + " service=down", probe.NotReady, "NOT_SERVING"},
		{"grpc://" + addr + " service=later", probe.NotReady, `does not know service "later"`},
	} {
		r := attempt(t, target(t, tc.spec), 2*time.Second)
		checkResult(t, r, probe.Protocol, tc.want)
		if tc.text != "" {
			checkText(t, r, tc.text)
		}
	}

	bare := grpcServer(t, false)
	r := attempt(t, target(t, "grpc://"+bare), 2*time.Second)
	checkResult(t, r, probe.Protocol, probe.Unexpected)
	checkText(t, r, "no health service", "UNIMPLEMENTED", "register the standard health service")

	t.Run("grpcs", func(t *testing.T) {
		dir := t.TempDir()
		certFile, _, cert := certificate(t, dir, "")
		addr := grpcServer(t, true, grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
		checkResult(t, attempt(t, target(t, "grpcs://"+addr+" ca="+certFile), 2*time.Second), probe.Protocol, probe.OK)
		checkResult(t, attempt(t, target(t, "grpcs://"+addr+" ca="+certFile+" service=down"), 2*time.Second), probe.Protocol, probe.NotReady)
		checkResult(t, attempt(t, target(t, "grpcs://"+addr), 2*time.Second), probe.TLS, probe.CertInvalid)
		r := attempt(t, target(t, "grpc://"+addr), 2*time.Second) // plain HTTP/2 to a TLS port
		if r.Step != probe.Protocol || r.Ready() {
			t.Errorf("grpc:// on a TLS port: %s %s, want a protocol failure", r.Step, r.Outcome)
		}
	})
	t.Run("an HTTP/1 server", func(t *testing.T) {
		// An HTTP/1.1 server answers the HTTP/2 preface with a 400 (and
		// keeps reading here, so that the answer is never lost to a reset).
		ln := loopback.Listen(t)
		loopback.Serve(t, ln, func(c net.Conn) {
			go func() {
				defer c.Close()
				io.ReadFull(c, make([]byte, 24))
				io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
				io.Copy(io.Discard, c)
			}()
		})
		r := attempt(t, target(t, "grpc://"+ln.Addr().String()), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.Unexpected)
	})
}

func TestTLSScheme(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are the test's own
	srv.StartTLS()
	defer srv.Close()
	ca := writeCA(t, srv)
	addr := srv.Listener.Addr().String()

	checkResult(t, attempt(t, target(t, "tls://"+addr+" ca="+ca), 2*time.Second), probe.TLS, probe.OK)
	r := attempt(t, target(t, "tls://"+addr), 2*time.Second)
	checkResult(t, r, probe.TLS, probe.CertInvalid)
	r = attempt(t, target(t, "tls://"+addr+" ca="+ca+" servername=db.example.org"), 2*time.Second)
	checkResult(t, r, probe.TLS, probe.CertInvalid)
	checkText(t, r, "example.com", "127.0.0.1", "valid until", `wanted "db.example.org"`)

	plain := loopback.Listen(t)
	loopback.Serve(t, plain, func(c net.Conn) { io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n"); c.Close() })
	r = attempt(t, target(t, "tls://"+plain.Addr().String()), 2*time.Second)
	if r.Step != probe.TLS || r.Ready() {
		t.Errorf("tls:// to a plain server: %s %s, want a tls failure", r.Step, r.Outcome)
	}
}

func TestDNSScheme(t *testing.T) {
	resolver := dnsServer(t, map[string][]string{"db.test.": {"10.1.2.3", "10.1.2.4"}})
	tg := target(t, "dns://db.test")
	tg.Resolver = resolver
	r := attempt(t, tg, 2*time.Second)
	checkResult(t, r, probe.Resolve, probe.OK)
	if len(r.Addrs) != 2 || len(r.Steps) != 1 {
		t.Errorf("Addrs = %v, Steps = %d, want 2 addresses and only the resolve step (no connect)", r.Addrs, len(r.Steps))
	}
	tg = target(t, "dns://missing.test")
	tg.Resolver = resolver
	checkResult(t, attempt(t, tg, 2*time.Second), probe.Resolve, probe.NotFound)
}

func TestFileScheme(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ready")
	tg := target(t, "file://"+path)
	r := attempt(t, tg, time.Second)
	checkResult(t, r, probe.Protocol, probe.NotReady)
	checkText(t, r, "no such file or directory", "does not exist (yet)")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	checkResult(t, attempt(t, tg, time.Second), probe.Protocol, probe.OK)
	checkResult(t, attempt(t, target(t, "file://"+filepath.Dir(path)), time.Second), probe.Protocol, probe.OK) // a directory exists too
}

// TestWrongProtocol points schemes at another protocol's server: the attempt
// ends in the protocol step within its time, never ready and never hanging.
// Where the other server says something, the outcome is unexpected; where it
// hangs up without a word (PostgreSQL to a malformed startup packet) it is
// closed; where both sides wait for the other to speak first, timeout.
func TestWrongProtocol(t *testing.T) {
	grpcAddr := grpcServer(t, false)
	for _, tc := range []struct {
		spec   string
		server string
		want   probe.Outcome
	}{
		{"redis://" + stdPostgres, "PostgreSQL", probe.Closed},
		{"redis://" + stdNATS, "NATS", probe.Unexpected},
		{"postgres://" + stdNATS, "NATS", probe.Unexpected},
		{"mysql://" + stdNATS, "NATS", probe.Unexpected},
		{"amqp://" + stdNATS, "NATS", probe.Unexpected},
		{"mqtt://" + stdNATS, "NATS", probe.Unexpected},
		{"nats://" + stdMariaDB, "MariaDB", probe.Unexpected},
		{"amqp://" + stdRedis, "Redis", probe.Timeout}, // Redis waits for a newline, AMQP for a frame
		{"grpc://" + stdRedis, "Redis", probe.Unexpected},
		{"mqtt://" + stdRabbitMQ, "RabbitMQ", probe.Unexpected}, // it answers with its AMQP header
		{"redis://" + grpcAddr, "gRPC", probe.Timeout},          // gRPC waits for the rest of an HTTP/2 preface
		{"grpc://" + stdPostgres, "PostgreSQL", probe.Closed},
		{"postgres://" + stdRedis, "Redis", probe.Timeout}, // Redis waits for a newline, PostgreSQL for a reply
		{"mysql://" + stdPostgres, "PostgreSQL", probe.Timeout},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			if tc.server != "gRPC" {
				_, port, _ := net.SplitHostPort(tc.spec[strings.Index(tc.spec, "//")+2:])
				standard(t, tc.server, "127.0.0.1:"+port)
			}
			r := attempt(t, target(t, tc.spec), time.Second)
			checkResult(t, r, probe.Protocol, tc.want)
		})
	}
}

// TestSecretsNeverShown probes with passwords in URLs, against servers that
// accept and refuse them, and looks for the password in everything a result
// and a target show.
func TestSecretsNeverShown(t *testing.T) {
	const secret = "Zq7-hunter2-secret"
	var urls []string
	for _, s := range []struct{ scheme, service, addr string }{
		{"redis", "Redis", stdRedis},
		{"postgres", "PostgreSQL", stdPostgres},
		{"mysql", "MariaDB", stdMariaDB},
		{"amqp", "RabbitMQ", stdRabbitMQ},
		{"mqtt", "Mosquitto", stdMQTT},
		{"nats", "NATS", stdNATS},
	} {
		standard(t, s.service, s.addr)
		urls = append(urls, s.scheme+"://user:"+secret+"@"+s.addr, s.scheme+"://user:"+secret+"@"+loopback.Refused(t))
	}
	redisAuth := startRedis(t, "", "--requirepass", "other")
	urls = append(urls, "redis://:"+secret+"@"+redisAuth, "rediss://:"+secret+"@127.0.0.1:1 ca=/dev/null/x")
	mcAuth := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(mcAuth, []byte("user:other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	urls = append(urls, "memcached://user:"+secret+"@"+startMemcached(t, "-Y", mcAuth))
	ferret := startFerretDB(t, "--test-enable-new-auth", "--setup-database=app", "--setup-username=user", "--setup-password=other")
	urls = append(urls, "mongodb://user:"+secret+"@"+ferret+"/app", "mongodb://user:"+secret+"@"+loopback.Refused(t)+","+ferret+"/app?authSource=app")
	_, kafkaAddrs := kafkaCluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "user", "other"))
	urls = append(urls, "kafka://user:"+secret+"@"+kafkaAddrs[0], "kafka://user:"+secret+"@"+loopback.Refused(t)+","+loopback.Refused(t))
	for _, u := range urls {
		specs, err := probe.ParseSpecs("test", u)
		if err != nil {
			t.Fatal(err)
		}
		tg, err := probe.New(specs[0])
		if err != nil {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("New error shows the password: %v", err)
			}
			continue
		}
		r := attempt(t, tg, 2*time.Second)
		shown := []string{tg.URL(), tg.Name, r.URL, r.Diagnosis(), r.Hint, r.Summary()}
		if r.Err != nil {
			shown = append(shown, r.Err.Error())
		}
		for _, s := range r.Steps {
			if s.Err != nil {
				shown = append(shown, s.Err.Error())
			}
		}
		if all := strings.Join(shown, "\n"); strings.Contains(all, secret) {
			t.Errorf("%s: the password shows in\n%s", tg.URL(), all)
		}
	}
}

// FuzzProtocolReplies feeds every protocol scheme a server that answers with
// arbitrary bytes and hangs up: an attempt must end (never panic, never
// report ready for garbage that is not a valid answer of its protocol).
func FuzzProtocolReplies(f *testing.F) {
	for _, seed := range []string{
		"", "+PONG\r\n", "-LOADING\r\n", "R\x00\x00\x00\x08\x00\x00\x00\x00", "E\x00\x00\x00\x04",
		"\x05\x00\x00\x00\x0a5.5\x00", "\x07\x00\x00\x00\xff\x10\x04#", "AMQP\x00\x00\x09\x01",
		"\x01\x00\x00\x00\x00\x00\x04\x00\x0a\x00\x0a\xce", "INFO {}\r\n-ERR 'x'\r\n", "\x20\x02\x00\x00",
		"\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x05\x01\x08\x00\x00\x00\x01\x00",
		"VERSION 1.6.18\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, reply []byte) {
		ln := loopback.Listen(t)
		loopback.Serve(t, ln, func(c net.Conn) {
			c.Write(reply)
			c.Close()
		})
		for _, scheme := range []string{"postgres", "mysql", "redis", "amqp", "nats", "mqtt", "grpc", "memcached", "kafka", "mongodb"} {
			r := attempt(t, target(t, scheme+"://"+ln.Addr().String()), 2*time.Second)
			if r.Ready() && len(reply) == 0 {
				t.Errorf("%s: ready on an empty reply", scheme)
			}
		}
	})
}
