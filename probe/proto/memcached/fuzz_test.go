package memcached

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/depprobe/depprobe/probe/proto"
)

// FuzzReplies: any reply stream read as memcached lines and mapped never
// panics, is ready only for a VERSION line, and never shows the password.
func FuzzReplies(f *testing.F) {
	f.Add([]byte("VERSION 1.6.18\r\n"))
	f.Add([]byte("ERROR Too many open connections\r\n"))
	f.Add([]byte("CLIENT_ERROR unauthenticated\r\nSERVER_ERROR out of memory hunter2\r\n"))
	in := proto.Input{Addr: "cache:11211", Password: "hunter2", HasPassword: true}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for range 8 {
			line, err := proto.ReadLine(r)
			if err != nil {
				return
			}
			err = reply(in, line)
			if err == nil && !strings.HasPrefix(line, "VERSION ") {
				t.Errorf("reply(%q) = nil, want a failure", line)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		}
	})
}
