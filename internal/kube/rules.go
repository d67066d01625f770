package kube

import (
	"fmt"
	"slices"
	"strings"
)

// RoleRule is one rule of a Role: verbs on resources of an API group.
type RoleRule struct {
	Group     string
	Resources []string
	Verbs     []string
}

// String is the rule in YAML's flow style, as a Role's rules list takes
// it: {apiGroups: [""], resources: ["pods"], verbs: ["get", "list"]}.
func (r RoleRule) String() string {
	return fmt.Sprintf("{apiGroups: [%q], resources: [%s], verbs: [%s]}", r.Group, quoted(r.Resources), quoted(r.Verbs))
}

func quoted(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// ReadRules are every permission depprobe reads with, in its own
// namespace: the Role of the chart's rbac.create. Nothing else is read.
var ReadRules = []RoleRule{
	{"", []string{"pods"}, []string{"get", "list"}},                            // the Service's pods; this pod (mesh, egress policies)
	{"", []string{"services"}, []string{"get"}},                                // the Service a target names; k8s://service
	{"", []string{"events"}, []string{"list"}},                                 // a readiness probe's last failure
	{"discovery.k8s.io", []string{"endpointslices"}, []string{"list"}},         // ready endpoints
	{"apps", []string{"deployments", "statefulsets"}, []string{"get", "list"}}, // scaled to zero; k8s://deployment, k8s://statefulset
	{"batch", []string{"jobs"}, []string{"get"}},                               // k8s://job
	{"networking.k8s.io", []string{"networkpolicies"}, []string{"list"}},       // policies that cut ready endpoints off
}

// EventRule is what publishing Events needs (the chart's rbac.events).
var EventRule = RoleRule{"", []string{"events"}, []string{"create"}}

// RulesFor is what a k8s:// target of a kind needs, at least: the reads
// that say whether it is ready (its why needs ReadRules).
func RulesFor(kind string) []RoleRule {
	switch kind {
	case KindService:
		return []RoleRule{{"", []string{"services"}, []string{"get"}}, {"discovery.k8s.io", []string{"endpointslices"}, []string{"list"}}}
	case KindJob:
		return []RoleRule{{"batch", []string{"jobs"}, []string{"get"}}}
	case KindDeployment:
		return []RoleRule{{"apps", []string{"deployments"}, []string{"get"}}}
	case KindStatefulSet:
		return []RoleRule{{"apps", []string{"statefulsets"}, []string{"get"}}}
	case KindPods:
		return []RoleRule{{"", []string{"pods"}, []string{"list"}}}
	}
	return nil
}

// ForbiddenHint is the fix of a 403 for a k8s:// target of kind in
// namespace ns: the minimal Role rules, and the chart's switch that
// grants them.
func ForbiddenHint(e *ForbiddenError, kind, ns string) string {
	rules := RulesFor(kind)
	if !slices.ContainsFunc(rules, func(r RoleRule) bool {
		return r.Group == e.Rule.Group && slices.Contains(r.Resources, e.Rule.Resource) && slices.Contains(r.Verbs, e.Rule.Verb)
	}) {
		rules = append(rules, RoleRule{e.Rule.Group, []string{e.Rule.Resource}, []string{e.Rule.Verb}})
	}
	s := make([]string, len(rules))
	for i, r := range rules {
		s[i] = r.String()
	}
	who := "the pod's service account"
	if e.User != "" {
		who = e.User
	}
	return fmt.Sprintf("bind %s to a Role in namespace %q with the rules [%s] (the chart: rbac.create=true); waiting will not fix this", who, ns, strings.Join(s, ", "))
}
