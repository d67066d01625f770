package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/depprobe/depprobe/internal/kube/kubetest"
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
	down := refusedAddr(t)
	targets := strings.Join([]string{
		"api=http://" + token + "@" + host + "/healthz?access_token=" + query,
		"basic=http://user:" + pw + "@" + host + "/",
		"db=tcp://app:" + pw + "@" + down + "/?password=" + query,
		"rpc=grpc://" + down + " header=authorization:Bearer%20" + hdrInline + " header=x-token:@" + tokenFile,
		"mc=memcached://app:" + pw + "@" + down,
		"k=kafka://app:" + pw + "@" + down + "," + down + "?x=" + query,
		"m=mongodb://app:" + pw + "@" + down + "/app?authSource=" + query,
		"zk=tcp://" + down + " send=AUTH\\x20" + pw + "\\r\\n expect=OK",
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
