// Package kafka checks an Apache Kafka broker (or one that speaks its
// protocol: Redpanda, WarpStream, …): ApiVersions, then Metadata, and
// optionally a topic's partitions and leaders.
//
// It imports only probe/proto (and the standard library): it knows
// nothing of targets, retries or logs.
package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/depprobe/depprobe/probe/proto"
)

// Options are a kafka target's options.
type Options struct {
	// Topic, when set, must exist with a leader for every partition.
	Topic string
}

// API keys and the versions the probe speaks
// (https://kafka.apache.org/protocol#protocol_api_keys).
const (
	apiMetadata         = 3
	apiSASLHandshake    = 17
	apiVersions         = 18
	apiSASLAuthenticate = 36

	// Metadata v4: the oldest version Kafka 4 still answers (KIP-896
	// removed 0 to 3), answered by every broker since 1.0, and the newest
	// without the flexible encoding (v9).
	metadataVersion = 4
)

// Kafka error codes the probe tells apart
// (https://kafka.apache.org/protocol#protocol_error_codes).
const (
	errUnknownTopic       = 3
	errLeaderNotAvailable = 5
	errNotLeader          = 6
	errTopicAuthorization = 29
	errUnsupportedSASL    = 33
	errIllegalSASLState   = 34
	errSASLAuthentication = 58
)

// maxResponse caps a response: a Metadata answer for one topic of 10,000
// partitions of three replicas is about 400 KiB.
const maxResponse = 1 << 20

// Check speaks to one broker
// (https://kafka.apache.org/protocol#protocol_messages):
//
//  1. ApiVersions v0, which every broker answers before anything else
//     (even before SASL): not a Kafka broker otherwise; the broker must
//     offer Metadata v4.
//  2. With a user in the URL, SASL PLAIN: SaslHandshake v1 and
//     SaslAuthenticate v0; a refusal is auth_failed. (PLAIN only:
//     SCRAM and OAUTHBEARER are not spoken.)
//  3. Metadata v4 for no topic (or for Options.Topic, never creating it):
//     ready when the answer names a controller; a broker that knows of
//     none (a KRaft quorum without a leader, a broker still joining) is
//     not_ready.
//  4. With a topic: it must exist (UNKNOWN_TOPIC_OR_PARTITION is
//     not_ready: it has not been created yet) and every partition must
//     have a leader (LEADER_NOT_AVAILABLE, leader -1: not_ready).
func Check(ctx context.Context, conn net.Conn, in proto.Input, o Options) error {
	c := &client{conn: conn}
	body, err := c.call(apiVersions, 0, nil)
	if err != nil {
		return err
	}
	versions, err := parseAPIVersions(body)
	if err != nil {
		return err
	}
	if r, ok := versions[apiMetadata]; !ok || r[0] > metadataVersion || r[1] < metadataVersion {
		return proto.Failf(proto.Unexpected, "the broker does not answer Metadata v%d (it offers %v): a broker older than Kafka 1.0?", metadataVersion, r)
	}
	if in.HasUser {
		if err := c.plain(in, versions); err != nil {
			return err
		}
	}
	var req []byte
	if o.Topic == "" {
		req = binary.BigEndian.AppendUint32(req, 0) // no topic: the brokers and the controller only
	} else {
		req = binary.BigEndian.AppendUint32(req, 1)
		req = appendString(req, o.Topic)
	}
	req = append(req, 0) // allow_auto_topic_creation: false, a probe never creates a topic
	body, err = c.call(apiMetadata, metadataVersion, req)
	if err != nil {
		if errors.Is(err, io.EOF) && !in.HasUser {
			return proto.FailHint(proto.Closed, fmt.Sprintf("%s answered ApiVersions, then closed the connection at Metadata: a SASL listener? Give the URL a user and password (kafka://user:password@host)", in.Addr), err)
		}
		return err
	}
	m, err := parseMetadata(body)
	if err != nil {
		return err
	}
	return m.verdict(in, o)
}

// client is one connection's request/response exchange.
type client struct {
	conn net.Conn
	id   int32 // the last correlation id
}

// call sends one request (header v1: api key, version, correlation id,
// client id) and returns the response body after its correlation id.
func (c *client) call(api, version int16, body []byte) ([]byte, error) {
	c.id++
	req := make([]byte, 4, 4+10+len("depprobe")+len(body))
	req = binary.BigEndian.AppendUint16(req, uint16(api))
	req = binary.BigEndian.AppendUint16(req, uint16(version))
	req = binary.BigEndian.AppendUint32(req, uint32(c.id))
	req = appendString(req, "depprobe")
	req = append(req, body...)
	binary.BigEndian.PutUint32(req, uint32(len(req)-4))
	if _, err := c.conn.Write(req); err != nil {
		return nil, err
	}
	var head [8]byte
	if _, err := io.ReadFull(c.conn, head[:4]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(head[:4])
	if size < 4 || size > maxResponse {
		return nil, proto.Failf(proto.Unexpected, "not a Kafka broker: a response of %d bytes (it sent %q)", size, proto.QuoteReply(string(head[:4])))
	}
	resp := make([]byte, size)
	if _, err := io.ReadFull(c.conn, resp); err != nil {
		return nil, err
	}
	if id := int32(binary.BigEndian.Uint32(resp)); id != c.id {
		return nil, proto.Failf(proto.Unexpected, "not a Kafka broker: correlation id %d, want %d", id, c.id)
	}
	return resp[4:], nil
}

// plain logs in with SASL PLAIN (KIP-43, KIP-152).
func (c *client) plain(in proto.Input, versions map[int16][2]int16) error {
	if r, ok := versions[apiSASLAuthenticate]; !ok || r[0] > 0 {
		return proto.Failf(proto.Unexpected, "the URL has a user, but the broker offers no SaslAuthenticate v0: is SASL enabled on this listener?")
	}
	body, err := c.call(apiSASLHandshake, 1, appendString(nil, "PLAIN"))
	if err != nil {
		return err
	}
	code, mechanisms, err := parseHandshake(body)
	if err != nil {
		return err
	}
	switch code {
	case 0:
	case errUnsupportedSASL, errIllegalSASLState:
		return proto.FailHint(proto.AuthFailed, fmt.Sprintf("the broker on %s does not take SASL PLAIN on this listener (it offers %s): depprobe speaks PLAIN only", in.Addr, strings.Join(mechanisms, ", ")),
			fmt.Errorf("SaslHandshake: error %d, mechanisms %q", code, mechanisms))
	default:
		return proto.Failf(proto.Unexpected, "SaslHandshake: error %d", code)
	}
	token := "\x00" + in.User + "\x00" + in.Password
	body, err = c.call(apiSASLAuthenticate, 0, appendBytes(nil, []byte(token)))
	if errors.Is(err, io.EOF) {
		// Brokers before 1.0 (and some that speak the protocol) close the
		// connection instead of answering a refused login, as Kafka's own
		// client reports it ("authentication failed due to invalid
		// credentials with brokers older than 1.0.0").
		return proto.Failf(proto.AuthFailed, "the broker closed the connection in answer to the SASL PLAIN login of %q", in.User)
	}
	if err != nil {
		return err
	}
	code, msg, err := parseAuthenticate(body)
	if err != nil {
		return err
	}
	switch code {
	case 0:
		return nil
	case errSASLAuthentication:
		return proto.Failf(proto.AuthFailed, "SaslAuthenticate: %s", proto.ServerText(proto.Scrub(msg, in.Password)))
	}
	return proto.Failf(proto.Unexpected, "SaslAuthenticate: error %d: %s", code, proto.ServerText(proto.Scrub(msg, in.Password)))
}

// metadata is what the probe reads of a Metadata v4 response.
type metadata struct {
	brokers    int
	cluster    string
	controller int32
	topics     []topic
}

type topic struct {
	code       int16
	name       string
	partitions []partition
}

type partition struct {
	code   int16
	index  int32
	leader int32
}

// verdict decides readiness from a Metadata answer.
func (m metadata) verdict(in proto.Input, o Options) error {
	if m.controller < 0 {
		return proto.FailHint(proto.NotReady, fmt.Sprintf("the broker on %s knows of no controller: the cluster is still electing one, or this broker is still joining; wait for it", in.Addr),
			fmt.Errorf("the Metadata answer names no controller (%d brokers known)", m.brokers))
	}
	if o.Topic == "" {
		return nil
	}
	if len(m.topics) != 1 {
		return proto.Failf(proto.Unexpected, "Metadata for topic %q answered %d topics", o.Topic, len(m.topics))
	}
	tp := m.topics[0]
	switch tp.code {
	case 0:
	case errUnknownTopic:
		return proto.FailHint(proto.NotReady, fmt.Sprintf("the topic %q does not exist (yet): is it created (by the application, an init job, or auto-creation on first produce), and spelled right?", o.Topic),
			fmt.Errorf("topic %q does not exist", o.Topic))
	case errLeaderNotAvailable:
		return proto.FailHint(proto.NotReady, fmt.Sprintf("the topic %q exists but has no leaders yet: it was just created, or its brokers are down; wait for it", o.Topic),
			fmt.Errorf("topic %q: leader not available", o.Topic))
	case errTopicAuthorization:
		return proto.FailHint(proto.Unexpected, fmt.Sprintf("the broker does not let this client describe the topic %q: an ACL (DESCRIBE on the topic) is missing for this user", o.Topic),
			fmt.Errorf("topic %q: TOPIC_AUTHORIZATION_FAILED", o.Topic))
	default:
		return proto.Failf(proto.Unexpected, "topic %q: error %d", o.Topic, tp.code)
	}
	if len(tp.partitions) == 0 {
		return proto.Failf(proto.NotReady, "topic %q has no partitions yet", o.Topic)
	}
	var leaderless []string
	for _, p := range tp.partitions {
		if p.leader < 0 || p.code == errLeaderNotAvailable || p.code == errNotLeader {
			leaderless = append(leaderless, fmt.Sprint(p.index))
		}
	}
	if len(leaderless) > 0 {
		if len(leaderless) > 8 {
			leaderless = append(leaderless[:8], "…")
		}
		return proto.FailHint(proto.NotReady, fmt.Sprintf("partitions of %q have no leader: their brokers are down or still starting; wait for them", o.Topic),
			fmt.Errorf("topic %q: %d of %d partitions have no leader (%s)", o.Topic, len(leaderless), len(tp.partitions), strings.Join(leaderless, ", ")))
	}
	return nil
}

// --- the wire: pure functions over bytes ---

// reader reads Kafka's big-endian primitives; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = proto.Failf(proto.Unexpected, "not a Kafka response: cut short")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) int16() int16 {
	if b := r.take(2); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *reader) int32() int32 {
	if b := r.take(4); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

// string reads a (nullable) string: int16 length, -1 for null.
func (r *reader) string() string {
	n := r.int16()
	if n < 0 {
		return ""
	}
	return string(r.take(int(n)))
}

// array reads an array's count; each element takes at least min bytes,
// so that a forged count cannot make a parser loop or allocate for long.
func (r *reader) array(min int) int {
	n := r.int32()
	if n < 0 {
		return 0
	}
	if int64(n)*int64(min) > int64(len(r.b)) {
		r.err = proto.Failf(proto.Unexpected, "not a Kafka response: an array of %d elements in %d bytes", n, len(r.b))
		return 0
	}
	return int(n)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendBytes(b, v []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// parseAPIVersions reads an ApiVersions v0 response body: each API key's
// supported versions [min, max].
func parseAPIVersions(b []byte) (map[int16][2]int16, error) {
	r := &reader{b: b}
	code := r.int16()
	n := r.array(6)
	versions := make(map[int16][2]int16, n)
	for range n {
		key, lo, hi := r.int16(), r.int16(), r.int16()
		versions[key] = [2]int16{lo, hi}
	}
	if r.err != nil {
		return nil, r.err
	}
	if code != 0 {
		return nil, proto.Failf(proto.Unexpected, "ApiVersions: error %d", code)
	}
	return versions, nil
}

// parseHandshake reads a SaslHandshake v1 response body.
func parseHandshake(b []byte) (code int16, mechanisms []string, err error) {
	r := &reader{b: b}
	code = r.int16()
	n := r.array(2)
	for range n {
		mechanisms = append(mechanisms, r.string())
	}
	return code, mechanisms, r.err
}

// parseAuthenticate reads a SaslAuthenticate v0 response body.
func parseAuthenticate(b []byte) (code int16, msg string, err error) {
	r := &reader{b: b}
	code = r.int16()
	msg = r.string()
	r.take(int(r.int32())) // auth_bytes
	return code, msg, r.err
}

// parseMetadata reads a Metadata v4 response body.
func parseMetadata(b []byte) (metadata, error) {
	r := &reader{b: b}
	var m metadata
	r.int32() // throttle_time_ms
	m.brokers = r.array(4 + 2 + 4 + 2)
	for range m.brokers {
		r.int32()  // node_id
		r.string() // host
		r.int32()  // port
		r.string() // rack
	}
	m.cluster = r.string()
	m.controller = r.int32()
	n := r.array(2 + 2 + 1 + 4)
	for range n {
		var t topic
		t.code = r.int16()
		t.name = r.string()
		r.take(1) // is_internal
		np := r.array(2 + 4 + 4 + 4 + 4)
		for range np {
			var p partition
			p.code, p.index, p.leader = r.int16(), r.int32(), r.int32()
			r.take(4 * r.array(4)) // replica_nodes
			r.take(4 * r.array(4)) // isr_nodes
			t.partitions = append(t.partitions, p)
		}
		m.topics = append(m.topics, t)
	}
	if r.err != nil {
		return metadata{}, r.err
	}
	return m, nil
}
