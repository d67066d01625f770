package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/depprobe/depprobe/probe"
)

func writeHelp(w io.Writer) {
	fmt.Fprint(w, `depprobe waits until an app's dependencies answer, and says why they don't.

usage:
  depprobe wait [TARGET ...] [-- COMMAND [ARG ...]]
      probe until every target is ready, then exit 0 (or exec COMMAND);
      exit 1 when it gives up
  depprobe check [TARGET ...]
      one round: print each target's diagnosis ladder; exit 0 if all are
      ready, 1 if not
  depprobe serve [TARGET ...]
      keep probing; serve /readyz, /livez and /metrics on DEPPROBE_LISTEN
  depprobe help | version

TARGET is [NAME=]URL [OPTION=VALUE ...]; targets are separated by commas or
newlines, e.g. DEPPROBE_TARGETS='db=postgres://db:5432,api=https://api/healthz status=200-299'

`)
	writeSchemes(w)
	fmt.Fprint(w, `
environment (default in the second column):
`)
	writeVariables(w)
	fmt.Fprint(w, `
exit codes: 0 ready; 1 not ready (check) or gave up (wait); 2 invalid
configuration or command line, a COMMAND after -- that is not found or cannot
be executed included (checked before waiting); after wait -- COMMAND, the
command's own, or, when its file changed during the wait, 126 (cannot execute
it) and 127 (not found) as a shell says.
`)
}

// writeSchemes lists every scheme with its default port, when it is ready
// and its options with their help, from probe's scheme table.
func writeSchemes(w io.Writer) {
	fmt.Fprintln(w, "every scheme takes:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, o := range probe.CommonOptions() {
		fmt.Fprintf(tw, "      %s=\t%s\n", o.Name, o.Help)
	}
	tw.Flush()
	fmt.Fprintln(w, "schemes:")
	for _, d := range probe.SchemeDocs() {
		names := make([]string, len(d.Schemes))
		for i, s := range d.Schemes {
			names[i] = s + "://"
			if d.Ports[i] != "" {
				names[i] += " (port " + d.Ports[i] + ")"
			}
		}
		fmt.Fprintf(w, "  %s\n      ready when %s\n", strings.Join(names, ", "), plain(d.Ready))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, o := range d.Options {
			only := ""
			if len(o.Schemes) < len(d.Schemes) {
				only = "(" + strings.Join(o.Schemes, ", ") + ") "
			}
			fmt.Fprintf(tw, "      %s=\t%s%s\n", o.Name, only, o.Help)
		}
		tw.Flush()
	}
}

// plain drops Markdown's code-span backticks for a terminal.
func plain(s string) string { return strings.ReplaceAll(s, "`", "") }
