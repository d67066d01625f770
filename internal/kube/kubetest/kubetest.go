// Package kubetest is a Kubernetes API server for tests: real TLS and HTTP
// on loopback, answering each request from a table with JSON of the shape
// kube-apiserver gives (each object carries the fields depprobe reads, as
// the API names and nests them), and the service account files a pod has
// (token, ca.crt, namespace). It is imported by tests only.
package kubetest

import (
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// API is an API server on loopback (real TLS, real HTTP) that answers
// each path (with its query; "METHOD path" for a method of its own) from a
// table, and records what it was asked.
type API struct {
	Host, Port string // where it listens
	Dir        string // the service account: token, ca.crt, namespace
	mu         sync.Mutex
	routes     map[string]Answer
	bodies     []string
	asked      []string // "GET /api/v1/...?..."
	auth       []string // each request's Authorization header
}

// Answer is a status code and a JSON body. With Hold, the answer waits
// until Hold is closed (or the client gives up): a request in flight for as
// long as a test needs.
type Answer struct {
	Code int
	Body string
	Hold <-chan struct{}
}

// New starts an API server that answers from routes, and writes the
// service account files of a pod in namespace ns with token.
func New(t testing.TB, ns, token string, routes map[string]Answer) *API {
	t.Helper()
	f := &API{routes: routes}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Path
		if r.URL.RawQuery != "" {
			key += "?" + r.URL.Query().Encode()
		}
		var body strings.Builder
		if r.Body != nil {
			buf := make([]byte, 64<<10)
			n, _ := r.Body.Read(buf)
			body.Write(buf[:n])
		}
		f.mu.Lock()
		f.asked = append(f.asked, r.Method+" "+key)
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.bodies = append(f.bodies, body.String())
		a, ok := f.routes[r.Method+" "+key]
		if !ok && r.Method == http.MethodGet {
			a, ok = f.routes[key]
		}
		f.mu.Unlock()
		if !ok {
			a = Answer{Code: 404, Body: `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`}
		}
		if a.Hold != nil {
			select {
			case <-a.Hold:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.Code)
		fmt.Fprint(w, a.Body)
	}))
	t.Cleanup(srv.Close)
	f.Dir = t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	for name, content := range map[string]string{"ca.crt": string(ca), "token": token + "\n", "namespace": ns} {
		if err := os.WriteFile(filepath.Join(f.Dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f.Host, f.Port, _ = net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))
	return f
}

// Set answers key from now on.
func (f *API) Set(key string, a Answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[key] = a
}

// Requests is every request so far, "GET /api/v1/...?...".
func (f *API) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

// Auth is every request's Authorization header.
func (f *API) Auth() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auth...)
}

// Bodies is every request's body (the Events created).
func (f *API) Bodies() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bodies...)
}

// The paths a diagnosis asks, with the query it sends.
func ServicePath(ns, name string) string { return "/api/v1/namespaces/" + ns + "/services/" + name }

func ListPath(prefix, ns, resource string, q map[string]string) string {
	p := prefix
	if ns != "" {
		p += "/namespaces/" + ns
	}
	p += "/" + resource
	v := url.Values{"limit": {"100"}, "resourceVersion": {"0"}}
	for k, x := range q {
		v.Set(k, x)
	}
	return p + "?" + v.Encode()
}

func SlicesPath(ns, svc string) string {
	return ListPath("/apis/discovery.k8s.io/v1", ns, "endpointslices", map[string]string{"labelSelector": "kubernetes.io/service-name=" + svc})
}

func PodsPath(ns, sel string) string {
	q := map[string]string{}
	if sel != "" {
		q["labelSelector"] = sel
	}
	return ListPath("/api/v1", ns, "pods", q)
}

func OK(body string) Answer { return Answer{Code: 200, Body: body} }

func Forbidden(verb, resource, group, ns string) Answer {
	msg := fmt.Sprintf(`%s is forbidden: User \"system:serviceaccount:app:default\" cannot %s resource \"%s\" in API group \"%s\" in the namespace \"%s\"`, resource, verb, resource, group, ns)
	return Answer{Code: 403, Body: fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"%s","reason":"Forbidden","details":{"kind":"%s"},"code":403}`, msg, resource)}
}

func List(items ...string) Answer { return OK(`{"items":[` + strings.Join(items, ",") + `]}`) }

// Objects, as the API writes them.

func Service(ns, name, selector, ports string) string {
	sel := ""
	if selector != "" {
		sel = `"selector":` + selector + `,`
	}
	return fmt.Sprintf(`{"kind":"Service","apiVersion":"v1","metadata":{"name":%q,"namespace":%q},"spec":{"type":"ClusterIP","clusterIP":"10.96.0.20",%s"ports":%s}}`, name, ns, sel, ports)
}

func Slice(svc string, ready bool, addr, portName string, port int) string {
	return fmt.Sprintf(`{"metadata":{"name":"%s-abc12","labels":{"kubernetes.io/service-name":%q}},"addressType":"IPv4","endpoints":[{"addresses":[%q],"conditions":{"ready":%t,"serving":%t,"terminating":false},"targetRef":{"kind":"Pod","name":"%s-0"}}],"ports":[{"name":%q,"protocol":"TCP","port":%d}]}`, svc, svc, addr, ready, ready, svc, portName, port)
}

// podJSON is a pod with labels app=NAME's prefix, one container, and the
// status given (conditions and containerStatuses).
func Pod(name, labels, containerPorts, status string) string {
	return fmt.Sprintf(`{"metadata":{"name":%q,"namespace":"app","labels":%s},"spec":{"nodeName":"e2e-node","containers":[{"name":"app","image":"registry.example/app:1","ports":%s}]},"status":%s}`, name, labels, containerPorts, status)
}

const (
	CrashLoop       = `{"phase":"Running","conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"False","reason":"ContainersNotReady","message":"containers with unready status: [app]"}],"containerStatuses":[{"name":"app","ready":false,"restartCount":5,"image":"registry.example/app:1","state":{"waiting":{"reason":"CrashLoopBackOff","message":"back-off 2m40s restarting failed container=app pod=db-7c9f-x_app(uid)"}},"lastState":{"terminated":{"exitCode":1,"reason":"Error","startedAt":"2026-11-30T14:00:00Z","finishedAt":"2026-11-30T14:00:01Z"}}}]}`
	ImageNotFound   = `{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"False"}],"containerStatuses":[{"name":"app","ready":false,"restartCount":0,"image":"registry.example/app:nosuch","state":{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image \"registry.example/app:nosuch\": ErrImagePull: failed to pull and unpack image \"registry.example/app:nosuch\": failed to resolve reference \"registry.example/app:nosuch\": registry.example/app:nosuch: not found"}}}]}`
	Unschedulable   = `{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable","message":"0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."}]}`
	RunningNotReady = `{"phase":"Running","conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"False"}],"containerStatuses":[{"name":"app","ready":false,"restartCount":0,"image":"registry.example/app:1","state":{"running":{"startedAt":"2026-11-30T14:00:00Z"}}}]}`
	RunningReady    = `{"phase":"Running","conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"True"}],"containerStatuses":[{"name":"app","ready":true,"restartCount":0,"image":"registry.example/app:1","state":{"running":{"startedAt":"2026-11-30T14:00:00Z"}}}]}`
)
