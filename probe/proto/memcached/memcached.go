// Package memcached checks a memcached server with its text protocol's
// `version` command.
//
// It imports only probe/proto (and the standard library): it knows
// nothing of targets, retries or logs.
package memcached

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/depprobe/depprobe/probe/proto"
)

// Check sends `version` and wants `VERSION <version>`
// (https://github.com/memcached/memcached/blob/master/doc/protocol.txt).
// Replies:
//
//   - "ERROR Too many open connections" (what memcached writes to a
//     connection above its -c limit before it closes it) and any
//     SERVER_ERROR (out of memory, …) are not_ready;
//   - "CLIENT_ERROR unauthenticated" comes from a server that requires
//     the text protocol's authentication (-Y authfile). Without a password
//     in the URL that is ready: the server is up, the application holds
//     the password. With one, the probe logs in (`set` of the user and the
//     password, as the protocol's authentication is written) and asks
//     `version` again; "CLIENT_ERROR authentication failure" is auth_failed.
//
// The password is sent only to a server that asked for it: one without
// authentication would store it as a value.
func Check(ctx context.Context, conn net.Conn, in proto.Input) error {
	if _, err := conn.Write([]byte("version\r\n")); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	line, err := proto.ReadLine(r)
	if err != nil {
		return err
	}
	v := reply(in, line)
	if v != errUnauthenticated {
		return v
	}
	if !in.HasPassword {
		return nil // up; the application holds the password
	}
	user := in.User
	if user == "" {
		user = "depprobe"
	}
	secret := user + " " + in.Password
	auth := "set depprobe 0 0 " + strconv.Itoa(len(secret)) + "\r\n" + secret + "\r\nversion\r\n"
	if _, err := conn.Write([]byte(auth)); err != nil {
		return err
	}
	line, err = proto.ReadLine(r)
	if err != nil {
		return err
	}
	if line != "STORED" {
		if strings.HasPrefix(line, "CLIENT_ERROR") {
			return proto.Failf(proto.AuthFailed, "server says %q", proto.ServerText(proto.Scrub(line, in.Password)))
		}
		return proto.Failf(proto.Unexpected, "the login answered %q, want STORED", proto.QuoteReply(proto.Scrub(line, in.Password)))
	}
	line, err = proto.ReadLine(r)
	if err != nil {
		return err
	}
	if err := reply(in, line); err != errUnauthenticated {
		return err
	}
	return proto.Failf(proto.AuthFailed, "server says %q after the login", "CLIENT_ERROR unauthenticated")
}

// errUnauthenticated is reply's answer to "CLIENT_ERROR unauthenticated".
var errUnauthenticated = proto.Failf(proto.Unexpected, "server says %q", "CLIENT_ERROR unauthenticated")

// reply maps the answer to `version`: nil for VERSION, errUnauthenticated
// for a server that wants a login first, else a failure naming the outcome.
func reply(in proto.Input, line string) error {
	line = proto.Scrub(line, in.Password)
	switch {
	case strings.HasPrefix(line, "VERSION "):
		return nil
	case line == "CLIENT_ERROR unauthenticated":
		return errUnauthenticated
	case strings.HasPrefix(line, "ERROR Too many open connections"):
		return proto.FailHint(proto.NotReady, fmt.Sprintf("memcached on %s is at its connection limit (-c, maxconns): wait, or raise it", in.Addr),
			fmt.Errorf("server says %q", proto.ServerText(line)))
	case strings.HasPrefix(line, "SERVER_ERROR"):
		return proto.Failf(proto.NotReady, "server says %q", proto.ServerText(line))
	}
	return proto.Failf(proto.Unexpected, "not a memcached server: version answered %q, want VERSION", proto.QuoteReply(line))
}
