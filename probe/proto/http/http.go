// Package http is the check of http:// and https:// targets: one GET on the
// ladder's connection and its status.
//
// It imports only probe/proto (and the standard library): it knows
// nothing of targets, retries or logs.
package http

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/depprobe/depprobe/probe/proto"
)

// Options are what an http:// or https:// target's options set. The zero
// value means the default status range.
type Options struct {
	// StatusMin and StatusMax are the ready status codes; zero: 200-399.
	StatusMin, StatusMax int
}

// Check sends one GET on the connection the ladder established and
// checks the status. The request is written by hand on that connection, so
// proxy variables (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) never apply: like the
// kubelet's probes, depprobe checks the dependency itself, not the way to
// it through a proxy. Redirects are not followed; a 3xx counts as ready in
// the default range 200-399, as the kubelet counts it
// (https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/#http-probes).
// The body is read (at most 64 KiB) and discarded, never echoed.
func Check(ctx context.Context, conn net.Conn, in proto.Input, opts Options) error {
	scheme := "http"
	if in.TLS != nil {
		scheme = "https"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+in.Authority+in.RequestURI, nil)
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
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
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
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))

	lo, hi := opts.StatusMin, opts.StatusMax
	if lo == 0 {
		lo, hi = 200, 399
	}
	switch code := resp.StatusCode; {
	case code >= lo && code <= hi:
		return nil
	case code == http.StatusServiceUnavailable:
		return proto.Failf(proto.NotReady, "HTTP %s (want %s)", resp.Status, statusRange(lo, hi))
	default:
		return proto.Failf(proto.Unexpected, "HTTP %s (want %s)", resp.Status, statusRange(lo, hi))
	}
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
