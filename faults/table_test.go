package faults

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// row is one cell's observation for table.md, taken from the log
// depprobe really wrote.
type row struct {
	order  int    // place in the table
	fault  string // what the test did to the network
	run    string // how depprobe ran
	line   logLine
	exit   int
	took   time.Duration
	result string // what wait did: "retried, then ready", "gave up: …"
}

var (
	rowsMu sync.Mutex
	rows   []row
)

// observe records a cell's row and logs what it saw.
func observe(t *testing.T, r row) {
	t.Helper()
	t.Logf("%s: %s/%s addr=%s exit=%d took=%s (%s)\n  err: %s\n  hint: %s",
		r.fault, r.line.str("step"), r.line.str("outcome"), r.line.str("addr"), r.exit, r.took.Round(time.Millisecond), r.result,
		r.line.str("err"), r.line.str("hint"))
	rowsMu.Lock()
	defer rowsMu.Unlock()
	rows = append(rows, r)
}

// writeTable writes the table "fault → what depprobe logs".
func writeTable(path string) error {
	rowsMu.Lock()
	defer rowsMu.Unlock()
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(a.order, b.order) })
	var b strings.Builder
	b.WriteString("<!-- Written by `go test ./faults/ -run . -update` (as root) from what depprobe logged; do not edit. -->\n")
	b.WriteString("| fault (made with ip netns, veth, nftables) | step | outcome | err | hint | wait |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range rows {
		step, outcome, errText, hint := "`"+r.line.str("step")+"`", "`"+r.line.str("outcome")+"`", r.line.str("err"), r.line.str("hint")
		if r.line.msg() == "ready" {
			step, outcome, errText, hint = "—", "`ok`", "(ready line) addr="+r.line.str("addr"), "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n",
			cell(r.fault), step, outcome, cell(errText), cell(hint),
			cell(fmt.Sprintf("%s: exit %d after %s (%s)", r.run, r.exit, roughly(r.took), r.result)))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// cell escapes a table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// roughly rounds a wall-clock duration to what a reader needs; the table
// shows it, no test asserts it.
func roughly(d time.Duration) string {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}
