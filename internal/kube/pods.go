package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// podState is why one pod is not ready, in a few words, with the fix.
type podState struct {
	text    string // "CrashLoopBackOff: container app exited 1 (Error), 5 restarts"
	hint    string
	certain bool // waiting cannot fix it (an image that does not exist)
	running bool // Running with a container not ready: the readiness probe is the suspect
}

// verdict is what a set of pods says: up to three of them, each with its
// state, and the fix for the first.
type verdict struct {
	text, hint string
	certain    bool // every pod shown is certain not to become ready
}

// maxPods is how many pods a finding names.
const maxPods = 3

// podsVerdict describes up to three pods that are not ready: each one's
// phase and reason, the readiness probe's last failure (from the pod's
// Events) for a Running pod, and the fix for the first one.
func (c *Client) podsVerdict(ctx context.Context, ns string, pods []pod) verdict {
	var (
		v     verdict
		parts []string
	)
	v.certain = true
	shown := 0
	for _, p := range pods {
		if podReady(p) {
			continue
		}
		if shown == maxPods {
			parts = append(parts, fmt.Sprintf("and %d more", len(pods)-shown))
			break
		}
		st := describePod(p, ns)
		if st.running && shown == 0 {
			if msg := c.probeFailure(ctx, ns, p.Metadata.Name); msg != "" {
				st.text += ": " + msg
			}
		}
		if shown == 0 {
			v.hint = st.hint
		}
		v.certain = v.certain && st.certain
		parts = append(parts, fmt.Sprintf("pod %q %s", p.Metadata.Name, st.text))
		shown++
	}
	if shown == 0 {
		v.certain = false
		v.hint = "the pods are ready, yet none is an endpoint of this port: does the Service's targetPort name a port they declare?"
		return verdict{text: "every pod is ready, yet none is an endpoint of this port", hint: v.hint}
	}
	v.text = strings.Join(parts, "; ")
	return v
}

// probeFailure is the last readiness probe failure the kubelet reported
// for a pod, from its Events; empty when there is none or depprobe may
// not list Events.
func (c *Client) probeFailure(ctx context.Context, ns, name string) string {
	var evs eventList
	fields := "involvedObject.kind=Pod,involvedObject.name=" + name + ",reason=Unhealthy"
	if err := c.list(ctx, "", "v1", "events", ns, "", fields, &evs); err != nil {
		return ""
	}
	var last *event
	for i, e := range evs.Items {
		if strings.HasPrefix(e.Message, "Readiness probe failed") && (last == nil || e.LastTimestamp >= last.LastTimestamp) {
			last = &evs.Items[i]
		}
	}
	if last == nil {
		return ""
	}
	return printable(strings.TrimSpace(last.Message), 200)
}

// podReady reports whether the pod's Ready condition is True.
func podReady(p pod) bool {
	c, ok := conditionOf(p.Status.Conditions, "Ready")
	return ok && c.Status == "True"
}

// describePod says why a pod is not ready, looking where kubectl describe
// pod would: deletion, the scheduler's condition, the init containers,
// each container's waiting or terminated state, the readiness of running
// containers.
func describePod(p pod, ns string) podState {
	name := p.Metadata.Name
	describe := fmt.Sprintf("kubectl -n %s describe pod %s", ns, name)
	if p.Metadata.DeletionTimestamp != nil {
		return podState{text: "is terminating", hint: "a new pod should replace it: " + describe}
	}
	switch p.Status.Phase {
	case "Failed":
		for _, cs := range p.Status.ContainerStatuses {
			if st, ok := containerTrouble(cs, ns, name, false); ok {
				st.text = "has failed: " + strings.TrimPrefix(st.text, "has ")
				return st
			}
		}
		text := "has failed"
		if p.Status.Reason != "" {
			text += fmt.Sprintf(" (%s): %s", p.Status.Reason, printable(p.Status.Message, 200))
		}
		return podState{text: text, hint: describe}
	case "Succeeded":
		return podState{text: "has completed", hint: "a pod that exits is no server: is it the right workload?"}
	}
	if sc, ok := conditionOf(p.Status.Conditions, "PodScheduled"); ok && sc.Status == "False" {
		return podState{
			text: fmt.Sprintf("is Pending, unschedulable: %s", printable(sc.Message, 300)),
			hint: "the scheduler cannot place it: lower its requests, relax its node selector, affinity or tolerations, or add a node that fits (" + describe + ")",
		}
	}
	// Regular init containers run one after the other before the others;
	// native sidecars (restartPolicy Always) keep running.
	for _, cs := range p.Status.InitContainerStatuses {
		if cs.Ready || sidecar(p, cs.Name) {
			continue
		}
		if st, ok := containerTrouble(cs, ns, name, true); ok {
			return st
		}
		if cs.State.Running != nil {
			return podState{
				text: fmt.Sprintf("is in init container %q (Init), still running", cs.Name),
				hint: fmt.Sprintf("the pod waits for its init container: kubectl -n %s logs %s -c %s", ns, name, cs.Name),
			}
		}
		if t := cs.State.Terminated; t != nil && t.ExitCode == 0 {
			continue
		}
		break
	}
	for _, cs := range p.Status.ContainerStatuses {
		if st, ok := containerTrouble(cs, ns, name, false); ok {
			return st
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running != nil && !cs.Ready {
			return podState{
				text:    fmt.Sprintf("is Running, container %q not ready (its readiness probe fails)", cs.Name),
				hint:    "the app runs but its readiness probe fails: is it still starting, or is the probe's path or port wrong? " + describe,
				running: true,
			}
		}
	}
	if p.Status.Phase == "Pending" {
		return podState{text: "is Pending (containers being created)", hint: "pulling images or mounting volumes: " + describe}
	}
	return podState{text: fmt.Sprintf("is %s, not ready", p.Status.Phase), hint: describe}
}

// sidecar reports whether an init container is a native sidecar.
func sidecar(p pod, name string) bool {
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return c.RestartPolicy != nil && *c.RestartPolicy == "Always"
		}
	}
	return false
}

// containerTrouble describes a container that waits for a reason that
// needs a person (CrashLoopBackOff, an image that cannot be pulled, a
// missing Secret) or has exited with an error.
func containerTrouble(cs containerStatus, ns, pod string, init bool) (podState, bool) {
	kind := "container"
	if init {
		kind = "init container"
	}
	if w := cs.State.Waiting; w != nil {
		switch w.Reason {
		case "CrashLoopBackOff":
			text := fmt.Sprintf("is in CrashLoopBackOff: %s %q", kind, cs.Name)
			if t := cs.LastState.Terminated; t != nil {
				text += fmt.Sprintf(" exited %d (%s)", t.ExitCode, t.Reason)
			}
			text += fmt.Sprintf(", %s", count(cs.RestartCount, "restart"))
			hint := fmt.Sprintf("the container keeps exiting: kubectl -n %s logs %s -c %s --previous", ns, pod, cs.Name)
			if t := cs.LastState.Terminated; t != nil && t.Reason == "OOMKilled" {
				hint = fmt.Sprintf("the container runs out of memory: raise its memory limit (kubectl -n %s logs %s -c %s --previous)", ns, pod, cs.Name)
			}
			return podState{text: text, hint: hint}, true
		case "ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName":
			image := cs.Image
			for _, s := range []string{w.Message} {
				if i := strings.Index(s, `image "`); i >= 0 && image == "" {
					image, _, _ = strings.Cut(s[i+len(`image "`):], `"`)
				}
			}
			missing := imageMissing(w.Reason, w.Message)
			text := fmt.Sprintf("is in %s: %s %q cannot pull image %q", w.Reason, kind, cs.Name, image)
			if missing {
				text += " (it does not exist)"
			}
			if w.Message != "" {
				text += ": " + printable(w.Message, 200)
			}
			return podState{
				text:    text,
				hint:    "fix the image name or tag, or the registry's pull secret (imagePullSecrets); waiting will not make the image appear",
				certain: missing,
			}, true
		case "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
			return podState{
				text: fmt.Sprintf("is in %s: %s %q: %s", w.Reason, kind, cs.Name, printable(w.Message, 200)),
				hint: "the container cannot be created as specified (a missing Secret or ConfigMap, a bad command): kubectl -n " + ns + " describe pod " + pod,
			}, true
		}
	}
	// Between two back-offs the container is terminated, or running again
	// and not ready yet: with restarts behind it, it is crash-looping all
	// the same.
	last := cs.State.Terminated
	if last == nil && cs.State.Running != nil && !cs.Ready {
		last = cs.LastState.Terminated
	}
	if last != nil && last.ExitCode != 0 && cs.RestartCount > 0 {
		hint := fmt.Sprintf("the container keeps exiting: kubectl -n %s logs %s -c %s --previous", ns, pod, cs.Name)
		if last.Reason == "OOMKilled" {
			hint = fmt.Sprintf("the container runs out of memory: raise its memory limit (kubectl -n %s logs %s -c %s --previous)", ns, pod, cs.Name)
		}
		return podState{
			text: fmt.Sprintf("is in CrashLoopBackOff: %s %q exited %d (%s), %s", kind, cs.Name, last.ExitCode, last.Reason, count(cs.RestartCount, "restart")),
			hint: hint,
		}, true
	}
	if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
		return podState{
			text: fmt.Sprintf("has %s %q exited %d (%s)", kind, cs.Name, t.ExitCode, t.Reason),
			hint: fmt.Sprintf("kubectl -n %s logs %s -c %s", ns, pod, cs.Name),
		}, true
	}
	return podState{}, false
}

// imageMissing reports whether an image pull failed because the image or
// its tag does not exist (or may never be pulled), as far as the
// kubelet's message tells: then waiting cannot fix it. A registry that
// cannot be reached, or credentials, may be fixed by waiting or by a
// person; those are not certain.
func imageMissing(reason, msg string) bool {
	if reason == "ErrImageNeverPull" || reason == "InvalidImageName" {
		return true
	}
	m := strings.ToLower(msg)
	return slices.ContainsFunc([]string{"not found", "manifest unknown", "repository does not exist", "name unknown"}, func(s string) bool {
		return strings.Contains(m, s)
	})
}
