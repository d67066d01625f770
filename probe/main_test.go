package probe_test

import (
	"net"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/depprobe/depprobe/probe"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The Go resolver finishes a query to a silent DNS server on its
		// own timeout (resolv.conf's, 5s), after the caller's context has
		// given up: the standard library's, bounded, not ours.
		goleak.IgnoreAnyFunction("net.(*Resolver).goLookupIPCNAMEOrder.func3.1"),
		goleak.IgnoreAnyFunction("internal/singleflight.(*Group).doCall"),
		goleak.IgnoreAnyFunction("net.(*Resolver).lookupIPAddr.func2"),
		// glog's flusher, started by Vitess's import (the MySQL 8 test's
		// server): a package-level daemon, not a leak of a test.
		goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
	)
}

// target builds one target from a spec line, failing the test on error.
func target(t testing.TB, line string) *probe.Target {
	t.Helper()
	specs, err := probe.ParseSpecs("test", line)
	if err != nil || len(specs) != 1 {
		t.Fatalf("ParseSpecs(%q) = %d specs, %v", line, len(specs), err)
	}
	tg, err := probe.New(specs[0])
	if err != nil {
		t.Fatalf("New(%q): %v", line, err)
	}
	return tg
}

// refusedAddr is a loopback address where nothing listens: listen, take
// the address, close.
func refusedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// listen opens a loopback listener closed at the end of the test.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// serveConns runs handle for every connection ln accepts until ln closes.
// The goroutines end with the test.
func serveConns(t testing.TB, ln net.Listener, handle func(net.Conn)) {
	t.Helper()
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			handle(c)
		}
	}()
}

// inCI reports whether a missing prerequisite must fail rather than skip.
func inCI() bool { return os.Getenv("CI") != "" && !strings.EqualFold(os.Getenv("CI"), "false") }
