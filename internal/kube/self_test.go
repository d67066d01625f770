package kube

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/depprobe/depprobe/internal/kube/kubetest"
)

// TestSelfInitializing: a meshed pod whose regular proxy container has not
// started is still initializing while depprobe waits as its init container
// (Initialized False), and not when depprobe waits in a regular container
// in front of the app (wait -- app: Initialized True, the proxy starting
// beside it). The pods are JSON in the API's shape, with every condition
// and status the kubelet sets at those moments.
func TestSelfInitializing(t *testing.T) {
	for _, tc := range []struct {
		file         string
		initializing bool
	}{
		{"pod-meshed-init.json", true},
		{"pod-meshed-app.json", false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			api := kubetest.New(t, "mesh-rw9w6", testToken, map[string]answer{
				"/api/v1/namespaces/mesh-rw9w6/pods/app":                                     ok(string(body)),
				listPath("/apis/networking.k8s.io/v1", "mesh-rw9w6", "networkpolicies", nil): list(),
			})
			c, err := New(Config{Host: api.Host, Port: api.Port, TokenFile: api.Dir + "/token", CAFile: api.Dir + "/ca.crt", Namespace: "mesh-rw9w6", Pod: "app", UserAgent: "depprobe/test"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s, err := c.Self(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if s.Mesh != "istio" || s.Proxy != "istio-proxy" || s.ProxyNative || s.ProxyRunning {
				t.Errorf("Self = %+v, want istio with a regular proxy container that does not run", s)
			}
			if s.Initializing != tc.initializing {
				t.Errorf("Initializing = %t, want %t", s.Initializing, tc.initializing)
			}
		})
	}
}
