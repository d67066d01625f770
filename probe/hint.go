package probe

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/depprobe/depprobe/probe/proto"
)

// hint names the likely causes of a failed attempt in plain words. It speaks
// of Services, endpoints and NetworkPolicy when the target is in Kubernetes
// (Target.Kubernetes), and stays generic otherwise.
func hint(t *Target, r Result) string {
	k8s := t.Kubernetes
	addr := t.Address()
	if f, ok := errors.AsType[*proto.Failure](r.Err); ok && f.Hint != "" {
		return f.Hint // the protocol knows better
	}
	switch r.Outcome {
	case NotFound:
		if k8s {
			return fmt.Sprintf("the name %q does not exist (yet): is the Service created, in this namespace (else write name.namespace), and the name spelled right?", t.host)
		}
		return fmt.Sprintf("the name %q does not exist (yet): is the host or compose service started and the name spelled right?", t.host)
	case DNSError:
		return fmt.Sprintf("the resolver failed for %q: is the DNS server (CoreDNS, the compose network's resolver) up and reachable?", t.host)
	case Refused:
		switch {
		case r.Step == Connect && t.path != "":
			return fmt.Sprintf("nothing listens on %s: is the server started, and does it create its socket at this path?", t.path)
		case k8s:
			return fmt.Sprintf("nothing listens on %s: is the app started, listening on 0.0.0.0 (not 127.0.0.1), on the Service's targetPort, and does the Service have ready endpoints (kubectl get endpointslices)?", r.Addr)
		}
		return fmt.Sprintf("nothing listens on %s: is the server started, listening on 0.0.0.0 rather than 127.0.0.1 only, and is port %s the right one?", r.Addr, t.port)
	case Timeout, Unreachable:
		if r.Step == Resolve {
			return fmt.Sprintf("no answer from the DNS server for %q: is the resolver reachable, or does a firewall drop DNS (port 53)?", t.host)
		}
		what := "got no answer"
		if r.Outcome == Unreachable {
			what = "is unreachable (no route, or an ICMP reject)"
		}
		if r.Step == Connect {
			if family, ok := oneFamily(r.Addrs); ok && errors.Is(r.Err, syscall.ENETUNREACH) && !isIP(t.host) && !routed(family) {
				other := map[string]string{"IPv6": "IPv4 (A)", "IPv4": "IPv6 (AAAA)"}[family]
				return fmt.Sprintf("%q has only %s addresses and this host has no route to %s: give the name %s addresses too, or this host %s (dual-stack)", t.host, family, family, other, family)
			}
			overloaded := ""
			if r.Outcome == Timeout {
				// Linux drops a SYN for a full accept queue without a word
				// (net.ipv4.tcp_abort_on_overflow=0).
				overloaded = ", the server's accept queue is full (it listens but does not accept: hung or overloaded)"
			}
			if k8s {
				return fmt.Sprintf("%s %s: a NetworkPolicy, firewall or security group drops or rejects the packets%s, or the address is wrong; waiting rarely fixes that", r.Addr, what, overloaded)
			}
			return fmt.Sprintf("%s %s: a firewall or security group drops or rejects the packets%s, or the host or address is wrong; waiting rarely fixes that", r.Addr, what, overloaded)
		}
		if r.Step == TLS && r.Outcome == Timeout {
			return fmt.Sprintf("%s accepted the connection but the TLS handshake got no answer: does it speak TLS on this port, or do large packets vanish on the way (an MTU black hole: the small ClientHello passes, the server's certificate in full-size packets does not)? Check the path MTU (PMTU discovery needs ICMP \"fragmentation needed\" let through), or clamp the MSS", r.Addr)
		}
		return fmt.Sprintf("%s accepted the connection but %s in the %s step: is it the right port for %s, or is the server overloaded?", r.Addr, what, r.Step, t.url.Scheme)
	case Reset, Closed:
		return fmt.Sprintf("%s accepted the connection, then dropped it: is the server still starting, at its connection limit, or expecting another protocol or TLS?", r.Addr)
	case NotReady:
		return fmt.Sprintf("%s answered, but is not ready yet (starting up, loading, or unavailable): wait for it", addr)
	case Unexpected:
		if r.Step == TLS {
			return fmt.Sprintf("the TLS handshake with %s failed: does the server speak TLS on this port, and accept TLS 1.2 or later?", r.Addr)
		}
		if errors.Is(r.Err, syscall.EACCES) {
			return fmt.Sprintf("permission denied on %s: does this user (depprobe runs as 65532 in its image) have access?", addr)
		}
		return fmt.Sprintf("%s answered, but not as a %s server ready to serve: is it the right port and scheme?", r.Addr, t.url.Scheme)
	case CertInvalid:
		return certHint(t, r.Err)
	case Canceled:
		return "the attempt was stopped before it could tell whether the target is ready: the probing ended for another reason, which the log line gives"
	case AuthFailed:
		return "the credentials were rejected: check the user and password; waiting will not fix this"
	}
	return ""
}

// oneFamily reports whether every address is of one family, and which:
// "IPv4" or "IPv6".
func oneFamily(addrs []string) (string, bool) {
	family := ""
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return "", false
		}
		f := "IPv4"
		if ip.Is6() && !ip.Is4In6() {
			f = "IPv6"
		}
		if family != "" && f != family {
			return "", false
		}
		family = f
	}
	return family, family != ""
}

func isIP(host string) bool { _, err := netip.ParseAddr(host); return err == nil }

// routed reports whether this host has a route for the family beyond its
// own networks (a default route): a UDP "connect" to a documentation
// address (RFC 5737, RFC 3849) looks the route up and sends nothing.
func routed(family string) bool {
	network, addr := "udp4", "192.0.2.1:9"
	if family == "IPv6" {
		network, addr = "udp6", "[2001:db8::1]:9"
	}
	c, err := net.Dial(network, addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// certHint says why the certificate failed, with its names and expiry.
func certHint(t *Target, err error) string {
	var (
		verr *tls.CertificateVerificationError
		cert *x509.Certificate
	)
	if errors.As(err, &verr) && len(verr.UnverifiedCertificates) > 0 {
		cert = verr.UnverifiedCertificates[0]
	}
	var hostErr x509.HostnameError
	if errors.As(err, &hostErr) {
		cert = hostErr.Certificate
	}
	want := t.host
	if t.in.TLS != nil {
		want = t.in.TLS.ServerName // the URL's host, or servername=
	}
	if cert == nil {
		return fmt.Sprintf("the certificate of %s does not verify for %q: set ca= to the CA that signed it, or servername=", t.Address(), want)
	}
	names := append([]string{}, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && cert.Subject.CommonName != "" {
		names = append(names, "CN="+cert.Subject.CommonName)
	}
	now := time.Now()
	validity := "valid until " + cert.NotAfter.UTC().Format(time.DateOnly)
	switch {
	case now.After(cert.NotAfter):
		validity = "expired on " + cert.NotAfter.UTC().Format(time.DateOnly)
	case now.Before(cert.NotBefore):
		validity = "not valid before " + cert.NotBefore.UTC().Format(time.DateOnly)
	}
	return fmt.Sprintf("the certificate is for [%s], %s, issued by %q; wanted %q: fix servername=, or set ca= to the CA that signed it; waiting will not fix this",
		strings.Join(names, ", "), validity, cert.Issuer.CommonName, want)
}
