package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
)

// userAgent is sent with every HTTP and gRPC request: "depprobe/<version>",
// the version the caller set on the target (Target.Version).
func (t *Target) userAgent() string {
	if t.Version == "" {
		return "depprobe/(devel)"
	}
	return "depprobe/" + t.Version
}

// httpCheck sends one GET on the connection the ladder established and
// checks the status. The request is written by hand on that connection, so
// proxy variables (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) never apply: like the
// kubelet's probes, depprobe checks the dependency itself, not the way to
// it through a proxy. Redirects are not followed; a 3xx counts as ready in
// the default range 200-399, as the kubelet counts it
// (https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/#http-probes).
// The body is read (at most 64 KiB) and discarded, never echoed.
func httpCheck(ctx context.Context, conn net.Conn, t *Target) error {
	u := *t.url
	u.User, u.Fragment = nil, ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return failf(Unexpected, "build request: %v", unwrapURLError(err))
	}
	if t.url.User != nil {
		pw, _ := t.url.User.Password()
		req.SetBasicAuth(t.url.User.Username(), pw)
	}
	req.Header.Set("User-Agent", t.userAgent())
	req.Header.Set("Accept", "*/*")
	req.Close = true // a fresh connection per attempt
	if err := req.Write(conn); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fail(Closed, fmt.Errorf("connection closed before an HTTP response"))
		}
		if classify(ctx, Protocol, err) == Unexpected {
			// net/http quotes the malformed line whole; name a few
			// characters of it, like the other protocols, never more.
			return failf(Unexpected, "not an HTTP answer: %s", quoteReply(err.Error()))
		}
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))

	lo, hi := t.cfg.statusMin, t.cfg.statusMax
	if lo == 0 {
		lo, hi = 200, 399
	}
	switch code := resp.StatusCode; {
	case code >= lo && code <= hi:
		return nil
	case code == http.StatusServiceUnavailable:
		return failf(NotReady, "HTTP %s (want %s)", resp.Status, statusRange(lo, hi))
	default:
		return failf(Unexpected, "HTTP %s (want %s)", resp.Status, statusRange(lo, hi))
	}
}

func statusRange(lo, hi int) string {
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}
