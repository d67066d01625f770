package main

// Output that the documentation shows and no other test produces: each is
// a golden file under testdata that README.md or docs/ includes (see
// internal/docs), so the docs show what the program really prints.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
)

// commandLine is how a person would type a run of the program in a shell:
// "$ NAME=value ... depprobe args...", with a newline.
func commandLine(env map[string]string, args []string) string {
	var b strings.Builder
	b.WriteString("$ ")
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range env {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "%s=%s ", k, shellQuote(env[k]))
	}
	b.WriteString("depprobe")
	for _, a := range args {
		b.WriteString(" " + shellQuote(a))
	}
	b.WriteString("\n")
	return b.String()
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:=@%+,-]+$`)

func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// exactGolden is golden for output that does not change from run to run:
// it must be byte for byte the file.
func exactGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test ./cmd/depprobe -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestVariablesTable: the documentation's table of variables is made from
// the same struct tags as depprobe help and the parser.
func TestVariablesTable(t *testing.T) {
	var b strings.Builder
	b.WriteString("| variable | default | meaning |\n|---|---|---|\n")
	typ := reflect.TypeFor[config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		def := ""
		if d, ok := f.Tag.Lookup("envDefault"); ok {
			def = "`" + d + "`"
		} else if d, ok := f.Tag.Lookup("helpDefault"); ok {
			def = "`" + d + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Tag.Get("env"), def, strings.ReplaceAll(f.Tag.Get("help"), "|", `\|`))
	}
	exactGolden(t, "variables.md", b.String())
}

// standardService fails under CI, and skips elsewhere, when nothing
// listens on the machine's standard port for a server (CI starts them).
func standardService(t *testing.T, name string, port int) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no %s on %s under CI: %v", name, addr, err)
		}
		t.Skipf("no %s on %s: %v", name, addr, err)
	}
	conn.Close()
}

// curl is what `curl [-i] [-H header] url` prints for a GET of base+path:
// with -i, the status line and headers exactly as the server sent them,
// then the body. The request is written by hand on a connection of its
// own, so nothing between the server and the transcript reorders or drops
// a header.
func curl(t *testing.T, base, path string, headers bool, header ...string) string {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: curl\r\nAccept: */*\r\n"
	for _, h := range header {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	resp, err := http.ReadResponse(bufio.NewReader(io.TeeReader(conn, &raw)), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("$ curl ")
	if headers {
		b.WriteString("-i ")
	}
	for _, h := range header {
		fmt.Fprintf(&b, "-H %q ", h)
	}
	b.WriteString(shellQuote(host+path) + "\n")
	if headers {
		head, _, ok := bytes.Cut(raw.Bytes(), []byte("\r\n\r\n"))
		if !ok {
			t.Fatalf("GET %s: no end of headers in %q", path, raw.Bytes())
		}
		b.WriteString(strings.ReplaceAll(string(head), "\r\n", "\n") + "\n\n")
	}
	b.Write(body)
	return b.String()
}

// settle polls base+path until its body holds every string of want.
func settle(t *testing.T, url string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := fetch(t, url)
		if !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(body, w) }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s = %q, want it to hold %q", url, body, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sortedLines is normalize for output whose lines come in an order that
// depends on timing (two targets that become ready at once).
func sortedLines(s string) string {
	lines := strings.Split(normalize(s), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestServeGolden: what serve's endpoints answer and what it logs while one
// of three targets is down and once it is up, against the machine's
// PostgreSQL and Redis and an HTTP server of the test's own.
func TestServeGolden(t *testing.T) {
	standardService(t, "PostgreSQL", 5432)
	standardService(t, "Redis", 6379)
	api := loopback.Refused(t)
	s := startServe(t, map[string]string{}, "db=postgres://127.0.0.1:5432", "cache=redis://127.0.0.1:6379", "api=http://"+api+"/healthz")
	settle(t, s.base+"/readyz?verbose", "[+]db ok\n", "[+]cache ok\n", "[-]api failed: connect refused\n")

	golden(t, "serve-readyz.golden", curl(t, s.base, "/readyz", true))
	var down strings.Builder
	down.WriteString(curl(t, s.base, "/readyz/api", true) + "\n")
	down.WriteString(curl(t, s.base, "/livez", true) + "\n")
	down.WriteString(curl(t, s.base, "/readyz/api", false, "Accept: application/json"))
	golden(t, "serve-down.golden", down.String())

	ln, err := net.Listen("tcp", api)
	if err != nil {
		t.Fatalf("listen on %s: %v", api, err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.Serve(ln)
	defer srv.Close()
	settle(t, s.base+"/readyz?verbose", "[+]api ok\n")

	var up strings.Builder
	up.WriteString(curl(t, s.base, "/readyz", true) + "\n")
	up.WriteString(curl(t, s.base, "/readyz?verbose", true) + "\n")
	up.WriteString(curl(t, s.base, "/readyz", false, "Accept: application/json"))
	golden(t, "serve-up.golden", up.String())

	_, metrics := fetch(t, s.base+"/metrics")
	shown := regexp.MustCompile(`^depprobe_(target_up|attempts_total|failures_total|build_info)`)
	var m strings.Builder
	fmt.Fprintf(&m, "$ curl -s %s/metrics | grep -E '%s'\n", strings.TrimPrefix(s.base, "http://"), shown)
	for line := range strings.Lines(metrics) {
		if shown.MatchString(line) {
			m.WriteString(line)
		}
	}
	golden(t, "serve-metrics.golden", m.String())

	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err // for startServe's cleanup
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not stop; stderr:\n%s", s.stderr)
	}
	log := s.stderr.String()
	path := filepath.Join("testdata", "serve-log.golden")
	if *update {
		if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sortedLines(log) != sortedLines(string(want)) {
		t.Errorf("serve's log differs from %s (go test ./cmd/depprobe -update rewrites it):\n--- got\n%s\n--- want\n%s", path, log, want)
	}
}
