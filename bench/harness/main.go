// Command harness measures every budget depprobe keeps (docs/performance.md)
// and, in the same run, for the tools users reach for today: wait-for-it,
// an `until nc -z` loop, wait-on and wait-port. It prints a markdown table
// (figure | depprobe | baselines… | budget | met?) and the machine it ran on.
//
// bench/run.sh builds depprobe and this program and runs it; see there for
// what it needs installed. It runs as root: attempts are counted exactly by
// an nftables counter on SYNs to the target's port on lo, and the dropped-SYN
// figure needs two network namespaces of its own joined by a veth pair.
// Everything it creates (processes, the nft table, the namespaces) is
// removed when it ends, also on SIGINT/SIGTERM; run.sh removes them again by
// name (-tag) in case the harness itself was killed.
//
// The harness never asserts anything: it reports. Timings on a shared
// machine are noisy, so it prints the load average before and after.
//
// Files by job: main.go (flags, the run, the steps in order), tools.go (how
// each waiter is started, its version and size), processes.go (starting,
// timing and killing process groups; /proc readings), nftables.go (the SYN
// counters), load.go (HTTP servers and clients that make or take load, wrk's
// output), figures.go and serve.go (one function per figure), report.go (the
// markdown table and its number formatting).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Tool names, in table order.
const (
	depprobe  = "depprobe"
	waitForIt = "wait-for-it"
	ncLoop    = "nc loop"
	waitOn    = "wait-on"
	waitPort  = "wait-port"
)

var toolOrder = []string{depprobe, waitForIt, ncLoop, waitOn, waitPort}

type options struct {
	depprobe string // the static depprobe binary
	dialer   string // bench/dialer, built as depprobe is: the start-up yardstick
	// bench/dialer built with -tags stack: the yardstick linking the TLS
	// and HTTP stack that depprobe cannot do without.
	stackDialer string
	node        string // bench/.node: <tool>/node_modules/.bin/<tool>
	tag         string // prefix of the namespaces and the nft table
	out         string // results.md
	quick       bool   // few runs: to try the harness, not to quote
	only        string // comma-separated step names: run only these
}

func main() {
	var o options
	flag.StringVar(&o.depprobe, "depprobe", "", "path of the depprobe binary to measure (static, stripped)")
	flag.StringVar(&o.dialer, "dialer", "", "path of bench/dialer built as depprobe is (static, stripped): start-up is measured against it")
	flag.StringVar(&o.stackDialer, "stack-dialer", "", "path of bench/dialer built with -tags stack (it links crypto/tls and net/http): how much of the start-up ratio that stack costs")
	flag.StringVar(&o.node, "node", "bench/.node", "directory holding wait-on/ and wait-port/ npm installs")
	flag.StringVar(&o.tag, "tag", fmt.Sprintf("dpb%d", os.Getpid()), "name prefix of the netns and nft table this run creates (≤ 8 characters)")
	flag.StringVar(&o.out, "out", "bench/results.md", "where to write the markdown results")
	flag.BoolVar(&o.quick, "quick", false, "few runs, short durations: to try the harness")
	flag.StringVar(&o.only, "only", "", "run only these steps (comma-separated names as the harness prints them, e.g. startup,serve)")
	flag.Parse()
	if o.depprobe == "" || o.dialer == "" || o.stackDialer == "" {
		fmt.Fprintln(os.Stderr, "harness: -depprobe, -dialer and -stack-dialer are required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
}

// bench holds what one run shares: the tools, the attempt counter, the live
// processes (so that cleanup can kill them) and the rows measured so far.
type bench struct {
	o     options
	tools map[string]*tool
	nft   *counter // nil when nftables is not usable: attempts are not counted
	procs sync.Map // pid → *proc
	rows  []row
	notes []string
	used  sync.Map // ports handed out by freePort
}

// row is one line of the table.
type row struct {
	figure string
	cells  map[string]string
	budget string
	met    string
}

func run(ctx context.Context, o options) error {
	b := &bench{o: o}
	defer b.cleanup()
	if err := b.setupTools(); err != nil {
		return err
	}
	var err error
	if b.nft, err = newCounter(o.tag); err != nil {
		b.note("attempts not counted: nftables counter not available: %v", err)
		b.nft = nil
	}
	load0 := loadavg()
	fmt.Fprintf(os.Stderr, "harness: load average at start: %s\n", load0)
	scale := 1
	if o.quick {
		scale = 0
	}
	steps := []struct {
		name string
		f    func(context.Context, int)
	}{
		{"startup", b.execToExit},
		{"reaction", b.reaction},
		{"steady", b.steadyState},
		{"cpu", b.cpuAndRSS},
		{"dropped", b.droppedSYN},
		{"long", b.long},
		{"size", func(context.Context, int) { b.binarySize() }},
		{"serve", b.serve},
	}
	for _, s := range steps {
		if o.only != "" && !slices.Contains(strings.Split(o.only, ","), s.name) {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t0 := time.Now()
		fmt.Fprintf(os.Stderr, "harness: %s …\n", s.name)
		s.f(ctx, scale)
		fmt.Fprintf(os.Stderr, "harness: %s done in %s\n", s.name, time.Since(t0).Round(100*time.Millisecond))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	md := b.markdown(load0, loadavg())
	fmt.Print(md)
	if o.out != "" {
		return os.WriteFile(o.out, []byte(md), 0o644)
	}
	return nil
}

func (b *bench) note(format string, args ...any) {
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}

func (b *bench) add(r row) { b.rows = append(b.rows, r) }
