// Package amqp checks an AMQP 0-9-1 broker (RabbitMQ): the protocol header
// answered by Connection.Start, and a login when the URL has a user.
//
// It imports only probe/proto (and the standard library): it knows
// nothing of targets, retries or logs.
package amqp

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/depprobe/depprobe/probe/proto"
)

// amqpHeader opens an AMQP 0-9-1 connection.
var amqpHeader = []byte("AMQP\x00\x00\x09\x01")

// Check sends the AMQP 0-9-1 protocol header and wants the broker's
// Connection.Start method back (https://www.rabbitmq.com/resources/specs/amqp0-9-1.pdf,
// sections 2.2.4 and 4.2). A broker that does not speak 0-9-1 answers with
// the header of the protocol it does speak, which is unexpected.
//
// When the URL has a user name, the probe also logs in: Connection.Start-Ok
// with the PLAIN mechanism and the URL's credentials, then Connection.Tune
// means accepted and Connection.Close with 403 ACCESS_REFUSED means
// auth_failed (the client properties ask for that close, the
// authentication_failure_close capability, rather than a silent drop). It
// then opens the URL's virtual host (default "/"; a refusal, 530, is
// unexpected), sends Connection.Close and waits for Close-Ok, so the broker
// logs a clean close. Without a user name the broker logs "client
// unexpectedly closed TCP connection" at every attempt: the price of
// checking a broker without credentials.
func Check(ctx context.Context, conn net.Conn, in proto.Input) error {
	if _, err := conn.Write(amqpHeader); err != nil {
		return err
	}
	var first [7]byte
	if _, err := io.ReadFull(conn, first[:]); err != nil {
		return err
	}
	if string(first[:4]) == "AMQP" {
		var last [1]byte
		io.ReadFull(conn, last[:])
		return proto.Failf(proto.Unexpected, "the broker does not speak AMQP 0-9-1: it answered with protocol header %d-%d-%d-%d", first[4], first[5], first[6], last[0])
	}
	class, method, args, err := amqpReadMethod(conn, first)
	if err != nil {
		return err
	}
	if class != 10 || method != 10 {
		return proto.Failf(proto.Unexpected, "the broker answered method %d.%d, want Connection.Start (10.10)", class, method)
	}
	if in.User == "" {
		return nil
	}
	// Connection.Start: version-major, version-minor, server-properties
	// (table), mechanisms (longstr), locales (longstr).
	r := bytes.NewReader(args)
	r.Seek(2, io.SeekCurrent)
	amqpSkipLong(r)
	mechs, _ := amqpLongString(r)
	if !strings.Contains(" "+mechs+" ", " PLAIN ") {
		return proto.Failf(proto.Unexpected, "the broker does not offer the PLAIN mechanism (it offers %q); credentials cannot be checked", proto.QuoteReply(mechs))
	}

	var so bytes.Buffer
	binary.Write(&so, binary.BigEndian, [2]uint16{10, 11}) // Connection.Start-Ok
	amqpTable(&so, func(b *bytes.Buffer) {
		amqpField(b, "product", 'S', []byte("depprobe"))
		amqpField(b, "capabilities", 'F', amqpTableBytes(func(c *bytes.Buffer) {
			amqpField(c, "authentication_failure_close", 't', []byte{1})
		}))
	})
	so.WriteByte(5)
	so.WriteString("PLAIN")
	amqpLongBytes(&so, []byte("\x00"+in.User+"\x00"+in.Password))
	so.WriteByte(5)
	so.WriteString("en_US")
	if err := amqpWriteMethod(conn, so.Bytes()); err != nil {
		return err
	}
	if args, err = amqpExpect(conn, in, 30, "Start-Ok", "Connection.Tune (10.30)"); err != nil {
		return err
	}
	// Connection.Tune: logged in. Tune-Ok echoes the broker's channel-max,
	// frame-max and heartbeat, Open asks for the virtual host.
	var m bytes.Buffer
	binary.Write(&m, binary.BigEndian, [2]uint16{10, 31})
	if len(args) >= 8 {
		m.Write(args[:8])
	} else {
		m.Write(make([]byte, 8))
	}
	if err := amqpWriteMethod(conn, m.Bytes()); err != nil {
		return err
	}
	m.Reset()
	vhost := vhost(in)
	binary.Write(&m, binary.BigEndian, [2]uint16{10, 40})
	m.WriteByte(byte(len(vhost)))
	m.WriteString(vhost)
	m.Write([]byte{0, 0}) // reserved-1 (short string), reserved-2 (bit)
	if err := amqpWriteMethod(conn, m.Bytes()); err != nil {
		return err
	}
	if _, err = amqpExpect(conn, in, 41, "Open", "Connection.Open-Ok (10.41)"); err != nil {
		return err
	}
	// Connection.Close (reply 200), then wait for Close-Ok, so that the
	// broker logs a clean close.
	m.Reset()
	binary.Write(&m, binary.BigEndian, [2]uint16{10, 50})
	binary.Write(&m, binary.BigEndian, uint16(200))
	m.WriteByte(0)
	binary.Write(&m, binary.BigEndian, [2]uint16{0, 0})
	if amqpWriteMethod(conn, m.Bytes()) == nil {
		amqpNext(conn) // Close-Ok; nothing depends on it
	}
	return nil
}

// vhost is the URL's virtual host: its path without the leading slash,
// "/" when there is none (https://www.rabbitmq.com/docs/uri-spec).
func vhost(in proto.Input) string {
	if v := strings.TrimPrefix(in.Path, "/"); v != "" {
		return v
	}
	return "/"
}

// amqpClosed maps the broker's Connection.Close: reply-code, reply-text.
// 403 ACCESS_REFUSED is a login refused; 530 NOT_ALLOWED a virtual host that
// does not exist or that the user may not use.
func amqpClosed(in proto.Input, args []byte) error {
	r := bytes.NewReader(args)
	var code uint16
	binary.Read(r, binary.BigEndian, &code)
	n, _ := r.ReadByte()
	text := make([]byte, n)
	io.ReadFull(r, text)
	err := fmt.Errorf("broker closed the connection: %d %s", code, proto.Scrub(proto.ServerText(string(text)), in.Password))
	switch code {
	case 403:
		return proto.Fail(proto.AuthFailed, err)
	case 530:
		return proto.FailHint(proto.Unexpected, fmt.Sprintf("the broker on %s refuses virtual host %q for this user: does it exist, and may the user use it?", in.Addr, vhost(in)), err)
	}
	return proto.Fail(proto.Unexpected, err)
}

// amqpNext reads the next frame, which must be a method frame.
func amqpNext(conn io.Reader) (class, method uint16, args []byte, err error) {
	var h [7]byte
	if _, err := io.ReadFull(conn, h[:]); err != nil {
		return 0, 0, nil, err
	}
	return amqpReadMethod(conn, h)
}

// amqpReadMethod reads the rest of a frame whose first 7 bytes (type,
// channel, size) are head, and returns its method's class, id and
// arguments. Connection.Start is well under 64 KiB.
func amqpReadMethod(conn io.Reader, head [7]byte) (class, method uint16, args []byte, err error) {
	typ, size := head[0], binary.BigEndian.Uint32(head[3:])
	if typ != 1 || size < 4 || size > 64<<10 {
		return 0, 0, nil, proto.Failf(proto.Unexpected, "not an AMQP broker: it answered %q", proto.QuoteReply(string(head[:])))
	}
	body := make([]byte, size+1) // payload and frame-end
	if _, err := io.ReadFull(conn, body); err != nil {
		return 0, 0, nil, err
	}
	if body[size] != 0xce {
		return 0, 0, nil, proto.Failf(proto.Unexpected, "not an AMQP broker: a frame without its frame-end octet")
	}
	return binary.BigEndian.Uint16(body), binary.BigEndian.Uint16(body[2:]), body[4:size], nil
}

// amqpWriteMethod writes a method frame on channel 0.
func amqpWriteMethod(conn net.Conn, payload []byte) error {
	f := make([]byte, 0, 8+len(payload))
	f = append(f, 1, 0, 0)
	f = binary.BigEndian.AppendUint32(f, uint32(len(payload)))
	f = append(f, payload...)
	f = append(f, 0xce)
	_, err := conn.Write(f)
	return err
}

// amqpSkipLong skips a long-string or table: a 32-bit size, then the bytes.
func amqpSkipLong(r *bytes.Reader) {
	var n uint32
	binary.Read(r, binary.BigEndian, &n)
	r.Seek(int64(n), io.SeekCurrent)
}

// amqpLongString reads a long string.
func amqpLongString(r *bytes.Reader) (string, error) {
	var n uint32
	if err := binary.Read(r, binary.BigEndian, &n); err != nil || int64(n) > int64(r.Len()) {
		return "", io.ErrUnexpectedEOF
	}
	b := make([]byte, n)
	io.ReadFull(r, b)
	return string(b), nil
}

// amqpLongBytes writes a long string.
func amqpLongBytes(b *bytes.Buffer, s []byte) {
	binary.Write(b, binary.BigEndian, uint32(len(s)))
	b.Write(s)
}

// amqpTable writes a field table whose fields fill writes.
func amqpTable(b *bytes.Buffer, fill func(*bytes.Buffer)) { amqpLongBytes(b, amqpTableBytes(fill)) }

// amqpTableBytes is a table's fields without its size.
func amqpTableBytes(fill func(*bytes.Buffer)) []byte {
	var t bytes.Buffer
	fill(&t)
	return t.Bytes()
}

// amqpField writes one table field: name (short string), type, value. A
// long string 'S' and a table 'F' get their size; a boolean 't' is one octet.
func amqpField(b *bytes.Buffer, name string, typ byte, v []byte) {
	b.WriteByte(byte(len(name)))
	b.WriteString(name)
	b.WriteByte(typ)
	if typ == 'S' || typ == 'F' {
		amqpLongBytes(b, v)
		return
	}
	b.Write(v)
}

// amqpExpect reads the broker's next method and wants Connection method
// (class 10) number method after what the probe sent; a Connection.Close
// instead says why the broker refused.
func amqpExpect(conn io.ReadWriter, in proto.Input, method uint16, sent, want string) ([]byte, error) {
	class, got, args, err := amqpNext(conn)
	switch {
	case err != nil:
		return nil, err
	case class == 10 && got == 50:
		return nil, amqpClosed(in, args)
	case class != 10 || got != method:
		return nil, proto.Failf(proto.Unexpected, "the broker answered method %d.%d after %s, want %s", class, got, sent, want)
	}
	return args, nil
}
