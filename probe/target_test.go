package probe_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/depprobe/depprobe/probe"
)

func TestParseSpecs(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		want  []probe.Spec
		error string
	}{
		{name: "one url", text: "tcp://db:5432",
			want: []probe.Spec{{URL: "tcp://db:5432", Source: "T, target 1"}}},
		{name: "name and options", text: "api=https://api:8443/healthz status=200-299 ca=/etc/ca.pem",
			want: []probe.Spec{{Name: "api", URL: "https://api:8443/healthz", Options: map[string][]string{"status": {"200-299"}, "ca": {"/etc/ca.pem"}}, Source: "T, target 1"}}},
		{name: "commas and newlines, blanks and comments", text: "a=tcp://a:1, b=tcp://b:2\n\n# a comment, with a comma\n  c=tcp://c:3,\n",
			want: []probe.Spec{{Name: "a", URL: "tcp://a:1", Source: "T, target 1"}, {Name: "b", URL: "tcp://b:2", Source: "T, target 2"}, {Name: "c", URL: "tcp://c:3", Source: "T, target 3"}}},
		{name: "equals sign in the query is not a name", text: "http://x/?a=b",
			want: []probe.Spec{{URL: "http://x/?a=b", Source: "T, target 1"}}},
		{name: "equals sign in a name-less url's query with a name", text: "web=http://x/?a=b",
			want: []probe.Spec{{Name: "web", URL: "http://x/?a=b", Source: "T, target 1"}}},
		{name: "hosts of one url", text: "kafka://k1:9092,k2:9092 topic=x",
			want: []probe.Spec{{URL: "kafka://k1:9092,k2:9092", Options: map[string][]string{"topic": {"x"}}, Source: "T, target 1"}}},
		{name: "hosts with userinfo and a path", text: "mongodb://u:p@m1,m2:27018,[::1]/app?replicaSet=rs,m=tcp://x:1",
			want: []probe.Spec{{URL: "mongodb://u:p@m1,m2:27018,[::1]/app?replicaSet=rs", Source: "T, target 1"}, {Name: "m", URL: "tcp://x:1", Source: "T, target 2"}}},
		{name: "a url after the comma is a target", text: "tcp://a:1,tcp://b:2,c=tcp://c:3",
			want: []probe.Spec{{URL: "tcp://a:1", Source: "T, target 1"}, {URL: "tcp://b:2", Source: "T, target 2"}, {Name: "c", URL: "tcp://c:3", Source: "T, target 3"}}},
		{name: "a blank after the comma ends the target", text: "tcp://a:1, b:2",
			error: `T, target 2: "b:2" is not a URL`},
		{name: "a comma after the path separates targets", text: "http://a/x,y",
			error: `T, target 2: "y" is not a URL`},
		{name: "not a url", text: "db:5432", error: `T, target 1: "db:5432" is not a URL`},
		{name: "bad name", text: "my db=tcp://a:1", error: `T, target 1: "my" is not a URL`},
		{name: "bad name chars", text: "-db=tcp://a:1", error: `name "-db"`},
		{name: "option without value", text: "tcp://a:1 status", error: `option "status": write OPTION=VALUE`},
		{name: "option twice", text: "http://a status=200 status=201", error: `option "status" is given twice`},
		{name: "empty option value", text: "http://a status=", error: `option "status" has no value`},
		{name: "bad option key", text: "http://a Status=200", error: `option "Status"`},
		{name: "secret in a bad url is masked", text: "postgres//u:hunter2@db", error: `"xxxxx@db" is not a URL`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := probe.ParseSpecs("T", tc.text)
			if tc.error != "" {
				if err == nil || !strings.Contains(err.Error(), tc.error) {
					t.Fatalf("ParseSpecs(%q) error = %v, want it to contain %q", tc.text, err, tc.error)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSpecs(%q): %v", tc.text, err)
			}
			if !slices.EqualFunc(got, tc.want, specEqual) {
				t.Errorf("ParseSpecs(%q) = %+v, want %+v", tc.text, got, tc.want)
			}
		})
	}
}

func specEqual(a, b probe.Spec) bool {
	if a.Name != b.Name || a.URL != b.URL || a.Source != b.Source || len(a.Options) != len(b.Options) {
		return false
	}
	for k, v := range a.Options {
		if !slices.Equal(b.Options[k], v) {
			return false
		}
	}
	return true
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name, line, error string
	}{
		{"unknown scheme", "foo://a:1", `unknown scheme "foo"; known: `},
		{"tcp needs a port", "tcp://db", "needs a port from 1 to 65535"},
		{"port out of range", "tcp://db:70000", "needs a port from 1 to 65535"},
		{"port zero", "tcp://db:0", "needs a port from 1 to 65535"},
		{"no host", "tcp://:80", "no host"},
		{"unix needs a path", "unix://relative/sock", "write unix:///absolute/path"},
		{"unknown option", "tcp://a:1 status=200", `unknown option "status" for tcp://; known: attempt_timeout, expect, expect_re, optional, send, timeout, until`},
		{"bad status", "http://a status=600", "want a status code or a range"},
		{"reversed status", "http://a status=300-200", "want a status code or a range"},
		{"bad insecure", "https://a insecure=yes", "want true or false"},
		{"bad optional", "tcp://a:1 optional=maybe", `option optional="maybe": want true or false`},
		{"missing ca file", "https://a ca=/nonexistent/ca.pem", `option ca="/nonexistent/ca.pem": no such file or directory`},
		{"invalid url", "http://a%zz", "not a valid URL"},
		{"one host only", "tcp://a:1,b:2", "tcp:// takes one host; for two targets write tcp://a:1,tcp://b:2"},
		{"one host only, secret masked", "redis://:pw@a,b:7000/1", "redis:// takes one host; for two targets write redis://:xxxxx@a/1,redis://:xxxxx@b:7000/1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			specs, err := probe.ParseSpecs("T", tc.line)
			if err != nil {
				t.Fatalf("ParseSpecs(%q): %v", tc.line, err)
			}
			_, err = probe.New(specs[0])
			if err == nil || !strings.Contains(err.Error(), tc.error) {
				t.Fatalf("New(%q) error = %v, want it to contain %q", tc.line, err, tc.error)
			}
			if !strings.HasPrefix(err.Error(), "T, target 1: ") {
				t.Errorf("New(%q) error = %q, want it to name its source", tc.line, err)
			}
		})
	}
}

func TestCAFileWithoutPEM(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	specs, _ := probe.ParseSpecs("T", "https://a ca="+path)
	if _, err := probe.New(specs[0]); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("New with a CA file without PEM: error = %v, want no PEM certificate", err)
	}
}

func TestTargetsNames(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		want  []string
		error string
	}{
		{name: "host", text: "postgres=tcp://db:5432, tcp://cache:6379", want: []string{"postgres", "cache"}},
		{name: "clash of derived names takes the port", text: "tcp://db:5432, tcp://db:5433", want: []string{"db-5432", "db-5433"}},
		{name: "derived clashes with given", text: "db=tcp://other:1, tcp://db:5432", want: []string{"db", "db-5432"}},
		{name: "unix socket", text: "unix:///run/postgresql/.s.PGSQL.5432", want: []string{"s.PGSQL.5432"}},
		{name: "ipv6 literal", text: "tcp://[::1]:80", want: []string{"ipv6---1"}},
		{name: "duplicate given names", text: "db=tcp://a:1, db=tcp://b:2", error: `name "db" is already used by T, target 1`},
		{name: "same url twice", text: "tcp://a:1, tcp://a:1", error: `"tcp://a:1" is listed twice (also T, target 1: the same URL, secrets aside)`},
		// Two URLs that differ only in a secret: the message does not tell.
		{name: "same url up to its password", text: "redis://:one@a:1, redis://:two@a:1", error: `"redis://:xxxxx@a:1" is listed twice (also T, target 1: the same URL, secrets aside)`},
		{name: "two urls, one name", text: "file:///etc/hosts, file:///tmp/hosts", error: `"file:///tmp/hosts" derives the same name "hosts-file" as "file:///etc/hosts" (T, target 1); give one a NAME=`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			specs, err := probe.ParseSpecs("T", tc.text)
			if err != nil {
				t.Fatal(err)
			}
			targets, err := probe.Targets(specs)
			if tc.error != "" {
				if err == nil || !strings.Contains(err.Error(), tc.error) {
					t.Fatalf("Targets error = %v, want it to contain %q", err, tc.error)
				}
				if strings.Contains(err.Error(), "two@") {
					t.Errorf("Targets error = %v: it shows a password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tg := range targets {
				got = append(got, tg.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("names = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestURLRedacted(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://app:hunter2@db:5432/app?sslmode=disable", "postgres://app:xxxxx@db:5432/app?sslmode=xxxxx"},
		{"https://token123@api/healthz", "https://xxxxx@api/healthz"},
		{"https://api/healthz?access_token=abc", "https://api/healthz?access_token=xxxxx"},
		{"tcp://db:5432", "tcp://db:5432"},
	}
	for _, tc := range tests {
		if got := target(t, tc.in).URL(); got != tc.want {
			t.Errorf("URL() of %q = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzParseSpecs: the grammar never panics, every spec it returns has a URL
// with "://", a valid name or none, and error messages never carry a
// password given in a URL.
func FuzzParseSpecs(f *testing.F) {
	for _, s := range []string{
		"tcp://db:5432",
		"db=postgres://u:pw@db:5432/app?sslmode=disable,cache=redis://cache:6379",
		"api=https://api:8443/healthz status=200-299 ca=/etc/ssl/api-ca.pem\ntcp://10.0.1.20:8080",
		"# comment\n\n , ,",
		"a=b=c://d",
		"x=http://[::1]:80/?q=a=b status=200",
		"unix:///run/app.sock",
		"=tcp://a:1",
		"tcp://a:1 k=v k=w",
		"kafka://k1:9092,k2:9092 topic=x",
		"tcp://a:1,tcp://b:2",
		"m=mongodb://u:SECRETPW@m1,m2:27018/app?replicaSet=rs,tcp://x:1",
		"a=tcp://[::1]:1,[::2]:2, b=tcp://c:3,",
		"tcp://a:1,b=tcp://c:3 ,x",
		"grpc://a:1 header=authorization:Bearer%20HDRSECRET header=x-id:@/nonexistent/HDRSECRET",
		"grpc://a:1 header=Authorization: Bearer HDRSECRET",
		"grpc://a:1 header=HDRSECRET header=bad name:HDRSECRET header=x:%zzHDRSECRET",
		"mc=memcached://u:SECRETPW@c",
		// Passwords with the characters that end a URL's user info early.
		"postgres://app:x/SECRETPW@db", "postgres://app:SECRETPW/x==@db/app",
		"redis://:SECRETPW#cd@h", "redis://:ab#SECRETPW@h", "redis://:12#SECRETPW@h",
		"tcp://u:1?SECRETPW@h", "tcp://u:SECRETPW?x@h", "redis://:12345/SECRETPW@host",
		"postgres://u:SECRETPW%zz@h", "postgres://u:SECRETPWé@h", "mysql://u:SECRETPW [x@h",
		"amqp://u:a,SECRETPW@h", "http://u:p@SECRETPW@h/", "nats://u:SECRETPW:x@h",
		"db=postgres://app:my SECRETPW@db", "db=postgres://app:SECRETPW word@db status=1",
		"mongodb+srv://u:SECRETPW@cluster0.example.net/app?authSource=admin role=primary",
		"w=k8s://pods selector=app=web,tier=front,db=postgres://db:5432",
		"k8s://pods selector=,a a=b,",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		specs, err := probe.ParseSpecs("F", text)
		for _, s := range specs {
			if !strings.Contains(s.URL, "://") {
				t.Errorf("spec URL %q has no ://", s.URL)
			}
			if s.Name != "" && (strings.ContainsAny(s.Name, " ,=\n") || len(s.Name) > 63) {
				t.Errorf("spec name %q is not plain", s.Name)
			}
			// A comma left in a URL separates hosts: a host follows it,
			// never a blank or another target.
			for i := strings.IndexByte(s.URL, ','); i >= 0; i = nextComma(s.URL, i) {
				rest := s.URL[i+1:]
				if rest == "" || strings.ContainsAny(rest[:1], " \t,") || looksLikeTarget(rest) {
					t.Errorf("spec URL %q: the comma at %d should have ended the target", s.URL, i)
				}
			}
			for k, vs := range s.Options {
				for _, v := range vs {
					if k == "" || v == "" || strings.ContainsAny(k+v, " \t\n") || strings.Contains(k, ",") {
						t.Errorf("option %q=%q is not one field", k, v)
					}
					// A comma left in a value joins what follows it (a
					// selector's labels): never first, never before a
					// blank, the end or another target.
					for i := strings.IndexByte(v, ','); i >= 0; i = nextComma(v, i) {
						if rest := v[i+1:]; i == 0 || rest == "" || strings.ContainsAny(rest[:1], ",") || looksLikeTarget(rest) {
							t.Errorf("option %q=%q: the comma at %d should have ended the target", k, v, i)
						}
					}
				}
			}
			tg, nerr := probe.New(s)
			if nerr == nil && tg.Name == "" {
				t.Errorf("New(%+v) gave a target without a name", s)
			}
			if nerr != nil && strings.Contains(s.URL, ":SECRETPW@") && strings.Count(text, "SECRETPW") == 1 && strings.Contains(nerr.Error(), "SECRETPW") {
				t.Errorf("New error leaks the password: %v", nerr)
			}
			// A marker that the text holds only in header values (not in
			// a file path, not elsewhere) never appears in an error.
			inHeaders := 0
			for _, v := range s.Options["header"] {
				if !strings.Contains(v, "@") {
					inHeaders += strings.Count(v, "HDRSECRET")
				}
			}
			if nerr != nil && inHeaders > 0 && inHeaders == strings.Count(text, "HDRSECRET") && strings.Contains(nerr.Error(), "HDRSECRET") {
				t.Errorf("New error leaks a header value: %v", nerr)
			}
		}
		if err != nil && strings.Contains(text, ":SECRETPW@") && strings.Count(text, "SECRETPW") == 1 && strings.Contains(err.Error(), "SECRETPW") {
			t.Errorf("ParseSpecs error leaks the password: %v", err)
		}
		// A marker that stands only in user info, by position (between
		// "://" and the last '@' of a target, whatever characters that
		// holds), appears in no message and no redacted URL.
		if onlyInUserinfo(text, "SECRETPW") {
			var all []string
			if err != nil {
				all = append(all, err.Error())
			}
			for _, s := range specs {
				tg, nerr := probe.New(s)
				if nerr != nil {
					all = append(all, nerr.Error())
				} else {
					all = append(all, tg.URL(), tg.Name)
				}
			}
			for _, msg := range all {
				if strings.Contains(msg, "SECRETPW") {
					t.Errorf("%q: the password shows in %q", text, msg)
				}
			}
		}
	})
}

// onlyInUserinfo reports whether every marker in text stands where a
// secret goes, by position: between a "://" and the last '@' of the same
// target (a blank may cut the target within its user info: the '@' may
// come in a later field of the line), and after the user name's ':' when
// there is one (a user name beside a password is shown, a lone one is a
// token).
func onlyInUserinfo(text, marker string) bool {
	found := false
	for line := range strings.Lines(text) {
		for i := strings.Index(line, marker); i >= 0; {
			found = true
			start := strings.LastIndex(line[:i], "://")
			at := strings.Index(line[i:], "@")
			if start < 0 || at < 0 || strings.ContainsAny(line[start:i], ",=") || strings.ContainsAny(line[i:i+at], ",\n") {
				return false
			}
			end := start + strings.LastIndexByte(line[start:], '@')
			if colon := strings.IndexByte(line[start+3:end], ':'); colon >= 0 && start+3+colon > i {
				return false // in the user name, before its ':'
			}
			next := strings.Index(line[i+len(marker):], marker)
			if next < 0 {
				break
			}
			i += len(marker) + next
		}
	}
	return found
}

// TestLenientURLs: what url.Parse lets through but a scheme would ignore or
// misread is a configuration error naming what is wrong; what a scheme
// uses, or what a client's URL commonly holds, is accepted.
func TestLenientURLs(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want string // in the error; empty: accepted
	}{
		{"tcp://127.0.0.1:5432:5433", "more than one ':' after the host"},
		{"tcp://[::1]:5432", ""},
		{"tcp://app:pw@db:5432", "tcp:// does not use user info"},
		{"tcp://db:5432/app", "tcp:// does not use a path"},
		{"tcp://db:5432?x=1", "tcp:// does not use a query"},
		{"tcp://db:5432/", ""},
		{"tls://u@db:443", "tls:// does not use user info"},
		{"grpc://db:50051/svc", "grpc:// does not use a path"},
		{"nats://db/x", "nats:// does not use a path"},
		{"nats://TOKEN@db", ""},
		{"mqtt://u:p@db", ""},
		{"unix://u@/run/app.sock", "unix:// does not use user info"},
		{"dns://db.example:53", "dns:// takes a name without a port"},
		{"dns://db.example", ""},
		{"redis://s3cretpw@cache", "a user name without a password"},
		{"redis://:s3cretpw@cache", ""},
		{"redis://default:s3cretpw@cache/2", ""},
		{"postgres://app:pw@db/app?sslmode=disable", ""},
		{"https://api/healthz#section", "a '#' starts a fragment"},
		{"redis://:12345/6@cache", "an '@' after the host"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			specs, err := probe.ParseSpecs("T", tc.url)
			if err == nil {
				_, err = probe.New(specs[0])
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("New(%q) = %v, want it accepted", tc.url, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("New(%q) = %v, want an error with %q", tc.url, err, tc.want)
			case err != nil && strings.Contains(err.Error(), "s3cretpw"):
				t.Errorf("New(%q) = %v: it shows the password", tc.url, err)
			}
		})
	}
}

// TestSpecialCharactersNeverShow: a password holding any character that
// URLs treat specially, written raw (not percent-encoded) in any scheme,
// is either understood or a configuration error; no message and no
// redacted URL shows any part of it.
func TestSpecialCharactersNeverShow(t *testing.T) {
	for i, c := range []string{"/", "?", "#", ",", "@", ":", " ", "%", "+", "=", "é", "日本", "%zz", "[", "]", "\\"} {
		before, after := fmt.Sprintf("Alpha%02dX", i), fmt.Sprintf("Omega%02dX", i)
		for _, scheme := range []string{"postgres", "redis", "http", "mysql", "amqp", "tcp", "nats"} {
			for _, url := range []string{
				scheme + "://app:" + before + c + after + "@db.example:1234/x",
				scheme + "://:" + before + c + after + "@db.example",
				"n=" + scheme + "://app:" + before + c + after + "@db.example status=200",
			} {
				var shown []string
				specs, err := probe.ParseSpecs("T", url)
				if err != nil {
					shown = append(shown, err.Error())
				}
				for _, s := range specs {
					if tg, err := probe.New(s); err != nil {
						shown = append(shown, err.Error())
					} else {
						shown = append(shown, tg.URL(), tg.Name, tg.Address())
					}
				}
				for _, text := range shown {
					if strings.Contains(text, before) || strings.Contains(text, after) {
						t.Errorf("%q: %q shows part of the password", url, text)
					}
				}
			}
		}
	}
}

// nextComma is the index of the next comma in s after i, -1 when none.
func nextComma(s string, i int) int {
	if j := strings.IndexByte(s[i+1:], ','); j >= 0 {
		return i + 1 + j
	}
	return -1
}

// looksLikeTarget reports whether s starts with [NAME=]scheme:// before any
// '/', '?', '#', '@', comma or blank.
func looksLikeTarget(s string) bool {
	end := strings.IndexAny(s, ", \t\n")
	if end < 0 {
		end = len(s)
	}
	sep := strings.Index(s[:end], "://")
	return sep >= 0 && !strings.ContainsAny(s[:sep], "/?#@")
}
