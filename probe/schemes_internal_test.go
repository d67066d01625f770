package probe

import (
	"maps"
	"slices"
	"testing"
)

// TestEverySchemeDocumented: every scheme of the table is in exactly one
// family, so help and the README cannot leave a scheme out.
func TestEverySchemeDocumented(t *testing.T) {
	var listed []string
	for _, d := range SchemeDocs() {
		listed = append(listed, d.Schemes...)
		if d.Ready == "" || d.ByHand == "" || d.Form == "" {
			t.Errorf("%v: Ready, ByHand and Form must be set", d.Schemes)
		}
	}
	slices.Sort(listed)
	if want := slices.Sorted(maps.Keys(schemes)); !slices.Equal(listed, want) {
		t.Errorf("documented schemes = %v, want each of %v once", listed, want)
	}
}
