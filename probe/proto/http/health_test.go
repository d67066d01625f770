package http

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/depprobe/depprobe/probe/proto"
)

// FuzzClusterHealth: any answer judged as a cluster health never panics,
// is ready only for a 200 or 408 whose status is the colour asked for or
// better, and never shows the password.
func FuzzClusterHealth(f *testing.F) {
	f.Add(200, []byte(`{"cluster_name":"c","status":"green","number_of_nodes":1}`))
	f.Add(200, []byte(`{"cluster_name":"hunter2","status":"yellow","number_of_nodes":1,"unassigned_shards":1}`))
	f.Add(503, []byte(`{"error":{"type":"master_not_discovered_exception"},"status":503}`))
	f.Add(401, []byte(`{"error":{"type":"security_exception hunter2"}}`))
	in := proto.Input{Addr: "es:9200", Password: "hunter2", HasUser: true}
	f.Fuzz(func(t *testing.T, code int, body []byte) {
		for _, want := range []string{"yellow", "green"} {
			err := clusterHealth(in, code, "x", body, want, true)
			if err == nil {
				var h health
				json.Unmarshal(body, &h)
				if code != 200 && code != 408 || colours[h.Status] < colours[want] {
					t.Errorf("clusterHealth(%d, %q, %s) = ready", code, body, want)
				}
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		}
	})
}
