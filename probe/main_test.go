package probe_test

import (
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

// inCI reports whether a missing prerequisite must fail rather than skip.
func inCI() bool { return os.Getenv("CI") != "" && !strings.EqualFold(os.Getenv("CI"), "false") }
