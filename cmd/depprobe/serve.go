package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/depprobe/depprobe/probe"
	"github.com/depprobe/depprobe/readiness"
)

// Server limits: a kubelet probe or a Prometheus scrape is one small GET,
// so anything slower or bigger is a client holding the sidecar, not a user.
const (
	readHeaderTimeout = 2 * time.Second
	readTimeout       = 5 * time.Second
	writeTimeout      = 10 * time.Second // /metrics of 100 targets included
	// idleTimeout closes a kept-alive connection between requests: a
	// kubelet opens one per probe, and Prometheus reconnects at no cost.
	idleTimeout    = 5 * time.Second
	maxHeaderBytes = 8 << 10
	// maxConns caps the connections open at once (see connLimit): the
	// kubelet's probes and a scraper or two need a handful.
	maxConns = 64
	// shutdownGrace is how long requests in flight may finish after
	// SIGTERM; then the remaining connections are closed.
	shutdownGrace = 2 * time.Second
)

// serve probes the targets in the background and serves /readyz, /livez and
// /metrics on c.Listen until ctx is done (SIGTERM), then shuts down within
// shutdownGrace and returns nil: a sidecar that stops because it was told to
// exits 0. A dependency never makes it return. An address it cannot listen
// on is a usageError (exit 2): it is DEPPROBE_LISTEN that needs changing.
func serve(ctx context.Context, c config, targets []*probe.Target, log *slog.Logger) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", c.Listen)
	if err != nil {
		err = listenError(c.Listen, err)
		log.Error("cannot serve", slog.String("err", err.Error()))
		return usageError{err}
	}
	m, err := readiness.New(targets, readiness.Config{
		Policy:   c.policy(),
		Interval: c.Interval,
		Log:      log,
		Version:  versionString(),
	})
	if err != nil {
		ln.Close()
		log.Error("cannot serve", slog.String("err", err.Error()))
		return usageError{err}
	}
	log.Info("serving readiness of dependencies",
		slog.String("listen", ln.Addr().String()),
		slog.String("targets", describeTargets(targets)),
		slog.String("interval", c.Interval.String()),
		slog.String("attempt_timeout", c.AttemptTimeout.String()),
		slog.Int("max_timeouts", c.MaxTimeouts),
		slog.String("backoff", c.describeBackoff()),
	)
	srv, limited := httpServer(ln, m.Handler(), log)

	pctx, stopProbing := context.WithCancel(ctx)
	defer stopProbing()
	var wg sync.WaitGroup
	wg.Go(func() { m.Run(pctx) })
	served := make(chan error, 1)
	go func() { served <- srv.Serve(limited) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served: // Serve ends on its own only when accepting fails
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close() // requests still in flight after the grace period
	}
	if serveErr == nil {
		serveErr = <-served
	}
	stopProbing()
	wg.Wait()
	if !errors.Is(serveErr, http.ErrServerClosed) {
		log.Error("serving stopped", slog.String("err", serveErr.Error()))
		return errNotReady
	}
	log.Info("stopped", slog.String("reason", "signal"))
	return nil
}

// httpServer is serve's HTTP server for h, with its limits, and the
// listener of ln it must serve on.
func httpServer(ln net.Listener, h http.Handler, log *slog.Logger) (*http.Server, *connLimit) {
	limited := newConnLimit(ln, maxConns)
	return &http.Server{
		Handler:           h,
		ConnState:         limited.ConnState,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}, limited
}

// listenError says why DEPPROBE_LISTEN cannot be listened on, and what to
// change.
func listenError(addr string, err error) error {
	cause := err
	var oe *net.OpError
	if errors.As(err, &oe) {
		cause = oe.Err // without "listen tcp ADDR:", which the message says already
	}
	var what string
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		what = "another process listens there (in a pod, the containers share one network: maybe the app); set DEPPROBE_LISTEN to a free port"
	case errors.Is(err, syscall.EACCES):
		what = "a port below 1024 needs privileges that a nonroot container lacks; use a higher port, e.g. :3377"
	default:
		what = "set DEPPROBE_LISTEN to host:port or :port of this machine, e.g. :3377"
	}
	return fmt.Errorf("DEPPROBE_LISTEN=%q: cannot listen: %v: %s", addr, cause, what)
}
