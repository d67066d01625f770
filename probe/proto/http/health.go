package http

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/depprobe/depprobe/probe/proto"
)

// HealthPath is what an http(s) target with cluster_health= asks for when
// its URL has no path: the cluster health API of Elasticsearch
// (https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-cluster-health)
// and OpenSearch (https://docs.opensearch.org/latest/api-reference/cluster-api/cluster-health/).
const HealthPath = "/_cluster/health"

// colours orders a cluster's health.
var colours = map[string]int{"red": 0, "yellow": 1, "green": 2}

// ValidColour reports whether c is a health colour cluster_health= takes.
func ValidColour(c string) bool { return c == "yellow" || c == "green" }

// clusterHealth judges an Elasticsearch or OpenSearch cluster health answer:
// ready when its status is want or better (green > yellow > red). A 408
// (the request's own wait_for_status timed out) carries the same body. A
// 503 (no elected master) is not_ready, 401 auth_failed when the request
// carried credentials (creds: the URL's, or header=Authorization:).
func clusterHealth(in proto.Input, code int, status string, body []byte, want string, creds bool) error {
	switch code {
	case http.StatusOK, http.StatusRequestTimeout:
	case http.StatusServiceUnavailable:
		err := fmt.Errorf("HTTP %s: %s", status, errorType(in, body))
		return proto.FailHint(proto.NotReady, fmt.Sprintf("the node on %s answers, but the cluster has no elected master (cluster manager) yet: are enough master-eligible nodes up to form a quorum, and do discovery.seed_hosts and the initial master nodes name them? Wait for it", in.Addr), err)
	case http.StatusUnauthorized:
		err := fmt.Errorf("HTTP %s: %s", status, errorType(in, body))
		if creds {
			return proto.Fail(proto.AuthFailed, err)
		}
		return proto.FailHint(proto.Unexpected, "the cluster requires credentials (security is on by default since Elasticsearch 8): write them in the URL, https://elastic:PASSWORD@host:9200", err)
	case http.StatusForbidden:
		return proto.FailHint(proto.Unexpected, "the user may not read the cluster's health: give it the monitor cluster privilege", fmt.Errorf("HTTP %s: %s", status, errorType(in, body)))
	default:
		return proto.Failf(proto.Unexpected, "HTTP %s (want 200 and a cluster health answer)", status)
	}
	h, err := parseHealth(in, body)
	if err != nil {
		return err
	}
	if colours[h.Status] >= colours[want] {
		return nil
	}
	err = fmt.Errorf("cluster %q is %s, want %s: %d unassigned shards, %d initializing, %d nodes",
		proto.Printable(proto.Scrub(h.ClusterName, in.Password), 100), h.Status, want, h.Unassigned, h.Initializing, h.Nodes)
	switch {
	case h.Status == "red":
		return proto.FailHint(proto.NotReady, "primary shards are unassigned: data nodes are missing or still recovering; wait for them, or ask GET _cluster/allocation/explain why", err)
	case h.Nodes == 1:
		return proto.FailHint(proto.NotReady, "a single-node cluster stays yellow while an index has replicas, which need a second node: set number_of_replicas to 0, or ask for cluster_health=yellow", err)
	}
	return proto.FailHint(proto.NotReady, "replica shards are not assigned yet: nodes are still joining or recovering; wait for them", err)
}

// health is what the probe reads of a cluster health answer.
type health struct {
	ClusterName  string `json:"cluster_name"`
	Status       string `json:"status"`
	Nodes        int    `json:"number_of_nodes"`
	Unassigned   int    `json:"unassigned_shards"`
	Initializing int    `json:"initializing_shards"`
}

// parseHealth reads a cluster health answer.
func parseHealth(in proto.Input, body []byte) (health, error) {
	var h health
	if err := json.Unmarshal(body, &h); err != nil || colours[h.Status] == 0 && h.Status != "red" {
		return health{}, proto.Failf(proto.Unexpected, "not a cluster health answer (Elasticsearch, OpenSearch): %q", proto.QuoteReply(proto.Scrub(string(body), in.Password)))
	}
	return h, nil
}

// errorType names an error answer's type
// ({"error":{"type":"master_not_discovered_exception",…},"status":503}),
// or says there is none.
func errorType(in proto.Input, body []byte) string {
	var e struct {
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Type == "" {
		return "no error type in the body"
	}
	return proto.Printable(proto.Scrub(e.Error.Type, in.Password), 80)
}
