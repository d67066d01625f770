package kube

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// equalitySelector is a Service's selector as a labelSelector parameter:
// app=db,tier=backend, in a stable order.
func equalitySelector(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// matches reports whether labels satisfy a labelSelector object (a
// NetworkPolicy's podSelector, a workload's selector). An empty selector
// matches everything; an operator depprobe does not know matches nothing.
func (ls labelSelector) matches(labels map[string]string) bool {
	for k, v := range ls.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, e := range ls.MatchExpressions {
		got, has := labels[e.Key]
		switch e.Operator {
		case "In":
			if !has || !slices.Contains(e.Values, got) {
				return false
			}
		case "NotIn":
			if has && slices.Contains(e.Values, got) {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// String is the selector as kubectl -l would take it, for messages; "{}"
// (every pod) when empty.
func (ls labelSelector) String() string {
	s := equalitySelector(ls.MatchLabels)
	for _, e := range ls.MatchExpressions {
		if s != "" {
			s += ","
		}
		switch e.Operator {
		case "Exists":
			s += e.Key
		case "DoesNotExist":
			s += "!" + e.Key
		default:
			s += fmt.Sprintf("%s %s (%s)", e.Key, strings.ToLower(e.Operator), strings.Join(e.Values, ","))
		}
	}
	if s == "" {
		return "{}"
	}
	return s
}

// subsetOf reports whether every label of sel is in labels with the same
// value: a Service selecting the pods a workload's template makes.
func subsetOf(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// ValidName reports whether s may name an object that is a DNS subdomain
// (a Job, a Deployment): at most 253 lowercase letters, digits, '-' and
// '.', starting and ending with a letter or digit.
func ValidName(s string) bool { return len(s) <= 253 && validDNSName(s) }

// ValidLabel reports whether s is a DNS label (a namespace, a Service
// name): at most 63 lowercase letters, digits and '-'.
func ValidLabel(s string) bool {
	return s != "" && len(s) <= 63 && !strings.Contains(s, ".") && validDNSName(s)
}

func validDNSName(s string) bool {
	if s == "" {
		return false
	}
	for part := range strings.SplitSeq(s, ".") {
		if part == "" || len(part) > 63 || part[0] == '-' || part[len(part)-1] == '-' {
			return false
		}
		for i := range len(part) {
			if c := part[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
