package probe

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
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
	if r.Finding != nil && r.Finding.Hint != "" {
		return r.Finding.Hint // the Kubernetes API knows better
	}
	if r.Step == Cluster && r.Outcome != Canceled {
		if r.Outcome == Forbidden {
			return "the Kubernetes API denied this pod's service account: grant it read access in a Role (the chart: rbac.create=true); waiting will not fix this"
		}
		return "the Kubernetes API did not answer as it should: is the API server reachable from this pod (an egress NetworkPolicy to it, a proxy)?"
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
		any, loopback := "0.0.0.0", "127.0.0.1"
		if ap, err := netip.ParseAddrPort(r.Addr); err == nil && ap.Addr().Is6() && !ap.Addr().Is4In6() {
			any, loopback = "[::]", "::1"
		}
		switch {
		case r.Step == Connect && t.path != "":
			if fi, err := os.Stat(t.path); err == nil && fi.Mode().Type() != os.ModeSocket {
				return fmt.Sprintf("%s is not a socket but a %s: is the path right, and does the server create its socket there (it may have failed to, or another program wrote a file in its place)?", t.path, fileKind(fi.Mode()))
			}
			return fmt.Sprintf("nothing listens on %s: is the server started, and does it create its socket at this path?", t.path)
		case k8s:
			return fmt.Sprintf("nothing listens on %s: is the app started, listening on %s (not %s), on the Service's targetPort, and does the Service have ready endpoints (kubectl get endpointslices)?", r.Addr, any, loopback)
		}
		return fmt.Sprintf("nothing listens on %s: is the server started, listening on %s rather than %s only, and is port %s the right one?", r.Addr, any, loopback, t.port)
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
			var burst *burstError
			if r.Outcome == Timeout && errors.As(r.Err, &burst) {
				return fmt.Sprintf("%s got no answer while depprobe itself had %d connects under way: a burst that size can overflow the server's accept queue or the network's, which drops SYNs like a firewall; if only some of many targets time out, that is the likely cause (spread the targets over several depprobe processes, or raise DEPPROBE_ATTEMPT_TIMEOUT so that the SYN's retransmission is waited for)", r.Addr, burst.inFlight)
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

// fileKind names what a path that is not a socket is.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "regular file"
	case m.Type()&os.ModeNamedPipe != 0:
		return "named pipe"
	}
	return "file of mode " + m.Type().String()
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
	facts := fmt.Sprintf("the certificate is for [%s], %s, issued by %q", strings.Join(names, ", "), validity, cert.Issuer.CommonName)
	var (
		uaErr  x509.UnknownAuthorityError
		invErr x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &hostErr):
		return fmt.Sprintf("%s; wanted %q: the names do not match: fix servername= (or the URL's host); waiting will not fix this", facts, want)
	case errors.As(err, &invErr) && invErr.Reason == x509.Expired:
		return fmt.Sprintf("%s: renew it (or fix this host's clock); waiting will not fix this", facts)
	case errors.As(err, &uaErr):
		signer := "an authority this host does not trust"
		if cert.Issuer.String() == cert.Subject.String() {
			signer = "itself (self-signed), which this host does not trust"
		}
		return fmt.Sprintf("%s: it is signed by %s: set ca= to the PEM of the CA that signed it (for a self-signed one, the certificate itself); waiting will not fix this", facts, signer)
	}
	return fmt.Sprintf("%s; wanted %q: set ca= to the CA that signed it, or fix servername=; waiting will not fix this", facts, want)
}
