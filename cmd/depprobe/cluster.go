package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/depprobe/depprobe/internal/kube"
	"github.com/depprobe/depprobe/probe"
	"github.com/depprobe/depprobe/probe/proto"
)

// serviceAccountDir is where Kubernetes mounts the pod's service account
// (token, ca.crt, namespace). Tests point it at files of their own.
var serviceAccountDir = kube.ServiceAccountDir

// inCluster builds the Kubernetes API client when depprobe runs in a pod
// with a service account: KUBERNETES_SERVICE_HOST and _PORT, and the
// account's token, CA and namespace files. When it does not, it returns
// nil and why, in a few words.
func inCluster(env map[string]string, log *slog.Logger) (*kube.Client, string) {
	host, port := env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]
	if host == "" || port == "" {
		return nil, "not in a Kubernetes pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set)"
	}
	ns, err := os.ReadFile(filepath.Join(serviceAccountDir, "namespace"))
	if err != nil {
		return nil, fmt.Sprintf("no service account in this pod (%v): is automountServiceAccountToken false?", errors.Unwrap(err))
	}
	pod := env["DEPPROBE_POD_NAME"]
	if pod == "" {
		pod = env["HOSTNAME"] // the pod's name, unless spec.hostname or hostNetwork changed it
	}
	c, err := kube.New(kube.Config{
		Host:      host,
		Port:      port,
		TokenFile: filepath.Join(serviceAccountDir, "token"),
		CAFile:    filepath.Join(serviceAccountDir, "ca.crt"),
		Namespace: strings.TrimSpace(string(ns)),
		Pod:       pod,
		UserAgent: "depprobe/" + versionString(),
		Log:       log,
	})
	if err != nil {
		return nil, fmt.Sprintf("the service account cannot be used: %v", err)
	}
	return c, ""
}

// attachCluster gives every target its way to the Kubernetes API, when
// there is one: a k8s:// target always, the others for the cluster step
// when diagnose (DEPPROBE_KUBE_DIAGNOSIS) is true. A k8s:// target without
// one is a configuration error; without one, the other targets are probed
// as they would be anywhere, and one debug line says why there is no
// cluster step.
func attachCluster(client *kube.Client, why string, targets []*probe.Target, diagnose bool, log *slog.Logger) error {
	var errs []error
	for _, t := range targets {
		if _, ok := t.Object(); ok && client == nil {
			errs = append(errs, fmt.Errorf("%s: %q: k8s:// asks the Kubernetes API, and there is none: %s", t.Source(), t.URL(), why))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if client != nil && !diagnose {
		why = "DEPPROBE_KUBE_DIAGNOSIS=false"
	}
	if client == nil || !diagnose {
		log.Debug("no cluster step", slog.String("reason", why))
	}
	if client == nil {
		return nil
	}
	for _, t := range targets {
		a := &clusterAPI{client: client, th: kube.NewThrottle(nil), log: log.With(slog.String("target", t.Name))}
		if _, ok := t.Object(); !ok {
			if !diagnose {
				continue
			}
			host, port := splitHostPort(t.Hosts())
			a.ref, a.service = kube.ServiceHost(host, client.Namespace())
			a.ref.Port = port
		}
		t.API = a
	}
	return nil
}

func splitHostPort(hosts []string) (string, int) {
	if len(hosts) == 0 {
		return "", 0
	}
	h, p, _ := net.SplitHostPort(hosts[0])
	n, _ := strconv.Atoi(p)
	return h, n
}

// clusterAPI is one target's probe.API: internal/kube's answers in probe's
// words, its lookups spaced by a kube.Throttle. It is safe for concurrent
// use, as probe.API must be (the hosts of a multi-host URL explain at once).
type clusterAPI struct {
	client  *kube.Client
	th      *kube.Throttle
	log     *slog.Logger
	ref     kube.ServiceRef
	service bool // the target's host is a Service name

	mu       sync.Mutex
	lastSkip string // the last reason logged for a skipped cluster step
}

// Explain is probe's cluster step for a Service name.
func (a *clusterAPI) Explain(ctx context.Context, failed probe.Result) (probe.Finding, bool) {
	if !a.service {
		return probe.Finding{}, false
	}
	sym := kube.Symptom{Step: string(failed.Step), Outcome: string(failed.Outcome)}
	f, err := a.th.Lookup(sym.Step+" "+sym.Outcome, func() (kube.Finding, error) {
		return a.client.ExplainService(ctx, a.ref, sym)
	})
	if err != nil {
		a.skipped(err)
		return probe.Finding{}, false
	}
	return finding(f), true
}

// skipped logs why the cluster step had nothing to say, once per reason
// in a row.
func (a *clusterAPI) skipped(err error) {
	why := err.Error()
	a.mu.Lock()
	defer a.mu.Unlock()
	if why != a.lastSkip && !errors.Is(err, kube.ErrNothing) {
		a.lastSkip = why
		a.log.Debug("cluster step skipped", slog.String("reason", why))
	}
}

// Check is the one step of a k8s:// target.
func (a *clusterAPI) Check(ctx context.Context, o probe.Object) (probe.Finding, error) {
	ko := kube.Object{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Selector: o.Selector, Port: o.Port}
	f, err := a.client.Check(ctx, ko, a.th)
	var (
		fe *kube.ForbiddenError
		se *kube.StatusError
		ae *kube.APIError
	)
	switch {
	case errors.As(err, &fe):
		ns := o.Namespace
		if ns == "" {
			ns = a.client.Namespace()
		}
		return probe.Finding{}, proto.FailHint(proto.Forbidden, kube.ForbiddenHint(fe, o.Kind, ns), fe)
	case errors.As(err, &se):
		return probe.Finding{}, proto.Fail(proto.Unexpected, se)
	case errors.As(err, &ae):
		return probe.Finding{}, ae // the ladder classifies the transport's error
	case err != nil:
		return probe.Finding{}, err
	}
	return finding(f), nil
}

func finding(f kube.Finding) probe.Finding {
	return probe.Finding{Cause: string(f.Cause), Namespace: f.Namespace, Object: f.Object, Text: f.Text, Hint: f.Hint, Certain: f.Certain}
}
