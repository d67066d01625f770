package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
)

// lockedBuffer is a bytes.Buffer that run's logger and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// served is a run of `depprobe serve` in the background.
type served struct {
	base   string // http://127.0.0.1:PORT
	stderr *lockedBuffer
	cancel context.CancelFunc // SIGTERM
	done   chan error         // run's error, once it returns
}

var listenRE = regexp.MustCompile(`"msg":"serving readiness of dependencies","listen":"([^"]+)"`)

// startServe runs serve on a free loopback port and learns the port from
// the first log line.
func startServe(t *testing.T, env map[string]string, args ...string) *served {
	t.Helper()
	env["DEPPROBE_LISTEN"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(t.Context())
	s := &served{stderr: &lockedBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, append([]string{"serve"}, args...), env, io.Discard, s.stderr) }()
	t.Cleanup(func() { cancel(); <-s.done })
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if m := listenRE.FindStringSubmatch(s.stderr.String()); m != nil {
			s.base = "http://" + m[1]
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("no first line with the listen address; stderr:\n%s", s.stderr)
		}
		<-tick.C
	}
}

// fetch GETs a URL on a connection of its own.
func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// awaitGet polls url until its status is code and its body contains want.
func awaitGet(t *testing.T, url string, code int, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		gotCode, body := fetch(t, url)
		if gotCode == code && strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s = %d %q, want %d with %q", url, gotCode, body, code, want)
		}
		<-tick.C
	}
}

// TestServe runs serve through run: /readyz follows a dependency that comes
// up late, and a cancelled context (SIGTERM) shuts it down with exit 0, even
// with a client that never finishes its request.
func TestServe(t *testing.T) {
	addr := loopback.Refused(t)
	s := startServe(t, map[string]string{"DEPPROBE_INTERVAL": "100ms"}, "late=tcp://"+addr)
	for _, want := range []string{`"targets":"late=tcp://` + addr + `"`, `"interval":"100ms"`, `"attempt_timeout":"2s"`} {
		if !strings.Contains(s.stderr.String(), want) {
			t.Errorf("first line lacks %s:\n%s", want, s.stderr)
		}
	}
	awaitGet(t, s.base+"/readyz", 503, "[-]late failed: connect refused\n")
	if code, body := fetch(t, s.base+"/livez"); code != 200 || body != "ok\n" {
		t.Errorf("GET /livez = %d %q, want 200 ok", code, body)
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	loopback.Serve(t, ln, func(c net.Conn) { c.Close() })
	awaitGet(t, s.base+"/readyz", 200, "ok\n")
	awaitGet(t, s.base+"/metrics", 200, `depprobe_target_up{optional="false",target="late"} 1`)
	if !strings.Contains(s.stderr.String(), `"msg":"ready","target":"late"`) {
		t.Errorf("no ready line in the log:\n%s", s.stderr)
	}

	// A client that sends half a request holds its connection open.
	slow, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write([]byte("GET /readyz HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}

	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		if code := exitCode(err); code != exitReady {
			t.Errorf("exit code = %d (%v), want %d", code, err, exitReady)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not stop after its context was cancelled; stderr:\n%s", s.stderr)
	}
	if !strings.Contains(s.stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no stopped line in the log:\n%s", s.stderr)
	}
	if c, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://")); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after shutdown", s.base)
	}
}

// TestServeListenInUse: an address that is taken is a configuration error
// (exit 2) that names the variable.
func TestServeListenInUse(t *testing.T) {
	busy := loopback.Listen(t).Addr().String()
	env := map[string]string{"DEPPROBE_LISTEN": busy}
	res := runWith(t, env, "serve", "tcp://"+loopback.Refused(t))
	if res.code != exitUsage {
		t.Errorf("exit code = %d, want %d", res.code, exitUsage)
	}
	want := `DEPPROBE_LISTEN=\"` + busy + `\": cannot listen: bind: address already in use: another process listens there`
	if !strings.Contains(res.stderr, want) {
		t.Errorf("stderr lacks %s:\n%s", want, res.stderr)
	}
}

// TestServeConnectionCap: serve keeps at most maxConns connections open,
// however many clients come, and a kept-alive or half-open crowd never locks
// a new client (a kubelet probe) out: an idle connection is closed to make
// room, a stalled one by ReadHeaderTimeout.
func TestServeConnectionCap(t *testing.T) {
	s := startServe(t, map[string]string{"DEPPROBE_INTERVAL": "100ms"}, "up=tcp://"+loopback.Up(t))
	addr := strings.TrimPrefix(s.base, "http://")
	awaitGet(t, s.base+"/readyz", 200, "ok\n")
	goroutines := runtime.NumGoroutine()

	// 5 × maxConns clients, one after the other: each asks for /readyz and
	// keeps its connection (HTTP/1.1 keep-alive); every one is answered.
	const clients = 5 * maxConns
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range clients {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("client %d: no answer: %v", i, err)
		}
		resp.Body.Close()
	}
	// The server closed all but maxConns of them at most.
	open := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
			open++
		}
	}
	if open > maxConns {
		t.Errorf("%d of %d kept-alive connections still open, want at most %d", open, clients, maxConns)
	}
	// And so are its goroutines, one per connection (polled: closed
	// connections' goroutines end on their own time).
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for extra := runtime.NumGoroutine() - goroutines; extra > maxConns+8; extra = runtime.NumGoroutine() - goroutines {
		if time.Now().After(deadline) {
			t.Fatalf("%d more goroutines with %d clients, want about %d at most", extra, clients, maxConns)
		}
		<-tick.C
	}

	// maxConns clients that send half a request hold every slot: a new one
	// is answered once ReadHeaderTimeout has closed them.
	for range maxConns {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		io.WriteString(c, "GET /readyz HTTP/1.1\r\n")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(s.base + "/readyz")
	if err != nil {
		t.Fatalf("a new client behind %d stalled ones: %v", maxConns, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /readyz = %d, want 200", resp.StatusCode)
	}
}

// TestServeSilentClients: clients that connect and never send a byte do
// not lock a kubelet probe out: with every slot taken by silent ones, the
// oldest silent for silentGrace is closed for the newcomer. (Each held its
// slot until ReadHeaderTimeout: 70 of them made /livez take 2 s, 300 made
// it time out.) The deadline below is a bound for correctness, not a
// measure of speed: the test logs the latency.
func TestServeSilentClients(t *testing.T) {
	ln := loopback.Listen(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	srv, limited := httpServer(ln, mux, discard())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(limited) }()
	t.Cleanup(func() { srv.Close(); <-served })

	const crowd = 300
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range crowd {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatalf("silent client %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := client.Get("http://" + ln.Addr().String() + "/livez")
	if err != nil {
		t.Fatalf("GET /livez behind %d silent clients: %v", crowd, err)
	}
	resp.Body.Close()
	t.Logf("GET /livez behind %d silent clients: %d in %s; %d closed to make room", crowd, resp.StatusCode, time.Since(start), limited.evicted.Load())
	if resp.StatusCode != 200 {
		t.Errorf("GET /livez = %d, want 200", resp.StatusCode)
	}
	if n := limited.evicted.Load(); n < crowd-maxConns {
		t.Errorf("%d silent connections closed to make room, want at least %d", n, crowd-maxConns)
	}
}
