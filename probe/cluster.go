package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/depprobe/depprobe/probe/proto"
)

// API is what a target asks of the Kubernetes API. The command gives
// each target one when depprobe runs in a pod with a service account
// (internal/kube implements it); nil means no API: no cluster step, and a
// k8s:// target cannot be checked. An API may keep state (the spacing of
// its lookups, what an earlier lookup found), and must be safe for
// concurrent use: a target whose URL names several hosts calls Explain
// from each host's climb at once, and targets may share one API. Its
// methods must obey ctx.
type API interface {
	// Explain is asked after a failed resolve or connect, with the failed
	// result; it returns what the API says one level up (the Service has
	// no ready endpoint, its pods crash), or ok false when it has nothing
	// to add: the host is no Service name, the API forbids the lookup or
	// did not answer. It may answer with what an earlier lookup found,
	// to spare the API.
	Explain(ctx context.Context, failed Result) (f Finding, ok bool)
	// Check asks whether a k8s:// target's object is ready: a Finding
	// whose Cause is "ready", or one that says why not. Its error is the
	// API's: one wrapping a *proto.Failure of outcome Forbidden for a 403
	// (the failure's hint names the Role rules), or the transport's.
	Check(ctx context.Context, obj Object) (Finding, error)
}

// Object is what a k8s:// target waits for.
type Object struct {
	Kind      string // service, job, deployment, statefulset or pods
	Namespace string // empty: depprobe's own
	Name      string // empty for pods
	Selector  string // pods: a label selector, key=value[,key=value...]
	Port      string // service: the port's name or number; empty: any
}

// ClusterTimeout is the time limit of the cluster step after a failed
// resolve or connect. It is the step's own, not taken from the attempt's
// time limit (a connect that timed out has spent that).
const ClusterTimeout = 2 * time.Second

// Paces of a k8s:// target: its attempts ask the API server, which the
// attempts of every waiting pod share, so they come at least a second
// apart, backing off to ten.
const (
	APIBackoffInitial = time.Second
	APIBackoffMax     = 10 * time.Second
)

// explain adds the cluster step after a failed resolve or connect, when
// the target has an API and the API has something to say.
func (a *attempt) explain(ctx context.Context) {
	t := a.t
	if t.API == nil || t.object != nil || (a.res.Step != Resolve && a.res.Step != Connect) || ctx.Err() == context.Canceled {
		return
	}
	// Its own time limit, on a context that the attempt's deadline does
	// not end, but a cancellation (shutdown) does.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ClusterTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if ctx.Err() == context.Canceled {
			cancel()
		}
	})
	defer stop()
	start := time.Now()
	f, ok := t.API.Explain(cctx, a.res)
	if !ok {
		return
	}
	a.res.Finding = &f
	a.res.Steps = append(a.res.Steps, StepResult{
		Step:     Cluster,
		Addr:     f.Object,
		Duration: time.Since(start),
		Outcome:  a.res.Outcome, // what it explains: the attempt's outcome stays the socket's
		Err:      errors.New(f.Text),
	})
}

// checkObject is the one step of a k8s:// target.
func (a *attempt) checkObject(ctx context.Context) {
	t := a.t
	a.timed(ctx, Cluster, t.Address(), func() error {
		if t.API == nil {
			return proto.Failf(Unexpected, "no Kubernetes API to ask: depprobe does not run in a pod with a service account")
		}
		f, err := t.API.Check(ctx, *t.object)
		if err != nil {
			return err
		}
		if f.Cause == "ready" {
			return nil
		}
		a.res.Finding = &f
		return proto.FailHint(NotReady, f.Hint, errors.New(f.Text))
	})
}

// Object is the object a k8s:// target waits for; ok false for any other
// target.
func (t *Target) Object() (Object, bool) {
	if t.object == nil {
		return Object{}, false
	}
	return *t.object, true
}

// apiPaced is the backoff of a k8s:// target: b, but at least
// APIBackoffInitial..APIBackoffMax.
func apiPaced(b Backoff) Backoff {
	b.Initial = max(b.Initial, APIBackoffInitial)
	b.Max = max(b.Max, APIBackoffMax)
	b.Multiplier = max(b.Multiplier, 2)
	return b
}

// kindOf is the kind a k8s:// URL names, as kubectl names it (a switch, not
// a map: a map is built at every start, and most runs never see k8s://).
func kindOf(s string) (string, bool) {
	switch s {
	case "service", "services", "svc":
		return "service", true
	case "job", "jobs":
		return "job", true
	case "deployment", "deployments", "deploy":
		return "deployment", true
	case "statefulset", "statefulsets", "sts":
		return "statefulset", true
	case "pods", "pod", "po":
		return "pods", true
	}
	return "", false
}

// parseObject checks a k8s:// URL's kind and name and its options:
// k8s://KIND/NAME [namespace=NS] (service: [port=NAME|NUMBER]), or
// k8s://pods selector=KEY=VALUE[,KEY=VALUE...] [namespace=NS].
func parseObject(host, path string, hasPort bool, opts map[string]string) (*Object, []error) {
	var errs []error
	kind, ok := kindOf(host)
	if !ok {
		return nil, []error{fmt.Errorf("unknown kind %q: write k8s://service/NAME, k8s://job/NAME, k8s://deployment/NAME, k8s://statefulset/NAME or k8s://pods selector=KEY=VALUE", host)}
	}
	o := &Object{Kind: kind, Namespace: opts["namespace"], Port: opts["port"], Selector: opts["selector"]}
	name := trimSlash(path)
	switch {
	case hasPort:
		errs = append(errs, errors.New("a k8s:// URL has no port: for a Service's port write port=NAME"))
	case kind == "pods" && name != "":
		errs = append(errs, fmt.Errorf("pods are chosen by labels, not by name: write k8s://pods selector=KEY=VALUE"))
	case kind == "pods" && o.Selector == "":
		errs = append(errs, errors.New("k8s://pods needs selector=KEY=VALUE[,KEY=VALUE...]"))
	case kind != "pods" && !dnsName(name, 253):
		errs = append(errs, fmt.Errorf("%s name %q: write k8s://%s/NAME, NAME of lowercase letters, digits, '-' and '.'", kind, name, kind))
	}
	if err := checkSelector(o.Selector); o.Selector != "" && err != nil {
		errs = append(errs, fmt.Errorf("option selector=%q: %v", o.Selector, err))
	}
	if o.Selector != "" && kind != "pods" {
		errs = append(errs, fmt.Errorf("option selector= is for k8s://pods; a %s is named", kind))
	}
	if o.Port != "" && kind != "service" {
		errs = append(errs, fmt.Errorf("option port= is for k8s://service"))
	}
	if o.Namespace != "" && (!dnsName(o.Namespace, 63) || containsDot(o.Namespace)) {
		errs = append(errs, fmt.Errorf("option namespace=%q: a namespace is lowercase letters, digits and '-'", o.Namespace))
	}
	if kind != "pods" {
		o.Name = name
	}
	return o, errs
}

func trimSlash(p string) string {
	if len(p) > 0 && p[0] == '/' {
		return p[1:]
	}
	return p
}

func containsDot(s string) bool { return strings.Contains(s, ".") }

// dnsName reports whether s is a DNS subdomain of at most max bytes, as
// Kubernetes names most objects.
func dnsName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
			continue
		}
		label := s[start:i]
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' || len(label) > 63 {
			return false
		}
		start = i + 1
	}
	return true
}

// checkSelector checks a label selector as kubectl -l writes it, the
// equality-based forms: key=value, key==value, key!=value, key, !key,
// separated by commas. (Set-based forms, `key in (a,b)`, need blanks,
// which separate options.)
func checkSelector(sel string) error {
	for _, req := range strings.Split(sel, ",") {
		key, value, op := req, "", ""
		for _, o := range []string{"!=", "==", "="} {
			if k, v, ok := strings.Cut(req, o); ok {
				key, value, op = k, v, o
				break
			}
		}
		if op == "" {
			key = strings.TrimPrefix(key, "!")
		}
		prefix, name, hasPrefix := strings.Cut(key, "/")
		if !hasPrefix {
			prefix, name = "", key
		}
		if hasPrefix && !dnsName(prefix, 253) || !labelValue(name) || name == "" {
			return fmt.Errorf("label key %q: want [prefix/]name, the name of at most 63 letters, digits, '-', '_' and '.'", key)
		}
		if !labelValue(value) {
			return fmt.Errorf("label value %q: want at most 63 letters, digits, '-', '_' and '.'", value)
		}
	}
	return nil
}

// labelValue reports whether s is a label value (or a key's name): empty,
// or at most 63 letters, digits, '-', '_' and '.', beginning and ending
// with a letter or digit.
func labelValue(s string) bool {
	if s == "" {
		return true
	}
	if len(s) > 63 || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !alnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}
