package kube

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestRulesGolden: testdata/role-rules.yaml is ReadRules as a Role writes
// them; the chart's Role and the docs are checked against this file.
func TestRulesGolden(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Every permission depprobe reads with, in its own namespace.\nrules:\n")
	for _, r := range ReadRules {
		b.WriteString("  - apiGroups: [\"" + r.Group + "\"]\n")
		b.WriteString("    resources: [" + quoted(r.Resources) + "]\n")
		b.WriteString("    verbs: [" + quoted(r.Verbs) + "]\n")
	}
	got := b.String()
	const path = "testdata/role-rules.yaml"
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from ReadRules (go test ./internal/kube -update):\n%s", path, got)
	}
}
