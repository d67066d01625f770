package kube

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// Object is what a k8s:// target waits for.
type Object struct {
	Kind      string // Service, Job, Deployment, StatefulSet or Pods
	Namespace string // "": the pod's own
	Name      string // empty for Pods
	Selector  string // Pods: a label selector as the API takes it (probe checked its form)
	Port      string // Service: a port's name or number; "": any
}

// The kinds of Object.
const (
	KindService     = "service"
	KindJob         = "job"
	KindDeployment  = "deployment"
	KindStatefulSet = "statefulset"
	KindPods        = "pods"
)

// Check reads the object and says whether it is ready: Cause Ready, or the
// reason it is not (Certain when waiting cannot fix it: a failed Job, a
// workload scaled to zero, pods whose image does not exist). Looking up
// why (the pods of a workload) goes through th, so that it costs at most
// one lookup per th's interval; th may be nil (check: one round).
func (c *Client) Check(ctx context.Context, o Object, th *Throttle) (Finding, error) {
	if o.Namespace == "" {
		o.Namespace = c.ns
	}
	switch o.Kind {
	case KindService:
		return c.checkService(ctx, o, th)
	case KindJob:
		return c.checkJob(ctx, o, th)
	case KindDeployment, KindStatefulSet:
		return c.checkWorkload(ctx, o, th)
	case KindPods:
		return c.checkPods(ctx, o, th)
	}
	return Finding{}, fmt.Errorf("unknown kind %q", o.Kind)
}

// why runs a lookup of the reason through th (at once when th is nil),
// keyed by what the object's own status said.
func why(th *Throttle, key string, f func() (Finding, error)) (Finding, error) {
	if th == nil {
		return f()
	}
	return th.Lookup(key, f)
}

func (c *Client) checkService(ctx context.Context, o Object, th *Throttle) (Finding, error) {
	f := Finding{Namespace: o.Namespace, Object: "service/" + o.Name}
	var svc service
	if err := c.get(ctx, "", "v1", "services", o.Namespace, o.Name, &svc); err != nil {
		if nf := (*NotFoundError)(nil); errors.As(err, &nf) {
			return why(th, "missing", func() (Finding, error) {
				return c.serviceMissing(ctx, ServiceRef{Namespace: o.Namespace, Name: o.Name})
			})
		}
		return f, err
	}
	var port *servicePort
	if o.Port != "" {
		for i, p := range svc.Spec.Ports {
			if p.Name == o.Port || strconv.Itoa(p.Port) == o.Port {
				port = &svc.Spec.Ports[i]
			}
		}
		if port == nil {
			f.Cause = ServicePortMissing
			f.Text = fmt.Sprintf("Service %q has no port %q (its ports: %s)", o.Name, o.Port, portList(svc.Spec.Ports))
			f.Hint = "fix port=, or add the port to the Service"
			return f, nil
		}
	}
	var eps endpointSliceList
	if err := listItems(ctx, c, "discovery.k8s.io", "v1", "endpointslices", o.Namespace, "kubernetes.io/service-name="+o.Name, "", &eps.Items); err != nil {
		return f, err
	}
	if n, addrs := readyEndpoints(eps.Items, port); n > 0 {
		f.Cause = Ready
		f.Text = fmt.Sprintf("Service %q has %s (%s)", o.Name, count(n, "ready endpoint"), joinFirst(addrs, 3))
		return f, nil
	}
	return why(th, "no endpoints", func() (Finding, error) {
		ref := ServiceRef{Namespace: o.Namespace, Name: o.Name}
		if port != nil {
			ref.Port = port.Port
		}
		x := explainer{c: c, ref: ref, svc: svc, f: f}
		return x.explain(ctx)
	})
}

func (c *Client) checkJob(ctx context.Context, o Object, th *Throttle) (Finding, error) {
	f := Finding{Namespace: o.Namespace, Object: "job/" + o.Name}
	var j job
	if err := c.get(ctx, "batch", "v1", "jobs", o.Namespace, o.Name, &j); err != nil {
		return missing(f, err, "Job", o)
	}
	if cond, ok := conditionOf(j.Status.Conditions, "Failed"); ok && cond.Status == "True" {
		f.Cause, f.Certain = JobFailed, true
		f.Text = fmt.Sprintf("Job %q failed (%s): %s", o.Name, cond.Reason, printable(cond.Message, 300))
		f.Hint = fmt.Sprintf("a failed Job does not run again: read its pods' logs (kubectl -n %s logs job/%s), fix it and re-create it", o.Namespace, o.Name)
		return f, nil
	}
	if cond, ok := conditionOf(j.Status.Conditions, "Complete"); ok && cond.Status == "True" {
		f.Cause = Ready
		f.Text = fmt.Sprintf("Job %q is complete (%d succeeded)", o.Name, j.Status.Succeeded)
		return f, nil
	}
	f.Cause = NotAvailable
	f.Text = fmt.Sprintf("Job %q is not complete: %d active, %d succeeded, %d failed", o.Name, j.Status.Active, j.Status.Succeeded, j.Status.Failed)
	f.Hint = fmt.Sprintf("wait for it, or see how it goes: kubectl -n %s describe job %s", o.Namespace, o.Name)
	if j.Spec.Suspend != nil && *j.Spec.Suspend {
		f.Text = fmt.Sprintf("Job %q is suspended", o.Name)
		f.Hint = fmt.Sprintf("resume it: kubectl -n %s patch job %s -p '{\"spec\":{\"suspend\":false}}'", o.Namespace, o.Name)
		return f, nil
	}
	return c.withPods(ctx, f, th, o.Namespace, j.Spec.Selector, fmt.Sprintf("%d/%d/%d", j.Status.Active, j.Status.Succeeded, j.Status.Failed))
}

func (c *Client) checkWorkload(ctx context.Context, o Object, th *Throttle) (Finding, error) {
	kind, resource := "Deployment", "deployments"
	if o.Kind == KindStatefulSet {
		kind, resource = "StatefulSet", "statefulsets"
	}
	f := Finding{Namespace: o.Namespace, Object: o.Kind + "/" + o.Name}
	var w workload
	if err := c.get(ctx, "apps", "v1", resource, o.Namespace, o.Name, &w); err != nil {
		return missing(f, err, kind, o)
	}
	want := 1
	if w.Spec.Replicas != nil {
		want = *w.Spec.Replicas
	}
	s := w.Status
	f.Cause = NotAvailable
	f.Hint = fmt.Sprintf("kubectl -n %s rollout status %s", o.Namespace, f.Object)
	switch {
	case want == 0:
		f.Cause, f.Certain = ScaledToZero, true
		f.Text = fmt.Sprintf("%s %q is scaled to 0 replicas", kind, o.Name)
		f.Hint = fmt.Sprintf("scale it up: kubectl -n %s scale %s --replicas=1", o.Namespace, f.Object)
		return f, nil
	case s.ObservedGeneration < w.Metadata.Generation:
		f.Text = fmt.Sprintf("%s %q: its controller has not seen the latest spec yet", kind, o.Name)
		return f, nil
	case s.UpdatedReplicas < want:
		f.Text = fmt.Sprintf("%s %q: %d of %d replicas updated", kind, o.Name, s.UpdatedReplicas, want)
	case o.Kind == KindDeployment && s.Replicas > s.UpdatedReplicas:
		f.Text = fmt.Sprintf("%s %q: %d old replicas still terminating", kind, o.Name, s.Replicas-s.UpdatedReplicas)
	case o.Kind == KindStatefulSet && s.UpdateRevision != "" && s.CurrentRevision != s.UpdateRevision && s.UpdatedReplicas < want:
		f.Text = fmt.Sprintf("%s %q: rolling out revision %s", kind, o.Name, s.UpdateRevision)
	case s.AvailableReplicas < want:
		f.Text = fmt.Sprintf("%s %q: %d of %d updated replicas available", kind, o.Name, s.AvailableReplicas, want)
	default:
		f.Cause = Ready
		f.Text = fmt.Sprintf("%s %q: %d of %d updated replicas available", kind, o.Name, s.AvailableReplicas, want)
		f.Hint = ""
		return f, nil
	}
	if rf, ok := conditionOf(s.Conditions, "ReplicaFailure"); ok && rf.Status == "True" {
		f.Text += fmt.Sprintf("; it cannot create pods: %s", printable(rf.Message, 300))
		f.Hint = fmt.Sprintf("fix what keeps it from creating pods: kubectl -n %s describe %s", o.Namespace, f.Object)
		return f, nil
	}
	return c.withPods(ctx, f, th, o.Namespace, w.Spec.Selector, fmt.Sprintf("%d/%d/%d", s.UpdatedReplicas, s.AvailableReplicas, want))
}

func (c *Client) checkPods(ctx context.Context, o Object, th *Throttle) (Finding, error) {
	sel := o.Selector
	f := Finding{Namespace: o.Namespace, Object: "pods -l " + sel}
	var pods podList
	if err := listItems(ctx, c, "", "v1", "pods", o.Namespace, sel, "", &pods.Items); err != nil {
		return f, err
	}
	live := livePods(pods.Items)
	ready := 0
	for _, p := range live {
		if podReady(p) {
			ready++
		}
	}
	switch {
	case len(live) == 0:
		f.Cause = NoPods
		f.Text = fmt.Sprintf("no pod in namespace %q matches %s", o.Namespace, sel)
		f.Hint = fmt.Sprintf("is the workload created, and the selector right? kubectl -n %s get pods --show-labels", o.Namespace)
		return f, nil
	case ready == len(live):
		f.Cause = Ready
		f.Text = fmt.Sprintf("%s matching %s, all ready", count(len(live), "pod"), sel)
		return f, nil
	}
	return why(th, fmt.Sprintf("%d/%d", ready, len(live)), func() (Finding, error) {
		v := c.podsVerdict(ctx, o.Namespace, live)
		f.Cause, f.Certain, f.Hint = PodsNotReady, v.certain, v.hint
		f.Text = fmt.Sprintf("%d of %s matching %s ready: %s", ready, count(len(live), "pod"), sel, v.text)
		return f, nil
	})
}

// withPods adds to a workload's or Job's finding why its pods are not
// ready, looked up through th.
func (c *Client) withPods(ctx context.Context, f Finding, th *Throttle, ns string, sel labelSelector, key string) (Finding, error) {
	return why(th, key, func() (Finding, error) {
		var pods podList
		err := listItems(ctx, c, "", "v1", "pods", ns, sel.String(), "", &pods.Items)
		if fe := (*ForbiddenError)(nil); errors.As(err, &fe) {
			return f, nil // the object's own status says enough
		}
		if err != nil {
			return f, err
		}
		live := livePods(pods.Items)
		if len(live) == 0 {
			return f, nil
		}
		v := c.podsVerdict(ctx, ns, live)
		if v.text != "" && v.hint != "" {
			f.Text += "; " + v.text
			f.Hint = v.hint
			f.Certain = v.certain
		}
		return f, nil
	})
}

// missing turns a 404 into a finding: the object may be created later,
// so it is not ready, not an error. Other errors stay errors.
func missing(f Finding, err error, kind string, o Object) (Finding, error) {
	if nf := (*NotFoundError)(nil); !errors.As(err, &nf) {
		return f, err
	}
	f.Cause = NotAvailable
	f.Text = fmt.Sprintf("%s %q does not exist in namespace %q", kind, o.Name, o.Namespace)
	f.Hint = fmt.Sprintf("is it created yet, and in this namespace? kubectl -n %s get %s", o.Namespace, o.Kind)
	return f, nil
}

func joinFirst(s []string, n int) string {
	out := ""
	for i, x := range first(s, n) {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
