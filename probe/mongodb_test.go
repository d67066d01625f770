package probe_test

import (
	le "encoding/binary"
	"fmt"
	"io"
	"math"
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

// ferretDB is the path of FerretDB, the MongoDB-protocol server the tests
// run on the machine's PostgreSQL; `make ferretdb` builds it there once.
func ferretDB(t testing.TB) string {
	t.Helper()
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	bin := filepath.Join(cache, "depprobe", "ferretdb-v1.24.2", "ferretdb")
	if !fileExists(bin) {
		missing(t, "FerretDB is not built at %s (make ferretdb builds it from the module proxy)", bin)
	}
	return bin
}

// startFerretDB runs a private FerretDB on a free port, on a database of
// its own in the machine's PostgreSQL (dropped at the end), with extra
// arguments; stopped by its PID at the end of the test.
func startFerretDB(t *testing.T, args ...string) string {
	t.Helper()
	bin := ferretDB(t)
	standard(t, "PostgreSQL", stdPostgres)
	psql := binary(t, "psql", "/usr/bin/psql")
	db := fmt.Sprintf("depprobe_ferretdb_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	sql := func(stmt string) {
		run(t, exec.Command(psql, "-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", stmt))
	}
	sql("CREATE DATABASE " + db)
	t.Cleanup(func() { sql("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)") })
	dir := t.TempDir()
	port := freePort(t)
	addr := net.JoinHostPort("127.0.0.1", port)
	logFile := filepath.Join(dir, "ferretdb.log")
	all := append([]string{"--listen-addr=" + addr, "--handler=postgresql",
		"--postgresql-url=postgres://postgres@127.0.0.1:5432/" + db, "--state-dir=" + dir,
		"--telemetry=disable", "--debug-addr=-", "--log-level=warn"}, args...)
	s := start(t, command(t, "", logFile, bin, all...), logFile)
	s.listening(t, addr)
	return addr
}

func TestMongoDBFerretDB(t *testing.T) {
	addr := startFerretDB(t, "--test-enable-new-auth", "--setup-database=app", "--setup-username=app", "--setup-password=hunter2")
	for _, tc := range []struct {
		url  string
		want probe.Outcome
	}{
		{"mongodb://" + addr, probe.OK},
		{"mongodb://" + addr + "/app role=primary", probe.OK},
		{"mongodb://app:hunter2@" + addr + "/app", probe.OK},
		{"mongodb://app:hunter2@" + addr + "/?authSource=app", probe.OK},
		{"mongodb://app:wrong@" + addr + "/app", probe.AuthFailed},
		{"mongodb://nobody:hunter2@" + addr + "/app", probe.AuthFailed},
		{"mongodb://" + addr + "/?replicaSet=rs0", probe.Unexpected}, // FerretDB is a standalone server
		{"mongodb://" + loopback.Refused(t) + "," + addr + " role=primary", probe.OK},
	} {
		t.Run(tc.url, func(t *testing.T) {
			r := attempt(t, target(t, tc.url), 5*time.Second)
			checkResult(t, r, probe.Protocol, tc.want)
		})
	}
}

// Replica set states FerretDB cannot be put in (it is a standalone
// server): hello answers that real MongoDB servers gave, recorded from the
// mongo shell as published (a 2015 secondary of a three-member set; a 3.2
// member started with --replSet before rs.initiate()), re-encoded as BSON
// and served by a listener that speaks OP_MSG. A member in STARTUP2 or
// RECOVERING answers as a secondary does but with "secondary": false (the
// server's IsMasterResponse sets neither flag for those states): the
// secondary's answer with that flag turned.
var (
	helloSecondary = []kv{
		{"setName", "replicaExperto"}, {"setVersion", int32(1)}, {"ismaster", false}, {"secondary", true},
		{"hosts", []string{"localhost:27018", "localhost:27019", "localhost:27017"}},
		{"primary", "localhost:27019"}, {"me", "localhost:27018"},
		{"maxBsonObjectSize", int32(16777216)}, {"maxMessageSizeBytes", int32(48000000)}, {"maxWriteBatchSize", int32(1000)},
		{"localTime", time.Date(2015, 3, 24, 21, 55, 27, 382e6, time.UTC)},
		{"maxWireVersion", int32(2)}, {"minWireVersion", int32(0)}, {"ok", float64(1)},
	}
	helloNotInitiated = []kv{
		{"ismaster", false}, {"secondary", false}, {"info", "Does not have a valid replica set config"}, {"isreplicaset", true},
		{"maxBsonObjectSize", int32(16777216)}, {"maxMessageSizeBytes", int32(48000000)}, {"maxWriteBatchSize", int32(1000)},
		{"localTime", time.Date(2015, 12, 24, 22, 29, 31, 834e6, time.UTC)},
		{"maxWireVersion", int32(4)}, {"minWireVersion", int32(0)}, {"ok", float64(1)},
	}
)

func helloRecovering() []kv {
	d := append([]kv(nil), helloSecondary...)
	for i := range d {
		if d[i].k == "secondary" {
			d[i].v = false
		}
	}
	return d
}

func TestMongoDBReplicaSetStates(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hello []kv
		opts  string
		want  probe.Outcome
		text  []string
	}{
		{"secondary", helloSecondary, "", probe.OK, nil},
		{"secondary, role=primary", helloSecondary, " role=primary", probe.NotReady, []string{"secondary of replica set \"replicaExperto\"", "its primary is localhost:27019"}},
		{"starting or recovering", helloRecovering(), "", probe.NotReady, []string{"neither primary nor secondary", "STARTUP2"}},
		{"not initiated", helloNotInitiated, "", probe.NotReady, []string{"not initiated", "rs.initiate()"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := mongoServer(t, tc.hello)
			r := attempt(t, target(t, "mongodb://"+addr+tc.opts), 2*time.Second)
			checkResult(t, r, probe.Protocol, tc.want)
			checkText(t, r, tc.text...)
		})
	}
	t.Run("seed list finds the primary", func(t *testing.T) {
		primary := startFerretDB(t)
		r := attempt(t, target(t, "mongodb://"+mongoServer(t, helloSecondary)+","+primary+" role=primary"), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.OK)
		if r.Addr != primary {
			t.Errorf("Addr = %s, want the primary %s", r.Addr, primary)
		}
	})
}

// kv is one element of a BSON document the test sends.
type kv struct {
	k string
	v any
}

// bsonDoc encodes a document as BSON (https://bsonspec.org/spec.html),
// independently of the probe's encoder.
func bsonDoc(d []kv) []byte {
	var b []byte
	for _, e := range d {
		var t byte
		var v []byte
		switch x := e.v.(type) {
		case string:
			t = 0x02
			v = le.LittleEndian.AppendUint32(nil, uint32(len(x)+1))
			v = append(append(v, x...), 0)
		case bool:
			t, v = 0x08, []byte{0}
			if x {
				v[0] = 1
			}
		case int32:
			t, v = 0x10, le.LittleEndian.AppendUint32(nil, uint32(x))
		case float64:
			t, v = 0x01, le.LittleEndian.AppendUint64(nil, math.Float64bits(x))
		case time.Time:
			t, v = 0x09, le.LittleEndian.AppendUint64(nil, uint64(x.UnixMilli()))
		case []string:
			var a []kv
			for i, s := range x {
				a = append(a, kv{fmt.Sprint(i), s})
			}
			t, v = 0x04, bsonDoc(a)
		default:
			panic(fmt.Sprintf("bsonDoc: %T", e.v))
		}
		b = append(append(append(append(b, t), e.k...), 0), v...)
	}
	out := le.LittleEndian.AppendUint32(nil, uint32(len(b)+5))
	return append(append(out, b...), 0)
}

// mongoServer answers every OP_MSG request with the hello answer given.
func mongoServer(t *testing.T, hello []kv) string {
	t.Helper()
	ln := loopback.Listen(t)
	body := bsonDoc(hello)
	loopback.Serve(t, ln, func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		for {
			var head [16]byte
			if _, err := io.ReadFull(c, head[:]); err != nil {
				return
			}
			n := le.LittleEndian.Uint32(head[:])
			if n < 16 || n > 1<<20 {
				return
			}
			if _, err := io.CopyN(io.Discard, c, int64(n-16)); err != nil {
				return
			}
			reply := make([]byte, 16, 16+5+len(body))
			le.LittleEndian.PutUint32(reply[4:], 1)
			copy(reply[8:12], head[4:8]) // responseTo: the request's id
			le.LittleEndian.PutUint32(reply[12:], 2013)
			reply = append(append(reply, 0, 0, 0, 0, 0), body...)
			le.LittleEndian.PutUint32(reply, uint32(len(reply)))
			c.Write(reply)
		}
	})
	return ln.Addr().String()
}

// TestMongoDBSRV: mongodb+srv:// finds its hosts in SRV records and its
// options in a TXT record served by the test's own DNS server, then speaks
// TLS to FerretDB; a record that points outside the name's domain is
// refused, a name without records is not_found.
func TestMongoDBSRV(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := certificate(t, dir, "")
	tlsPort := freePort(t)
	startFerretDB(t, "--listen-tls=127.0.0.1:"+tlsPort, "--listen-tls-cert-file="+certFile, "--listen-tls-key-file="+keyFile,
		"--test-enable-new-auth", "--setup-database=app", "--setup-username=app", "--setup-password=hunter2")
	eventually(t, 30*time.Second, "FerretDB's TLS port", func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+tlsPort, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	_, downPort, _ := net.SplitHostPort(loopback.Refused(t))
	resolver := dnsServer(t, map[string][]string{
		"_mongodb._tcp.cluster0.test.":      {"srv:" + downPort + " m2.cluster0.test.", "srv:" + tlsPort + " m1.cluster0.test."},
		"cluster0.test.":                    {"txt:authSource=app"},
		"m1.cluster0.test.":                 {"127.0.0.1"},
		"m2.cluster0.test.":                 {"127.0.0.1"},
		"_mongodb._tcp.evil.cluster0.test.": {"srv:" + tlsPort + " m1.elsewhere.test."},
	})
	tls := " ca=" + certFile + " servername=localhost"
	for _, tc := range []struct {
		url  string
		step probe.Step
		want probe.Outcome
		text []string
	}{
		// authSource=app comes from the TXT record: the user is defined there.
		{"mongodb+srv://app:hunter2@cluster0.test" + tls, probe.Protocol, probe.OK, nil},
		{"mongodb+srv://app:wrong@cluster0.test" + tls, probe.Protocol, probe.AuthFailed, nil},
		{"mongodb+srv://cluster0.test/?authSource=admin" + tls, probe.Protocol, probe.OK, nil},
		{"mongodb+srv://app:hunter2@evil.cluster0.test" + tls, probe.Resolve, probe.Unexpected, []string{"outside cluster0.test"}},
		{"mongodb+srv://nothing.cluster0.test" + tls, probe.Resolve, probe.NotFound, []string{"no SRV records _mongodb._tcp.nothing.cluster0.test"}},
	} {
		t.Run(tc.url, func(t *testing.T) {
			tg := target(t, tc.url)
			tg.Resolver = resolver
			r := attempt(t, tg, 5*time.Second)
			checkResult(t, r, tc.step, tc.want)
			checkText(t, r, tc.text...)
			if shown := r.URL + r.Diagnosis() + r.Hint; strings.Contains(shown, "hunter2") || strings.Contains(shown, "wrong") {
				t.Errorf("the password shows: %s", shown)
			}
			if tc.want == probe.OK && (len(r.Steps) < 1 || r.Steps[0].Addr != "_mongodb._tcp.cluster0.test") {
				t.Errorf("Steps = %+v, want the SRV lookup first", r.Steps)
			}
		})
	}
	for spec, want := range map[string]string{
		"mongodb+srv://cluster0.test:27017": "takes one host name without a port",
		"mongodb+srv://a.test,b.test":       "takes one host name without a port",
	} {
		specs, err := probe.ParseSpecs("T", spec)
		if err == nil {
			_, err = probe.New(specs[0])
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error = %v, want %q", spec, err, want)
		}
	}
}
