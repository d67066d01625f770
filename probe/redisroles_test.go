package probe_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
)

// TestRedisRoles: role= against a private master and a replica of it
// (whose link is up, then down when the master stops), and role= with a
// password.
func TestRedisRoles(t *testing.T) {
	master := startRedis(t, "", "--requirepass", "redis-pw", "--masterauth", "redis-pw")
	_, mport, _ := net.SplitHostPort(master)
	replica := startRedis(t, "", "--replicaof", "127.0.0.1", mport, "--masterauth", "redis-pw", "--requirepass", "redis-pw")
	eventually(t, 30*time.Second, "the replica in sync", func() bool {
		return attempt(t, target(t, "redis://:redis-pw@"+replica+" role=replica"), 2*time.Second).Ready()
	})
	for _, tc := range []struct {
		name, spec string
		want       probe.Outcome
		text       []string
	}{
		{"master", "redis://:redis-pw@" + master + " role=master", probe.OK, nil},
		{"primary is master", "redis://:redis-pw@" + master + " role=primary", probe.OK, nil},
		{"replica", "redis://default:redis-pw@" + replica + " role=replica", probe.OK, nil},
		{"master wanted, replica found", "redis://:redis-pw@" + replica + " role=master", probe.NotReady, []string{"is a replica", "role:slave, want master"}},
		{"replica wanted, master found", "redis://:redis-pw@" + master + " role=replica", probe.NotReady, []string{"is a master"}},
		{"no password", "redis://" + master + " role=master", probe.AuthFailed, []string{"wants a password"}},
		{"ping semantics stay", "redis://" + master, probe.OK, nil},
		{"not a cluster", "redis://:redis-pw@" + master + " cluster=true", probe.Unexpected, []string{"not in cluster mode"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := attempt(t, target(t, tc.spec), 2*time.Second)
			checkResult(t, r, probe.Protocol, tc.want)
			checkText(t, r, tc.text...)
			if strings.Contains(r.Diagnosis()+r.Hint, "redis-pw") {
				t.Errorf("the result shows the password: %s / %s", r.Diagnosis(), r.Hint)
			}
		})
	}
	t.Run("link down", func(t *testing.T) {
		// Point the replica at a port where nothing listens: its link
		// goes down and stays so, while it still answers PING.
		_, down, _ := net.SplitHostPort(loopback.Refused(t))
		redisAuthDo(t, replica, "redis-pw", "REPLICAOF", "127.0.0.1", down)
		var r probe.Result
		eventually(t, 30*time.Second, "the link down", func() bool {
			r = attempt(t, target(t, "redis://:redis-pw@"+replica+" role=replica"), 2*time.Second)
			return r.Outcome == probe.NotReady
		})
		checkText(t, r, "master_link_status:down", "not in sync with its master 127.0.0.1:"+down)
		checkResult(t, attempt(t, target(t, "redis://:redis-pw@"+replica), 2*time.Second), probe.Protocol, probe.OK)
	})
}

// redisAuthDo sends AUTH and one command on one connection; the command's
// reply must be +OK.
func redisAuthDo(t *testing.T, addr, password string, args ...string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for _, cmd := range [][]string{{"AUTH", password}, args} {
		fmt.Fprintf(c, "*%d\r\n", len(cmd))
		for _, a := range cmd {
			fmt.Fprintf(c, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	if !strings.Contains(string(buf[:n]), "+OK\r\n+OK") {
		// The two replies may come in two reads.
		m, _ := c.Read(buf[n:])
		n += m
	}
	if got := string(buf[:n]); strings.Count(got, "+OK") != 2 {
		t.Fatalf("%v: %q", args, got)
	}
}

// TestRedisCluster: cluster=true against three private masters in cluster
// mode: fail before the slots are assigned and the nodes meet, ok after.
func TestRedisCluster(t *testing.T) {
	var nodes []string
	for range 3 {
		dir := t.TempDir()
		nodes = append(nodes, startRedis(t, dir, "--cluster-enabled", "yes", "--cluster-config-file", dir+"/nodes.conf", "--cluster-node-timeout", "2000"))
	}
	r := attempt(t, target(t, "redis://"+nodes[0]+" cluster=true"), 2*time.Second)
	checkResult(t, r, probe.Protocol, probe.NotReady)
	checkText(t, r, "cluster_state:fail", "0 of 16384 assigned")
	checkResult(t, attempt(t, target(t, "redis://"+nodes[0]), 2*time.Second), probe.Protocol, probe.OK) // PING: up

	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	for i, n := range nodes {
		if got := redisDo(t, n, "CLUSTER", "ADDSLOTSRANGE", fmt.Sprint(ranges[i][0]), fmt.Sprint(ranges[i][1])); got != "+OK" {
			t.Fatalf("ADDSLOTSRANGE: %s", got)
		}
	}
	for _, n := range nodes[1:] {
		h, p, _ := net.SplitHostPort(n)
		if got := redisDo(t, nodes[0], "CLUSTER", "MEET", h, p); got != "+OK" {
			t.Fatalf("CLUSTER MEET: %s", got)
		}
	}
	for _, n := range nodes {
		waitReady(t, target(t, "redis://"+n+" cluster=true"))
	}
}
