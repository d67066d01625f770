// Package nats checks a NATS server: its INFO line, then CONNECT and PING
// answered by PONG.
//
// It imports only probe/proto (and the standard library): it knows
// nothing of targets, retries or logs.
package nats

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"

	"github.com/depprobe/depprobe/probe/proto"
)

// Check reads the INFO line a NATS server sends first
// (https://docs.nats.io/reference/reference-protocols/nats-protocol#info).
// A server in lame duck mode (shutting down, "ldm" in INFO) is not_ready.
// Unless the server requires TLS, which this plain connection cannot offer,
// the probe then sends CONNECT and PING and wants PONG, because a server
// at max_connections sends INFO before it refuses with
// "-ERR 'maximum connections exceeded'" (not_ready). CONNECT carries the
// URL's user and password (or a user name alone as a token); a refusal of
// them is auth_failed. Without credentials in the URL a server that requires
// them (auth_required in INFO) is ready after INFO: it is up, the
// application holds the credentials.
func Check(ctx context.Context, conn net.Conn, in proto.Input) error {
	r := bufio.NewReader(conn)
	line, err := proto.ReadLine(r)
	if err != nil {
		return err
	}
	if strings.HasPrefix(line, "-ERR") {
		return natsError(in, line)
	}
	info, err := parseInfo(line)
	if err != nil {
		return err
	}
	if info.LameDuck {
		return proto.FailHint(proto.NotReady, fmt.Sprintf("the NATS server on %s is in lame duck mode (shutting down): wait for it or its replacement", in.Addr),
			fmt.Errorf("server is in lame duck mode"))
	}
	if info.TLSRequired {
		return nil // INFO is all a plain connection can get
	}
	if info.AuthRequired && !in.HasUser {
		return nil // up; a CONNECT without credentials would only add an error to the server's log
	}
	connect := map[string]any{"verbose": false, "pedantic": false, "name": "depprobe", "lang": "go", "version": "0", "protocol": 1}
	switch user, pass := in.User, in.Password; {
	case pass != "":
		connect["user"], connect["pass"] = user, pass
	case user != "":
		connect["auth_token"] = user
	}
	js, _ := json.Marshal(connect)
	if _, err := fmt.Fprintf(conn, "CONNECT %s\r\nPING\r\n", js); err != nil {
		return err
	}
	for range 8 { // skip INFO updates and +OK
		line, err := proto.ReadLine(r)
		if err != nil {
			return err
		}
		switch verb, _, _ := strings.Cut(line, " "); strings.ToUpper(verb) {
		case "PONG":
			return nil
		case "-ERR":
			return natsError(in, line)
		case "PING":
			conn.Write([]byte("PONG\r\n"))
		}
	}
	return proto.Failf(proto.Unexpected, "no PONG after CONNECT and PING")
}

// info is what the probe reads of a server's INFO.
type info struct {
	TLSRequired  bool `json:"tls_required"`
	AuthRequired bool `json:"auth_required"`
	LameDuck     bool `json:"ldm"`
}

// parseInfo decodes an "INFO {json}" line; anything else is Unexpected.
func parseInfo(line string) (info, error) {
	var i info
	verb, payload, _ := strings.Cut(line, " ")
	if !strings.EqualFold(verb, "INFO") || json.Unmarshal([]byte(payload), &i) != nil {
		return i, proto.Failf(proto.Unexpected, "not a NATS server: it answered %q, want INFO", proto.QuoteReply(line))
	}
	return i, nil
}

// natsError maps a "-ERR 'message'" line.
func natsError(in proto.Input, line string) error {
	msg := strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "-ERR")), "'")
	err := fmt.Errorf("server says %q", proto.Scrub(proto.ServerText(msg), in.Password))
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "maximum connections exceeded"):
		return proto.FailHint(proto.NotReady, fmt.Sprintf("the NATS server on %s is at max_connections: wait, or raise max_connections", in.Addr), err)
	case strings.Contains(lower, "authorization violation") || strings.Contains(lower, "authentication"):
		if !in.HasUser {
			return nil // up; the application holds the credentials
		}
		return proto.Fail(proto.AuthFailed, err)
	}
	return proto.Fail(proto.Unexpected, err)
}
