// Command dialer is the yardstick of depprobe's start-up budget: the least
// a static Go program can do to find out that a tcp target is up. It dials
// the address given as its first argument once and exits 0 when the
// connection was established, 1 otherwise. bench/run.sh builds it with
// the flags depprobe is built with (static, stripped), and the harness
// runs the three in triples (depprobe, this, and this built with -tags
// stack: see stack.go).
//
// With a second argument, a duration, it is the yardstick of the CPU a
// wait costs: it dials again and again, 10 ms after the first attempt and
// twice as long after each, up to 100 ms (depprobe's defaults, without the
// jitter), and exits 0 at the first connection, 1 when the next attempt
// would come after that much time.
package main

import (
	"net"
	"os"
	"time"
)

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		os.Exit(2)
	}
	var until time.Time
	if len(os.Args) == 3 {
		d, err := time.ParseDuration(os.Args[2])
		if err != nil {
			os.Exit(2)
		}
		until = time.Now().Add(d)
	}
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		c, err := net.Dial("tcp", os.Args[1])
		if err == nil {
			c.Close()
			return
		}
		if time.Now().Add(wait).After(until) {
			os.Exit(1)
		}
		time.Sleep(wait)
	}
}
