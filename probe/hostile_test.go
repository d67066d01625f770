package probe_test

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
)

// hostile is a server that answers every connection with what send writes;
// it counts the bytes it got out, and its handlers have all returned by the
// time the test reads the count.
type hostile struct {
	addr    string
	written atomic.Int64
	done    chan struct{}
}

// hostilePeer reads the request (in the background: a peer that never
// reads would stall the probe's write, not its read), then runs send until
// it fails or returns; the connection then stays open until the probe
// closes it.
func hostilePeer(t *testing.T, send func(w io.Writer) error) *hostile {
	t.Helper()
	ln := loopback.Listen(t)
	h := &hostile{addr: ln.Addr().String(), done: make(chan struct{}, 16)}
	loopback.Serve(t, ln, func(c net.Conn) {
		go func() {
			defer func() { h.done <- struct{}{} }()
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			go io.Copy(io.Discard, c)
			send(countingWriter{c, &h.written})
			c.Read(make([]byte, 1)) // hold until the probe hangs up
		}()
	})
	return h
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// repeat writes head, then fill until limit bytes are out or a write fails.
func repeat(head, fill string, limit int) func(io.Writer) error {
	return func(w io.Writer) error {
		if _, err := io.WriteString(w, head); err != nil {
			return err
		}
		b := []byte(strings.Repeat(fill, 32<<10/len(fill)+1))
		for sent := 0; sent < limit; sent += len(b) {
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	}
}

// drip writes s one byte every interval.
func drip(s string, interval time.Duration) func(io.Writer) error {
	return func(w io.Writer) error {
		for i := range len(s) {
			if _, err := w.Write([]byte{s[i]}); err != nil {
				return err
			}
			time.Sleep(interval)
		}
		return nil
	}
}

// TestHTTPHostile: what an HTTP server sends is bounded in bytes (the
// status line and headers at 64 KiB, the body read up to 64 KiB and never
// drained) and in time (a reply still arriving at the attempt's deadline
// is a timeout).
func TestHTTPHostile(t *testing.T) {
	const endless = 8 << 20 // "without end": 8 MiB, then the peer waits
	tests := []struct {
		name    string
		send    func(io.Writer) error
		limit   time.Duration
		outcome probe.Outcome
		text    string // in the diagnosis
		maxSent int64  // at most this many bytes get out before the probe hangs up; 0: no bound checked
	}{
		{"status line without end", repeat("HTTP/1.1 200 ", "A", endless), 5 * time.Second, probe.Unexpected, "longer than 64 KiB", 0},
		{"header lines without end", repeat("HTTP/1.1 200 OK\r\n", "X-Fill: "+strings.Repeat("a", 1000)+"\r\n", endless), 5 * time.Second, probe.Unexpected, "longer than 64 KiB", 0},
		// The socket buffers on both sides hold a few MiB that the probe
		// never reads; 100 MB would be a body read whole.
		{"100 MB body", repeat("HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n", "b", 100_000_000), 5 * time.Second, probe.OK, "", 32 << 20},
		{"chunked body without end", repeat("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "400\r\n"+strings.Repeat("c", 0x400)+"\r\n", 1<<40), 5 * time.Second, probe.OK, "", 32 << 20},
		{"status line one byte at a time", drip("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 100*time.Millisecond), time.Second, probe.Timeout, "got no answer within 1s", 0},
		{"body one byte at a time", func(w io.Writer) error {
			io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
			return drip(strings.Repeat("d", 100), 100*time.Millisecond)(w)
		}, time.Second, probe.Timeout, "got no answer within 1s", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := hostilePeer(t, tc.send)
			r := attempt(t, target(t, "http://"+h.addr+"/"), tc.limit)
			checkResult(t, r, probe.Protocol, tc.outcome)
			if !strings.Contains(r.Diagnosis(), tc.text) {
				t.Errorf("Diagnosis() = %q, want it to mention %q", r.Diagnosis(), tc.text)
			}
			<-h.done
			if sent := h.written.Load(); tc.maxSent > 0 && sent > tc.maxSent {
				t.Errorf("the server got %d MiB out before the probe hung up, want at most %d MiB: the body was drained", sent>>20, tc.maxSent>>20)
			}
		})
	}
}

// TestDripIsTimeout: for every protocol, a valid reply that is still
// arriving, one byte at a time, when the attempt's time is up is a
// timeout (it counts towards DEPPROBE_MAX_TIMEOUTS), never unexpected
// because the parser saw half of it.
func TestDripIsTimeout(t *testing.T) {
	for _, tc := range []struct{ scheme, reply string }{
		{"http", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
		{"redis", "+PONG\r\n"},
		{"nats", "INFO {}\r\n"},
		{"postgres", "R\x00\x00\x00\x08\x00\x00\x00\x00"},
		{"mysql", "\x20\x00\x00\x00\x0a5.5.5-10.11\x00"},
		{"amqp", "\x01\x00\x00\x00\x00\x00\x0c\x00\x0a\x00\x0a"},
		{"mqtt", "\x20\x02\x00\x00"},
		{"memcached", "VERSION 1.6\r\n"},
		{"grpc", "\x00\x00\x00\x04\x00\x00\x00\x00\x00"},
		// OP_MSG answering request 1: {isWritablePrimary: true, ok: 1}.
		{"mongodb", "\x36\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\xdd\x07\x00\x00\x00\x00\x00\x00\x00" +
			"\x21\x00\x00\x00\x08isWritablePrimary\x00\x01\x10ok\x00\x01\x00\x00\x00\x00"},
		// ApiVersions v0 answering correlation id 1: Metadata, versions 0-12.
		{"kafka", "\x00\x00\x00\x10\x00\x00\x00\x01\x00\x00\x00\x00\x00\x01\x00\x03\x00\x00\x00\x0c"},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			// The shortest reply (MQTT's CONNACK, 4 bytes) takes 800 ms.
			h := hostilePeer(t, drip(tc.reply, 200*time.Millisecond))
			r := attempt(t, target(t, fmt.Sprintf("%s://%s", tc.scheme, h.addr)), 500*time.Millisecond)
			checkResult(t, r, probe.Protocol, probe.Timeout)
		})
	}
}
