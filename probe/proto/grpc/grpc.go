// Package grpc calls grpc.health.v1.Health/Check with hand-written HTTP/2
// frames, like grpc_health_probe.
//
// It imports only probe/proto, the standard library and x/net's HPACK: it knows
// nothing of targets, retries or logs.
package grpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/depprobe/depprobe/probe/proto"
)

// grpc.health.v1.HealthCheckResponse.ServingStatus
// (https://github.com/grpc/grpc/blob/master/src/proto/grpc/health/v1/health.proto).
var grpcServingStatus = [...]string{0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}

// gRPC status codes the probe tells apart
// (https://grpc.github.io/grpc/core/md_doc_statuscodes.html).
const (
	grpcNotFound      = 5
	grpcUnimplemented = 12
	grpcUnavailable   = 14
)

// Options are what a grpc:// or grpcs:// target's options set.
type Options struct {
	// Service is the service whose health to check; empty: the server as a
	// whole.
	Service string
	// Headers are request metadata (option header=), sent after the
	// probe's own; their values are secrets.
	Headers []proto.Header
}

// Check calls grpc.health.v1.Health/Check, like grpc_health_probe and
// the kubelet's gRPC probe, for opts.Service
// (default "": the server as a whole), and wants SERVING. NOT_SERVING,
// UNKNOWN, an unknown service (NOT_FOUND: services are often registered
// only once they are ready) and UNAVAILABLE are not_ready. UNIMPLEMENTED
// means the server has no health service, which is unexpected and said so.
//
// The call is written by hand as HTTP/2 frames on the connection the ladder
// established (prior knowledge for grpc://, the ladder's TLS connection with
// ALPN "h2" for grpcs://), with HPACK from golang.org/x/net and the two tiny
// protobuf messages encoded by hand: google.golang.org/grpc, protobuf and
// net/http's HTTP/2 client would add about 0.4 MB to the binary for one
// request. Wire format: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
// and RFC 9113.
func Check(ctx context.Context, conn net.Conn, in proto.Input, opts Options) error {
	// HealthCheckRequest{service = 1}, as a length-prefixed message.
	var msg []byte
	if s := opts.Service; s != "" {
		msg = append(msg, 0x0a)
		msg = binary.AppendUvarint(msg, uint64(len(s)))
		msg = append(msg, s...)
	}
	body := append([]byte{0}, binary.BigEndian.AppendUint32(nil, uint32(len(msg)))...)
	body = append(body, msg...)

	scheme := "http"
	if in.TLS != nil {
		scheme = "https"
	}
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	fields := [][2]string{
		{":method", "POST"}, {":scheme", scheme}, {":path", "/grpc.health.v1.Health/Check"},
		{":authority", in.Addr}, {"content-type", "application/grpc"}, {"te", "trailers"},
		{"user-agent", in.UserAgent},
	}
	if d, ok := ctx.Deadline(); ok {
		if ms := time.Until(d).Milliseconds(); ms > 0 {
			fields = append(fields, [2]string{"grpc-timeout", strconv.FormatInt(ms, 10) + "m"})
		}
	}
	for _, f := range fields {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for _, h := range opts.Headers {
		v, err := h.Value()
		if err != nil {
			return proto.Fail(proto.Unexpected, err)
		}
		// Sensitive: never indexed, so that no intermediary keeps a token
		// in its HPACK table (RFC 7541, section 7.1.3).
		enc.WriteField(hpack.HeaderField{Name: h.Name, Value: v, Sensitive: true})
	}
	out := []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	out = h2Frame(out, h2Settings, 0, 0, []byte{0, 2, 0, 0, 0, 0}) // SETTINGS_ENABLE_PUSH = 0
	out = h2Frame(out, h2Headers, h2EndHeaders, 1, block.Bytes())
	out = h2Frame(out, h2Data, h2EndStream, 1, body)
	if _, err := conn.Write(out); err != nil {
		return err
	}
	resp, err := h2Response(conn, conn)
	if err != nil {
		return err
	}
	if st := resp.header[":status"]; st != "200" {
		return proto.Failf(proto.Unexpected, "HTTP status %s, want 200 from a gRPC server", st)
	}
	reply := resp.body
	// Trailers, or headers alone for a call that fails at once.
	status, message := resp.trailer["grpc-status"], resp.trailer["grpc-message"]
	if status == "" {
		status, message = resp.header["grpc-status"], resp.header["grpc-message"]
	}
	if m, err := url.PathUnescape(message); err == nil {
		message = m
	}
	if status == "" {
		return proto.Failf(proto.Unexpected, "not a gRPC server: no grpc-status in the answer (content-type %q)", resp.header["content-type"])
	}
	code, _ := strconv.Atoi(status)
	addr := in.Addr
	switch code {
	case 0:
	case grpcUnimplemented:
		return proto.FailHint(proto.Unexpected,
			fmt.Sprintf("the gRPC server on %s does not implement grpc.health.v1.Health: register the standard health service in the server, or probe it with tcp://", addr),
			fmt.Errorf("the server has no health service (grpc.health.v1.Health/Check: UNIMPLEMENTED %s)", proto.ServerText(message)))
	case grpcNotFound:
		return proto.FailHint(proto.NotReady,
			fmt.Sprintf("the health service on %s does not know service %q (yet): the server sets its status once the service is registered; check service=", addr, opts.Service),
			fmt.Errorf("health check: NOT_FOUND %s", proto.ServerText(message)))
	case grpcUnavailable:
		return proto.Fail(proto.NotReady, fmt.Errorf("health check: UNAVAILABLE %s", proto.ServerText(message)))
	default:
		return proto.Failf(proto.Unexpected, "health check: gRPC status %d %s", code, proto.ServerText(message))
	}

	// A length-prefixed message: compressed flag (1), length (4), then
	// HealthCheckResponse{status = 1 (enum)}.
	if len(reply) < 5 || reply[0] != 0 || int(binary.BigEndian.Uint32(reply[1:])) != len(reply)-5 {
		return proto.Failf(proto.Unexpected, "a malformed health check response")
	}
	serving, err := grpcStatusField(reply[5:])
	if err != nil {
		return proto.Fail(proto.Unexpected, err)
	}
	name := strconv.FormatUint(serving, 10)
	if serving < uint64(len(grpcServingStatus)) {
		name = grpcServingStatus[serving]
	}
	if serving == 1 {
		return nil
	}
	svc := "the server"
	if opts.Service != "" {
		svc = fmt.Sprintf("service %q", opts.Service)
	}
	return proto.FailHint(proto.NotReady, fmt.Sprintf("the gRPC health service on %s says %s is %s: wait for it", addr, svc, name),
		fmt.Errorf("health check: %s", name))
}

// grpcStatusField decodes field 1 (a varint) of a HealthCheckResponse,
// skipping fields it does not know; absent, it is 0 (UNKNOWN).
func grpcStatusField(b []byte) (uint64, error) {
	var status uint64
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, errors.New("a malformed health check response")
		}
		b = b[n:]
		switch key & 7 {
		case 0: // varint
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return 0, errors.New("a malformed health check response")
			}
			if key>>3 == 1 {
				status = v
			}
			b = b[n:]
		case 2: // length-delimited
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return 0, errors.New("a malformed health check response")
			}
			b = b[n+int(l):]
		case 1: // 64-bit
			if len(b) < 8 {
				return 0, errors.New("a malformed health check response")
			}
			b = b[8:]
		case 5: // 32-bit
			if len(b) < 4 {
				return 0, errors.New("a malformed health check response")
			}
			b = b[4:]
		default:
			return 0, errors.New("a malformed health check response")
		}
	}
	return status, nil
}

// HTTP/2 frame types and flags (RFC 9113, section 6).
const (
	h2Data         = 0x0
	h2Headers      = 0x1
	h2RSTStream    = 0x3
	h2Settings     = 0x4
	h2Ping         = 0x6
	h2GoAway       = 0x7
	h2Continuation = 0x9

	h2EndStream  = 0x1 // DATA, HEADERS; ACK for SETTINGS and PING
	h2EndHeaders = 0x4
	h2Padded     = 0x8
	h2Priority   = 0x20

	h2MaxFrame = 16 << 10 // SETTINGS_MAX_FRAME_SIZE's default, which the probe keeps
)

// h2Frame appends a frame: length (24), type, flags, stream (31), payload.
func h2Frame(b []byte, typ, flags byte, stream uint32, payload []byte) []byte {
	n := len(payload)
	b = append(b, byte(n>>16), byte(n>>8), byte(n), typ, flags)
	b = binary.BigEndian.AppendUint32(b, stream)
	return append(b, payload...)
}

// h2Answer is stream 1's response: headers, body (at most 64 KiB), trailers.
type h2Answer struct {
	header, trailer map[string]string
	body            []byte
}

// h2Response reads frames from conn until stream 1 ends, acknowledging the
// server's SETTINGS and PINGs on w. The response is small (a few bytes of body), so the
// default flow-control windows never need a WINDOW_UPDATE.
func h2Response(conn io.Reader, w io.Writer) (*h2Answer, error) {
	r := bufio.NewReader(conn)
	a := &h2Answer{}
	var (
		block     []byte            // a header block across CONTINUATION frames
		endStream bool              // the block's HEADERS frame ended the stream
		fields    map[string]string // what the block being decoded sets
	)
	// One decoder for the connection: HPACK's dynamic table spans blocks.
	dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) { fields[f.Name] = f.Value })
	dec.SetMaxStringLength(16 << 10)
	for {
		var h [9]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return nil, err
		}
		n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		typ, flags, stream := h[3], h[4], binary.BigEndian.Uint32(h[5:])&0x7fffffff
		if n > h2MaxFrame {
			return nil, proto.Failf(proto.Unexpected, "not an HTTP/2 server: it answered %q", proto.QuoteReply(string(h[:])))
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(r, p); err != nil {
			return nil, err
		}
		if (typ == h2Data || typ == h2Headers) && flags&h2Padded != 0 {
			if len(p) < 1 || int(p[0]) >= len(p) {
				return nil, proto.Failf(proto.Unexpected, "a malformed HTTP/2 frame")
			}
			p = p[1 : len(p)-int(p[0])]
		}
		switch {
		case typ == h2Settings && flags&h2EndStream == 0:
			if _, err := w.Write(h2Frame(nil, h2Settings, h2EndStream, 0, nil)); err != nil {
				return nil, err
			}
		case typ == h2Ping && flags&h2EndStream == 0:
			if _, err := w.Write(h2Frame(nil, h2Ping, h2EndStream, 0, p)); err != nil {
				return nil, err
			}
		case typ == h2GoAway:
			var code uint32
			if len(p) >= 8 {
				code = binary.BigEndian.Uint32(p[4:])
			}
			return nil, proto.Failf(proto.Unexpected, "the server ended the HTTP/2 connection (GOAWAY, error code %d) before answering", code)
		case stream != 1:
			// connection-level WINDOW_UPDATE, PRIORITY and the like
		case typ == h2RSTStream:
			var code uint32
			if len(p) >= 4 {
				code = binary.BigEndian.Uint32(p)
			}
			return nil, proto.Failf(proto.Unexpected, "the server reset the call (RST_STREAM, error code %d)", code)
		case typ == h2Data:
			if len(a.body)+len(p) <= 64<<10 {
				a.body = append(a.body, p...)
			}
			if flags&h2EndStream != 0 {
				return a, nil
			}
		case typ == h2Headers || typ == h2Continuation:
			if typ == h2Headers {
				if flags&h2Priority != 0 {
					if len(p) < 5 {
						return nil, proto.Failf(proto.Unexpected, "a malformed HTTP/2 frame")
					}
					p = p[5:]
				}
				endStream = flags&h2EndStream != 0
			}
			if len(block)+len(p) > 64<<10 {
				return nil, proto.Failf(proto.Unexpected, "HTTP/2 headers larger than 64 KiB")
			}
			block = append(block, p...)
			if flags&h2EndHeaders == 0 {
				continue
			}
			fields = map[string]string{}
			if _, err := dec.Write(block); err != nil {
				return nil, proto.Failf(proto.Unexpected, "malformed HTTP/2 headers: %v", err)
			}
			block = nil
			if a.header == nil {
				a.header = fields
			} else {
				a.trailer = fields
			}
			if endStream {
				return a, nil
			}
		}
	}
}
