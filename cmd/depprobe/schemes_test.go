package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/depprobe/depprobe/probe"
)

// schemesTable is the Markdown summary of every scheme, generated from
// probe's scheme table (the one source of `depprobe help` too). Each form
// links to its family's section of docs/schemes.md, whose heading names the
// family's schemes ("### http, https": #http-https); the docs' test checks
// that every such anchor exists.
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
		// The TLS options, the same for every TLS scheme, are named once:
		// docs/schemes.md lists them.
		var tlsSchemes []string
		for _, o := range d.Options {
			if o.TLS {
				tlsSchemes = o.Schemes
				continue
			}
			opt := "`" + o.Name + "=`"
			if len(o.Schemes) < len(d.Schemes) {
				opt += " (" + strings.Join(o.Schemes, ", ") + ")"
			}
			opts = append(opts, opt)
		}
		if tlsSchemes != nil {
			opt := "[TLS options](docs/schemes.md#how-schemes-check)"
			if len(tlsSchemes) < len(d.Schemes) {
				opt += " (" + strings.Join(tlsSchemes, ", ") + ")"
			}
			opts = append(opts, opt)
		}
		// The heading's anchor, as GitHub makes it: "mongodb, mongodb+srv"
		// is #mongodb-mongodbsrv.
		anchor := strings.ReplaceAll(strings.Join(d.Schemes, "-"), "+", "")
		form := fmt.Sprintf("[%s](docs/schemes.md#%s)", d.Form, anchor)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", form, orDash(strings.Join(ports, ", ")), d.Ready, orDash(strings.Join(opts, ", ")), d.ByHand)
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// TestSchemesTableGolden: the scheme summary that README.md includes
// (testdata/schemes.md) is exactly what probe's scheme table generates;
// go test ./cmd/depprobe -update rewrites it.
func TestSchemesTableGolden(t *testing.T) {
	exactGolden(t, "schemes.md", schemesTable())
}
