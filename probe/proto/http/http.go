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
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"

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
// value means the default status range.
type Options struct {
	// StatusMin and StatusMax are the ready status codes; zero: 200-399.
	StatusMin, StatusMax int
	// ClusterHealth, "yellow" or "green", judges the answer as an
	// Elasticsearch or OpenSearch cluster health (see clusterHealth)
	// instead of by its status; a URL without a path asks for HealthPath.
	ClusterHealth string
}

// Check sends one GET on the connection the ladder established and
// checks the status. The request is written by hand on that connection, so
// proxy variables (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) never apply: like the
// kubelet's probes, depprobe checks the dependency itself, not the way to
// it through a proxy. Redirects are not followed; a 3xx counts as ready in
// the default range 200-399, as the kubelet counts it
// (https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/#http-probes).
// What a peer sends is bounded: the status line and the header block
// together at most MaxHead bytes (more is Unexpected), the body read up to
// MaxBody bytes and discarded, never echoed, and never drained: the ladder
// closes the connection. A body still arriving at the attempt's deadline is
// a timeout; a body that ends early or is malformed is not held against a
// status in range.
func Check(ctx context.Context, conn net.Conn, in proto.Input, opts Options) error {
	scheme := "http"
	if in.TLS != nil {
		scheme = "https"
	}
	uri := in.RequestURI
	if opts.ClusterHealth != "" && (in.Path == "" || in.Path == "/") {
		uri = HealthPath + uri[1:]
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+in.Authority+uri, nil)
	if err != nil {
		return proto.Failf(proto.Unexpected, "build request: %v", unwrapURLError(err))
	}
	if in.HasUser {
		req.SetBasicAuth(in.User, in.Password)
	}
	req.Header.Set("User-Agent", in.UserAgent)
	req.Header.Set("Accept", "*/*")
	req.Close = true // a fresh connection per attempt
	if err := req.Write(conn); err != nil {
		return err
	}
	lr := &io.LimitedReader{R: conn, N: MaxHead}
	resp, err := http.ReadResponse(bufio.NewReader(lr), req)
	if err != nil {
		if lr.N <= 0 {
			return proto.Failf(proto.Unexpected, "the status line and headers are longer than %d KiB", MaxHead>>10)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return proto.Fail(proto.Closed, fmt.Errorf("connection closed before an HTTP response"))
		}
		if !proto.Transport(err) {
			// net/http quotes the malformed line whole; name a few
			// characters of it, like the other protocols, never more.
			return proto.Failf(proto.Unexpected, "not an HTTP answer: %s", proto.QuoteReply(err.Error()))
		}
		return err
	}
	// Not resp.Body.Close: for a response read this way it reads the body
	// to its end, however long.
	lr.N = MaxBody
	var body bytes.Buffer
	sink := io.Discard
	if opts.ClusterHealth != "" {
		sink = &body
	}
	if _, err := io.Copy(sink, resp.Body); errors.Is(err, os.ErrDeadlineExceeded) {
		return err // still arriving at the deadline
	}
	if opts.ClusterHealth != "" {
		return clusterHealth(in, resp.StatusCode, resp.Status, body.Bytes(), opts.ClusterHealth)
	}

	lo, hi := opts.StatusMin, opts.StatusMax
	if lo == 0 {
		lo, hi = 200, 399
	}
	code := resp.StatusCode
	if code >= lo && code <= hi {
		return nil
	}
	err = fmt.Errorf("HTTP %s (want %s)", proto.ServerText(resp.Status), statusRange(lo, hi))
	if code == http.StatusServiceUnavailable {
		return proto.Fail(proto.NotReady, err)
	}
	return proto.FailHint(proto.Unexpected, statusHint(in, code, lo, hi), err)
}

// statusHint says what a status out of range points at. The path is named
// without the query, which may hold a token.
func statusHint(in proto.Input, code, lo, hi int) string {
	path := in.Path
	if path == "" {
		path = "/"
	}
	switch {
	case code == http.StatusNotFound || code == http.StatusGone:
		return fmt.Sprintf("%s answers HTTP, but has nothing at %s: is the path right (and the server the one meant: another app on this port answers 404 too)?", in.Addr, path)
	case code == http.StatusUnauthorized || code == http.StatusProxyAuthRequired:
		if in.HasUser {
			return fmt.Sprintf("%s rejected the credentials in the URL for %s: check the user and password", in.Addr, path)
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

// unwrapURLError drops url.Error's copy of the URL, which may hold a secret.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
