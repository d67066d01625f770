package probe_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/depprobe/depprobe/probe"
)

// No Elasticsearch or OpenSearch can run here (both need a JVM, and
// neither is packaged by Debian), so cluster_health= is tested against
// answers that real clusters gave, as their users published them, served
// by a real HTTP server.
var (
	// A single-node Elasticsearch 7.17 in docker compose, green.
	healthGreen = `{
  "cluster_name" : "docker-cluster",
  "status" : "green",
  "timed_out" : false,
  "number_of_nodes" : 1,
  "number_of_data_nodes" : 1,
  "active_primary_shards" : 21,
  "active_shards" : 21,
  "relocating_shards" : 0,
  "initializing_shards" : 0,
  "unassigned_shards" : 0,
  "delayed_unassigned_shards" : 0,
  "number_of_pending_tasks" : 0,
  "number_of_in_flight_fetch" : 0,
  "task_max_waiting_in_queue_millis" : 0,
  "active_shards_percent_as_number" : 100.0
}`
	// A single-node OpenSearch (Wazuh indexer): yellow, a replica that
	// cannot be assigned.
	healthYellowOpenSearch = `{
  "cluster_name": "wazuh-cluster",
  "status": "yellow",
  "timed_out": false,
  "number_of_nodes": 1,
  "number_of_data_nodes": 1,
  "discovered_master": true,
  "discovered_cluster_manager": true,
  "active_primary_shards": 98,
  "active_shards": 98,
  "relocating_shards": 0,
  "initializing_shards": 0,
  "unassigned_shards": 1,
  "delayed_unassigned_shards": 0,
  "number_of_pending_tasks": 0,
  "number_of_in_flight_fetch": 0,
  "task_max_waiting_in_queue_millis": 0,
  "active_shards_percent_as_number": 98.98989898989899
}`
	// A 15-node Elasticsearch cloud cluster, red.
	healthRed = `{
  "cluster_name": "abea12cb73c74d1e994e3d23cff1340c",
  "status": "red",
  "timed_out": false,
  "number_of_nodes": 15,
  "number_of_data_nodes": 10,
  "active_primary_shards": 1895,
  "active_shards": 2294,
  "relocating_shards": 0,
  "initializing_shards": 2,
  "unassigned_shards": 62,
  "unassigned_primary_shards": 62,
  "delayed_unassigned_shards": 0,
  "number_of_pending_tasks": 0,
  "number_of_in_flight_fetch": 0,
  "task_max_waiting_in_queue_millis": 0,
  "active_shards_percent_as_number": 97.28583545377438
}`
	// Elasticsearch 8.5 in Kubernetes whose nodes have not elected a
	// master: 503.
	healthNoMaster = `{"error":{"root_cause":[{"type":"master_not_discovered_exception","reason":null}],"type":"master_not_discovered_exception","reason":null},"status":503}`
	// Elasticsearch 8 with security on, asked without credentials.
	healthUnauthorized = `{"error":{"root_cause":[{"type":"security_exception","reason":"missing authentication credentials for REST request [/_cluster/health]","header":{"WWW-Authenticate":["Basic realm=\"security\" charset=\"UTF-8\"","ApiKey"]}}],"type":"security_exception","reason":"missing authentication credentials for REST request [/_cluster/health]","header":{"WWW-Authenticate":["Basic realm=\"security\" charset=\"UTF-8\"","ApiKey"]}},"status":401}`
)

// healthServer answers /_cluster/health (and nothing else) with a
// recorded answer, checking basic credentials when user is set.
func healthServer(t *testing.T, code int, body, user, password string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/_cluster/health") {
			http.NotFound(w, r)
			return
		}
		if u, p, ok := r.BasicAuth(); user != "" && (!ok || u != user || p != password) {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(healthUnauthorized))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestClusterHealth(t *testing.T) {
	for _, tc := range []struct {
		name, body, opts string
		code             int
		want             probe.Outcome
		text             []string
	}{
		{"green", healthGreen, "cluster_health=green", 200, probe.OK, nil},
		{"yellow asked", healthYellowOpenSearch, "cluster_health=yellow", 200, probe.OK, nil},
		{"yellow, green asked", healthYellowOpenSearch, "cluster_health=green", 200, probe.NotReady,
			[]string{`cluster "wazuh-cluster" is yellow, want green: 1 unassigned shards`, "single-node cluster", "number_of_replicas"}},
		{"red", healthRed, "cluster_health=yellow", 200, probe.NotReady,
			[]string{`is red, want yellow: 62 unassigned shards, 2 initializing, 15 nodes`, "allocation/explain"}},
		{"wait_for_status timed out", healthRed, "cluster_health=yellow", 408, probe.NotReady, []string{"is red"}},
		{"no master", healthNoMaster, "cluster_health=yellow", 503, probe.NotReady,
			[]string{"master_not_discovered_exception", "no elected master"}},
		{"not a cluster", `{"ok":true}`, "cluster_health=yellow", 200, probe.Unexpected, []string{"not a cluster health answer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := healthServer(t, tc.code, tc.body, "", "")
			r := attempt(t, target(t, "http://"+addr+" "+tc.opts), 2*time.Second)
			checkResult(t, r, probe.Protocol, tc.want)
			checkText(t, r, tc.text...)
		})
	}
	t.Run("credentials", func(t *testing.T) {
		addr := healthServer(t, 200, healthGreen, "elastic", "hunter2")
		checkResult(t, attempt(t, target(t, "http://elastic:hunter2@"+addr+" cluster_health=green"), 2*time.Second), probe.Protocol, probe.OK)
		r := attempt(t, target(t, "http://elastic:wrong@"+addr+" cluster_health=green"), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.AuthFailed)
		checkText(t, r, "security_exception")
		// An Elasticsearch API key (Authorization: ApiKey …) is credentials too.
		r = attempt(t, target(t, "http://"+addr+" cluster_health=green header=Authorization:ApiKey%20d3Jvbmc="), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.AuthFailed)
		r = attempt(t, target(t, "http://"+addr+" cluster_health=green"), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.Unexpected)
		checkText(t, r, "requires credentials", "https://elastic:PASSWORD@")
	})
	t.Run("a path of the user's own", func(t *testing.T) {
		addr := healthServer(t, 200, healthGreen, "", "")
		r := attempt(t, target(t, "http://"+addr+"/_cluster/health/logs-2026?wait_for_status=green&timeout=1s cluster_health=green"), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.OK)
		r = attempt(t, target(t, "http://"+addr+"/other cluster_health=green"), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.Unexpected)
	})
}
