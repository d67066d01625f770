// Package stream is the send/expect check of the generic schemes (tcp://,
// tls://, unix://): send a few bytes, read what the peer answers and look
// for the expected text in it, as blackbox_exporter's query_response does.
//
// It imports only probe/proto (and the standard library): it knows
// nothing of targets, retries or logs.
package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/depprobe/depprobe/probe/proto"
)

// MaxReply is how much of a peer's answer the expectation looks at: a
// banner or a short reply is a few dozen bytes.
const MaxReply = 4 << 10

// Quiet is how long a peer may stay silent after an answer that does not
// match before the answer counts as complete: a server that greets with
// the wrong banner and waits for a command is judged then, not at the
// attempt's deadline.
const Quiet = 200 * time.Millisecond

// Options are a send/expect target's options. The zero value checks
// nothing beyond the connection.
type Options struct {
	Send   []byte       // written first, when not empty (send=)
	Expect proto.Expect // what the answer must contain (expect=, expect_re=)
}

// Set reports whether the options ask for anything beyond the connection.
func (o Options) Set() bool { return len(o.Send) > 0 || o.Expect.Set() }

// Check writes Options.Send, then, when an expectation is set, reads what
// the peer answers until the answer matches (ready), the peer closes the
// connection, MaxReply bytes have come, or the attempt's deadline. An
// answer that does not match is unexpected, with what was expected and a
// few printable characters of what came; no answer at all is closed (the
// peer hung up) or timeout (it stayed silent).
//
// Without an expectation nothing is read: on TLS the check then first
// awaits the server's verdict on the client certificate
// (proto.TLSConn.Verdict), which TLS 1.3 sends after the handshake and
// only a read would see; first, so that Send (which may carry a
// credential) goes only to a server that let the client in.
func Check(ctx context.Context, conn net.Conn, in proto.Input, o Options) error {
	if tc, ok := conn.(*proto.TLSConn); ok && !o.Expect.Set() {
		if err := tc.Verdict(ctx); err != nil {
			return err
		}
	}
	if len(o.Send) > 0 {
		if _, err := conn.Write(o.Send); err != nil {
			return err
		}
	}
	if !o.Expect.Set() {
		return nil
	}
	buf := make([]byte, 0, MaxReply)
	deadline, _ := ctx.Deadline()
	quiet := false
	for {
		n, err := conn.Read(buf[len(buf):MaxReply])
		buf = buf[:len(buf)+n]
		if o.Expect.Match("the reply", buf) == nil {
			return nil
		}
		if n > 0 {
			// An answer that does not match yet: the rest may follow;
			// a peer silent for Quiet after it has said what it had to.
			if q := time.Now().Add(Quiet); deadline.IsZero() || q.Before(deadline) {
				conn.SetReadDeadline(q)
				quiet = true
			} else {
				conn.SetReadDeadline(deadline)
				quiet = false
			}
		}
		stillArriving := errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)
		switch {
		case len(buf) >= MaxReply, err != nil && len(buf) > 0 && (err == io.EOF || quiet && stillArriving || !proto.Transport(err)):
			answer := buf
			if len(o.Send) >= 4 { // a peer that echoes what it was sent
				answer = []byte(strings.ReplaceAll(string(buf), string(o.Send), "xxxxx"))
			}
			why := "the peer closed the connection"
			switch {
			case len(buf) >= MaxReply:
				why = fmt.Sprintf("%d bytes read", MaxReply)
			case stillArriving:
				why = fmt.Sprintf("then nothing for %s", Quiet)
			}
			return proto.FailHint(proto.Unexpected,
				fmt.Sprintf("%s answered, but not what was expected (%s): is it the right port and service, and ready to serve?", in.Addr, why),
				o.Expect.Match("the reply", answer))
		case err != nil:
			return err // nothing came: closed, reset or timeout, as the ladder says
		}
	}
}
