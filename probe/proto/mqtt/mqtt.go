// Package mqtt checks an MQTT broker: an MQTT 3.1.1 CONNECT answered by
// CONNACK.
//
// It imports only probe/proto (and the standard library): it knows
// nothing of targets, retries or logs.
package mqtt

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"

	"github.com/depprobe/depprobe/probe/proto"
)

// MQTT 3.1.1 CONNACK return codes
// (https://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html#_Toc398718035).
var mqttReturnCodes = [...]string{
	0: "connection accepted",
	1: "unacceptable protocol version",
	2: "identifier rejected",
	3: "server unavailable",
	4: "bad user name or password",
	5: "not authorized",
}

// Check sends an MQTT 3.1.1 CONNECT, which every broker in use speaks
// (MQTT 5 brokers accept 3.1.1 clients), and reads the CONNACK
// (https://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html#_Toc398718028).
// Accepted is ready, and the probe sends DISCONNECT so the broker logs a
// clean goodbye. "Server unavailable" is not_ready. A refusal for
// credentials (bad user name or password, not authorized) is ready when the
// URL carries none, since the broker is up and the application holds them,
// and auth_failed when the URL's credentials were refused. Other refusals are
// unexpected.
//
// The CONNECT asks for a clean session with a fresh client identifier
// ("depprobe-" and 8 random hex digits), so it never takes over an
// application's session, and has no will message.
func Check(ctx context.Context, conn net.Conn, in proto.Input) error {
	var id [4]byte
	rand.Read(id[:])
	var vh []byte
	vh = mqttString(vh, "MQTT")
	flags := byte(0x02) // clean session
	user, pass := in.User, in.Password
	hasUser := in.HasUser
	if hasUser {
		flags |= 0x80
		if in.HasPassword {
			flags |= 0x40
		}
	}
	vh = append(vh, 4, flags, 0, 30) // level 4 (3.1.1), flags, keep alive 30 s
	vh = mqttString(vh, "depprobe-"+hex.EncodeToString(id[:]))
	if hasUser {
		vh = mqttString(vh, user)
		if flags&0x40 != 0 {
			vh = mqttString(vh, pass)
		}
	}
	pkt := append([]byte{0x10}, mqttLength(len(vh))...)
	if _, err := conn.Write(append(pkt, vh...)); err != nil {
		return err
	}

	rc, err := connack(bufio.NewReader(conn))
	if err != nil {
		return err
	}
	what := fmt.Sprintf("return code %d", rc)
	if int(rc) < len(mqttReturnCodes) {
		what = fmt.Sprintf("%s (return code %d)", mqttReturnCodes[rc], rc)
	}
	switch rc {
	case 0:
		conn.Write([]byte{0xe0, 0}) // DISCONNECT
		return nil
	case 3:
		return proto.FailHint(proto.NotReady, fmt.Sprintf("the MQTT broker on %s is up but unavailable: wait for it", in.Addr),
			fmt.Errorf("broker refused the connection: %s", what))
	case 4, 5:
		if !hasUser {
			return nil // up; the application holds the credentials
		}
		return proto.Fail(proto.AuthFailed, fmt.Errorf("broker refused the connection: %s", what))
	}
	return proto.Fail(proto.Unexpected, fmt.Errorf("broker refused the connection: %s", what))
}

// mqttString appends a UTF-8 string: a 16-bit length, then the bytes.
func mqttString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// mqttLength encodes a packet's remaining length as a variable byte integer.
func mqttLength(n int) []byte {
	var b []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// connack reads a CONNACK packet and returns its return code.
func connack(r *bufio.Reader) (byte, error) {
	typ, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	if typ != 0x20 {
		return 0, proto.Failf(proto.Unexpected, "not an MQTT broker: it answered with byte 0x%02x, want CONNACK (0x20)", typ)
	}
	n, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	if n != 2 {
		return 0, proto.Failf(proto.Unexpected, "a malformed CONNACK of %d bytes", n)
	}
	var ack [2]byte
	if _, err := io.ReadFull(r, ack[:]); err != nil {
		return 0, err
	}
	return ack[1], nil
}
