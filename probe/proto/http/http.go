// Package http is the check of http:// and https:// targets: one GET on the
// ladder's connection and its status.
//
// It imports only probe/proto (and the standard library): it knows
// nothing of targets, retries or logs.
package http

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/depprobe/depprobe/probe/proto"
)

// Limits on what a server sends. net/http's own server allows 1 MiB of
// request headers and its client 10 MiB of response headers; a health
// endpoint's answer is a few hundred bytes, and the kubelet's prober keeps
// 10 KiB of the body. 64 KiB each leaves room for any real answer and bounds
// an attempt's memory.
const (
	MaxHead = 64 << 10 // status line and headers, together
	MaxBody = 64 << 10 // body bytes read (the rest is never read)
)

// Options are what an http:// or https:// target's options set. The zero
// value is a GET judged by the default status range.
type Options struct {
	// StatusMin and StatusMax are the ready status codes; zero: 200-399.
	StatusMin, StatusMax int
	// ClusterHealth, "yellow" or "green", judges the answer as an
	// Elasticsearch or OpenSearch cluster health (see clusterHealth)
	// instead of by its status; a URL without a path asks for HealthPath.
	ClusterHealth string
	// Method is GET (the zero value), HEAD or POST.
	Method string
	// Body is body='s request body, a secret; BodyFile is body_file='s
	// path, read at every attempt. Either one makes the method POST.
	Body     []byte
	BodyFile string
	// Headers are header='s request headers; their values are secrets.
	Headers []proto.Header
	// Expect are expect= and expect_re=: the body must match each.
	Expect []proto.Expect
	// JSON are json=: the body is JSON with each value at its path.
	JSON []JSONWant
	// ExpectHeaders are expect_header=: response headers that must be
	// there (and hold a value).
	ExpectHeaders []HeaderWant
	// Redirects is how many redirects to follow; 0: none (a 3xx is judged
	// by the status range, ready in the default one).
	Redirects int
}

// MaxRedirects caps redirects=.
const MaxRedirects = 10

// MaxBodyFile caps body_file= (and body=): a request body for a health
// check is small.
const MaxBodyFile = 64 << 10

// Validate checks what the options say together: a body goes with POST
// (and makes it the method when none is given), HEAD has no body to
// expect anything of. It is a configuration check.
func (o *Options) Validate() error {
	hasBody := o.Body != nil || o.BodyFile != ""
	switch {
	case o.Body != nil && o.BodyFile != "":
		return errors.New("give body= or body_file=, not both")
	case hasBody && o.Method == "":
		o.Method = http.MethodPost
	case hasBody && o.Method != http.MethodPost:
		return fmt.Errorf("body= and body_file= go with method=POST, not %s", o.Method)
	}
	if o.Method == http.MethodHead && (len(o.Expect) > 0 || len(o.JSON) > 0 || o.ClusterHealth != "") {
		return errors.New("an answer to HEAD has no body: expect=, expect_re=, json= and cluster_health= need GET or POST")
	}
	return nil
}

// HeaderWant is option expect_header=: `Name:value` (the response has
// header Name, and one of its values contains value) or `Name` (it has
// the header).
type HeaderWant struct{ Name, Value string }

// ParseHeaderWant reads option expect_header='s value.
func ParseHeaderWant(s string) (HeaderWant, error) {
	name, value, _ := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if name == "" || strings.ContainsAny(name, " \t\r\n") {
		return HeaderWant{}, errors.New("write Name or Name:value, e.g. X-Ready:yes")
	}
	v, err := proto.Unescape(value)
	if err != nil {
		return HeaderWant{}, err
	}
	return HeaderWant{Name: http.CanonicalHeaderKey(name), Value: v}, nil
}

// Match checks a response's headers. A found value is shown cut to
// proto.FoundMax bytes, and not at all for headers that carry
// credentials (cookies, tokens).
func (w HeaderWant) Match(h http.Header) error {
	vals := h.Values(w.Name)
	want := "header " + w.Name
	if w.Value != "" {
		want += " to contain " + strconv.Quote(w.Value)
	}
	if len(vals) == 0 {
		return fmt.Errorf("expected %s, found no such header", want)
	}
	for _, v := range vals {
		if strings.Contains(v, w.Value) {
			return nil
		}
	}
	if sensitiveHeader(w.Name) {
		return fmt.Errorf("expected %s, found a value of %d bytes", want, len(vals[0]))
	}
	return fmt.Errorf("expected %s, found %s", want, proto.Found([]byte(vals[0])))
}

// sensitiveHeader reports whether a response header's value may be a
// credential.
func sensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	return n == "set-cookie" || n == "authorization" || n == "proxy-authenticate" || n == "www-authenticate" ||
		strings.Contains(n, "token") || strings.Contains(n, "key") || strings.Contains(n, "secret") || strings.Contains(n, "session")
}

// Check sends one request (GET, or method=) on the connection the ladder
// established and judges the answer: the status, then expect_header=,
// expect=, expect_re= and json=, in that order. The request is written by
// hand on that connection, so proxy variables (HTTP_PROXY, HTTPS_PROXY,
// NO_PROXY) never apply: like the kubelet's probes, depprobe checks the
// dependency itself, not the way to it through a proxy. Redirects are not
// followed unless redirects= says so; a 3xx counts as ready in the default
// range 200-399, as the kubelet counts it
// (https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/#http-probes).
// What a peer sends is bounded: the status line and the header block
// together at most MaxHead bytes (more is Unexpected), the body read up to
// MaxBody bytes, never echoed (a mismatch shows at most proto.FoundMax
// bytes of it), and never drained: the ladder closes the connection. A body
// still arriving at the attempt's deadline is a timeout; a body that ends
// early or is malformed is not held against a status in range.
func Check(ctx context.Context, conn net.Conn, in proto.Input, opts Options) error {
	scheme := "http"
	if in.TLS != nil {
		scheme = "https"
	}
	uri := in.RequestURI
	if opts.ClusterHealth != "" && (in.Path == "" || in.Path == "/") {
		uri = HealthPath + uri[1:]
	}
	u, err := url.Parse(scheme + "://" + in.Authority + uri)
	if err != nil {
		return proto.Failf(proto.Unexpected, "build request: %v", proto.UnwrapURLError(err))
	}
	method := opts.Method
	if method == "" {
		method = http.MethodGet
	}
	body, err := opts.body()
	if err != nil {
		return proto.Fail(proto.Unexpected, err)
	}
	keep := len(opts.Expect) > 0 || len(opts.JSON) > 0 || opts.ClusterHealth != ""
	origin := u
	for hop := 0; ; hop++ {
		req, err := opts.request(ctx, in, u, method, body, sameOrigin(u, origin))
		if err != nil {
			return err
		}
		resp, got, err := exchange(conn, req, keep)
		if err != nil {
			return err
		}
		loc := resp.Header.Get("Location")
		if opts.Redirects > 0 && isRedirect(resp.StatusCode) && loc != "" {
			if hop == opts.Redirects {
				return proto.FailHint(proto.Unexpected,
					fmt.Sprintf("%s redirects more than redirects=%d times: raise redirects=, or probe the final URL", in.Addr, opts.Redirects),
					fmt.Errorf("HTTP %s after %d redirects, the last to %s", proto.ServerText(resp.Status), hop, proto.RedactURL(u)))
			}
			next, err := u.Parse(loc)
			if err != nil || next.Scheme != "http" && next.Scheme != "https" || next.Host == "" {
				return proto.Failf(proto.Unexpected, "HTTP %s redirects to a URL depprobe cannot follow: %s", proto.ServerText(resp.Status), proto.QuoteReply(loc))
			}
			if resp.StatusCode == http.StatusSeeOther || method == http.MethodPost && resp.StatusCode <= http.StatusFound {
				method, body = http.MethodGet, nil // as browsers and curl -L do
			}
			if conn, err = dial(ctx, in, next, origin); err != nil {
				return err
			}
			defer conn.Close() // a redirect's own connection (the ladder closes the first)
			u = next
			continue
		}
		// Credentials went along when the request carried an
		// Authorization header: the URL's user info or header='s.
		err = opts.judge(in, resp, got, req.Header.Get("Authorization") != "")
		if err != nil && hop > 0 {
			var f *proto.Failure
			if errors.As(err, &f) {
				f.Err = fmt.Errorf("%w (at %s after %d redirects)", f.Err, proto.RedactURL(u), hop)
			}
		}
		return err
	}
}

// body is the request body: body=, or body_file= read now.
func (o Options) body() ([]byte, error) {
	if o.BodyFile == "" {
		return o.Body, nil
	}
	return ReadBodyFile(o.BodyFile)
}

// ReadBodyFile reads body_file= (at most MaxBodyFile bytes); its errors
// name the file, never its content.
func ReadBodyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("body_file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxBodyFile+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("body_file: %w", err)
	case len(b) > MaxBodyFile:
		return nil, fmt.Errorf("body_file %s is larger than %d KiB", path, MaxBodyFile>>10)
	}
	return b, nil
}

// request builds one request to u. The URL's credentials and header= go
// only to the target's own origin: a redirect elsewhere does not carry
// them, as curl and browsers do.
func (o Options) request(ctx context.Context, in proto.Input, u *url.URL, method string, body []byte, own bool) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, proto.Failf(proto.Unexpected, "build request: %v", proto.UnwrapURLError(err))
	}
	req.Header.Set("User-Agent", in.UserAgent)
	req.Header.Set("Accept", "*/*")
	req.Close = true // a fresh connection per attempt
	if !own {
		return req, nil
	}
	if in.HasUser {
		req.SetBasicAuth(in.User, in.Password)
	}
	set := http.Header{}
	for _, h := range o.Headers {
		v, err := h.Value()
		if err != nil {
			return nil, proto.Fail(proto.Unexpected, err)
		}
		if h.Name == "Host" {
			req.Host = v
			continue
		}
		set.Add(h.Name, v)
	}
	for name, vals := range set {
		req.Header[name] = vals // header= replaces the probe's own (User-Agent, Accept)
	}
	return req, nil
}

// exchange writes req and reads the answer: the response, and the first
// MaxBody bytes of its body when keep (else they are read and dropped).
func exchange(conn net.Conn, req *http.Request, keep bool) (*http.Response, []byte, error) {
	if err := req.Write(conn); err != nil {
		return nil, nil, err
	}
	lr := &io.LimitedReader{R: conn, N: MaxHead}
	resp, err := http.ReadResponse(bufio.NewReader(lr), req)
	if err != nil {
		if lr.N <= 0 {
			return nil, nil, proto.Failf(proto.Unexpected, "the status line and headers are longer than %d KiB", MaxHead>>10)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, nil, proto.Fail(proto.Closed, fmt.Errorf("connection closed before an HTTP response"))
		}
		if !proto.Transport(err) {
			// net/http quotes the malformed line whole; name a few
			// characters of it, like the other protocols, never more.
			return nil, nil, proto.Failf(proto.Unexpected, "not an HTTP answer: %s", proto.QuoteReply(err.Error()))
		}
		return nil, nil, err
	}
	// Not resp.Body.Close: for a response read this way it reads the body
	// to its end, however long.
	lr.N = MaxBody
	var body bytes.Buffer
	sink := io.Discard
	if keep {
		sink = &body
	}
	if _, err := io.Copy(sink, resp.Body); errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, nil, err // still arriving at the deadline
	}
	return resp, body.Bytes(), nil
}

// judge decides on an answer: the status range (or cluster_health=),
// then the expectations. A mismatch is not_ready: the server answers, not
// yet what the options want. creds tells whether the request carried
// credentials: a 401 to it is auth_failed, as the databases' refusals
// are; a 401 to a request without them is unexpected (the hint says
// how to give them).
func (o Options) judge(in proto.Input, resp *http.Response, body []byte, creds bool) error {
	if o.ClusterHealth != "" {
		return clusterHealth(in, resp.StatusCode, resp.Status, body, o.ClusterHealth, creds)
	}
	lo, hi := o.StatusMin, o.StatusMax
	if lo == 0 {
		lo, hi = 200, 399
	}
	code := resp.StatusCode
	if code < lo || code > hi {
		err := fmt.Errorf("HTTP %s (want %s)", proto.ServerText(resp.Status), statusRange(lo, hi))
		switch {
		case code == http.StatusServiceUnavailable:
			return proto.Fail(proto.NotReady, err)
		case code == http.StatusUnauthorized && creds:
			return proto.FailHint(proto.AuthFailed, statusHint(in, code, lo, hi, creds), err)
		}
		return proto.FailHint(proto.Unexpected, statusHint(in, code, lo, hi, creds), err)
	}
	mismatch := func(option string, err error) error {
		return proto.FailHint(proto.NotReady,
			fmt.Sprintf("%s answers %d, not yet as %s wants: wait, or compare it with the answer", in.Addr, code, option),
			fmt.Errorf("HTTP %d, %w", code, err))
	}
	for _, w := range o.ExpectHeaders {
		if err := w.Match(resp.Header); err != nil {
			return mismatch("expect_header=", err)
		}
	}
	for _, e := range o.Expect {
		if err := e.Match("the body", body); err != nil {
			return mismatch(e.Option(), err)
		}
	}
	for _, j := range o.JSON {
		if err := j.Match(body); err != nil {
			return mismatch("json=", err)
		}
	}
	return nil
}

// isRedirect reports whether a status sends the client elsewhere.
func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// sameOrigin reports whether two URLs have one scheme, host and port.
func sameOrigin(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && strings.EqualFold(a.Host, b.Host)
}

// dial opens a redirect's own connection to u (with TLS for https: the
// target's TLS options for its own origin, the system's CAs for another),
// with the attempt's deadline.
func dial(ctx context.Context, in proto.Input, u, origin *url.URL) (net.Conn, error) {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		if proto.IsTimeout(err) {
			return nil, err
		}
		return nil, proto.Failf(proto.Unexpected, "following a redirect to %s: %v", proto.RedactURL(u), cause(err))
	}
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	if u.Scheme == "http" {
		return conn, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if in.TLS != nil && sameOrigin(u, origin) {
		c = in.TLS
	} else if in.TLS != nil {
		c = in.TLS.Clone()
		c.ServerName, c.RootCAs, c.Certificates = "", nil, nil // another host: its own name, the system's CAs, no client certificate
	}
	if c.ServerName == "" {
		c = c.Clone()
		c.ServerName = u.Hostname()
	}
	tc := tls.Client(conn, c)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("following a redirect to %s: %w", proto.RedactURL(u), err)
	}
	return tc, nil
}

// cause is the innermost words of a dial error: "connection refused".
func cause(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// statusHint says what a status out of range points at; creds tells
// whether the request carried credentials. The path is named without the
// query, which may hold a token.
func statusHint(in proto.Input, code, lo, hi int, creds bool) string {
	path := in.Path
	if path == "" {
		path = "/"
	}
	switch {
	case code == http.StatusNotFound || code == http.StatusGone:
		return fmt.Sprintf("%s answers HTTP, but has nothing at %s: is the path right (and the server the one meant: another app on this port answers 404 too)?", in.Addr, path)
	case code == http.StatusUnauthorized || code == http.StatusProxyAuthRequired:
		if creds {
			return fmt.Sprintf("%s rejected the credentials sent for %s (the URL's user and password, or header=Authorization:): check them; waiting will not fix this", in.Addr, path)
		}
		return fmt.Sprintf("%s wants credentials for %s: give them in the URL (https://user:password@host/…), or probe a path that needs none", in.Addr, path)
	case code == http.StatusForbidden:
		return fmt.Sprintf("%s forbids %s to this client: credentials, an allow-list of addresses, or the path; probe a path meant for health checks", in.Addr, path)
	case code >= 500:
		return fmt.Sprintf("%s answered with its own error at %s: the application is up but failing; its logs say why", in.Addr, path)
	case code >= 300 && code < 400:
		return fmt.Sprintf("%s redirects %s elsewhere (redirects are not followed): probe the final URL, or widen status= (now %s)", in.Addr, path, statusRange(lo, hi))
	case code >= 200 && code < 300:
		return fmt.Sprintf("%s answered %d, outside status=%s: widen status= if that answer means ready", in.Addr, code, statusRange(lo, hi))
	}
	return fmt.Sprintf("%s refused the request for %s (HTTP %d): is the path right, and does the endpoint answer a plain GET?", in.Addr, path, code)
}

func statusRange(lo, hi int) string {
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}
