// Package mongodb checks a MongoDB server (or one that speaks its wire
// protocol: FerretDB, Amazon DocumentDB, Azure Cosmos DB for MongoDB) with
// the `hello` command, after a SCRAM login when the URL has credentials.
//
// It imports only probe/proto (and the standard library): it knows
// nothing of targets, retries or logs.
package mongodb

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"

	"github.com/depprobe/depprobe/probe/proto"
)

// Options are a mongodb target's options.
type Options struct {
	// Primary: only a writable primary is ready (role=primary).
	Primary bool
}

// maxReply caps a reply: a hello answer is a few hundred bytes (the
// server's own limit for a message is 48 MB).
const maxReply = 64 << 10

// Server error codes the probe tells apart
// (https://www.mongodb.com/docs/manual/reference/error-codes/).
var notReadyCodes = map[int]string{
	11600: "InterruptedAtShutdown",
	91:    "ShutdownInProgress",
	189:   "PrimarySteppedDown",
	13436: "NotPrimaryOrSecondary",
	10107: "NotWritablePrimary",
	13435: "NotPrimaryNoSecondaryOk",
}

const (
	codeAuthenticationFailed = 18
	codeCommandNotFound      = 59
)

// Check sends `hello` (https://www.mongodb.com/docs/manual/reference/command/hello/)
// in an OP_MSG (https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/),
// falling back to `isMaster` for a server older than 4.4.2 that does not
// know `hello`, and decides as drivers classify a server
// (https://github.com/mongodb/specifications/blob/master/source/server-discovery-and-monitoring/server-discovery-and-monitoring.md):
//
//   - a standalone server, a mongos and a replica set's primary are ready;
//   - a secondary (or an arbiter) is ready, unless role=primary asks for a
//     writable primary: then not_ready, naming the primary it knows;
//   - a member that is neither (STARTUP2, RECOVERING, ROLLBACK: the
//     driver's "RSOther") and a member whose replica set is not initiated
//     yet ("RSGhost") are not_ready;
//   - an error answer for shutdown or a lost primary is not_ready.
//
// With a user and password in the URL it first logs in with SCRAM-SHA-256
// or SCRAM-SHA-1, whichever the server lists for the user
// (saslSupportedMechs), in the authSource database (the URL's query),
// else the URL's database, else admin; a refusal is auth_failed. A
// replicaSet in the URL's query must match the server's set name.
func Check(ctx context.Context, conn net.Conn, in proto.Input, o Options) error {
	q := query(in)
	authDB := q.Get("authSource")
	if authDB == "" {
		authDB = strings.TrimPrefix(in.Path, "/")
	}
	if authDB == "" {
		authDB = "admin"
	}
	c := &client{conn: conn}
	hello := new(doc).int32("hello", 1)
	hello.doc("client", new(doc).
		doc("application", new(doc).str("name", "depprobe")).
		doc("driver", new(doc).str("name", "depprobe").str("version", "1")).
		doc("os", new(doc).str("type", "unknown")))
	login := in.HasUser && in.HasPassword
	if login {
		hello.str("saslSupportedMechs", authDB+"."+in.User)
	}
	reply, err := c.command(hello.str("$db", "admin"))
	if err != nil {
		return err
	}
	if code, _ := reply.num("code"); code == codeCommandNotFound {
		// Before 4.4.2 (and 4.2.10, 4.0.21, 3.6.21): isMaster.
		legacy := new(doc).int32("isMaster", 1)
		if login {
			legacy.str("saslSupportedMechs", authDB+"."+in.User)
		}
		if reply, err = c.command(legacy.str("$db", "admin")); err != nil {
			return err
		}
	}
	if err := replyError(in, reply, "hello"); err != nil {
		return err
	}
	if login {
		mech := "SCRAM-SHA-1"
		for _, m := range reply.strings("saslSupportedMechs") {
			if m == "SCRAM-SHA-256" {
				mech = m
			}
		}
		if len(reply.strings("saslSupportedMechs")) == 0 {
			mech = "SCRAM-SHA-256" // the user is unknown, or the server does not say: the default since 4.0
		}
		if err := c.scram(in, mech, authDB); err != nil {
			return err
		}
	}
	return verdict(in, reply, o, q.Get("replicaSet"))
}

// query is the URL's query, parsed.
func query(in proto.Input) url.Values {
	_, raw, _ := strings.Cut(in.RequestURI, "?")
	q, _ := url.ParseQuery(raw)
	return q
}

// verdict classifies the server from its hello answer.
func verdict(in proto.Input, h fields, o Options, wantSet string) error {
	setName := h.str("setName")
	primary := h.bool("isWritablePrimary") || h.bool("ismaster")
	if wantSet != "" && setName != wantSet {
		what := "not a replica set member"
		if setName != "" {
			what = fmt.Sprintf("a member of replica set %q", setName)
		}
		return proto.FailHint(proto.Unexpected, fmt.Sprintf("the URL's replicaSet=%s does not match the server on %s: is it the right host, or the right set name?", wantSet, in.Addr),
			fmt.Errorf("the server is %s, not of %q", what, wantSet))
	}
	switch {
	case primary, h.str("msg") == "isdbgrid":
		return nil // a standalone server, a primary, a mongos
	case h.bool("isreplicaset"):
		return proto.FailHint(proto.NotReady, fmt.Sprintf("the MongoDB server on %s was started as a replica set member, but the set is not initiated yet: run rs.initiate() (or wait for the init job that does)", in.Addr),
			fmt.Errorf("replica set member without a configuration (not initiated)"))
	case setName == "":
		// Not primary, not a set member: a standalone server always says
		// ismaster, so this is something else.
		return proto.Failf(proto.Unexpected, "the server says it is neither primary nor a replica set member")
	}
	known := "it knows no primary (an election is under way)"
	if p := h.str("primary"); p != "" {
		known = "its primary is " + proto.Printable(p, 100)
	}
	state := ""
	switch {
	case h.bool("secondary"):
		state = "secondary"
	case h.bool("arbiterOnly"):
		state = "arbiter"
	}
	if state == "" {
		return proto.FailHint(proto.NotReady, fmt.Sprintf("the member on %s of replica set %q is neither primary nor secondary: it is starting (STARTUP2: initial sync), recovering (RECOVERING, ROLLBACK) or removed; wait for it", in.Addr, setName),
			fmt.Errorf("member of replica set %q, neither primary nor secondary; %s", proto.Printable(setName, 100), known))
	}
	if !o.Primary {
		return nil
	}
	return proto.FailHint(proto.NotReady, fmt.Sprintf("role=primary wants the writable primary; %s is a %s of %q: list the other members in the URL (mongodb://m1,m2,m3/?replicaSet=%s), or wait for an election", in.Addr, state, setName, setName),
		fmt.Errorf("%s of replica set %q, not the primary; %s", state, proto.Printable(setName, 100), known))
}

// replyError maps a reply with ok: 0.
func replyError(in proto.Input, f fields, command string) error {
	if ok, _ := f.num("ok"); ok == 1 {
		return nil
	}
	code, _ := f.num("code")
	msg := proto.ServerText(proto.Scrub(f.str("errmsg"), in.Password))
	err := fmt.Errorf("%s: error %d (%s): %s", command, int(code), proto.Printable(f.str("codeName"), 60), msg)
	if name, ok := notReadyCodes[int(code)]; ok {
		return proto.FailHint(proto.NotReady, fmt.Sprintf("the MongoDB server on %s answered %s: it is shutting down, or its replica set is changing primary; wait for it", in.Addr, name), err)
	}
	if code == codeAuthenticationFailed {
		return proto.Fail(proto.AuthFailed, err)
	}
	return proto.Fail(proto.Unexpected, err)
}

// client is one connection's OP_MSG exchange.
type client struct {
	conn net.Conn
	id   int32
}

const opMsg = 2013

// command sends one OP_MSG with body d and returns the reply's body.
func (c *client) command(d *doc) (fields, error) {
	c.id++
	body := d.bytes()
	msg := make([]byte, 16, 16+4+1+len(body))
	binary.LittleEndian.PutUint32(msg[4:], uint32(c.id))
	binary.LittleEndian.PutUint32(msg[12:], opMsg)
	msg = binary.LittleEndian.AppendUint32(msg, 0) // flagBits
	msg = append(msg, 0)                           // section kind 0: the body
	msg = append(msg, body...)
	binary.LittleEndian.PutUint32(msg, uint32(len(msg)))
	if _, err := c.conn.Write(msg); err != nil {
		return nil, err
	}
	var head [16]byte
	if _, err := io.ReadFull(c.conn, head[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(head[:])
	if n < 16 || n > maxReply {
		return nil, proto.Failf(proto.Unexpected, "not a MongoDB server: a reply of %d bytes (it sent %q)", n, proto.QuoteReply(string(head[:])))
	}
	rest := make([]byte, n-16)
	if _, err := io.ReadFull(c.conn, rest); err != nil {
		return nil, err
	}
	return parseReply(append(head[:], rest...), c.id)
}

// parseReply reads an OP_MSG reply to request id: its body section.
func parseReply(b []byte, id int32) (fields, error) {
	if len(b) < 21 || int(binary.LittleEndian.Uint32(b)) != len(b) {
		return nil, proto.Failf(proto.Unexpected, "not a MongoDB reply: cut short")
	}
	if op := binary.LittleEndian.Uint32(b[12:]); op != opMsg {
		return nil, proto.Failf(proto.Unexpected, "not a MongoDB reply: opcode %d, want OP_MSG", op)
	}
	if to := int32(binary.LittleEndian.Uint32(b[8:])); to != id {
		return nil, proto.Failf(proto.Unexpected, "not a MongoDB reply: responseTo %d, want %d", to, id)
	}
	flags := binary.LittleEndian.Uint32(b[16:])
	b = b[20:]
	if flags&1 != 0 { // checksumPresent: a CRC-32C after the sections
		if len(b) < 4 {
			return nil, proto.Failf(proto.Unexpected, "not a MongoDB reply: cut short")
		}
		b = b[:len(b)-4]
	}
	for len(b) > 0 {
		kind := b[0]
		b = b[1:]
		if len(b) < 4 {
			break
		}
		n := int(binary.LittleEndian.Uint32(b))
		if n < 5 || n > len(b) {
			break
		}
		if kind == 0 {
			return decode(b[:n])
		}
		b = b[n:] // kind 1, a document sequence: its size covers it whole
	}
	return nil, proto.Failf(proto.Unexpected, "not a MongoDB reply: no body section")
}
