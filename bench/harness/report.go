package main

// The report: the markdown table, the machine it ran on, number formatting.

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// markdown is the report: the table (one row per figure, one column per
// tool, then the budget and whether depprobe's median meets it), how to read
// its cells, the machine, the load average before and after, the tools'
// versions and any notes of figures that could not be measured.
func (b *bench) markdown(load0, load1 string) string {
	var s strings.Builder
	s.WriteString("| figure | depprobe | wait-for-it | nc loop | wait-on | wait-port | budget | met? |\n")
	s.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range b.rows {
		fmt.Fprintf(&s, "| %s |", r.figure)
		for _, name := range toolOrder {
			c := r.cells[name]
			if c == "" {
				c = "—"
			}
			fmt.Fprintf(&s, " %s |", c)
		}
		met := r.met
		if met == "" {
			met = "—"
		}
		fmt.Fprintf(&s, " %s | %s |\n", r.budget, met)
	}
	s.WriteString("\nCells: median (min–max) over n runs. CPU is user+sys from rusage, the tool's process and every child it waited for. Peak RSS is rusage maxrss through GNU time (the largest single process of the tree; GNU time's own fork, ~1 MB, is the floor); for `serve`, VmHWM just before SIGTERM.\n")
	s.WriteString("\nMachine: ")
	s.WriteString(machine())
	fmt.Fprintf(&s, "; load average (1, 5, 15 min) %s at the start, %s at the end.\n", load0, load1)
	s.WriteString("\nTools: ")
	var vs []string
	for _, name := range toolOrder {
		vs = append(vs, b.tools[name].version)
	}
	vs = append(vs, "node "+firstLine(output("node", "--version")), firstLine(output("wrk", "-v")))
	s.WriteString(strings.Join(vs, "; "))
	s.WriteString(".\n")
	if len(b.notes) > 0 {
		s.WriteString("\nNotes:\n")
		for _, n := range b.notes {
			fmt.Fprintf(&s, "- %s\n", n)
		}
	}
	if b.o.quick {
		s.WriteString("\n(-quick: few runs, short durations; not for quoting.)\n")
	}
	return s.String()
}

func machine() string {
	model := "?"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%d CPUs (nproc %s), %s, Linux %s, %s", runtime.NumCPU(), firstLine(output("nproc")), model, firstLine(output("uname", "-r")), runtime.GOARCH)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// cell formats median (min–max) of xs, with the count of failed runs.
func cell(xs []float64, fails int, unit string) string {
	var c string
	switch {
	case len(xs) == 0:
		c = "no run succeeded"
	case len(xs) == 1:
		c = num(xs[0], unit)
	default:
		m, lo, hi := stats(xs)
		c = fmt.Sprintf("%s (%s–%s)", num(m, unit), num(lo, ""), num(hi, ""))
	}
	if fails > 0 {
		c += fmt.Sprintf(", %d failed", fails)
	}
	return c
}

func num(x float64, unit string) string {
	var s string
	switch {
	case x >= 100:
		s = fmt.Sprintf("%.0f", x)
	case x >= 10:
		s = fmt.Sprintf("%.1f", x)
	default:
		s = fmt.Sprintf("%.2f", x)
	}
	switch unit {
	case "":
	case "×":
		s += unit
	default:
		s += " " + unit
	}
	return s
}

func stats(xs []float64) (median, lo, hi float64) {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	median = s[n/2]
	if n%2 == 0 {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	return median, s[0], s[n-1]
}

func metIf(xs []float64, ok func(median float64) bool) string {
	if len(xs) == 0 {
		return "not measured"
	}
	m, _, _ := stats(xs)
	return yesNo(ok(m))
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func pick(scale, quick, full int) int {
	if scale == 0 {
		return quick
	}
	return full
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
