package kube

import (
	"testing"

	"github.com/depprobe/depprobe/internal/kube/kubetest"
)

// testToken is the service account token of the tests: it must never
// appear in an error or a finding.
const testToken = "eyJhbGciOiJSUzI1NiJ9.SECRET-TEST-TOKEN.sig"

// Short names for kubetest's, which every table below uses.
type answer = kubetest.Answer

var (
	svcPath     = kubetest.ServicePath
	listPath    = kubetest.ListPath
	slicesPath  = kubetest.SlicesPath
	podsPath    = kubetest.PodsPath
	ok          = kubetest.OK
	forbidden   = kubetest.Forbidden
	list        = kubetest.List
	serviceJSON = kubetest.Service
	sliceJSON   = kubetest.Slice
	podJSON     = kubetest.Pod
)

const (
	crashLoop       = kubetest.CrashLoop
	imageNotFound   = kubetest.ImageNotFound
	unschedulable   = kubetest.Unschedulable
	runningNotReady = kubetest.RunningNotReady
	runningReady    = kubetest.RunningReady
)

// newFakeAPI starts an API server and a Client of namespace app for it.
func newFakeAPI(t testing.TB, routes map[string]answer) (*kubetest.API, *Client) {
	t.Helper()
	api := kubetest.New(t, "app", testToken, routes)
	c, err := New(Config{Host: api.Host, Port: api.Port, TokenFile: api.Dir + "/token", CAFile: api.Dir + "/ca.crt", Namespace: "app", UserAgent: "depprobe/test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return api, c
}
