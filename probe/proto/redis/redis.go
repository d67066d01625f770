// Package redis checks a Redis server like `redis-cli ping`: PING answered by
// +PONG, after AUTH when the URL has a password.
//
// It imports only probe/proto (and the standard library): it knows
// nothing of targets, retries or logs.
package redis

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/depprobe/depprobe/probe/proto"
)

// Options are what a redis:// or rediss:// target's options set. The zero
// value is `redis-cli ping`.
type Options struct {
	// Role is "master" or "replica" (whose link to its master must be up);
	// empty: either.
	Role string
	// Cluster: the node must say cluster_state:ok (CLUSTER INFO).
	Cluster bool
}

func (o Options) asks() bool { return o.Role != "" || o.Cluster }

// Check is `redis-cli ping` (https://redis.io/docs/latest/commands/ping/):
// PING must answer +PONG. When the URL has a password it sends AUTH first
// (AUTH user password for an ACL user, https://redis.io/docs/latest/commands/auth/;
// a user name without a password sends no AUTH),
// pipelined with the PING in one write. Replies:
//
//   - LOADING (the dataset is being read into memory), MASTERDOWN (a replica
//     that lost its master with replica-serve-stale-data no), BUSY (a script
//     runs) and "max number of clients reached" are not_ready;
//   - NOAUTH without a password in the URL is ready: the server is up and
//     answering, the application holds the password;
//   - a rejected AUTH (WRONGPASS, invalid password, or a password given to a
//     server that has none) is auth_failed;
//   - NOPERM after a successful AUTH is ready: the user may not PING, but the
//     server is up;
//   - DENIED (protected mode) and anything else is unexpected.
//
// The URL's path (a database number) is not used: PING does not depend on it.
// Protocol: https://redis.io/docs/latest/develop/reference/protocol-spec/
//
// With role= or cluster=true, the PING is followed by INFO replication
// (and CLUSTER INFO): see ask.
func Check(ctx context.Context, conn net.Conn, in proto.Input, opts Options) error {
	pass := in.Password
	var req []byte
	withAuth := pass != ""
	if withAuth {
		args := []string{"AUTH", pass}
		if u := in.User; u != "" {
			args = []string{"AUTH", u, pass}
		}
		req = redisCommand(req, args...)
	}
	req = redisCommand(req, "PING")
	if _, err := conn.Write(req); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	if withAuth {
		line, err := redisReply(r)
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "-") {
			return redisError(in, line, true)
		}
	}
	line, err := redisReply(r)
	if err != nil {
		return err
	}
	switch {
	case line == "+PONG" && opts.asks():
		return ask(conn, r, in, opts)
	case line == "+PONG":
		return nil
	case strings.HasPrefix(line, "-NOAUTH") && opts.asks():
		return proto.FailHint(proto.AuthFailed,
			fmt.Sprintf("Redis on %s wants a password, and role= or cluster= need to log in: put it in the URL (redis://[user]:PASSWORD@…, in a Secret: DEPPROBE_TARGETS_FILE); waiting will not fix this", in.Addr),
			fmt.Errorf("server says %q", proto.ServerText(strings.TrimPrefix(line, "-"))))
	case strings.HasPrefix(line, "-"):
		return redisError(in, line, false)
	}
	return proto.Failf(proto.Unexpected, "PING answered %q, want +PONG", proto.QuoteReply(line))
}

// redisCommand appends a command as a RESP array of bulk strings.
func redisCommand(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, "\r\n"...)
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}

// redisReply reads a simple reply line; a reply that is not RESP means the
// peer is not a Redis server.
func redisReply(r *bufio.Reader) (string, error) {
	line, err := proto.ReadLine(r)
	if err != nil {
		return "", err
	}
	if line == "" || !strings.ContainsRune("+-:$*_#,(!=%~>|", rune(line[0])) {
		return "", proto.Failf(proto.Unexpected, "not a Redis server: it answered %q", proto.QuoteReply(line))
	}
	return line, nil
}

// redisError maps an error reply ("-CODE message"); auth tells whether it
// answered AUTH.
func redisError(in proto.Input, line string, auth bool) error {
	msg := proto.Scrub(strings.TrimPrefix(line, "-"), in.Password)
	code, _, _ := strings.Cut(msg, " ")
	err := fmt.Errorf("server says %q", proto.ServerText(msg))
	addr := in.Addr
	switch {
	case code == "LOADING":
		return proto.FailHint(proto.NotReady, fmt.Sprintf("Redis on %s is loading its dataset into memory: wait for it", addr), err)
	case code == "MASTERDOWN":
		return proto.FailHint(proto.NotReady, fmt.Sprintf("the Redis replica on %s lost its master and replica-serve-stale-data is no: wait for the link to the master", addr), err)
	case code == "BUSY":
		return proto.FailHint(proto.NotReady, fmt.Sprintf("Redis on %s is busy running a script or function: wait for it, or SCRIPT KILL", addr), err)
	case strings.Contains(msg, "max number of clients"):
		return proto.FailHint(proto.NotReady, fmt.Sprintf("Redis on %s is at maxclients: wait, or raise maxclients", addr), err)
	case code == "NOAUTH" && in.Password == "":
		return nil // up; the application holds the password
	case code == "NOPERM" && !auth:
		return nil // authenticated, not allowed to PING, but up
	case auth && (code == "WRONGPASS" || strings.Contains(msg, "password") || code == "NOAUTH"):
		return proto.Fail(proto.AuthFailed, err)
	case code == "DENIED":
		return proto.FailHint(proto.Unexpected, fmt.Sprintf("Redis on %s is in protected mode and refuses clients from other hosts: set a password (requirepass) or protected-mode no", addr), err)
	}
	return proto.Fail(proto.Unexpected, err)
}
