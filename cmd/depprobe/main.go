// Command depprobe keeps an application from starting before its
// dependencies answer, and says in one log line why they don't.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/caarlos0/env/v11"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "wait" || os.Args[1] == "check") && os.Getenv("GOMAXPROCS") == "" {
		// wait and check spend their time waiting on sockets; one thread
		// for Go code saves a third of their CPU (threads waking and
		// parking), measured by the bench. serve keeps all: its handlers
		// must answer while the probes run. Here, not in run: run changes
		// no process state (tests call it, serve's under -race too).
		runtime.GOMAXPROCS(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := run(ctx, os.Args[1:], env.ToMap(os.Environ()), os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err))
}
