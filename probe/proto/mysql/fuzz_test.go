package mysql

import (
	"bytes"
	"strings"
	"testing"

	"github.com/depprobe/depprobe/probe/proto"
)

// FuzzPackets: any byte stream read as MySQL packets, each decoded as a
// handshake and as an error packet, never panics, and a payload is never
// longer than the cap.
func FuzzPackets(f *testing.F) {
	f.Add([]byte("\x59\x00\x00\x00\x0a5.5.5-10.11.6-MariaDB\x00\x01\x00\x00\x00abcdefgh\x00\xfe\xf7\x2d\x02\x00\xff\x81\x15\x00\x00\x00\x00\x00\x00\x1d\x00\x00\x00ijklmnopqrst\x00mysql_native_password\x00"))
	f.Add([]byte("\x17\x00\x00\x02\xff\x15\x04#28000Access denied"))
	f.Add([]byte("\xff\xff\xff\x00"))
	in := proto.Input{Addr: "db:3306", Password: "pw"}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for {
			_, p, err := mysqlRead(r)
			if err != nil {
				return
			}
			if len(p) > 64<<10 {
				t.Fatalf("a payload of %d bytes", len(p))
			}
			handshake(p)
			if n, size := lenenc(p); size > len(p) || size == 0 && len(p) > 0 && p[0] < 0xfb || n > 0 && size == 0 {
				t.Fatalf("lenenc(%x) = %d, %d", p, n, size)
			}
			loginError(in, p)
			queryError(in, p)
			mysqlError(in, p, true, true)
			mysqlError(in, p, false, false)
		}
	})
}

// FuzzResultSet: any bytes read as the answer to a query never panic and
// never show the password; a row's value is bytes of the stream. With
// drain, a nil error comes only once the result set's final EOF is read,
// so that the next query reads its own answer.
func FuzzResultSet(f *testing.F) {
	packet := func(seq byte, p string) string {
		return string([]byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), seq}) + p
	}
	column := "\x03def\x00\x00\x00\x13@@global.read_only\x00\x0c\x3f\x00\x01\x00\x00\x00\x08\x80\x00\x00\x00\x00"
	eof := "\xfe\x00\x00\x02\x00"
	// SELECT @@global.read_only as MariaDB answers it: 1 column, its
	// definition, EOF, the row "0", EOF.
	f.Add([]byte(packet(1, "\x01") + packet(2, column) + packet(3, eof) + packet(4, "\x010") + packet(5, eof)))
	f.Add([]byte(packet(1, "\x01") + packet(2, column) + packet(3, eof) + packet(4, eof)))                     // no row
	f.Add([]byte(packet(1, "\x00\x00\x00\x02\x00\x00\x00")))                                                   // OK: no result set
	f.Add([]byte(packet(1, "\xff\x7a\x04#42S02Table 'app.later' doesn't exist hunter2")))                      // ERR
	f.Add([]byte(packet(1, "\x01") + packet(2, column) + packet(3, eof) + packet(4, "\xfb") + packet(5, eof))) // NULL
	in := proto.Input{Addr: "db:3306", Password: "hunter2"}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, drain := range []bool{false, true} {
			r := bytes.NewReader(b)
			v, err := result(r, in, drain)
			switch {
			case err != nil && strings.Contains(err.Error(), "hunter2"):
				t.Errorf("result(drain %v) shows the password: %v", drain, err)
			case err == nil && !bytes.Contains(b, []byte(v)):
				t.Errorf("result(drain %v) = %q, not bytes of the stream", drain, v)
			case err == nil && drain:
				// The last packet read is the final EOF.
				var last []byte
				for done := bytes.NewReader(b[:len(b)-r.Len()]); done.Len() > 0; {
					if _, p, err := mysqlRead(done); err == nil {
						last = p
					}
				}
				if len(last) == 0 || last[0] != 0xfe || len(last) >= 9 {
					t.Errorf("result(drain) = %q, nil with the last packet read %x, not an EOF", v, last)
				}
			}
		}
	})
}
