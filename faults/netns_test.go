package faults

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// host is a network namespace this test made: a machine of its own, with
// only loopback until links connect it to another host.
type host struct {
	name string
}

// newHost makes a namespace named prefix+tag with loopback up; t.Cleanup
// deletes it (and with it its links, rules and sockets' routes) even when
// the test fails.
func newHost(t *testing.T, tag string) *host {
	t.Helper()
	h := &host{name: prefix + tag}
	ipRun(t, "netns", "add", h.name)
	t.Cleanup(func() {
		if b, err := exec.Command(ipCmd, "netns", "delete", h.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", h.name, err, b)
		}
	})
	h.ip(t, "link", "set", "lo", "up")
	return h
}

// newClient is a host for depprobe to run in. Its resolv.conf names
// nameserver (or, when it is invalid, the client's own loopback, where
// nothing listens), so that `ip netns exec` never lets depprobe ask the
// machine's resolver.
func newClient(t *testing.T, tag string, nameserver netip.Addr) *host {
	t.Helper()
	h := newHost(t, tag)
	if !nameserver.IsValid() {
		nameserver = netip.MustParseAddr("127.0.0.1")
	}
	dir := filepath.Join("/etc/netns", h.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// One try per query: the attempt's own deadline is what limits it.
	conf := fmt.Sprintf("nameserver %s\noptions timeout:1 attempts:1\n", nameserver)
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}

// ip runs `ip -n NAME args...`.
func (h *host) ip(t *testing.T, args ...string) {
	t.Helper()
	ipRun(t, append([]string{"-n", h.name}, args...)...)
}

func ipRun(t *testing.T, args ...string) {
	t.Helper()
	if b, err := exec.Command(ipCmd, args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, b)
	}
}

// link connects a and b with a veth pair on 10.253.n.0/30: a gets .1, b
// gets .2. Both ends are made inside the namespaces; the machine's own
// interfaces are never touched.
func link(t *testing.T, a, b *host, n int) (aAddr, bAddr netip.Addr) {
	t.Helper()
	if n < 0 || n > 255 {
		t.Fatalf("link %d: want 0..255", n)
	}
	ifname := fmt.Sprintf("v%d", n)
	aAddr = netip.AddrFrom4([4]byte{10, 253, byte(n), 1})
	bAddr = netip.AddrFrom4([4]byte{10, 253, byte(n), 2})
	a.ip(t, "link", "add", ifname, "type", "veth", "peer", "name", ifname, "netns", b.name)
	a.ip(t, "addr", "add", aAddr.String()+"/30", "dev", ifname)
	b.ip(t, "addr", "add", bAddr.String()+"/30", "dev", ifname)
	a.ip(t, "link", "set", ifname, "up")
	b.ip(t, "link", "set", ifname, "up")
	waitLink(t, a, bAddr)
	return aAddr, bAddr
}

// link6 gives the link n (made by link) IPv6 addresses fd00:253:n::1/64 on
// a and fd00:253:n::2/64 on b; with onlyB, a gets none (an IPv4-only host).
// nodad: the addresses are usable at once, not after duplicate address
// detection.
func link6(t *testing.T, a, b *host, n int, onlyB bool) (aAddr, bAddr netip.Addr) {
	t.Helper()
	ifname := fmt.Sprintf("v%d", n)
	aAddr = netip.MustParseAddr(fmt.Sprintf("fd00:253:%d::1", n))
	bAddr = netip.MustParseAddr(fmt.Sprintf("fd00:253:%d::2", n))
	if !onlyB {
		a.ip(t, "addr", "add", aAddr.String()+"/64", "dev", ifname, "nodad")
	}
	b.ip(t, "addr", "add", bAddr.String()+"/64", "dev", ifname, "nodad")
	return aAddr, bAddr
}

// waitLink waits until packets cross a new link: the kernel drops them
// until it has activated the device's queue (the link watch, up to a
// second after `ip link set up`), which would turn a cell's first connect
// into a timeout. A connect from a to a port where nothing listens on b
// comes back refused once both directions work.
func waitLink(t *testing.T, a *host, b netip.Addr) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := a.dial("tcp4", hostPort(b, 9), 100*time.Millisecond)
		switch {
		case conn != nil:
			conn.Close()
			return // something listens on 9: the link works all the same
		case errors.Is(err, syscall.ECONNREFUSED):
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("link from %s to %s does not pass packets after 10s: %v", a.name, b, err)
		}
	}
}

// firewall replaces the host's input rules with rules (nft syntax, one
// rule a line) in its own table; no rules removes the table.
func (h *host) firewall(t *testing.T, rules ...string) {
	t.Helper()
	script := "table ip dpf\ndelete table ip dpf\n"
	if len(rules) > 0 {
		script += "table ip dpf {\n  chain input {\n    type filter hook input priority 0; policy accept;\n"
		for _, r := range rules {
			script += "    " + r + "\n"
		}
		script += "  }\n}\n"
	}
	cmd := exec.Command(ipCmd, "netns", "exec", h.name, nftCmd, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v: %s\n%s", h.name, err, b, script)
	}
}

// inside runs f on an OS thread that has entered the host's namespace, so
// that the sockets f opens live there; the thread returns to this
// process's namespace afterwards (or, if it cannot, dies with its
// goroutine rather than serve other goroutines from the wrong namespace).
func (h *host) inside(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer self.Close()
		target, err := os.Open(filepath.Join("/run/netns", h.name))
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", h.name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("setns back: %w", err))
			return // the thread stays locked and exits with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// listen opens a TCP listener on addr inside the host; t.Cleanup closes it.
func (h *host) listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	return h.listenOn(t, "tcp4", addr)
}

// listenOn is listen for a network of the caller's choice: "tcp6" on
// "[::]:PORT" is an IPv6-only listener (IPV6_V6ONLY).
func (h *host) listenOn(t *testing.T, network, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := h.inside(func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	}); err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, h.name, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dial connects to addr from inside the host.
func (h *host) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	var conn net.Conn
	err := h.inside(func() (err error) {
		conn, err = net.DialTimeout(network, addr, timeout)
		return err
	})
	return conn, err
}

// dnsServer is a DNS server of the test's own, inside a host, that answers
// A and AAAA queries for the names it holds, NXDOMAIN for every other name, or
// SERVFAIL for all when failing.
type dnsServer struct {
	mu      sync.Mutex
	names   map[string][]netip.Addr
	failing bool
	queries int
}

// startDNS serves DNS over UDP on addr:53 inside h; t.Cleanup stops it.
// UDP is enough: the answers are never truncated, so Go's resolver never
// retries over TCP.
func (h *host) startDNS(t *testing.T, addr netip.Addr) *dnsServer {
	t.Helper()
	var pc net.PacketConn
	if err := h.inside(func() (err error) {
		pc, err = net.ListenPacket("udp4", netip.AddrPortFrom(addr, 53).String())
		return err
	}); err != nil {
		t.Fatalf("dns server in %s: %v", h.name, err)
	}
	s := &dnsServer{names: map[string][]netip.Addr{}}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: s, NotifyStartedFunc: func() { close(started) }}
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("dns server in %s: %v", h.name, err)
	case <-time.After(5 * time.Second):
		t.Fatalf("dns server in %s did not start within 5s", h.name)
	}
	t.Cleanup(func() {
		srv.Shutdown()
		<-done
	})
	return s
}

// set makes name resolve to addrs (in that order); no addrs removes it.
func (s *dnsServer) set(name string, addrs ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(addrs) == 0 {
		delete(s.names, dns.Fqdn(name))
		return
	}
	s.names[dns.Fqdn(name)] = addrs
}

// asked is how many queries reached the server.
func (s *dnsServer) asked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// fail makes every answer SERVFAIL.
func (s *dnsServer) fail(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = on
}

func (s *dnsServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative, m.RecursionAvailable = true, true
	s.queries++
	switch {
	case len(req.Question) != 1:
		m.Rcode = dns.RcodeFormatError
	case s.failing:
		m.Rcode = dns.RcodeServerFailure
	default:
		q := req.Question[0]
		addrs, ok := s.names[strings.ToLower(q.Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
			break
		}
		// A for the IPv4 addresses, AAAA for the IPv6 ones; a family the
		// name lacks is NOERROR without records.
		for _, a := range addrs {
			hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: 0}
			switch {
			case q.Qtype == dns.TypeA && a.Is4():
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
			case q.Qtype == dns.TypeAAAA && a.Is6():
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
		}
	}
	w.WriteMsg(m)
}
