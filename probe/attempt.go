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
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/depprobe/depprobe/probe/proto"
)

// Probe makes one attempt: it climbs the ladder once and returns the typed
// result. It obeys ctx's deadline (callers give every attempt its own, see
// Wait) and never returns before every connection it opened is closed. It is
// safe to call concurrently.
func (t *Target) Probe(ctx context.Context) Result {
	a := attempt{t: t, res: Result{Target: t.Name, URL: t.URL(), Host: t.Address(), Start: time.Now()}}
	if t.scheme.network == "dns" {
		a.res.Host = t.host
	}
	if deadline, ok := ctx.Deadline(); ok {
		a.res.Limit = deadline.Sub(a.res.Start)
	}
	a.run(ctx)
	r := a.res
	r.Duration = time.Since(r.Start)
	if r.Outcome == "" {
		r.Outcome = OK
	}
	if r.Outcome != OK {
		if ctx.Err() == context.Canceled {
			r.Outcome = Canceled
		}
		r.Hint = hint(t, r)
	}
	return r
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
	}
	return a.record(s)
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
		a.explain(ctx)
		return
	}
	if t.scheme.network == "dns" {
		return
	}
	conn, ok := a.connect(ctx, addrs)
	if !ok {
		a.explain(ctx)
		return
	}
	defer conn.Close()
	a.converse(ctx, conn)
}

// resolve turns the host into addresses; an IP literal is its own answer.
func (a *attempt) resolve(ctx context.Context) ([]netip.Addr, bool) {
	t := a.t
	if ip, err := netip.ParseAddr(t.host); err == nil {
		a.res.Addrs = []string{ip.Unmap().String()}
		return []netip.Addr{ip.Unmap()}, a.record(StepResult{Step: Resolve, Addr: ip.String(), Outcome: OK})
	}
	r := t.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	var addrs []netip.Addr
	ok := a.timed(ctx, Resolve, t.host, func() (err error) {
		addrs, err = r.LookupNetIP(ctx, "ip", t.host)
		if err == nil && len(addrs) == 0 {
			err = proto.Fail(DNSError, fmt.Errorf("lookup %s: no addresses", t.host))
		}
		return err
	})
	for i, ip := range addrs {
		addrs[i] = ip.Unmap()
		a.res.Addrs = append(a.res.Addrs, addrs[i].String())
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
			conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
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
			conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
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

// rank orders connect failures from most to least telling.
func rank(o Outcome) int {
	switch o {
	case Refused:
		return 0
	case Reset, Closed:
		return 1
	case Unreachable:
		return 2
	case Timeout:
		return 3
	}
	return 4
}

// converse runs the TLS and protocol steps on an established connection.
func (a *attempt) converse(ctx context.Context, conn net.Conn) {
	t := a.t
	addr := a.res.Addr
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	// Unblock reads and writes when ctx is canceled before its deadline.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if t.scheme.tls {
		tc := tls.Client(conn, t.in.TLS)
		if !a.timed(ctx, TLS, addr, func() error { return tc.HandshakeContext(ctx) }) {
			return
		}
		conn = tc
	}
	if t.check != nil {
		in := t.in
		in.UserAgent = t.userAgent()
		a.timed(ctx, Protocol, addr, func() error { return t.check(ctx, conn, in) })
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
	var (
		f       *proto.Failure
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		hostErr x509.HostnameError
		uaErr   x509.UnknownAuthorityError
		invErr  x509.CertificateInvalidError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &f):
		return f.Outcome
	case ctx.Err() == context.Canceled:
		return Canceled
	case errors.As(err, &dnsErr):
		switch {
		case dnsErr.IsNotFound:
			return NotFound
		case dnsErr.IsTimeout:
			return Timeout
		}
		return DNSError
	case errors.As(err, &certErr), errors.As(err, &hostErr), errors.As(err, &uaErr), errors.As(err, &invErr):
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
		errors.Is(err, syscall.ETIMEDOUT), errors.As(err, &netErr) && netErr.Timeout():
		return Timeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return Closed
	}
	// Anything else answered, but not as expected: a TLS alert, a
	// malformed reply.
	return Unexpected
}
