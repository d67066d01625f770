package faults

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
	"golang.org/x/sys/unix"
)

// Faults of the path between client and server rather than of the server:
// packets lost by size, address families that do not meet, a server too
// busy to accept.

// selfSigned is a certificate for the server's address with enough names
// to fill more than one full-size packet, as real chains do.
func selfSigned(t *testing.T, ip netip.Addr) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range 60 {
		names = append(names, fmt.Sprintf("replica-%02d.db.dpf.test", i))
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "db.dpf.test"},
		DNSNames:     names,
		IPAddresses:  []net.IP{ip.AsSlice()},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestMTUBlackHole: a path that loses every packet above 1,000 bytes and
// says nothing (no ICMP "fragmentation needed"), as a tunnel or a
// misconfigured MTU does: the TCP handshake and the ClientHello pass, the
// server's certificate in full-size segments never arrives. The TLS step
// times out, and the hint names the MTU.
func TestMTUBlackHole(t *testing.T) {
	requireNet(t)
	t.Parallel()
	client, server, addr := pair(t, 21, false)
	target := hostPort(addr, 8443)
	cert := selfSigned(t, addr)
	ln := tls.NewListener(server.listen(t, "0.0.0.0:8443"), &tls.Config{Certificates: []tls.Certificate{cert}})
	loopback.Serve(t, ln, func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.(*tls.Conn).Handshake()
	})
	// Without the hole the handshake passes: the cell tests the size.
	p := depprobe(t, client, nil, "check", "tls://"+target+" insecure=true")
	if code, _ := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("check before the hole: exit %d\n%s", code, p.output())
	}
	client.firewall(t, "ip length > 1000 drop")
	p = depprobe(t, client, nil, "wait", "tls://"+target+" insecure=true")
	code, took := p.wait(30 * time.Second)
	w := want{step: "tls", outcome: "timeout", addr: target, err: []string{"got no answer within 500ms"},
		hint: []string{"MTU black hole", "PMTU", "fragmentation needed", "MSS"}}
	l := gaveUp(t, p, code, w, "too many consecutive timeouts: 3 attempts in a row")
	within(t, "give up on an MTU black hole", took, 3*attempt, 3*attempt+3*time.Second)
	observe(t, row{order: 21, fault: "MTU black hole: packets over 1,000 bytes from the server are dropped without ICMP (nft `ip length > 1000 drop`); tls://",
		run: "wait", line: l, exit: code, took: took, result: "gave up after MAX_TIMEOUTS=3 timeouts"})
}

// TestIPv6OnlyServer: the name has an A and an AAAA record, the server
// listens on IPv6 only: the IPv4 address refuses, the IPv6 one answers.
// Both are dialed at once, so the wait ends at once on the IPv6 address.
func TestIPv6OnlyServer(t *testing.T) {
	requireNet(t)
	t.Parallel()
	client, server, v4 := pair(t, 22, true)
	_, v6 := link6(t, client, server, 22, false)
	dns := server.startDNS(t, v4)
	dns.set(name, v4, v6)
	server.listenOn(t, "tcp6", "[::]:5432")
	p := depprobe(t, client, nil, "wait", "tcp://"+name+":5432")
	code, took := p.wait(10 * time.Second)
	l := readyAt(t, p, code, hostPort(v6, 5432))
	within(t, "ready on the IPv6 address", took, 0, attempt)
	observe(t, row{order: 22, fault: "a dual-stack name (A and AAAA), the server listens on IPv6 only (the IPv4 address refuses)", run: "wait",
		line: l, exit: code, took: took, result: "ready at once; the ready line's addr is " + l.str("addr")})
}

// TestAAAAOnlyName: the name has only an AAAA record and the client has no
// IPv6 (an IPv4-only pod): the kernel answers "network is unreachable" at
// once. The hint says the families do not meet, not "a firewall".
func TestAAAAOnlyName(t *testing.T) {
	requireNet(t)
	t.Parallel()
	client, server, v4 := pair(t, 23, true)
	_, v6 := link6(t, client, server, 23, true)
	dns := server.startDNS(t, v4)
	dns.set(name, v6)
	server.listenOn(t, "tcp6", "[::]:5432")
	p := depprobe(t, client, nil, "wait", "tcp://"+name+":5432")
	code, took := p.wait(30 * time.Second)
	target := hostPort(v6, 5432)
	w := want{step: "connect", outcome: "unreachable", addr: target, err: []string{"network is unreachable"},
		hint: []string{"only IPv6 addresses", "no route to IPv6", "IPv4 (A)", "dual-stack"}}
	l := gaveUp(t, p, code, w, "too many consecutive timeouts: 3 attempts in a row")
	if strings.Contains(l.str("hint"), "firewall") {
		t.Errorf("hint = %q, want no firewall: the families do not meet", l.str("hint"))
	}
	within(t, "give up on an AAAA-only name", took, 0, 3*attempt)
	observe(t, row{order: 23, fault: "the name has only an AAAA record, the client has no IPv6", run: "wait",
		line: l, exit: code, took: took, result: "gave up after MAX_TIMEOUTS=3 (unreachable counts like timeout)"})
}

// TestAcceptQueueFull: the server listens (backlog 1) but never accepts,
// as a hung or overloaded one does; its accept queue is full, so the
// kernel drops every new SYN without a word. The connect times out, and
// the hint names the accept queue next to a firewall.
func TestAcceptQueueFull(t *testing.T) {
	requireNet(t)
	t.Parallel()
	client, server, addr := pair(t, 24, false)
	target := hostPort(addr, 5432)
	var fd int
	if err := server.inside(func() (err error) {
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		sa := &unix.SockaddrInet4{Port: 5432, Addr: addr.As4()}
		if err := unix.Bind(fd, sa); err != nil {
			return err
		}
		return unix.Listen(fd, 1)
	}); err != nil {
		t.Fatalf("listen with backlog 1: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	// Fill the queue: connections complete until it is full (backlog + 1
	// on Linux), then a connect times out.
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for i := 0; ; i++ {
		c, err := client.dial("tcp4", target, 300*time.Millisecond)
		if err != nil {
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				t.Fatalf("filling the accept queue: %v", err)
			}
			break
		}
		held = append(held, c)
		if i == 16 {
			t.Fatalf("16 connections completed against backlog 1: the queue never filled")
		}
	}
	t.Logf("%d connections fill the accept queue", len(held))
	p := depprobe(t, client, nil, "wait", "tcp://"+target)
	code, took := p.wait(30 * time.Second)
	w := want{step: "connect", outcome: "timeout", addr: target, err: []string{"got no answer within 500ms"},
		hint: []string{"accept queue is full", "hung or overloaded", "firewall"}}
	l := gaveUp(t, p, code, w, "too many consecutive timeouts: 3 attempts in a row")
	within(t, "give up on a full accept queue", took, 3*attempt, 3*attempt+3*time.Second)
	observe(t, row{order: 24, fault: fmt.Sprintf("the server listens (backlog 1) but never accepts; %d connections fill its accept queue", len(held)),
		run: "wait", line: l, exit: code, took: took, result: "gave up after MAX_TIMEOUTS=3 timeouts"})
}
