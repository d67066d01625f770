package probe_test

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
)

// startMemcached runs a private memcached on a free loopback port with the
// given extra arguments; it is stopped by its PID at the end of the test.
func startMemcached(t testing.TB, args ...string) string {
	t.Helper()
	bin := binary(t, "memcached", "/usr/bin/memcached")
	dir := t.TempDir()
	port := freePort(t)
	all := []string{"-l", "127.0.0.1", "-p", port, "-U", "0", "-t", "1", "-m", "8"}
	if os.Geteuid() == 0 {
		all = append(all, "-u", "root") // memcached refuses root unless told
	}
	logFile := filepath.Join(dir, "memcached.log")
	s := start(t, command(t, "", logFile, bin, append(all, args...)...), logFile)
	addr := net.JoinHostPort("127.0.0.1", port)
	s.listening(t, addr)
	return addr
}

func TestMemcached(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		addr := startMemcached(t)
		r := attempt(t, target(t, "memcached://"+addr), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.OK)
	})
	t.Run("too many connections", func(t *testing.T) {
		// -c 16: memcached compares a new connection's file descriptor
		// with its limit, so hold connections until it refuses one.
		addr := startMemcached(t, "-c", "16")
		eventually(t, 10*time.Second, "memcached at its connection limit", func() bool {
			c := holdConn(t, addr)
			c.SetDeadline(time.Now().Add(2 * time.Second))
			c.Write([]byte("version\r\n"))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.SetDeadline(time.Time{})
			return strings.HasPrefix(line, "ERROR Too many")
		})
		r := attempt(t, target(t, "memcached://"+addr), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.NotReady)
		checkText(t, r, "Too many open connections", "connection limit")
	})
	t.Run("authentication", func(t *testing.T) {
		auth := filepath.Join(t.TempDir(), "auth")
		if err := os.WriteFile(auth, []byte("app:hunter2\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		addr := startMemcached(t, "-Y", auth)
		for _, tc := range []struct {
			url  string
			want probe.Outcome
		}{
			{"memcached://" + addr, probe.OK}, // up; the application holds the password
			{"memcached://app:hunter2@" + addr, probe.OK},
			{"memcached://app:wrong@" + addr, probe.AuthFailed},
		} {
			r := attempt(t, target(t, tc.url), 2*time.Second)
			checkResult(t, r, probe.Protocol, tc.want)
			if strings.Contains(r.Diagnosis()+r.Hint, "wrong") {
				t.Errorf("the diagnosis shows the password: %s", r.Diagnosis())
			}
		}
	})
	t.Run("not memcached", func(t *testing.T) {
		ln := loopback.Listen(t)
		loopback.Serve(t, ln, func(c net.Conn) {
			c.Write([]byte("220 smtp.example ESMTP ready\r\n"))
			c.Close()
		})
		r := attempt(t, target(t, "memcached://"+ln.Addr().String()), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.Unexpected)
		checkText(t, r, "not a memcached server", strconv.Quote("220 smtp.example ESMTP ready"))
	})
}
