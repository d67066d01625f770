package probe

import (
	"slices"
	"strings"
	"testing"
)

// TestHostList: a scheme that takes a list of hosts (mongodb, kafka) gets
// every host of the URL, each with the default port filled in; a bad host
// is named by its position. (It uses a real scheme: the table of schemes
// is shared by every test, and never changed by one.)
func TestHostList(t *testing.T) {
	specs, err := ParseSpecs("T", "mongodb://u:pw@m1,m2:27018,[::1]/app, mongodb://m3")
	if err != nil || len(specs) != 2 {
		t.Fatalf("ParseSpecs = %+v, %v; want 2 specs", specs, err)
	}
	tg, err := New(specs[0])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tg.Hosts(), []string{"m1:27017", "m2:27018", "[::1]:27017"}; !slices.Equal(got, want) {
		t.Errorf("Hosts() = %q, want %q", got, want)
	}
	if tg.Address() != "m1:27017" || tg.in.Path != "/app" || tg.in.Password != "pw" {
		t.Errorf("Address, Path, Password = %q, %q, %q; want the first host, /app, pw", tg.Address(), tg.in.Path, tg.in.Password)
	}
	if tg, err := New(specs[1]); err != nil || !slices.Equal(tg.Hosts(), []string{"m3:27017"}) {
		t.Errorf("one host: Hosts() = %v, %v", tg.Hosts(), err)
	}
	specs, _ = ParseSpecs("T", "mongodb://m1,m2:0,m3/x")
	if _, err := New(specs[0]); err == nil || !strings.Contains(err.Error(), "host 2 of 3: needs a port") {
		t.Errorf("New with a bad second host: error = %v, want it named", err)
	}
}
