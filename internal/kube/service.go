package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Cause is a stable word for what a Finding found, for programs and for
// the analysis across targets; Finding.Text says it for people.
type Cause string

// The causes a Finding names.
const (
	ServiceMissing     Cause = "service_missing"      // no such Service in the namespace
	ServicePortMissing Cause = "service_port_missing" // the Service has no such port
	NoSelector         Cause = "no_selector"          // no selector and no EndpointSlice
	NoPods             Cause = "no_pods"              // the selector matches no pod
	ScaledToZero       Cause = "scaled_to_zero"       // the workload that makes the pods has 0 replicas
	PodsNotReady       Cause = "pods_not_ready"       // pods match, none is ready
	TargetPortMismatch Cause = "target_port"          // the targetPort is no port of the pods
	NetworkPolicy      Cause = "network_policy"       // ready endpoints, and a NetworkPolicy selects the pods
	EndpointsReady     Cause = "endpoints_ready"      // ready endpoints: the Service is not the cause
	ClusterDNS         Cause = "cluster_dns"          // the Service exists, DNS does not say so
	JobFailed          Cause = "job_failed"           // a Job failed
	NotAvailable       Cause = "not_available"        // a workload's or Job's own status says why not yet
	Ready              Cause = "ready"                // an object target is ready
)

// Finding is what the API says about a target: the cause one level up of
// a socket's failure, or the state of an object target.
type Finding struct {
	Cause     Cause
	Namespace string // the namespace of Object
	Object    string // "service/db", "job/migrate", as kubectl names it
	Text      string // what was found, naming the objects
	Hint      string // the fix, in plain words
	// Certain: the API makes it certain that waiting cannot fix it (a
	// failed Job, a workload scaled to zero, an image that does not
	// exist), so a wait may give up at once.
	Certain bool
}

// ServiceRef names a Service, as a target's host names it.
type ServiceRef struct {
	Namespace, Name string
	Port            int
}

// ServiceHost tells whether host names a cluster Service and which:
// "db" (in namespace ns, the pod's own), "db.data", "db.data.svc",
// "db.data.svc.cluster.local" (whatever the cluster domain), and a pod of a
// headless Service, "db-0.db.data.svc.cluster.local". Any other name (an
// IP, localhost, a name of more labels without "svc") is not a Service
// name.
func ServiceHost(host, ns string) (ServiceRef, bool) {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" {
		return ServiceRef{}, false // the pod itself: a sidecar, not a Service
	}
	if i := strings.Index(h+".", ".svc."); i >= 0 {
		h = h[:i]
	} else if strings.Count(h, ".") > 1 {
		return ServiceRef{}, false
	}
	labels := strings.Split(h, ".")
	var ref ServiceRef
	switch len(labels) {
	case 1:
		ref = ServiceRef{Namespace: ns, Name: labels[0]}
	case 2:
		ref = ServiceRef{Namespace: labels[1], Name: labels[0]}
	case 3: // a pod's hostname under a headless Service
		ref = ServiceRef{Namespace: labels[2], Name: labels[1]}
	default:
		return ServiceRef{}, false
	}
	if !ValidLabel(ref.Name) || !ValidLabel(ref.Namespace) || ref.Namespace == "" {
		return ServiceRef{}, false
	}
	return ref, true
}

// Symptom is what the socket said of a target, in probe's words: the
// step that failed ("resolve" or "connect") and its outcome ("not_found",
// "dns_error", "timeout", "refused", ...).
type Symptom struct {
	Step, Outcome string
}

func (s Symptom) silent() bool { return s.Outcome == "timeout" || s.Outcome == "unreachable" }

// ErrNothing is ExplainService's answer when the API has nothing to add
// (an ExternalName Service).
var ErrNothing = errors.New("nothing to add")

// ExplainService asks the API why a Service name failed as sym says: the
// Service is missing (and where it exists), has no such port, no selector,
// a selector that matches no pod (and whether its workload is scaled to
// zero), pods none of which is ready (up to three, each with its reason),
// a targetPort no pod declares, or ready endpoints that a NetworkPolicy
// may cut off. It makes a few requests, each under the Client's timeout; a
// 403 is a *ForbiddenError, and the Finding is then empty.
func (c *Client) ExplainService(ctx context.Context, ref ServiceRef, sym Symptom) (Finding, error) {
	var svc service
	err := c.get(ctx, "", "v1", "services", ref.Namespace, ref.Name, &svc)
	if nf := (*NotFoundError)(nil); errors.As(err, &nf) {
		return c.serviceMissing(ctx, ref)
	}
	if err != nil {
		return Finding{}, err
	}
	if svc.Spec.Type == "ExternalName" {
		return Finding{}, ErrNothing
	}
	x := explainer{c: c, ref: ref, sym: sym, svc: svc, f: Finding{Namespace: ref.Namespace, Object: "service/" + ref.Name}}
	return x.explain(ctx)
}

// explainer holds what one explanation has learned so far.
type explainer struct {
	c   *Client
	ref ServiceRef
	sym Symptom
	svc service
	f   Finding
}

func (x *explainer) done(cause Cause, hint, format string, args ...any) (Finding, error) {
	x.f.Cause, x.f.Hint, x.f.Text = cause, hint, fmt.Sprintf(format, args...)
	return x.f, nil
}

func (x *explainer) explain(ctx context.Context) (Finding, error) {
	c, ref, svc := x.c, x.ref, x.svc
	name := fmt.Sprintf("Service %q", ref.Name)
	headless := svc.Spec.ClusterIP == "None"
	var port *servicePort
	for i, p := range svc.Spec.Ports {
		if p.Port == ref.Port {
			port = &svc.Spec.Ports[i]
		}
	}
	if port == nil && !headless && x.sym.Step == "connect" {
		return x.done(ServicePortMissing,
			fmt.Sprintf("use one of the Service's ports, or add port %d to it (kubectl -n %s edit service %s)", ref.Port, ref.Namespace, ref.Name),
			"%s has no port %d (its ports: %s)", name, ref.Port, portList(svc.Spec.Ports))
	}
	var eps endpointSliceList
	if err := listItems(ctx, c, "discovery.k8s.io", "v1", "endpointslices", ref.Namespace, "kubernetes.io/service-name="+ref.Name, "", &eps.Items); err != nil {
		return Finding{}, err
	}
	ready, readyAddrs := readyEndpoints(eps.Items, port)
	if x.sym.Step == "resolve" && (!headless || ready > 0) {
		what := fmt.Sprintf("ClusterIP %s", svc.Spec.ClusterIP)
		if headless {
			what = fmt.Sprintf("headless, %d ready endpoints", ready)
		}
		if x.sym.Outcome == "not_found" {
			return x.done(ClusterDNS,
				"is this pod's dnsPolicy ClusterFirst, and does cluster DNS (CoreDNS) see the Service? kubectl -n kube-system logs deployment/coredns",
				"%s exists (%s), yet DNS says the name does not", name, what)
		}
		return x.done(ClusterDNS,
			"cluster DNS (CoreDNS, Service kube-system/kube-dns) is down or unreachable: is it running, and does an egress NetworkPolicy allow port 53 to it?",
			"%s exists (%s), yet DNS gave no answer for its name", name, what)
	}
	if ready > 0 {
		if x.sym.silent() {
			return x.networkPolicies(ctx, readyAddrs)
		}
		if port != nil && len(svc.Spec.Selector) > 0 {
			var pods podList
			if err := listItems(ctx, c, "", "v1", "pods", ref.Namespace, equalitySelector(svc.Spec.Selector), "", &pods.Items); err != nil {
				return Finding{}, err
			}
			if f, ok := x.targetPort(port, livePods(pods.Items)); ok {
				return f, nil
			}
		}
		return x.done(EndpointsReady,
			"the Service is fine: does the app listen on its targetPort on every address, not 127.0.0.1 only?",
			"%s has %d ready endpoints (%s), yet the connection got %s", name, ready, strings.Join(first(readyAddrs, 3), ", "), x.sym.Outcome)
	}
	if len(svc.Spec.Selector) == 0 {
		if len(eps.Items) == 0 {
			return x.done(NoSelector,
				"give the Service a selector that matches the pods, or create an EndpointSlice for it",
				"%s has no selector and no EndpointSlice: nothing sends it traffic", name)
		}
		return x.done(PodsNotReady,
			"its EndpointSlices are managed by hand or by another controller: mark an endpoint ready there",
			"%s has no selector, and none of its EndpointSlices' endpoints is ready", name)
	}
	sel := equalitySelector(svc.Spec.Selector)
	var pods podList
	if err := listItems(ctx, c, "", "v1", "pods", ref.Namespace, sel, "", &pods.Items); err != nil {
		return Finding{}, err
	}
	live := livePods(pods.Items)
	if len(live) == 0 {
		return x.noPods(ctx, sel)
	}
	if port != nil && slices.ContainsFunc(live, podReady) {
		// Ready pods, yet no ready endpoint for the port: a targetPort
		// that names no port of the pods.
		if f, ok := x.targetPort(port, live); ok {
			return f, nil
		}
	}
	v := c.podsVerdict(ctx, ref.Namespace, live)
	x.f.Certain = v.certain
	return x.done(PodsNotReady, v.hint, "%s selects %s (%s), none ready: %s", name, count(len(live), "pod"), sel, v.text)
}

// serviceMissing says the Service does not exist in its namespace, and in
// which namespaces a Service of that name does (when the service account
// may list Services in every namespace; else it says no more).
func (c *Client) serviceMissing(ctx context.Context, ref ServiceRef) (Finding, error) {
	f := Finding{Cause: ServiceMissing, Namespace: ref.Namespace, Object: "service/" + ref.Name}
	f.Text = fmt.Sprintf("Service %q does not exist in namespace %q", ref.Name, ref.Namespace)
	f.Hint = fmt.Sprintf("create it, or fix the name: kubectl -n %s get services", ref.Namespace)
	var all serviceList
	err := listItems(ctx, c, "", "v1", "services", "", "", "metadata.name="+ref.Name, &all.Items)
	if fe := (*ForbiddenError)(nil); errors.As(err, &fe) {
		return f, nil // where else it is needs a cluster-wide list; say what is known
	}
	if err != nil {
		return Finding{}, err
	}
	var where []string
	for _, s := range all.Items {
		if s.Metadata.Namespace != ref.Namespace {
			where = append(where, s.Metadata.Namespace)
		}
	}
	if len(where) > 0 {
		f.Text += fmt.Sprintf("; it does in %s", namespaces(where))
		f.Hint = fmt.Sprintf("name the namespace: write %s.%s (or %s.%s.svc)", ref.Name, where[0], ref.Name, where[0])
	}
	return f, nil
}

// noPods says the selector matches no pod, and why when a Deployment or
// StatefulSet of the namespace makes such pods: scaled to zero (certain),
// or unable to create them (its ReplicaFailure condition). When none
// does, a workload named like the Service is named with its pods' labels:
// the likely target of a selector that has a typo. No pod is listed
// beyond the selector's: a namespace may hold hundreds.
func (x *explainer) noPods(ctx context.Context, sel string) (Finding, error) {
	c, ns := x.c, x.ref.Namespace
	name := fmt.Sprintf("Service %q", x.ref.Name)
	near := ""
	for _, kind := range []string{"deployments", "statefulsets"} {
		var ws workloadList
		err := listItems(ctx, c, "apps", "v1", kind, ns, "", "", &ws.Items)
		if fe := (*ForbiddenError)(nil); errors.As(err, &fe) {
			continue
		}
		if err != nil {
			return Finding{}, err
		}
		for _, w := range ws.Items {
			obj := fmt.Sprintf("%s/%s", strings.TrimSuffix(kind, "s"), w.Metadata.Name)
			if !subsetOf(x.svc.Spec.Selector, w.Spec.Template.Metadata.Labels) {
				if near == "" && strings.HasPrefix(w.Metadata.Name, x.ref.Name) {
					near = fmt.Sprintf("%s makes pods with %s", obj, equalitySelector(w.Spec.Template.Metadata.Labels))
				}
				continue
			}
			if w.Spec.Replicas != nil && *w.Spec.Replicas == 0 {
				x.f.Object, x.f.Certain = obj, true
				return x.done(ScaledToZero,
					fmt.Sprintf("scale it up: kubectl -n %s scale %s --replicas=1", ns, obj),
					"%s selects %s, made by %s, which is scaled to 0 replicas", name, sel, obj)
			}
			if rf, ok := conditionOf(w.Status.Conditions, "ReplicaFailure"); ok && rf.Status == "True" {
				x.f.Object = obj
				return x.done(NoPods,
					fmt.Sprintf("fix what keeps %s from creating pods: kubectl -n %s describe %s", obj, ns, obj),
					"%s selects %s; %s cannot create its pods: %s", name, sel, obj, printable(rf.Message, 300))
			}
			x.f.Object = obj
			return x.done(NoPods,
				fmt.Sprintf("kubectl -n %s describe %s", ns, obj),
				"%s selects %s; %s makes such pods, but none exists yet", name, sel, obj)
		}
	}
	hint := fmt.Sprintf("fix the Service's selector or the pods' labels: kubectl -n %s get pods --show-labels", ns)
	if near != "" {
		return x.done(NoPods, hint, "%s selects %s, and no pod in namespace %q has those labels (%s)", name, sel, ns, near)
	}
	return x.done(NoPods, hint, "%s selects %s, and no pod in namespace %q has those labels", name, sel, ns)
}

// targetPort checks that the selected pods declare the Service port's
// targetPort; ok true when they do not, with the finding that says so.
func (x *explainer) targetPort(port *servicePort, live []pod) (Finding, bool) {
	if len(live) == 0 {
		return Finding{}, false
	}
	target := port.TargetPort
	if target.name == "" && target.num == 0 {
		target.num = port.Port // targetPort defaults to port
	}
	var declared []string
	for _, ctr := range append(slices.Clone(live[0].Spec.Containers), live[0].Spec.InitContainers...) {
		for _, p := range ctr.Ports {
			if target.name != "" && p.Name == target.name || target.name == "" && p.ContainerPort == target.num {
				return Finding{}, false
			}
			d := strconv.Itoa(p.ContainerPort)
			if p.Name != "" {
				d += "/" + p.Name
			}
			declared = append(declared, d)
		}
	}
	if len(declared) == 0 && target.name == "" {
		return Finding{}, false // pods that declare no port may well listen on it
	}
	what := "they declare no port"
	if len(declared) > 0 {
		what = "they declare " + strings.Join(declared, ", ")
	}
	f, _ := x.done(TargetPortMismatch,
		fmt.Sprintf("set the Service's targetPort to the port the app listens on (kubectl -n %s edit service %s)", x.ref.Namespace, x.ref.Name),
		"Service %q sends port %d to targetPort %s, which no container of its pods declares (pod %q: %s)", x.ref.Name, port.Port, target, live[0].Metadata.Name, what)
	return f, true
}

// networkPolicies names the NetworkPolicies of the Service's namespace
// that select its pods and restrict their ingress: the likely reason why
// ready endpoints do not answer.
func (x *explainer) networkPolicies(ctx context.Context, readyAddrs []string) (Finding, error) {
	ns := x.ref.Namespace
	var pods podList
	if err := listItems(ctx, x.c, "", "v1", "pods", ns, equalitySelector(x.svc.Spec.Selector), "", &pods.Items); err != nil {
		return Finding{}, err
	}
	var nps networkPolicyList
	if err := listItems(ctx, x.c, "networking.k8s.io", "v1", "networkpolicies", ns, "", "", &nps.Items); err != nil {
		return Finding{}, err
	}
	var names []string
	for _, np := range nps.Items {
		if !restricts(np, "Ingress") {
			continue
		}
		for _, p := range pods.Items {
			if np.Spec.PodSelector.matches(p.Metadata.Labels) {
				names = append(names, fmt.Sprintf("%q (podSelector %s)", np.Metadata.Name, np.Spec.PodSelector))
				break
			}
		}
	}
	ready := fmt.Sprintf("Service %q has ready endpoints (%s), yet the connection got no answer", x.ref.Name, strings.Join(first(readyAddrs, 3), ", "))
	if len(names) == 0 {
		return x.done(EndpointsReady,
			"the pods answer the kubelet but not this pod: an egress NetworkPolicy of this pod's namespace, a node firewall, or the CNI drops the packets",
			"%s; no NetworkPolicy of namespace %q restricts the pods' ingress", ready, ns)
	}
	x.f.Object = "networkpolicy/" + strings.Trim(strings.Fields(names[0])[0], `"`)
	return x.done(NetworkPolicy,
		"allow this pod in the policy's ingress rules (from: a podSelector or namespaceSelector that matches it, on the port)",
		"%s: NetworkPolicy %s in namespace %q selects its pods and restricts their ingress", ready, strings.Join(names, ", "), ns)
}

// restricts reports whether a NetworkPolicy restricts traffic of a
// direction ("Ingress", "Egress"): policyTypes, or, when empty, Ingress
// always and Egress when it has egress rules.
func restricts(np networkPolicy, direction string) bool {
	if len(np.Spec.PolicyTypes) == 0 {
		return direction == "Ingress" || len(np.Spec.Egress) > 0
	}
	return slices.Contains(np.Spec.PolicyTypes, direction)
}

// readyEndpoints counts the ready endpoints of the slices that carry the
// Service port (every port when port is nil) and lists their addresses.
func readyEndpoints(items []endpointSlice, port *servicePort) (int, []string) {
	n := 0
	var addrs []string
	for _, s := range items {
		if port != nil && !slicePorts(s, port) {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			n++
			addrs = append(addrs, e.Addresses...)
		}
	}
	return n, addrs
}

// slicePorts reports whether a slice carries the Service port: the slice's
// ports are named after the Service's.
func slicePorts(s endpointSlice, port *servicePort) bool {
	for _, p := range s.Ports {
		if p.Name != nil && *p.Name == port.Name || p.Name == nil && port.Name == "" {
			return true
		}
	}
	return false
}

// livePods drops pods that are being deleted or have finished: they will
// never be an endpoint.
func livePods(items []pod) []pod {
	var out []pod
	for _, p := range items {
		if p.Metadata.DeletionTimestamp == nil && p.Status.Phase != "Succeeded" {
			out = append(out, p)
		}
	}
	return out
}

func portList(ports []servicePort) string {
	if len(ports) == 0 {
		return "none"
	}
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p.Port)
		if p.Name != "" {
			s[i] += "/" + p.Name
		}
	}
	return strings.Join(s, ", ")
}

func namespaces(ns []string) string {
	q := make([]string, len(ns))
	for i, n := range ns {
		q[i] = strconv.Quote(n)
	}
	if len(q) == 1 {
		return "namespace " + q[0]
	}
	return "namespaces " + strings.Join(q, ", ")
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "…")
	}
	return s
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
