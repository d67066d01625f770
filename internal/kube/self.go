package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Self is what the API says of depprobe's own pod: the evidence for a
// cause that all targets share (a service mesh whose proxy is not up, an
// egress NetworkPolicy).
type Self struct {
	Name, Namespace, UID string
	// Mesh is "istio" or "linkerd" when the pod is meshed (the injector's
	// annotation, or its proxy container), else "".
	Mesh string
	// Proxy is the mesh proxy's container; ProxyNative: it is a native
	// sidecar (an init container with restartPolicy Always), which starts
	// before the regular init containers; ProxyRunning: it runs now.
	Proxy                     string
	ProxyNative, ProxyRunning bool
	// Initializing: the pod's Initialized condition is not True, so its
	// regular init containers still run: depprobe is one of them (its
	// regular containers, a `wait -- app` among them, start only once it
	// is True). A regular proxy container cannot start before then.
	Initializing bool
	// Egress names the NetworkPolicies of the namespace that select this
	// pod and restrict its egress. DNS is false when they let nothing out
	// to port 53: none of their egress rules allows it.
	Egress []string
	DNS    bool
}

// ErrNoPod is Self's error when depprobe does not know its pod's name.
var ErrNoPod = errors.New("this pod's name is unknown (set DEPPROBE_POD_NAME from metadata.name)")

// Self reads depprobe's own pod and the NetworkPolicies that select it.
func (c *Client) Self(ctx context.Context) (Self, error) {
	s := Self{Name: c.pod, Namespace: c.ns, DNS: true}
	if c.pod == "" {
		return s, ErrNoPod
	}
	var p pod
	if err := c.get(ctx, "", "v1", "pods", c.ns, c.pod, &p); err != nil {
		return s, err
	}
	s.UID = p.Metadata.UID
	switch {
	case p.Metadata.Annotations["sidecar.istio.io/status"] != "":
		s.Mesh, s.Proxy = "istio", "istio-proxy"
	case p.Metadata.Annotations["linkerd.io/proxy-version"] != "" || p.Metadata.Labels["linkerd.io/proxy-deployment"] != "":
		s.Mesh, s.Proxy = "linkerd", "linkerd-proxy"
	}
	for _, ctr := range p.Spec.InitContainers {
		if ctr.Name == "istio-proxy" || ctr.Name == "linkerd-proxy" {
			s.Proxy, s.ProxyNative = ctr.Name, ctr.RestartPolicy != nil && *ctr.RestartPolicy == "Always"
			if s.Mesh == "" {
				s.Mesh = map[string]string{"istio-proxy": "istio", "linkerd-proxy": "linkerd"}[ctr.Name]
			}
		}
	}
	for _, ctr := range p.Spec.Containers {
		if s.Mesh == "" && (ctr.Name == "istio-proxy" || ctr.Name == "linkerd-proxy") {
			s.Mesh, s.Proxy = map[string]string{"istio-proxy": "istio", "linkerd-proxy": "linkerd"}[ctr.Name], ctr.Name
		}
	}
	init, ok := conditionOf(p.Status.Conditions, "Initialized")
	s.Initializing = !ok || init.Status != "True"
	for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if cs.Name == s.Proxy && cs.State.Running != nil {
			s.ProxyRunning = true
		}
	}
	var nps networkPolicyList
	err := c.list(ctx, "networking.k8s.io", "v1", "networkpolicies", c.ns, "", "", &nps)
	if fe := (*ForbiddenError)(nil); errors.As(err, &fe) {
		return s, nil // no evidence of policies either way
	}
	if err != nil {
		return s, err
	}
	dns := false
	for _, np := range nps.Items {
		if !restricts(np, "Egress") || !np.Spec.PodSelector.matches(p.Metadata.Labels) {
			continue
		}
		s.Egress = append(s.Egress, np.Metadata.Name)
		for _, r := range np.Spec.Egress {
			dns = dns || allowsPort(r, 53, "dns")
		}
	}
	if len(s.Egress) > 0 {
		s.DNS = dns
	}
	return s, nil
}

// allowsPort reports whether an egress rule lets traffic to a port out:
// no ports (every port), the number, a range holding it, or the name.
func allowsPort(r networkPolicyRule, port int, name string) bool {
	if len(r.Ports) == 0 {
		return true
	}
	for _, p := range r.Ports {
		switch {
		case p.Port == nil:
			return true
		case p.Port.name != "":
			if p.Port.name == name || p.Port.name == name+"-tcp" {
				return true
			}
		case p.Port.num == port, p.EndPort != nil && p.Port.num <= port && port <= *p.EndPort:
			return true
		}
	}
	return false
}

// EventReason is the reason of the Events depprobe publishes on its pod.
const EventReason = "DependencyNotReady"

// maxEventMessage caps an Event's message, as the API's validation of
// events.k8s.io does for its note.
const maxEventMessage = 1024

// Event publishes an Event on depprobe's own pod (uid from Self), as
// kubectl describe pod lists them: type "Warning" or "Normal", a reason,
// a message of at most 1 KiB.
func (c *Client) Event(ctx context.Context, uid, typ, reason, message string) error {
	if c.pod == "" {
		return ErrNoPod
	}
	if len(message) > maxEventMessage {
		message = message[:maxEventMessage-len("…")] + "…"
	}
	now := c.now().UTC().Format(time.RFC3339)
	ev := map[string]any{
		"apiVersion": "v1",
		"kind":       "Event",
		"metadata":   map[string]any{"generateName": c.pod + ".depprobe-", "namespace": c.ns},
		"involvedObject": map[string]any{
			"apiVersion": "v1", "kind": "Pod", "name": c.pod, "namespace": c.ns, "uid": uid,
		},
		"reason":             reason,
		"message":            message,
		"type":               typ,
		"source":             map[string]any{"component": "depprobe"},
		"reportingComponent": "depprobe",
		"reportingInstance":  c.pod,
		"firstTimestamp":     now,
		"lastTimestamp":      now,
		"count":              1,
	}
	err := c.do(ctx, request{rule: Rule{Verb: "create", Resource: "events"}, version: "v1", namespace: c.ns, body: ev}, nil)
	if err != nil {
		return fmt.Errorf("publishing an Event: %w", err)
	}
	return nil
}
