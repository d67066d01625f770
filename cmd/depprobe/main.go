// Command depprobe keeps an application from starting before its
// dependencies answer, and says in one log line why they don't.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"
)

// settleAfter is how long wait and check run as a bare dialer would before
// they settle in to wait: with every target up they are done well within
// it, and pay for neither of settleIn's two changes.
const settleAfter = 10 * time.Millisecond

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	var settled *time.Timer
	if len(os.Args) > 1 && (os.Args[1] == "wait" || os.Args[1] == "check") {
		settled = time.AfterFunc(settleAfter, func() { settleIn(cancel) })
	} else {
		onSignal(cancel)
	}
	err := run(ctx, os.Args[1:], env.ToMap(os.Environ()), os.Stdout, os.Stderr)
	if settled != nil {
		settled.Stop()
	}
	os.Exit(exitCode(err))
}

// settleIn readies a wait or check that did not end at once for a long wait:
// SIGTERM and Ctrl-C end it with its diagnosis instead of killing it, Go
// code runs on one thread, and the garbage collector runs sooner. These
// cost a start that is over at once: the signal handler parks a thread of
// its own, and GOMAXPROCS and SetGCPercent stop the world. Here, not in
// run: run changes no process state (tests call it, serve's under -race
// too).
func settleIn(cancel context.CancelFunc) {
	onSignal(cancel)
	if os.Getenv("GOGC") == "" {
		// Every refused attempt leaves about 2 KB of garbage (most of it
		// net.Dialer's), and the heap's first collection comes at 4 MB:
		// ten targets at 10 attempts a second took the resident memory
		// from 8 MB to 12.4 MB within 20 s. At 25 it comes at 1 MB and
		// peaks at 9.7 MB, for no CPU that the bench can tell.
		debug.SetGCPercent(25)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		// wait and check spend their time waiting on sockets; one thread
		// for Go code saves a third of their CPU (threads waking and
		// parking), measured by the bench. serve keeps all: its handlers
		// must answer while the probes run.
		runtime.GOMAXPROCS(1)
	}
}

// onSignal cancels the run's context at SIGTERM or Ctrl-C: wait gives up
// with its diagnosis, serve shuts down gracefully. Later signals are
// caught too (and ignored) until the process exits.
func onSignal(cancel context.CancelFunc) {
	sctx, _ := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	context.AfterFunc(sctx, cancel)
}
