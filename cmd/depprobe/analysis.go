package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/depprobe/depprobe/internal/kube"
	"github.com/depprobe/depprobe/probe"
)

// oneCause is a cause that several targets' ladders point to together:
// said first, with the evidence, in check's report, wait's give-up line
// and the termination message.
type oneCause struct {
	cause    string   // a stable word: cluster_dns, mesh_proxy, egress_policy, unknown_authority
	text     string   // the cause, in a sentence
	evidence []string // "db: resolve timeout", one per target
	hint     string   // the fix
	certain  bool     // the API makes it certain: the wait can end now
}

// fastRefusal is how quickly a refusal must come to look like a local
// redirect (a mesh's iptables rule to a proxy that does not listen) rather
// than a server's answer.
const fastRefusal = 100 * time.Millisecond

// analyze reads every target's last result together (a result of a target
// not probed yet has an empty Target) and says the cause they share, if
// one: cluster DNS that does not answer, a mesh proxy that is not up, an
// egress policy, a CA bundle missing. self is what the API says of this
// pod, nil outside a cluster or without permission; ns is this pod's
// namespace ("" outside a cluster).
func analyze(targets []*probe.Target, results []probe.Result, self *kube.Self, ns string) (oneCause, bool) {
	// A result is read where it is, not copied: wait reads them together at
	// every attempt in a pod.
	type probed struct {
		t *probe.Target
		r *probe.Result
	}
	if len(results) == 0 || slices.ContainsFunc(results, func(r probe.Result) bool { return r.Target == "" }) {
		return oneCause{}, false // not every target has said something yet
	}
	all := make([]probed, len(results))
	for i := range results {
		all[i] = probed{targets[i], &results[i]}
	}
	evidence := func(ps []probed) []string {
		var e []string
		for _, p := range ps {
			e = append(e, p.r.Target+": "+p.r.Summary())
		}
		return e
	}

	// Every name fails at resolve without an answer: DNS itself.
	var names []probed
	for _, p := range all {
		if host := hostOf(p.t); host != "" && net.ParseIP(host) == nil && host != "localhost" {
			names = append(names, p)
		}
	}
	if len(names) >= 2 || len(names) == 1 && ns != "" {
		dns, refused := true, true
		for _, p := range names {
			// No answer: a timeout, or every server refusing (a resolver
			// error that is an answer, SERVFAIL, is not DNS being away).
			r := p.r
			refusedHere := r.Outcome == probe.DNSError && strings.Contains(r.Diagnosis(), "connection refused")
			silent := r.Step == probe.Resolve && (r.Outcome == probe.Timeout || refusedHere) &&
				(r.Finding == nil || r.Finding.Cause != string(kube.ServiceMissing))
			dns = dns && silent
			refused = refused && refusedHere
		}
		if dns {
			c := oneCause{cause: "cluster_dns", evidence: evidence(names)}
			switch {
			case ns == "":
				c.text = "DNS does not answer: every name failed at resolve"
				c.hint = "is the resolver of /etc/resolv.conf (the compose network's, the host's) up and reachable?"
			case self != nil && !self.DNS:
				c.text = fmt.Sprintf("cluster DNS is cut off: NetworkPolicy %s selects this pod and lets nothing out to port 53", quoteList(self.Egress))
				c.hint = "add an egress rule allowing UDP and TCP port 53 to the kube-dns pods (namespaceSelector kubernetes.io/metadata.name: kube-system, podSelector k8s-app: kube-dns)"
			case refused:
				c.text = "cluster DNS refuses: every name failed at resolve with connection refused, as when the kube-dns Service has no ready endpoint (CoreDNS scaled to zero or not running)"
				c.hint = "kubectl -n kube-system get deployment coredns; kubectl -n kube-system get endpointslices -l kubernetes.io/service-name=kube-dns"
			default:
				c.text = "cluster DNS does not answer: every name timed out at resolve"
				if self != nil && len(self.Egress) == 0 {
					c.text += "; no NetworkPolicy restricts this pod's egress, so CoreDNS is down or a node firewall drops port 53"
				}
				c.hint = "is CoreDNS running (kubectl -n kube-system get pods -l k8s-app=kube-dns), and does an egress NetworkPolicy or a firewall let UDP and TCP port 53 through to it?"
			}
			return c, true
		}
	}

	// A meshed pod whose every target, external ones included, is refused
	// at once: the proxy the mesh redirects to does not listen yet.
	if self != nil && self.Mesh != "" {
		fast := true
		for _, p := range all {
			r := p.r
			fast = fast && r.Step == probe.Connect && (r.Outcome == probe.Refused || r.Outcome == probe.Reset) && connectTime(*r) < fastRefusal
		}
		if fast {
			c := oneCause{cause: "mesh_proxy", evidence: evidence(all)}
			c.text = fmt.Sprintf("the %s proxy is not up: this pod is meshed, and every target, external ones included, was refused within %s, as the mesh's redirect to a proxy that does not listen yet does", self.Mesh, fastRefusal)
			// Certain only while this pod initializes: depprobe is then an
			// init container, and a regular proxy container starts after
			// it. In a regular container (wait -- app) the proxy starts
			// beside it.
			if !self.ProxyNative && !self.ProxyRunning && self.Initializing {
				c.certain = true
				c.text += fmt.Sprintf("; %s is a regular container, which starts only after the init containers: it cannot come up while this one waits", self.Proxy)
			}
			uid := map[string]string{"istio": "1337", "linkerd": "2102"}[self.Mesh]
			native := map[string]string{"istio": `the pod annotation sidecar.istio.io/nativeSidecar: "true"`, "linkerd": `the annotation config.alpha.linkerd.io/proxy-enable-native-sidecar: "true"`}[self.Mesh]
			exclude := map[string]string{"istio": "traffic.sidecar.istio.io/excludeOutboundPorts", "linkerd": "config.linkerd.io/skip-outbound-ports"}[self.Mesh]
			c.hint = fmt.Sprintf("start the proxy before depprobe as a native sidecar (%s), or run depprobe as the proxy's excluded user (securityContext.runAsUser: %s), or exclude the targets' ports (%s)", native, uid, exclude)
			return c, true
		}
	}

	// Targets of this pod's namespace answer, the others time out.
	if ns != "" {
		var local, away []probed
		for _, p := range all {
			if ref, ok := kube.ServiceHost(hostOf(p.t), ns); ok && ref.Namespace == ns {
				local = append(local, p)
			} else if hostOf(p.t) != "" {
				away = append(away, p)
			}
		}
		localOK := slices.ContainsFunc(local, func(p probed) bool { return p.r.Ready() })
		awaySilent := len(away) > 0 && !slices.ContainsFunc(away, func(p probed) bool {
			return p.r.Step != probe.Connect || !p.r.Outcome.TimedOut()
		})
		if localOK && awaySilent {
			c := oneCause{cause: "egress_policy", evidence: evidence(append(local, away...))}
			c.text = fmt.Sprintf("targets in namespace %q answer, every other one times out at connect: an egress NetworkPolicy or a firewall keeps this pod inside its namespace", ns)
			c.hint = "allow this pod's egress to those targets (an egress rule with their namespaceSelector or ipBlock, on their ports)"
			if self != nil && len(self.Egress) > 0 {
				c.text = fmt.Sprintf("targets in namespace %q answer, every other one times out at connect: NetworkPolicy %s selects this pod and restricts its egress", ns, quoteList(self.Egress))
			}
			return c, true
		}
	}

	// Every TLS target fails on an authority the image does not trust.
	var unknown []probed
	issuers := map[string]bool{}
	for _, p := range all {
		var ua x509.UnknownAuthorityError
		if p.r.Outcome == probe.CertInvalid && errors.As(p.r.Err, &ua) {
			unknown = append(unknown, p)
			if ua.Cert != nil {
				issuers[ua.Cert.Issuer.CommonName] = true
			}
		}
	}
	tlsTargets := 0
	for _, p := range all {
		if p.r.Step == probe.TLS || p.r.Outcome == probe.CertInvalid || slices.ContainsFunc(p.r.Steps, func(s probe.StepResult) bool { return s.Step == probe.TLS }) {
			tlsTargets++
		}
	}
	if len(unknown) >= 2 && len(unknown) == tlsTargets {
		c := oneCause{cause: "unknown_authority", evidence: evidence(unknown)}
		c.text = "every TLS target's certificate is signed by an authority this image does not trust"
		c.hint = "give the image a CA bundle (a scratch image has none), or set ca= to the CA that signs them"
		if len(issuers) == 1 {
			for issuer := range issuers {
				c.text += fmt.Sprintf(", all by %q: a proxy that intercepts TLS, or a private CA", issuer)
			}
			c.hint = "if a proxy intercepts TLS, set ca= to its CA (or bypass it with NO_PROXY); if it is your own CA, set ca= to it"
		}
		return c, true
	}
	return oneCause{}, false
}

// hostOf is a target's first host name, "" for a target without one
// (unix://, file://, k8s://).
func hostOf(t *probe.Target) string {
	if _, ok := t.Object(); ok {
		return ""
	}
	hosts := t.Hosts()
	if len(hosts) == 0 {
		return ""
	}
	h, _, err := net.SplitHostPort(hosts[0])
	if err != nil {
		return ""
	}
	return h
}

// connectTime is how long the connect step that failed took.
func connectTime(r probe.Result) time.Duration {
	for _, s := range slices.Backward(r.Steps) {
		if s.Step == probe.Connect {
			return s.Duration
		}
	}
	return r.Duration
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// lines are the one cause as the termination message and check write it:
// the cause, its evidence, its hint.
func (c oneCause) lines() []string {
	return []string{
		"one cause: " + c.text,
		"  evidence: " + strings.Join(c.evidence, "; "),
		"  hint: " + c.hint,
	}
}

// analyst keeps the last result of every target and what the API says of
// this pod, and runs analyze on them; safe for concurrent use by the
// targets' loops.
type analyst struct {
	targets []*probe.Target
	client  *kube.Client // nil: no API
	// diagnose: the results may be explained by this pod's own objects
	// (false with DEPPROBE_KUBE_DIAGNOSIS=false: no lookup for them).
	diagnose bool

	mu       sync.Mutex
	results  []probe.Result
	self     *kube.Self
	selfNext time.Time // when this pod may be looked up again
}

func newAnalyst(targets []*probe.Target, client *kube.Client, diagnose bool) *analyst {
	return &analyst{targets: targets, client: client, diagnose: diagnose, results: make([]probe.Result, len(targets))}
}

// observe records target i's result and returns the cause the targets
// share now, if any. Outside a pod it only records: there a cause ends no
// wait and has no Event to go to, and the snapshot at the end says it
// (analysing every target's result at each attempt made four fifths of a
// ten-target wait's garbage).
func (a *analyst) observe(ctx context.Context, i int, r probe.Result) (oneCause, bool) {
	a.mu.Lock()
	a.results[i] = r
	if a.client == nil {
		a.mu.Unlock()
		return oneCause{}, false
	}
	results := slices.Clone(a.results)
	a.mu.Unlock()
	return a.analyze(ctx, results)
}

// snapshot is every target's last result.
func (a *analyst) snapshot() []probe.Result {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.results)
}

// analyze runs analyze on results, asking the API about this pod first
// when the results look like a cause that the pod's own objects could
// confirm (at most once per selfInterval).
func (a *analyst) analyze(ctx context.Context, results []probe.Result) (oneCause, bool) {
	ns := ""
	if a.client != nil {
		ns = a.client.Namespace()
	}
	if a.client == nil || !a.diagnose || !suspect(results) {
		return analyze(a.targets, results, nil, ns)
	}
	return analyze(a.targets, results, a.lookupSelf(ctx), ns)
}

// selfInterval spaces the lookups of this pod (its annotations, the
// NetworkPolicies that select it): two requests, about what seldom
// changes while a pod waits, and asked whenever its only dependency is
// refused, so seldom.
const selfInterval = 5 * time.Minute

// lookupSelf is what the API says of this pod: looked up again when the
// last lookup is older than selfInterval; nil when it never answered. The
// lock is held only to read and write what is kept, never during the
// request: the targets' loops record their results meanwhile, and a
// caller that comes while a lookup is under way gets what is known.
func (a *analyst) lookupSelf(ctx context.Context) *kube.Self {
	a.mu.Lock()
	self, now := a.self, time.Now()
	due := now.After(a.selfNext)
	if due {
		a.selfNext = now.Add(selfInterval)
	}
	a.mu.Unlock()
	if !due {
		return self
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probe.ClusterTimeout)
	defer cancel()
	s, err := a.client.Self(cctx)
	if err != nil {
		return self
	}
	a.mu.Lock()
	a.self = &s
	a.mu.Unlock()
	return &s
}

// suspect reports whether every target that is not ready failed at
// resolve or connect: what a mesh or a policy of this pod would cause.
func suspect(results []probe.Result) bool {
	n := 0
	for _, r := range results {
		if r.Target == "" || r.Ready() {
			continue
		}
		if r.Step != probe.Resolve && r.Step != probe.Connect {
			return false
		}
		n++
	}
	return n > 0
}

// pod is what the API said of this pod at the last lookup; nil if never.
func (a *analyst) pod() *kube.Self {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.self
}
