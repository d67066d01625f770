package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsNeverLeak feeds known secrets in target URLs (a password, a
// token in the user name, a token in the query) and greps every output of
// every command for them: stdout, stderr (JSON and text logs), the
// termination message, configuration errors.
func TestSecretsNeverLeak(t *testing.T) {
	const pw, token, query = "hunter2-PW", "tok-USERTOKEN", "q-QUERYSECRET"
	const hdrInline, hdrFile = "hdr-INLINESECRET", "hdr-FILESECRET"
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("Bearer "+hdrFile+"\n"), 0o600)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	down := refusedAddr(t)
	targets := strings.Join([]string{
		"api=http://" + token + "@" + host + "/healthz?access_token=" + query,
		"basic=http://user:" + pw + "@" + host + "/",
		"db=tcp://app:" + pw + "@" + down + "/?password=" + query,
		"rpc=grpc://" + down + " header=authorization:Bearer%20" + hdrInline + " header=x-token:@" + tokenFile,
		"mc=memcached://app:" + pw + "@" + down,
		"k=kafka://app:" + pw + "@" + down + "," + down + "?x=" + query,
		"m=mongodb://app:" + pw + "@" + down + "/app?authSource=" + query,
		"es=http://elastic:" + pw + "@" + host + "/?pretty=" + query + " cluster_health=green",
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
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			if r.env == nil {
				r.env = map[string]string{}
			}
			term := filepath.Join(t.TempDir(), "termination-log")
			r.env["DEPPROBE_TERMINATION_LOG"] = term
			res := runWith(t, r.env, r.args...)
			termMsg, _ := os.ReadFile(term)
			outputs := map[string]string{"stdout": res.stdout, "stderr": res.stderr, "termination message": string(termMsg)}
			if res.err != nil {
				outputs["error"] = res.err.Error()
			}
			if res.stdout+res.stderr == "" {
				t.Fatal("no output at all: the test would prove nothing")
			}
			for where, out := range outputs {
				for _, secret := range []string{pw, token, query, hdrInline, hdrFile} {
					if strings.Contains(out, secret) {
						t.Errorf("%s contains the secret %q:\n%s", where, secret, out)
					}
				}
			}
		})
	}
}
