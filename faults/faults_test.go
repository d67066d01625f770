package faults

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
)

// Each cell makes its own hosts on its own 10.253.N.0/30 (N is the cell's
// number, so the table's addresses are the same from run to run) and can
// run in parallel with the others. Ports are fixed: the hosts are the
// test's own, nothing else listens there.

// attempt is DEPPROBE_ATTEMPT_TIMEOUT in baseEnv.
const attempt = 500 * time.Millisecond

// pair makes a client and a server host linked on 10.253.n.0/30 and
// returns them with the server's address. With dns, the client's
// resolv.conf names the server's address as its DNS server.
func pair(t *testing.T, n int, dns bool) (client, server *host, addr netip.Addr) {
	t.Helper()
	var ns netip.Addr
	if dns {
		ns = netip.AddrFrom4([4]byte{10, 253, byte(n), 2})
	}
	client = newClient(t, fmt.Sprintf("%dc", n), ns)
	server = newHost(t, fmt.Sprintf("%ds", n))
	_, addr = link(t, client, server, n)
	return client, server, addr
}

func hostPort(a netip.Addr, port uint16) string { return netip.AddrPortFrom(a, port).String() }

// within fails the test unless lo <= got <= hi: relations between
// durations (3 attempts, the deadline), never a tight wall-clock figure.
func within(t *testing.T, what string, got, lo, hi time.Duration) {
	t.Helper()
	if got < lo || got > hi {
		t.Errorf("%s took %s, want between %s and %s", what, got.Round(time.Millisecond), lo, hi)
	}
}

// gaveUp checks the end of a wait that gave up: exit 1, one "gave up" line
// as w says, and its reason; it returns the line.
func gaveUp(t *testing.T, p *proc, code int, w want, reason string) logLine {
	t.Helper()
	wantExit(t, code, 1)
	l := p.last("gave up")
	w.check(t, l)
	if !strings.Contains(l.str("reason"), reason) {
		t.Errorf("gave up: reason = %q, want it to mention %q", l.str("reason"), reason)
	}
	if tl := p.terminationLog(); !strings.Contains(tl, "depprobe gave up") || !strings.Contains(tl, l.str("hint")) {
		t.Errorf("termination log = %q, want the key sentence and the hint", tl)
	}
	return l
}

// readyAt checks the end of a wait that succeeded: exit 0 and a "ready"
// line naming addr.
func readyAt(t *testing.T, p *proc, code int, addr string) logLine {
	t.Helper()
	wantExit(t, code, 0)
	l := p.last("ready")
	if got := l.str("addr"); got != addr {
		t.Errorf("ready: addr = %q, want %q", got, addr)
	}
	return l
}

func TestRefusedThenListening(t *testing.T) {
	requireNet(t)
	t.Parallel()
	client, server, addr := pair(t, 1, false)
	target := hostPort(addr, 5432)
	p := depprobe(t, client, nil, "wait", "tcp://"+target)
	w := want{step: "connect", outcome: "refused", addr: target,
		err: []string{"connection refused"}, hint: []string{"nothing listens on " + target, "127.0.0.1"}}
	l := p.await(10*time.Second, "connect refused", w.isNotReady)
	w.check(t, l)

	listening := time.Now()
	server.listen(t, "0.0.0.0:5432")
	code, took := p.wait(10 * time.Second)
	ready := readyAt(t, p, code, target)
	reaction := p.start.Add(took).Sub(listening)
	t.Logf("ready %s after the listener appeared, attempt %d", reaction.Round(time.Millisecond), ready.num("attempt"))
	within(t, "ready after the listener appeared", reaction, 0, 5*time.Second)
	observe(t, row{order: 1, fault: "nothing listens on the port (RST), then a server starts", run: "wait",
		line: l, exit: code, took: took, result: "retried, then ready"})
}

func TestBoundToLoopback(t *testing.T) {
	requireNet(t)
	t.Parallel()
	client, server, addr := pair(t, 2, false)
	server.listen(t, "127.0.0.1:5432")
	target := hostPort(addr, 5432)
	w := want{step: "connect", outcome: "refused", addr: target,
		err: []string{"connection refused"}, hint: []string{"127.0.0.1", "0.0.0.0"}}

	t.Run("wait", func(t *testing.T) {
		// refused is retried until the deadline, never counted as a timeout.
		p := depprobe(t, client, map[string]string{"DEPPROBE_TIMEOUT": "1500ms"}, "wait", "tcp://"+target)
		code, took := p.wait(20 * time.Second)
		l := gaveUp(t, p, code, w, "DEPPROBE_TIMEOUT=1.5s reached")
		within(t, "wait on a refused target", took, 1500*time.Millisecond, 1500*time.Millisecond+5*time.Second)
		if l.num("attempt") <= 3 {
			t.Errorf("gave up after %d attempts, want more than DEPPROBE_MAX_TIMEOUTS=3: refused is retried", l.num("attempt"))
		}
		observe(t, row{order: 2, fault: "a server listens on 127.0.0.1 only, probed on the host's address", run: "wait, DEPPROBE_TIMEOUT=1.5s",
			line: l, exit: code, took: took, result: fmt.Sprintf("retried (%d attempts) until DEPPROBE_TIMEOUT", l.num("attempt"))})
	})
	t.Run("check", func(t *testing.T) {
		p := depprobe(t, client, nil, "check", "tcp://"+target)
		code, _ := p.wait(10 * time.Second)
		wantExit(t, code, 1)
		out := p.output()
		for _, s := range []string{"✗ connect", target, "refused", "hint: nothing listens", "127.0.0.1"} {
			if !strings.Contains(out, s) {
				t.Errorf("check printed\n%s\nwant it to contain %q", out, s)
			}
		}
	})
}

func TestSYNDropped(t *testing.T) {
	requireNet(t)
	t.Parallel()
	w := func(target string, limit time.Duration) want {
		return want{step: "connect", outcome: "timeout", addr: target,
			err:  []string{"got no answer within " + limit.String()},
			hint: []string{"firewall", "drops", "waiting rarely fixes that"}}
	}
	// setup makes a server that listens but drops every SYN to its port.
	setup := func(t *testing.T, n int) (*host, string) {
		client, server, addr := pair(t, n, false)
		server.listen(t, "0.0.0.0:5432")
		server.firewall(t, "tcp dport 5432 drop")
		return client, hostPort(addr, 5432)
	}

	t.Run("max_timeouts", func(t *testing.T) {
		t.Parallel()
		client, target := setup(t, 3)
		p := depprobe(t, client, nil, "wait", "tcp://"+target)
		code, took := p.wait(30 * time.Second)
		l := gaveUp(t, p, code, w(target, attempt), "too many consecutive timeouts: 3 attempts in a row")
		if got := l.num("attempt"); got != 3 {
			t.Errorf("gave up after %d attempts, want 3", got)
		}
		// ≈ 3 attempts + two backoffs (≤ 100ms each), long before DEPPROBE_TIMEOUT=60s.
		within(t, "give up on dropped SYNs", took, 3*attempt, 3*attempt+3*time.Second)
		observe(t, row{order: 3, fault: "SYNs dropped (nft `drop`)", run: "wait, ATTEMPT_TIMEOUT=500ms, TIMEOUT=60s",
			line: l, exit: code, took: took, result: "gave up after MAX_TIMEOUTS=3 timeouts"})
	})
	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		client, target := setup(t, 4)
		p := depprobe(t, client, map[string]string{"DEPPROBE_ATTEMPT_TIMEOUT": "", "DEPPROBE_TIMEOUT": ""}, "wait", "tcp://"+target)
		first := p.await(10*time.Second, "the first line", func(l logLine) bool { return l.msg() == "waiting for dependencies" })
		if first.str("timeout") != "5m0s" || first.str("attempt_timeout") != "2s" || first.num("max_timeouts") != 3 {
			t.Errorf("first line = %s, want the defaults timeout=5m0s attempt_timeout=2s max_timeouts=3", first)
		}
		code, took := p.wait(60 * time.Second)
		l := gaveUp(t, p, code, w(target, 2*time.Second), "too many consecutive timeouts")
		// MAX_TIMEOUTS × ATTEMPT_TIMEOUT + backoff, not DEPPROBE_TIMEOUT=5m.
		within(t, "give up on dropped SYNs with the defaults", took, 3*2*time.Second, 3*2*time.Second+5*time.Second)
		observe(t, row{order: 4, fault: "SYNs dropped, default settings", run: "wait, defaults (ATTEMPT_TIMEOUT=2s, MAX_TIMEOUTS=3, TIMEOUT=5m)",
			line: l, exit: code, took: took, result: "gave up after 3 timeouts, not after DEPPROBE_TIMEOUT"})
	})
	t.Run("max_timeouts=0", func(t *testing.T) {
		t.Parallel()
		client, target := setup(t, 5)
		limit := 300 * time.Millisecond
		p := depprobe(t, client, map[string]string{"DEPPROBE_MAX_TIMEOUTS": "0", "DEPPROBE_ATTEMPT_TIMEOUT": "300ms", "DEPPROBE_TIMEOUT": "2s"},
			"wait", "tcp://"+target)
		code, took := p.wait(30 * time.Second)
		wantExit(t, code, 1)
		l := p.last("gave up")
		// The last attempt may be cut short by the deadline, so its own
		// limit is not checked.
		want{step: "connect", outcome: "timeout", addr: target, hint: w(target, limit).hint}.check(t, l)
		if !strings.Contains(l.str("reason"), "DEPPROBE_TIMEOUT=2s reached") {
			t.Errorf("gave up: reason = %q, want DEPPROBE_TIMEOUT=2s reached", l.str("reason"))
		}
		if got := l.num("attempt"); got <= 3 {
			t.Errorf("gave up after %d attempts, want more than 3: MAX_TIMEOUTS=0 never gives up on timeouts", got)
		}
		within(t, "wait with MAX_TIMEOUTS=0", took, 2*time.Second, 2*time.Second+3*time.Second)
		observe(t, row{order: 5, fault: "SYNs dropped, DEPPROBE_MAX_TIMEOUTS=0", run: "wait, ATTEMPT_TIMEOUT=300ms, TIMEOUT=2s",
			line: l, exit: code, took: took, result: fmt.Sprintf("kept trying (%d attempts) until DEPPROBE_TIMEOUT", l.num("attempt"))})
	})
}

func TestUnreachable(t *testing.T) {
	requireNet(t)
	t.Parallel()
	cells := []struct {
		name, fault string
		n           int
		setup       func(t *testing.T, server *host, addr netip.Addr) string // returns the target's address
		err         string
	}{
		{
			name: "icmp_host_unreachable", fault: "nft `reject with icmp type host-unreachable`", n: 6,
			setup: func(t *testing.T, server *host, addr netip.Addr) string {
				server.listen(t, "0.0.0.0:5432")
				server.firewall(t, "tcp dport 5432 reject with icmp type host-unreachable")
				return hostPort(addr, 5432)
			},
			err: "no route to host",
		},
		{
			name: "no_route", fault: "no route to the address (the client has none)", n: 7,
			setup: func(t *testing.T, server *host, addr netip.Addr) string {
				// An address of the server's that the client has no route to.
				other := netip.AddrFrom4([4]byte{10, 253, 207, 2})
				server.ip(t, "addr", "add", other.String()+"/32", "dev", "lo")
				server.listen(t, "0.0.0.0:5432")
				return hostPort(other, 5432)
			},
			err: "network is unreachable",
		},
	}
	for _, tc := range cells {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, server, addr := pair(t, tc.n, false)
			target := tc.setup(t, server, addr)
			p := depprobe(t, client, nil, "wait", "tcp://"+target)
			code, took := p.wait(30 * time.Second)
			w := want{step: "connect", outcome: "unreachable", addr: target, err: []string{tc.err},
				hint: []string{"is unreachable (no route, or an ICMP reject)", "firewall"}}
			l := gaveUp(t, p, code, w, "too many consecutive timeouts: 3 attempts in a row")
			// The kernel answers at once: three attempts take far less
			// than three attempt timeouts.
			within(t, "give up on an unreachable address", took, 0, 3*attempt)
			observe(t, row{order: tc.n, fault: tc.fault, run: "wait", line: l, exit: code, took: took,
				result: "gave up after MAX_TIMEOUTS=3 (unreachable counts like timeout)"})
		})
	}
}

// TestRejected: a firewall that answers for the port makes depprobe say
// refused, as kube-proxy's reject of a Service without endpoints does; when
// the rule goes, the wait ends.
func TestRejected(t *testing.T) {
	requireNet(t)
	t.Parallel()
	cells := []struct {
		name, rule string
		n          int
	}{
		{"icmp_port_unreachable", "reject with icmp type port-unreachable", 8},
		{"tcp_reset", "reject with tcp reset", 10},
	}
	for _, tc := range cells {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, server, addr := pair(t, tc.n, false)
			target := hostPort(addr, 5432)
			server.listen(t, "0.0.0.0:5432")
			server.firewall(t, "tcp dport 5432 "+tc.rule)
			p := depprobe(t, client, nil, "wait", "tcp://"+target)
			w := want{step: "connect", outcome: "refused", addr: target,
				err: []string{"connection refused"}, hint: []string{"nothing listens on " + target}}
			l := p.await(10*time.Second, "the first not ready line", func(l logLine) bool { return l.msg() == "not ready" })
			w.check(t, l)
			server.firewall(t) // the rule goes
			code, took := p.wait(10 * time.Second)
			readyAt(t, p, code, target)
			observe(t, row{order: tc.n, fault: "nft `" + tc.rule + "`", run: "wait", line: l, exit: code, took: took,
				result: "retried, then ready when the rule went"})
		})
	}
}

// TestRejectedRateLimited: the kernel sends at most about one ICMP error
// per second to a peer after a burst of 6 (net.ipv4.icmp_ratelimit), so a
// target behind `reject with icmp type port-unreachable` answers some
// attempts with refused and lets the others' SYNs go unanswered. With the
// default attempt timeout (2s) the SYN's retransmission after 1s gets its
// reject: wait keeps retrying until its deadline and does not give up for
// too many timeouts.
func TestRejectedRateLimited(t *testing.T) {
	requireNet(t)
	t.Parallel()
	client, server, addr := pair(t, 9, false)
	target := hostPort(addr, 5432)
	server.firewall(t, "tcp dport 5432 reject with icmp type port-unreachable")
	p := depprobe(t, client, map[string]string{"DEPPROBE_ATTEMPT_TIMEOUT": "", "DEPPROBE_TIMEOUT": "5s"}, "wait", "tcp://"+target)
	code, took := p.wait(30 * time.Second)
	wantExit(t, code, 1)
	l := p.last("gave up")
	if !strings.Contains(l.str("reason"), "DEPPROBE_TIMEOUT=5s reached") {
		t.Errorf("gave up: reason = %q, want DEPPROBE_TIMEOUT=5s reached: a rejecting firewall is retried like refused", l.str("reason"))
	}
	seen := map[string]int{}
	for _, nr := range p.all("not ready") {
		seen[nr.str("step")+"/"+nr.str("outcome")]++
	}
	var counts []string
	for _, k := range slices.Sorted(maps.Keys(seen)) {
		counts = append(counts, fmt.Sprintf("%s ×%d", k, seen[k]))
	}
	t.Logf("not ready lines by step/outcome: %s; last: %s/%s", strings.Join(counts, ", "), l.str("step"), l.str("outcome"))
	if seen["connect/refused"] == 0 {
		t.Errorf("no connect/refused line: %v", seen)
	}
	within(t, "wait on a rejecting firewall", took, 5*time.Second, 5*time.Second+3*time.Second)
	first := p.all("not ready")[0]
	observe(t, row{order: 9, fault: "nft `reject with icmp type port-unreachable` held for 5s (the kernel's ICMP rate limit drops some rejects)",
		run: "wait, ATTEMPT_TIMEOUT=2s (default), TIMEOUT=5s", line: first, exit: code, took: took,
		result: "retried until DEPPROBE_TIMEOUT; not ready lines: " + strings.Join(counts, ", ")})
}

const name = "db.dpf.test"

func TestDNS(t *testing.T) {
	requireNet(t)
	t.Parallel()
	t.Run("not_found_then_found", func(t *testing.T) {
		t.Parallel()
		client, server, addr := pair(t, 11, true)
		dns := server.startDNS(t, addr)
		server.listen(t, "0.0.0.0:5432")
		p := depprobe(t, client, nil, "wait", "tcp://"+name+":5432")
		w := want{step: "resolve", outcome: "not_found", addr: name,
			err: []string{"no such host"}, hint: []string{"the name \"" + name + "\" does not exist (yet)"}}
		l := p.await(10*time.Second, "resolve not_found", w.isNotReady)
		w.check(t, l)
		dns.set(name, addr)
		code, took := p.wait(10 * time.Second)
		readyAt(t, p, code, hostPort(addr, 5432))
		if dns.asked() == 0 {
			t.Errorf("the test's DNS server was never asked")
		}
		observe(t, row{order: 11, fault: "the DNS server answers NXDOMAIN, then the name appears", run: "wait",
			line: l, exit: code, took: took, result: "retried, then ready"})
	})
	t.Run("servfail", func(t *testing.T) {
		t.Parallel()
		client, server, addr := pair(t, 12, true)
		dns := server.startDNS(t, addr)
		dns.fail(true)
		p := depprobe(t, client, map[string]string{"DEPPROBE_TIMEOUT": "1500ms"}, "wait", "tcp://"+name+":5432")
		code, took := p.wait(20 * time.Second)
		w := want{step: "resolve", outcome: "dns_error", addr: name,
			err: []string{"server misbehaving"}, hint: []string{"the resolver failed"}}
		l := gaveUp(t, p, code, w, "DEPPROBE_TIMEOUT=1.5s reached")
		within(t, "wait on SERVFAIL", took, 1500*time.Millisecond, 1500*time.Millisecond+5*time.Second)
		observe(t, row{order: 12, fault: "the DNS server answers SERVFAIL", run: "wait, DEPPROBE_TIMEOUT=1.5s",
			line: l, exit: code, took: took, result: fmt.Sprintf("retried (%d attempts) until DEPPROBE_TIMEOUT", l.num("attempt"))})
	})
	t.Run("silent", func(t *testing.T) {
		t.Parallel()
		client, server, addr := pair(t, 13, true)
		dns := server.startDNS(t, addr)
		dns.set(name, addr)
		server.firewall(t, "udp dport 53 drop", "tcp dport 53 drop")
		p := depprobe(t, client, nil, "wait", "tcp://"+name+":5432")
		code, took := p.wait(30 * time.Second)
		w := want{step: "resolve", outcome: "timeout", addr: name,
			err: []string{"resolve \"" + name + "\""}, hint: []string{"no answer from the DNS server", "port 53"}}
		l := gaveUp(t, p, code, w, "too many consecutive timeouts: 3 attempts in a row")
		within(t, "give up on a silent DNS server", took, 3*attempt, 3*attempt+3*time.Second)
		if n := dns.asked(); n != 0 {
			t.Errorf("the DNS server answered %d queries through a firewall that drops them", n)
		}
		observe(t, row{order: 13, fault: "DNS queries dropped (nft `udp dport 53 drop`)", run: "wait",
			line: l, exit: code, took: took, result: "gave up after MAX_TIMEOUTS=3 timeouts"})
	})
}

// TestTwoAddresses: the name has two addresses, the first drops SYNs and
// the second answers: depprobe dials both at once, so the wait ends at once
// and the log names the one that answered.
func TestTwoAddresses(t *testing.T) {
	requireNet(t)
	t.Parallel()
	client, server, first := pair(t, 14, true)
	_, second := link(t, client, server, 15)
	dns := server.startDNS(t, first)
	dns.set(name, first, second)
	server.listen(t, "0.0.0.0:5432")
	server.firewall(t, fmt.Sprintf("ip daddr %s tcp dport 5432 drop", first))
	p := depprobe(t, client, nil, "wait", "tcp://"+name+":5432")
	code, took := p.wait(10 * time.Second)
	l := readyAt(t, p, code, hostPort(second, 5432))
	within(t, "ready with one address dropping", took, 0, attempt)
	observe(t, row{order: 14, fault: "a name with two addresses: the first drops SYNs, the second answers", run: "wait",
		line: l, exit: code, took: took, result: "ready at once; the ready line's addr is " + l.str("addr")})
}

// TestAcceptThenDrop: the server accepts, then closes or resets the
// connection before it answers. The cells are chosen so the outcome is
// certain: a server that closes while the client's request is still unread
// makes the kernel send RST, and the client sees closed or reset depending
// on timing, so the http cell reads the request before closing.
func TestAcceptThenDrop(t *testing.T) {
	requireNet(t)
	t.Parallel()
	readRequest := func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		http.ReadRequest(bufio.NewReader(c))
	}
	cells := []struct {
		name, fault, scheme string
		n                   int
		port                uint16
		handle              func(net.Conn)
		outcome, err        string
		orStep              string
	}{
		{
			name: "nats_close", fault: "accepts, then closes at once (the client waits for the server to speak first: nats)",
			scheme: "nats", n: 16, port: 4222, outcome: "closed", err: "closed the connection without answering",
			handle: func(c net.Conn) { c.Close() },
		},
		{
			name: "http_close", fault: "accepts, reads the HTTP request, closes without an answer",
			scheme: "http", n: 17, port: 8080, outcome: "closed", err: "connection closed before an HTTP response",
			handle: func(c net.Conn) { readRequest(c); c.Close() },
		},
		{
			name: "nats_reset", fault: "accepts, then resets (SO_LINGER 0, close)",
			scheme: "nats", n: 18, port: 4222, outcome: "reset", err: "connection reset by peer",
			// The RST can reach the client before its connect call has
			// returned; then connect itself reports it.
			orStep: "connect",
			handle: func(c net.Conn) { c.(*net.TCPConn).SetLinger(0); c.Close() },
		},
	}
	for _, tc := range cells {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, server, addr := pair(t, tc.n, false)
			target := hostPort(addr, tc.port)
			loopback.Serve(t, server.listen(t, fmt.Sprintf("0.0.0.0:%d", tc.port)), tc.handle)
			p := depprobe(t, client, map[string]string{"DEPPROBE_TIMEOUT": "1s"}, "wait", tc.scheme+"://"+target)
			code, took := p.wait(20 * time.Second)
			w := want{step: "protocol", orStep: tc.orStep, outcome: tc.outcome, addr: target, err: []string{tc.err},
				hint: []string{"accepted the connection, then dropped it"}}
			first := p.all("not ready")
			if len(first) == 0 {
				t.Fatal("no not ready line")
			}
			w.check(t, first[0])
			l := gaveUp(t, p, code, w, "DEPPROBE_TIMEOUT=1s reached")
			within(t, "wait on a server that drops the connection", took, time.Second, time.Second+5*time.Second)
			observe(t, row{order: tc.n, fault: tc.fault, run: "wait " + tc.scheme + "://, DEPPROBE_TIMEOUT=1s",
				line: l, exit: code, took: took, result: fmt.Sprintf("retried (%d attempts) until DEPPROBE_TIMEOUT", l.num("attempt"))})
		})
	}
}

// TestHTTPNoAnswer: the server accepts and reads the request but never
// answers: protocol/timeout, which counts towards MAX_TIMEOUTS.
func TestHTTPNoAnswer(t *testing.T) {
	requireNet(t)
	t.Parallel()
	client, server, addr := pair(t, 19, false)
	target := hostPort(addr, 8080)
	loopback.Serve(t, server.listen(t, "0.0.0.0:8080"), func(c net.Conn) { io.Copy(io.Discard, c) })
	p := depprobe(t, client, nil, "wait", "http://"+target+"/healthz")
	code, took := p.wait(30 * time.Second)
	w := want{step: "protocol", outcome: "timeout", addr: target, err: []string{"got no answer within 500ms"},
		hint: []string{"accepted the connection but got no answer in the protocol step"}}
	l := gaveUp(t, p, code, w, "too many consecutive timeouts: 3 attempts in a row")
	within(t, "give up on a silent HTTP server", took, 3*attempt, 3*attempt+3*time.Second)
	observe(t, row{order: 19, fault: "accepts, reads the HTTP request, never answers", run: "wait http://",
		line: l, exit: code, took: took, result: "gave up after MAX_TIMEOUTS=3 timeouts"})
}
