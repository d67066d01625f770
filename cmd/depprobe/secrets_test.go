package main

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/kube/kubetest"
	"github.com/depprobe/depprobe/internal/loopback"
)

// TestSecretsNeverLeak feeds known secrets in target URLs (a password, a
// token in the user name, a token in the query) and, in a pod, the service
// account's token, and greps every output of every command for them:
// stdout, stderr (JSON and text logs), the termination message,
// configuration errors.
func TestSecretsNeverLeak(t *testing.T) {
	const pw, token, query = "hunter2-PW", "tok-USERTOKEN", "q-QUERYSECRET"
	const hdrInline, hdrFile = "hdr-INLINESECRET", "hdr-FILESECRET"
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("Bearer "+hdrFile+"\n"), 0o600)
	const bodySecret, respSecret, cookieSecret = "req-BODYSECRET", "resp-BODYSECRET", "resp-COOKIESECRET"
	bodyFile := filepath.Join(t.TempDir(), "body")
	os.WriteFile(bodyFile, []byte(`{"key":"`+bodySecret+`"}`), 0o600)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/leaky" {
			// An answer whose body and cookie hold secrets, and match
			// nothing the targets expect: the mismatch shows at most a
			// few dozen bytes of it, never the secret beyond them.
			w.Header().Set("Set-Cookie", "session="+cookieSecret)
			w.Write([]byte(`{"status":"starting","padding":"................","token":"` + respSecret + `"}`))
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	down := loopback.Refused(t)
	targets := strings.Join([]string{
		"api=http://" + token + "@" + host + "/healthz?access_token=" + query,
		"basic=http://user:" + pw + "@" + host + "/",
		"db=postgres://app:" + pw + "@" + down + "/app?password=" + query,
		"rpc=grpc://" + down + " header=authorization:Bearer%20" + hdrInline + " header=x-token:@" + tokenFile,
		"mc=memcached://app:" + pw + "@" + down,
		"k=kafka://app:" + pw + "@" + down + "," + down,
		"m=mongodb://app:" + pw + "@" + down + "/app?authSource=" + query,
		"zk=tcp://" + down + " send=AUTH%20" + pw + "%0D%0A expect=OK",
		"es=http://elastic:" + pw + "@" + host + "/?pretty=" + query + " cluster_health=green",
		"h1=http://" + host + "/leaky header=Authorization:Bearer%20" + hdrInline + " header=X-Token:@" + tokenFile + " body=" + bodySecret + " expect=ready",
		"h2=http://" + host + "/leaky body_file=" + bodyFile + " json=.status=ready expect_header=Set-Cookie:x",
		"h3=http://" + host + "/leaky expect_re=^ready json=.status=ready",
	}, ",")
	secretsFile := filepath.Join(t.TempDir(), "targets")
	os.WriteFile(secretsFile, []byte(targets), 0o600)

	type run struct {
		name string
		env  map[string]string
		args []string
	}
	runs := []run{
		{"check", map[string]string{"DEPPROBE_TARGETS": targets}, []string{"check"}},
		{"wait json", fast(map[string]string{"DEPPROBE_TARGETS": targets}), []string{"wait"}},
		{"wait text", fast(map[string]string{"DEPPROBE_TARGETS_FILE": secretsFile, "DEPPROBE_LOG_FORMAT": "text", "DEPPROBE_LOG_LEVEL": "debug"}), []string{"wait"}},
		{"bad option", nil, []string{"check", "http://u:" + pw + "@" + host + "/?t=" + query + " status=999"}},
		{"bad port", nil, []string{"check", "tcp://u:" + pw + "@db:99999/?t=" + query}},
		{"unknown scheme", nil, []string{"check", "foo://" + token + "@db/?t=" + query}},
		{"not a url", nil, []string{"check", "db:" + pw + "@host?t=" + query}},
		{"header with a blank", nil, []string{"check", "grpc://" + down, "header=authorization:Bearer", hdrInline}},
		{"bad header name", nil, []string{"check", "grpc://" + down, "header=bad\x01name:" + hdrInline}},
		{"header without a name", nil, []string{"check", "grpc://" + down, "header=" + hdrInline}},
		{"header on a scheme without", nil, []string{"check", "tcp://" + down, "header=x:" + hdrInline}},
		{"body with a blank", nil, []string{"check", "http://" + host + "/", "body=a", bodySecret}},
		{"body with GET", nil, []string{"check", "http://" + host + "/", "method=GET", "body=" + bodySecret}},
		{"bad header on http", nil, []string{"check", "http://" + host + "/", "header=" + hdrInline}},
	}
	// In a pod: the service account's token, and a URL secret in a target
	// the cluster step explains.
	api, podEnv := inPod(t, map[string]kubetest.Answer{
		jobPath: kubetest.OK(jobRunning),
		kubetest.PodsPath("app", "batch.kubernetes.io/controller-uid=7d1c"): kubetest.List(kubetest.Pod("migrate-x", `{"job-name":"migrate"}`, `[]`, kubetest.CrashLoop)),
		"/apis/apps/v1/namespaces/app/deployments/api":                      kubetest.Forbidden("get", "deployments", "apps", "app"),
		"POST /api/v1/namespaces/app/events":                                {Code: 201, Body: "{}"},
	})
	podEnv = fast(podEnv)
	podEnv["DEPPROBE_TARGETS"] = targets + ",k8s://job/migrate,k8s://deployment/api"
	podEnv["DEPPROBE_LOG_LEVEL"] = "debug"
	podEnv["DEPPROBE_KUBE_EVENTS"] = "true" // the Events' messages are an output too
	runs = append(runs,
		run{"in a pod: check", podEnv, []string{"check"}},
		run{"in a pod: wait", podEnv, []string{"wait"}},
	)
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			if strings.HasPrefix(r.name, "in a pod") {
				defer func() {
					if len(api.Auth()) == 0 || api.Auth()[0] != "Bearer "+podToken {
						t.Error("the API was not asked with the token: the test would prove nothing")
					}
				}()
			}
			if r.env == nil {
				r.env = map[string]string{}
			}
			term := filepath.Join(t.TempDir(), "termination-log")
			r.env["DEPPROBE_TERMINATION_LOG"] = term
			res := runWith(t, r.env, r.args...)
			termMsg, _ := os.ReadFile(term)
			outputs := map[string]string{"stdout": res.stdout, "stderr": res.stderr, "termination message": string(termMsg)}
			if strings.HasPrefix(r.name, "in a pod") {
				outputs["Events"] = strings.Join(api.Bodies(), "\n")
				if r.args[0] == "wait" && !strings.Contains(outputs["Events"], `"kind":"Event"`) {
					t.Error("no Event was published: the test would prove nothing of them")
				}
			}
			if res.err != nil {
				outputs["error"] = res.err.Error()
			}
			if res.stdout+res.stderr == "" {
				t.Fatal("no output at all: the test would prove nothing")
			}
			for where, out := range outputs {
				for _, secret := range []string{pw, token, query, hdrInline, hdrFile, podToken, bodySecret, respSecret, cookieSecret} {
					if strings.Contains(out, secret) {
						t.Errorf("%s contains the secret %q:\n%s", where, secret, out)
					}
				}
			}
		})
	}
}

// TestSecretsSpecialCharacters: passwords holding each character that URLs
// treat specially (/ ? # , @ : blank % + = and non-ASCII), percent-encoded
// and raw, from DEPPROBE_TARGETS and from DEPPROBE_TARGETS_FILE, through
// check, wait (JSON and text logs, the termination message), serve (its
// log, every endpoint in text and JSON, the metrics) and the configuration
// errors of all three: no part of any password shows anywhere. Encoded,
// each password reaches the server whole; raw, the ones a URL can hold
// (, @ : + =) are understood and the others are configuration errors.
func TestSecretsSpecialCharacters(t *testing.T) {
	specials := []string{"/", "?", "#", ",", "@", ":", " ", "%", "+", "=", "é", "日本"}
	rawOK := map[string]bool{",": true, "@": true, ":": true, "+": true, "=": true}

	var (
		mu   sync.Mutex
		seen = map[string]bool{} // passwords the server got
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pw, ok := r.BasicAuth(); ok {
			mu.Lock()
			seen[pw] = true
			mu.Unlock()
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	host, down := strings.TrimPrefix(srv.URL, "http://"), loopback.Refused(t)

	var (
		secrets, passwords []string
		good, bad          []string // targets that parse, and raw ones that must not
	)
	for i, c := range specials {
		before, after := fmt.Sprintf("Alpha%02dX", i), fmt.Sprintf("Omega%02dX", i)
		pw := before + c + after
		secrets, passwords = append(secrets, before, after), append(passwords, pw)
		enc := url.UserPassword("app", pw).String()
		good = append(good,
			fmt.Sprintf("h%02d=http://%s@%s/health", i, enc, host),
			fmt.Sprintf("p%02d=postgres://%s@%s/app?sslmode=disable", i, enc, down),
			fmt.Sprintf("r%02d=redis://:%s@%s", i, strings.TrimPrefix(url.UserPassword("", pw).String(), ":"), down))
		raw := fmt.Sprintf("x%02d=http://app:%s@%s/health", i, pw, host)
		if rawOK[c] {
			good = append(good, raw)
		} else {
			bad = append(bad, raw, fmt.Sprintf("y%02d=redis://:%s@%s", i, pw, down))
		}
	}

	// grep fails the test where any output holds a part of a password.
	grep := func(t *testing.T, what string, outputs map[string]string) {
		t.Helper()
		total := 0
		for where, out := range outputs {
			total += len(out)
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("%s: %s shows %q (part of a password):\n%s", what, where, s, out)
				}
			}
		}
		if total == 0 {
			t.Fatalf("%s: no output at all: the test would prove nothing", what)
		}
	}
	sources := func(t *testing.T, targets []string) map[string]map[string]string {
		file := filepath.Join(t.TempDir(), "targets")
		if err := os.WriteFile(file, []byte(strings.Join(targets, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return map[string]map[string]string{
			"DEPPROBE_TARGETS":      {"DEPPROBE_TARGETS": strings.Join(targets, ",")},
			"DEPPROBE_TARGETS_FILE": {"DEPPROBE_TARGETS_FILE": file},
		}
	}
	env := func(base map[string]string, more ...string) map[string]string {
		e := maps.Clone(base)
		for i := 0; i+1 < len(more); i += 2 {
			e[more[i]] = more[i+1]
		}
		return e
	}

	for source, base := range sources(t, good) {
		t.Run("understood/"+source, func(t *testing.T) {
			for _, r := range []struct {
				name string
				env  map[string]string
				args []string
			}{
				{"check", env(base), []string{"check"}},
				{"wait json", fast(env(base)), []string{"wait"}},
				{"wait text", fast(env(base, "DEPPROBE_LOG_FORMAT", "text", "DEPPROBE_LOG_LEVEL", "debug")), []string{"wait"}},
			} {
				term := filepath.Join(t.TempDir(), "termination-log")
				r.env["DEPPROBE_TERMINATION_LOG"] = term
				res := runWith(t, r.env, r.args...)
				if res.code != exitNotReady {
					t.Errorf("%s: exit %d, want %d (the targets are valid and not ready)\n%s", r.name, res.code, exitNotReady, res.stderr)
				}
				msg, _ := os.ReadFile(term)
				outputs := map[string]string{"stdout": res.stdout, "stderr": res.stderr, "termination message": string(msg)}
				if r.name != "check" && len(msg) == 0 {
					t.Errorf("%s: no termination message", r.name)
				}
				grep(t, r.name, outputs)
			}

			s := startServe(t, env(base, "DEPPROBE_INTERVAL", "100ms"))
			// Every target probed at least once.
			deadline := time.Now().Add(10 * time.Second)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for _, body := fetch(t, s.base+"/readyz?verbose"); strings.Contains(body, "not probed yet"); _, body = fetch(t, s.base+"/readyz?verbose") {
				if time.Now().After(deadline) {
					t.Fatalf("not every target probed after 10s:\n%s", body)
				}
				<-tick.C
			}
			outputs := map[string]string{}
			paths := []string{"/readyz", "/readyz?verbose", "/readyz?exclude=h00", "/livez", "/livez?verbose", "/metrics", "/readyz/nope"}
			for _, tg := range good {
				name, _, _ := strings.Cut(tg, "=")
				paths = append(paths, "/readyz/"+name)
			}
			for _, p := range paths {
				_, body := fetch(t, s.base+p)
				outputs["GET "+p] = body
				outputs["GET "+p+" (JSON)"] = fetchJSON(t, s.base+p)
			}
			s.cancel()
			<-s.done
			s.done <- nil
			outputs["serve's log"] = s.stderr.String()
			grep(t, "serve", outputs)
		})
	}
	mu.Lock()
	for i, pw := range passwords {
		if !seen[pw] {
			t.Errorf("the server never got password %d (%q), percent-encoded in the URL", i, specials[i])
		}
	}
	mu.Unlock()

	for source, base := range sources(t, bad) {
		t.Run("configuration error/"+source, func(t *testing.T) {
			for _, cmd := range []string{"check", "wait", "serve"} {
				res := runWith(t, env(base, "DEPPROBE_LISTEN", "127.0.0.1:0"), cmd)
				if res.code != exitUsage {
					t.Errorf("%s: exit %d, want %d: a raw password with a character a URL cannot hold is a configuration error\n%s", cmd, res.code, exitUsage, res.stderr)
				}
				if n := strings.Count(res.stderr, "target "); n < len(bad) {
					t.Errorf("%s: %d targets named in the errors, want all %d:\n%s", cmd, n, len(bad), res.stderr)
				}
				grep(t, cmd, map[string]string{"stdout": res.stdout, "stderr": res.stderr, "error": res.err.Error()})
			}
		})
	}
}

// fetchJSON GETs a URL asking for JSON and returns the body.
func fetchJSON(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
