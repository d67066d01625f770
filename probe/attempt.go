package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/depprobe/depprobe/probe/proto"
)

// Probe makes one attempt: it climbs the ladder once and returns the typed
// result. It obeys ctx's deadline (callers give every attempt its own, see
// Wait) and never returns before every connection it opened is closed. It is
// safe to call concurrently.
//
// A target whose URL names several hosts (a seed or bootstrap list) climbs
// the ladder with every host at once, as a client tries each bootstrap
// host: the first host that is ready makes the attempt ready and stops the
// others; when none is, the result is the most telling host's (see
// telling), and its steps include every host's.
//
// A target with UntilDown (until=down) climbs to connect only, and its
// verdict is inverted (see down).
func (t *Target) Probe(ctx context.Context) Result {
	var r Result
	switch {
	case t.scheme.network == "srv":
		r = t.probeSRV(ctx)
	case len(t.hosts) > 1:
		r = t.probeHosts(ctx, t.hosts, nil)
	default:
		r = t.climb(ctx)
		if r.Outcome != OK && !t.UntilDown {
			r.Hint = hint(t, r)
		}
	}
	if t.UntilDown {
		r = t.down(r)
	}
	return r
}

// down inverts a result for until=down: nothing answers (connect refused,
// a socket file not there, the name not found, the file:// path absent) is
// ready; a connection accepted (or the path present) is not_ready. Every
// other outcome stays as it is: a timeout or an unreachable host does not
// prove that nothing listens (a firewall drops packets too). So a refused
// address does not make the target down while another address or host
// stayed silent (see unproven).
func (t *Target) down(r Result) Result {
	r = unproven(r)
	switch {
	case r.Outcome == Refused || r.Outcome == NotFound || r.Outcome == NotReady && t.scheme.network == "file":
		r.Down = true
		r.Outcome, r.Err, r.Hint = OK, nil, ""
	case r.Outcome == OK:
		what := "accepts connections"
		if t.scheme.network == "file" {
			what = "exists"
		} else if t.scheme.network == "dns" {
			what = "resolves"
		}
		r.Outcome = NotReady
		r.Err = fmt.Errorf("%s still %s, and until=down waits until it does not", t.Address(), what)
		r.Hint = fmt.Sprintf("%s still %s: until=down waits for it to go (an old instance draining, a port to be freed, a lock file to be removed)", t.Address(), what)
	case r.Outcome != Canceled:
		r.Hint = hint(t, r)
	}
	return r
}

// unproven is, for until=down, a refused or not-found result that does
// not prove the target down, because another of its steps (another
// address of the name, another host) timed out or was unreachable: the
// result as that step tells it, the step moved last (the steps end where
// the result does). Any other result is returned as it is.
func unproven(r Result) Result {
	if r.Outcome != Refused && r.Outcome != NotFound {
		return r
	}
	for i := len(r.Steps) - 1; i >= 0; i-- {
		s := r.Steps[i]
		if !s.Outcome.TimedOut() {
			continue
		}
		r.Steps = append(slices.Delete(slices.Clone(r.Steps), i, i+1), s)
		r.Step, r.Outcome, r.Err = s.Step, s.Outcome, s.Err
		if s.Addr != "" {
			r.Addr = s.Addr
		}
		return r
	}
	return r
}

// climb is one climb of the ladder, without the hint.
func (t *Target) climb(ctx context.Context) Result {
	a := t.begin(ctx)
	a.run(ctx)
	r := a.res
	r.Duration = time.Since(r.Start)
	if r.Outcome == "" {
		r.Outcome = OK
	}
	if r.Outcome != OK && ctx.Err() == context.Canceled {
		r.Outcome = Canceled
	}
	return r
}

// begin starts an attempt: its result names the target and holds the
// start and the time limit that ctx's deadline leaves.
func (t *Target) begin(ctx context.Context) attempt {
	// Room for resolve, connect and protocol: one allocation, not three.
	a := attempt{t: t, res: Result{Target: t.Name, URL: t.URL(), Host: t.Address(), Start: time.Now(), Steps: make([]StepResult, 0, 3)}}
	if t.scheme.network == "dns" {
		a.res.Host = t.host
	}
	if deadline, ok := ctx.Deadline(); ok {
		a.res.Limit = deadline.Sub(a.res.Start)
	}
	return a
}

// resolver is the target's Resolver, or the system's.
func (t *Target) resolver() *net.Resolver {
	if t.Resolver != nil {
		return t.Resolver
	}
	return net.DefaultResolver
}

// probeHosts climbs the ladder with every host ("host:port") at once;
// the result's steps begin with before (the SRV lookup that found them).
func (t *Target) probeHosts(ctx context.Context, hosts []string, before []StepResult) Result {
	start := time.Now()
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type climbed struct {
		t *Target
		r Result
	}
	results := make(chan climbed, len(hosts))
	for _, hp := range hosts {
		h := t.at(hp)
		go func() {
			r := h.climb(hctx)
			if t.UntilDown {
				r = unproven(r)
			}
			results <- climbed{h, r}
		}()
	}
	all := make([]climbed, 0, len(hosts))
	won := -1
	for range hosts {
		c := <-results
		if c.r.Ready() && won < 0 {
			won = len(all)
			cancel() // the others need not finish
		}
		all = append(all, c)
	}
	best := won
	if best < 0 {
		more := telling
		if t.UntilDown {
			more = tellingDown
		}
		best = 0
		for i := range all {
			if more(all[i].r, all[best].r) {
				best = i
			}
		}
	}
	r := all[best].r
	r.Start, r.Duration = start, time.Since(start)
	// Every host's steps, the chosen one's last (so that the steps end
	// where the result does), and every address any host resolved to. A
	// host stopped because another was ready says nothing.
	var steps []StepResult
	var addrs []string
	var others []string
	for i, c := range all {
		if i == best || (won >= 0 && c.r.Outcome == Canceled) {
			continue
		}
		steps = append(steps, c.r.Steps...)
		addrs = append(addrs, c.r.Addrs...)
		others = append(others, c.t.Address()+" "+c.r.Summary())
	}
	r.Steps = append(append(before, steps...), r.Steps...)
	r.Addrs = append(addrs, r.Addrs...)
	if r.Outcome != OK {
		if ctx.Err() == context.Canceled {
			r.Outcome = Canceled
		}
		r.Hint = hint(all[best].t, r)
		if len(others) > 0 {
			r.Hint += fmt.Sprintf(" (no host of the %d is ready; the others: %s)", len(all), strings.Join(others, "; "))
		}
	}
	return r
}

// at is the target as seen from one of its hosts ("host:port"): its own
// address, host name, TLS server name and Kubernetes words.
func (t *Target) at(hostport string) *Target {
	h := *t
	if t.scheme.network == "srv" { // each host found is dialed as tcp
		sc := *t.scheme
		sc.network = "tcp"
		h.scheme = &sc
	}
	h.host, h.port, _ = net.SplitHostPort(hostport)
	h.hosts = []string{hostport}
	h.in.Addr, h.in.Host = hostport, h.host
	if t.in.TLS != nil && t.in.TLS.ServerName == t.host {
		h.in.TLS = t.in.TLS.Clone()
		h.in.TLS.ServerName = h.host
	}
	h.Kubernetes = t.Kubernetes || clusterName(h.host)
	h.derive()
	return &h
}

// probeSRV finds the hosts of a mongodb+srv:// URL in the resolve step
// (the SRV records of _mongodb._tcp.NAME, and NAME's TXT record of
// connection options), then probes them all as probeHosts does.
func (t *Target) probeSRV(ctx context.Context) Result {
	a := t.begin(ctx)
	start := a.res.Start
	service := "mongodb"
	var (
		hosts []string
		txt   string
	)
	ok := a.timed(ctx, Resolve, "_"+service+"._tcp."+t.host, func() error {
		var err error
		hosts, txt, err = lookupSRV(ctx, t.resolver(), service, t.host)
		return err
	})
	if ok {
		a.res.Steps[len(a.res.Steps)-1].Addrs = hosts
	}
	if !ok {
		res := a.res
		res.Duration = time.Since(start)
		if ctx.Err() == context.Canceled {
			res.Outcome = Canceled
		}
		res.Hint = hint(t, res)
		if f := (*proto.Failure)(nil); !errors.As(res.Err, &f) && res.Outcome == NotFound {
			res.Hint = fmt.Sprintf("no SRV records _%s._tcp.%s: is the name right (the cluster's SRV name, as the provider shows it), and does the DNS serve SRV records?", service, t.host)
		}
		return res
	}
	h := *t
	if txt != "" { // the URL's own options win over the TXT record's
		q, _ := url.ParseQuery(txt)
		own := t.url.Query()
		for k, v := range own {
			q[k] = v
		}
		h.in.RequestURI = t.url.EscapedPath() + "?" + q.Encode()
		if h.in.RequestURI[0] != '/' {
			h.in.RequestURI = "/" + h.in.RequestURI
		}
	}
	res := h.probeHosts(ctx, hosts, a.res.Steps)
	res.Start, res.Duration = start, time.Since(start)
	return res
}

// lookupSRV finds the hosts ("host:port") of the SRV records
// _service._tcp.name and name's TXT record, as MongoDB's seed list
// discovery says: every host must be in name's parent domain (so that a
// forged record cannot send the probe, and its password, elsewhere), and
// the TXT record may set only authSource, replicaSet and loadBalanced.
func lookupSRV(ctx context.Context, r *net.Resolver, service, name string) (hosts []string, txt string, err error) {
	_, srvs, err := r.LookupSRV(ctx, service, "tcp", name)
	if err != nil {
		return nil, "", err
	}
	parent := strings.TrimSuffix(name, ".")
	if labels := strings.Count(parent, "."); labels >= 2 {
		parent = parent[strings.IndexByte(parent, '.')+1:]
	}
	for _, s := range srvs {
		host := strings.TrimSuffix(s.Target, ".")
		if !strings.HasSuffix(strings.ToLower(host), "."+strings.ToLower(parent)) {
			return nil, "", proto.FailHint(Unexpected, fmt.Sprintf("the SRV records of %s must name hosts in its domain %s, as drivers require: fix the records", name, parent),
				fmt.Errorf("SRV record names %s, outside %s", host, parent))
		}
		hosts = append(hosts, net.JoinHostPort(host, strconv.Itoa(int(s.Port))))
	}
	records, err := r.LookupTXT(ctx, name)
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return hosts, "", nil // no TXT record: none needed
	case err != nil:
		return nil, "", err
	case len(records) > 1:
		return nil, "", proto.Failf(Unexpected, "%s has %d TXT records; the seed list discovery allows one", name, len(records))
	case len(records) == 1:
		q, perr := url.ParseQuery(records[0])
		for k := range q {
			if k != "authSource" && k != "replicaSet" && k != "loadBalanced" {
				perr = fmt.Errorf("option %q", k)
			}
		}
		if perr != nil {
			return nil, "", proto.Failf(Unexpected, "the TXT record of %s may set only authSource, replicaSet and loadBalanced: %v", name, perr)
		}
		txt = records[0]
	}
	return hosts, txt, nil
}

// telling reports whether a says more about why a target is not ready
// than b: the higher step of the ladder (a host whose protocol answered
// says more than one that refused the connection), then within a step
// what waiting cannot fix, then what a server said, then refused before
// silent (see rank).
func telling(a, b Result) bool {
	if la, lb := stepLevel(a.Step), stepLevel(b.Step); la != lb {
		return la > lb
	}
	return rank(a.Outcome) < rank(b.Outcome)
}

// tellingDown is telling for until=down: a host that stayed silent says
// more than one that refused, since it keeps the target from being
// proven down.
func tellingDown(a, b Result) bool {
	if sa, sb := a.Outcome.TimedOut(), b.Outcome.TimedOut(); sa != sb {
		return sa
	}
	return telling(a, b)
}

func stepLevel(s Step) int {
	switch s {
	case Resolve:
		return 1
	case Connect:
		return 2
	case TLS:
		return 3
	case Protocol:
		return 4
	}
	return 0
}

// attempt is one climb of the ladder; it records each step into res.
type attempt struct {
	t   *Target
	res Result
}

// record appends a step; a failed step ends the attempt with its outcome.
func (a *attempt) record(s StepResult) bool {
	a.res.Steps = append(a.res.Steps, s)
	a.res.Step = s.Step
	if s.Addr != "" {
		a.res.Addr = s.Addr
	}
	if s.Outcome != OK {
		a.res.Outcome, a.res.Err = s.Outcome, s.Err
		return false
	}
	return true
}

// timed runs one step and records it, classifying its error.
func (a *attempt) timed(ctx context.Context, step Step, addr string, f func() error) bool {
	start := time.Now()
	err := f()
	s := StepResult{Step: step, Addr: addr, Duration: time.Since(start), Outcome: OK}
	if err != nil {
		s.Outcome, s.Err = classify(ctx, step, err), err
		if s.Outcome == Unexpected && pastDeadline(ctx) {
			// A reply cut off by the attempt's deadline looks malformed
			// to the parser that got half of it (net/http reads "HTT" as
			// a status line); it did not come in time: a timeout, which
			// counts towards DEPPROBE_MAX_TIMEOUTS.
			s.Outcome = Timeout
		}
	}
	return a.record(s)
}

// pastDeadline reports whether ctx's deadline has come: the connection's
// deadline is the same instant, and may fire before ctx says so.
func pastDeadline(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

func (a *attempt) run(ctx context.Context) {
	t := a.t
	switch t.scheme.network {
	case "cluster":
		a.checkObject(ctx)
		return
	case "file":
		a.timed(ctx, Protocol, t.path, func() error { return t.scheme.local(ctx, t.in) })
		return
	case "unix":
		var conn net.Conn
		if !a.timed(ctx, Connect, t.path, func() (err error) {
			conn, err = (&net.Dialer{}).DialContext(ctx, "unix", t.path)
			return err
		}) {
			return
		}
		defer conn.Close()
		a.converse(ctx, conn)
		return
	}
	addrs, ok := a.resolve(ctx)
	if !ok {
		if !t.UntilDown { // a name gone is what until=down waits for
			a.explain(ctx)
		}
		return
	}
	if t.scheme.network == "dns" {
		return
	}
	conn, ok := a.connect(ctx, addrs)
	if !ok {
		if !t.UntilDown {
			a.explain(ctx)
		}
		return
	}
	defer conn.Close()
	a.converse(ctx, conn)
}

// resolve turns the host into addresses; an IP literal is its own answer.
func (a *attempt) resolve(ctx context.Context) ([]netip.Addr, bool) {
	t := a.t
	if ip := t.literal; ip.IsValid() {
		a.res.Addrs = t.literals
		return t.dialIPs, a.record(StepResult{Step: Resolve, Addr: ip.String(), Addrs: a.res.Addrs, Outcome: OK})
	}
	var addrs []netip.Addr
	ok := a.timed(ctx, Resolve, t.host, func() (err error) {
		addrs, err = t.resolver().LookupNetIP(ctx, "ip", t.host)
		if err == nil && len(addrs) == 0 {
			err = proto.Fail(DNSError, fmt.Errorf("lookup %s: no addresses", t.host))
		}
		return err
	})
	found := make([]string, len(addrs))
	for i, ip := range addrs {
		addrs[i] = ip.Unmap()
		found[i] = addrs[i].String()
	}
	a.res.Addrs = append(a.res.Addrs, found...)
	if ok {
		a.res.Steps[len(a.res.Steps)-1].Addrs = found
	}
	return addrs, ok
}

// connect dials every address at once and keeps the first that answers, so
// that one address whose packets are dropped does not spend the attempt's
// whole time. Each address gets its own connect StepResult.
func (a *attempt) connect(ctx context.Context, addrs []netip.Addr) (net.Conn, bool) {
	type dialed struct {
		conn net.Conn
		step StepResult
	}
	if len(addrs) == 1 { // nothing to race: dial here, without a goroutine
		var conn net.Conn
		addr := netip.AddrPortFrom(addrs[0], a.t.portNumber()).String()
		ok := a.timed(ctx, Connect, addr, func() (err error) {
			conn, err = dialTCP(ctx, addr)
			return err
		})
		return conn, ok
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan dialed, len(addrs))
	for _, ip := range addrs {
		addr := netip.AddrPortFrom(ip, a.t.portNumber()).String()
		go func() {
			start := time.Now()
			conn, err := dialTCP(ctx, addr)
			s := StepResult{Step: Connect, Addr: addr, Duration: time.Since(start), Outcome: OK}
			if err != nil {
				s.Outcome, s.Err = classify(ctx, Connect, err), err
			}
			results <- dialed{conn, s}
		}()
	}
	var (
		winner net.Conn
		steps  []StepResult
	)
	for range addrs {
		d := <-results
		switch {
		case d.conn != nil && winner == nil:
			winner = d.conn
			cancel() // the others lost the race
		case d.conn != nil:
			d.conn.Close()
			continue // a loser that connected all the same says nothing new
		case winner != nil && d.step.Outcome == Canceled:
			continue // stopped because another address won
		}
		steps = append(steps, d.step)
	}
	if winner != nil {
		// Report the winner last, so that Result.Addr names it.
		for i, s := range steps {
			if s.Outcome == OK {
				steps = append(append(steps[:i:i], steps[i+1:]...), s)
				break
			}
		}
		a.res.Steps = append(a.res.Steps, steps[:len(steps)-1]...)
		a.record(steps[len(steps)-1])
		return winner, true
	}
	// Every address failed: report the most telling failure last. A host
	// that answers (refused, reset) says more than one that stays silent.
	best := 0
	for i, s := range steps {
		if rank(s.Outcome) < rank(steps[best].Outcome) {
			best = i
		}
	}
	steps = append(append(steps[:best:best], steps[best+1:]...), steps[best])
	a.res.Steps = append(a.res.Steps, steps[:len(steps)-1]...)
	a.record(steps[len(steps)-1])
	return nil, false
}

// connectsInFlight counts this process's TCP connects under way, every
// target's together.
var connectsInFlight atomic.Int64

// burstAt is how many connects under way make a burst of depprobe's own:
// a common listen backlog (nginx and Redis: 511; many servers: 128) is
// that size, and a burst of SYNs beyond it can overflow a server's
// queues, whose drops look like a firewall's.
const burstAt = 128

// burstError is a connect that failed while at least burstAt connects of
// this process were under way (its own included).
type burstError struct {
	err      error
	inFlight int64
}

func (e *burstError) Error() string { return e.err.Error() }
func (e *burstError) Unwrap() error { return e.err }

// dialTCP connects to addr, counting itself among the connects in flight.
// depprobe does not queue connects (a queue would make targets whose
// packets are dropped hold up the others); a timeout during a burst says
// so instead (see hint).
func dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	n := connectsInFlight.Add(1)
	defer connectsInFlight.Add(-1)
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil && n >= burstAt {
		err = &burstError{err: err, inFlight: n}
	}
	return conn, err
}

// rank orders the failures of one step from most to least telling: what
// waiting cannot fix, what the server said, then a host that answers
// (refused, reset) before one that stays silent.
func rank(o Outcome) int {
	switch o {
	case AuthFailed, CertInvalid:
		return 0
	case NotReady, Unexpected:
		return 1
	case Refused, NotFound:
		return 2
	case Reset, Closed, DNSError:
		return 3
	case Unreachable:
		return 4
	case Timeout:
		return 5
	}
	return 6
}

// converse runs the TLS and protocol steps on an established connection.
func (a *attempt) converse(ctx context.Context, conn net.Conn) {
	t := a.t
	if t.UntilDown {
		return // connected: up, which is all until=down asks
	}
	addr := a.res.Addr
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	// Unblock reads and writes when ctx is canceled before its deadline.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var tc *proto.TLSConn
	if t.scheme.tls {
		if !a.timed(ctx, TLS, addr, func() (err error) {
			tc, err = proto.Handshake(ctx, conn, t.in.TLS)
			if err == nil && t.check == nil {
				err = tc.Verdict(ctx) // tls:// sends nothing that would bring it (with send= alone, stream.Check awaits it)
			}
			return err
		}) {
			return
		}
		conn = tc
	}
	if t.check != nil {
		in := t.in
		in.UserAgent = t.userAgent()
		a.timed(ctx, Protocol, addr, func() error {
			err := t.check(ctx, conn, in)
			if tc != nil {
				err = tc.Explain(err)
			}
			return err
		})
	}
}

// portNumber is the port as a number; New has checked that it is one.
func (t *Target) portNumber() uint16 {
	p, _ := strconv.ParseUint(t.port, 10, 16)
	return uint16(p)
}

// classify names the outcome of a step's error from what the kernel, the
// resolver or the TLS stack said.
func classify(ctx context.Context, step Step, err error) Outcome {
	// errors.AsType rather than errors.As: no target escapes to the heap
	// (seven allocations of every failed attempt otherwise).
	if f, ok := errors.AsType[*proto.Failure](err); ok {
		return f.Outcome
	}
	if ctx.Err() == context.Canceled {
		return Canceled
	}
	if dnsErr, ok := errors.AsType[*net.DNSError](err); ok {
		switch {
		case dnsErr.IsNotFound:
			return NotFound
		case dnsErr.IsTimeout:
			return Timeout
		}
		return DNSError
	}
	switch {
	case isType[*tls.CertificateVerificationError](err), isType[x509.HostnameError](err), isType[x509.UnknownAuthorityError](err), isType[x509.CertificateInvalidError](err):
		return CertInvalid
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOENT) && step == Connect:
		// ENOENT: a unix socket that is not there yet, nothing listens.
		return Refused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return Reset
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EHOSTDOWN), errors.Is(err, syscall.ENETDOWN), errors.Is(err, syscall.EADDRNOTAVAIL):
		return Unreachable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, syscall.ETIMEDOUT), timedOut(err):
		return Timeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return Closed
	}
	// Anything else answered, but not as expected: a TLS alert, a
	// malformed reply.
	return Unexpected
}

// isType reports whether err's chain holds an E.
func isType[E error](err error) bool {
	_, ok := errors.AsType[E](err)
	return ok
}

// timedOut reports whether err's chain holds a net.Error that timed out.
func timedOut(err error) bool {
	netErr, ok := errors.AsType[net.Error](err)
	return ok && netErr.Timeout()
}
