// Command dialer is the yardstick of depprobe's start-up budget: the least
// a static Go program can do to find out that a tcp target is up. It dials
// the address given as its only argument once and exits 0 when the
// connection was established, 1 otherwise. bench/run.sh builds it with
// the flags depprobe is built with (static, stripped), and the harness
// runs the three in triples (depprobe, this, and this built with -tags
// stack: see stack.go).
package main

import (
	"net"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		os.Exit(2)
	}
	c, err := net.Dial("tcp", os.Args[1])
	if err != nil {
		os.Exit(1)
	}
	c.Close()
}
