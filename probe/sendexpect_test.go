package probe_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
)

// zooKeeper answers ZooKeeper's four-letter words as a ZooKeeper server
// does (https://zookeeper.apache.org/doc/current/zookeeperAdmin.html#sc_4lw):
// "ruok" → "imok" while it serves, the not-serving sentence before it
// has joined a quorum, then it closes the connection.
func zooKeeper(t *testing.T, serving func() bool) string {
	t.Helper()
	ln := loopback.Listen(t)
	loopback.Serve(t, ln, func(c net.Conn) {
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			word := make([]byte, 4)
			if _, err := io.ReadFull(c, word); err != nil {
				return
			}
			switch {
			case string(word) != "ruok":
				c.Write([]byte(string(word) + " is not executed because it is not in the whitelist.\n"))
			case serving():
				c.Write([]byte("imok"))
			default:
				c.Write([]byte("This ZooKeeper instance is not currently serving requests\n"))
			}
		}()
	})
	return ln.Addr().String()
}

// smtpServer greets as a Debian Postfix does, then waits for commands and
// answers QUIT.
func smtpServer(t *testing.T, banner string) string {
	t.Helper()
	ln := loopback.Listen(t)
	loopback.Serve(t, ln, func(c net.Conn) {
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte(banner))
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if strings.HasPrefix(strings.ToUpper(line), "QUIT") {
					c.Write([]byte("221 2.0.0 Bye\r\n"))
					return
				}
				c.Write([]byte("502 5.5.2 Error: command not recognized\r\n"))
			}
		}()
	})
	return ln.Addr().String()
}

func TestSendExpect(t *testing.T) {
	serving := false
	zk := zooKeeper(t, func() bool { return serving })
	postfix := smtpServer(t, "220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n")
	busy := smtpServer(t, "421 4.3.2 mail.example.org Service currently unavailable\r\n")
	silent := loopback.Listen(t)
	loopback.Serve(t, silent, func(net.Conn) {})

	t.Run("ZooKeeper not serving, then serving", func(t *testing.T) {
		tg := target(t, "tcp://"+zk+" send=ruok expect=imok")
		r := attempt(t, tg, 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.Unexpected)
		checkText(t, r, `expected the reply to contain "imok", found "This ZooKeeper instance is not c"…`, "the peer closed the connection")
		serving = true
		checkResult(t, attempt(t, tg, 2*time.Second), probe.Protocol, probe.OK)
	})
	t.Run("SMTP banner", func(t *testing.T) {
		for _, spec := range []string{
			"tcp://" + postfix + " expect_re=^220\\x20",
			"tcp://" + postfix + " expect=ESMTP",
			"tcp://" + postfix + " send=QUIT%0D%0A expect=221%202.0.0",
		} {
			checkResult(t, attempt(t, target(t, spec), 2*time.Second), probe.Protocol, probe.OK)
		}
		r := attempt(t, target(t, "tcp://"+busy+" expect_re=^220\\x20"), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.Unexpected)
		checkText(t, r, `expected the reply to match /^220\x20/, found "421 4.3.2 mail.example.org Servi"…`)
	})
	t.Run("silent peer", func(t *testing.T) {
		r := attempt(t, target(t, "tcp://"+silent.Addr().String()+" send=ruok expect=imok"), 300*time.Millisecond)
		checkResult(t, r, probe.Protocol, probe.Timeout)
	})
	t.Run("a peer that hangs up", func(t *testing.T) {
		ln := loopback.Listen(t)
		loopback.Serve(t, ln, func(c net.Conn) { c.Close() })
		r := attempt(t, target(t, "tcp://"+ln.Addr().String()+" expect=x"), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.Closed)
	})
	t.Run("an endless answer", func(t *testing.T) {
		ln := loopback.Listen(t)
		loopback.Serve(t, ln, func(c net.Conn) {
			go func() {
				defer c.Close()
				chunk := []byte(strings.Repeat("y", 1024))
				for range 1 << 12 { // 4 MiB at most, bounded
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			}()
		})
		r := attempt(t, target(t, "tcp://"+ln.Addr().String()+" expect=needle"), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.Unexpected)
		checkText(t, r, "4096 bytes read")
	})
	t.Run("tcp without options stays a connect", func(t *testing.T) {
		r := attempt(t, target(t, "tcp://"+zk), 2*time.Second)
		checkResult(t, r, probe.Connect, probe.OK)
	})
}

func TestSendExpectOptionErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"tcp://a:1 send=ruok%":                 `option send=…: a % starts no %XX escape`,
		"tcp://a:1 expect=im%2":                `option expect="im%2": a % starts no %XX escape`,
		"tcp://a:1 expect=imok expect_re=imok": "give expect= or expect_re=, not both",
		"tcp://a:1 expect_re=(":                "not an RE2 regular expression",
		"postgres://a:1 expect=x":              `unknown option "expect"`,
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

// TestSendExpectTLS: tls:// with send/expect speaks over the verified
// TLS connection, as an IMAPS or POP3S greeting check would.
func TestSendExpectTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, _, cert := certificate(t, dir, "")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	loopback.Serve(t, ln, func(c net.Conn) {
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n"))
			c.Read(make([]byte, 64))
		}()
	})
	r := attempt(t, target(t, "tls://"+ln.Addr().String()+" ca="+certFile+" expect=*%20OK"), 2*time.Second)
	checkResult(t, r, probe.Protocol, probe.OK)
}
