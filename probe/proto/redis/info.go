package redis

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/depprobe/depprobe/probe/proto"
)

// maxBulk caps a bulk reply (INFO replication and CLUSTER INFO are a few
// hundred bytes; INFO of a replica with many sub-replicas a few KiB).
const maxBulk = 64 << 10

// ask checks what role= and cluster= want after the PING:
//
//   - INFO replication (https://redis.io/docs/latest/commands/info/):
//     role=master wants role:master; role=replica wants role:slave and
//     master_link_status:up (a replica still syncing, or cut off from its
//     master, is not_ready);
//   - CLUSTER INFO (https://redis.io/docs/latest/commands/cluster-info/):
//     cluster=true wants cluster_state:ok (a node whose cluster has slots
//     without a master, or that cannot reach a majority, says fail).
func ask(conn net.Conn, r *bufio.Reader, in proto.Input, opts Options) error {
	if opts.Role != "" {
		info, err := command(conn, r, in, "INFO", "replication")
		if err != nil {
			return err
		}
		role, link := info["role"], info["master_link_status"]
		switch {
		case opts.Role == "master" && role != "master":
			return proto.FailHint(proto.NotReady,
				fmt.Sprintf("Redis on %s is a %s, and role=master wants the master: wait for a failover, or point the target at the master (Sentinel: SENTINEL get-master-addr-by-name)", in.Addr, replicaWord(role)),
				fmt.Errorf("INFO replication says role:%s, want master", proto.Printable(role, 20)))
		case opts.Role == "replica" && role != "slave":
			return proto.FailHint(proto.NotReady,
				fmt.Sprintf("Redis on %s is a %s, and role=replica wants a replica: is the target the replica's address?", in.Addr, proto.Printable(role, 20)),
				fmt.Errorf("INFO replication says role:%s, want a replica", proto.Printable(role, 20)))
		case opts.Role == "replica" && link != "up":
			return proto.FailHint(proto.NotReady,
				fmt.Sprintf("the Redis replica on %s is not in sync with its master %s: the master is down or unreachable, or the first sync is still running; wait for it", in.Addr, masterAddr(info)),
				fmt.Errorf("INFO replication says master_link_status:%s, want up", proto.Printable(link, 20)))
		}
	}
	if opts.Cluster {
		info, err := command(conn, r, in, "CLUSTER", "INFO")
		if err != nil {
			return err
		}
		if st := info["cluster_state"]; st != "ok" {
			return proto.FailHint(proto.NotReady,
				fmt.Sprintf("the Redis cluster of %s is not ok: slots without a master (%s of 16384 assigned), or this node cannot reach a majority of masters; wait for the cluster to form or fail over", in.Addr, proto.Printable(info["cluster_slots_assigned"], 8)),
				fmt.Errorf("CLUSTER INFO says cluster_state:%s, want ok", proto.Printable(st, 20)))
		}
	}
	return nil
}

func replicaWord(role string) string {
	if role == "slave" {
		return "replica"
	}
	return proto.Printable(role, 20)
}

// masterAddr names a replica's master from INFO replication.
func masterAddr(info map[string]string) string {
	h, p := info["master_host"], info["master_port"]
	if h == "" {
		return "(unknown)"
	}
	return proto.Printable(net.JoinHostPort(h, p), 80)
}

// command sends a command whose reply is a bulk string of "key:value"
// lines (INFO, CLUSTER INFO) and returns them as a map.
func command(conn net.Conn, r *bufio.Reader, in proto.Input, args ...string) (map[string]string, error) {
	if _, err := conn.Write(redisCommand(nil, args...)); err != nil {
		return nil, err
	}
	line, err := redisReply(r)
	if err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(line, "-ERR This instance has cluster support disabled"):
		return nil, proto.FailHint(proto.Unexpected,
			fmt.Sprintf("Redis on %s is not in cluster mode: drop cluster=true, or point the target at a cluster node", in.Addr),
			fmt.Errorf("server says %q", proto.ServerText(strings.TrimPrefix(line, "-"))))
	case strings.HasPrefix(line, "-NOPERM"):
		return nil, proto.FailHint(proto.Unexpected,
			fmt.Sprintf("the URL's user may not run %s on %s: allow it (ACL SETUSER user +info +cluster|info), or use another user", strings.Join(args, " "), in.Addr),
			fmt.Errorf("server says %q", proto.ServerText(strings.TrimPrefix(line, "-"))))
	case strings.HasPrefix(line, "-"):
		return nil, redisError(in, line, false)
	case !strings.HasPrefix(line, "$"):
		return nil, proto.Failf(proto.Unexpected, "%s answered %q, want a bulk string", args[0], proto.QuoteReply(line))
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 || n > maxBulk {
		return nil, proto.Failf(proto.Unexpected, "%s answered a bulk string of %q bytes (at most %d)", args[0], proto.QuoteReply(line[1:]), maxBulk)
	}
	body := make([]byte, n+2)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return infoFields(string(body[:n])), nil
}

// infoFields reads INFO's "key:value" lines; '#' lines are sections.
func infoFields(s string) map[string]string {
	f := map[string]string{}
	for line := range strings.Lines(s) {
		line = strings.TrimRight(line, "\r\n")
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(k, "#") {
			f[k] = v
		}
	}
	return f
}
