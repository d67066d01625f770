package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/depprobe/depprobe/probe"
)

// schemesTable is the Markdown summary of every scheme, generated from
// probe's scheme table (the one source of `depprobe help` too).
func schemesTable() string {
	var b strings.Builder
	b.WriteString("| scheme | default port | ready when | options | by hand, you would run |\n|---|---|---|---|---|\n")
	for _, d := range probe.SchemeDocs() {
		var ports, opts []string
		for _, p := range d.Ports {
			if p != "" && !slices.Contains(ports, p) {
				ports = append(ports, p)
			}
		}
		for _, o := range d.Options {
			opt := "`" + o.Name + "=`"
			if len(o.Schemes) < len(d.Schemes) {
				opt += " (" + strings.Join(o.Schemes, ", ") + ")"
			}
			opts = append(opts, opt)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", d.Form, orDash(strings.Join(ports, ", ")), d.Ready, orDash(strings.Join(opts, ", ")), d.ByHand)
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// schemesBlock is the marked block of generated text in a Markdown file.
var schemesBlock = regexp.MustCompile(`(?s)(<!-- schemes: generated[^>]*-->\n)(.*?)(<!-- /schemes -->)`)

// TestSchemesTableGolden: the scheme summary in the docs (README.md or a
// file in docs/, wherever its marked block is) is exactly what probe's
// scheme table generates; go test ./cmd/depprobe -update rewrites it.
func TestSchemesTableGolden(t *testing.T) {
	files, _ := filepath.Glob("../../docs/*.md")
	files = append(files, "../../README.md")
	want := schemesTable()
	found := 0
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := schemesBlock.FindSubmatch(text)
		if m == nil {
			continue
		}
		found++
		if *update {
			out := schemesBlock.ReplaceAllLiteral(text, []byte(string(m[1])+want+string(m[3])))
			if err := os.WriteFile(f, out, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if string(m[2]) != want {
			t.Errorf("%s: the scheme summary differs from probe's scheme table (go test ./cmd/depprobe -update rewrites it):\n--- file\n%s\n--- table\n%s", f, m[2], want)
		}
	}
	if found != 1 {
		t.Errorf("found the scheme summary block (<!-- schemes: generated … --> … <!-- /schemes -->) in %d files of README.md and docs/, want 1", found)
	}
}
