package mysql

import (
	"bytes"
	"testing"

	"github.com/depprobe/depprobe/probe/proto"
)

// FuzzPackets: any byte stream read as MySQL packets, each decoded as a
// handshake and as an error packet, never panics, and a payload is never
// longer than the cap.
func FuzzPackets(f *testing.F) {
	f.Add([]byte("\x4a\x00\x00\x00\x0a5.5.5-10.11.6-MariaDB\x00\x01\x00\x00\x00abcdefgh\x00\xfe\xf7\x2d\x02\x00\xff\x81\x15\x00\x00\x00\x00\x00\x00\x1d\x00\x00\x00ijklmnopqrst\x00mysql_native_password\x00"))
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
