package redis

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/depprobe/depprobe/probe/proto"
)

// FuzzReplies: any reply stream read as Redis reply lines and mapped as
// errors never panics, and never shows the password.
func FuzzReplies(f *testing.F) {
	f.Add([]byte("+PONG\r\n"))
	f.Add([]byte("-LOADING Redis is loading the dataset in memory\r\n-WRONGPASS hunter2\r\n"))
	f.Add([]byte("-ERR max number of clients reached\r\n"))
	f.Add([]byte("$37\r\n# Replication\r\nrole:slave\r\nmaster_link\r\n"))
	in := proto.Input{Addr: "cache:6379", Password: "hunter2"}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			line, err := redisReply(r)
			if err != nil {
				return
			}
			for k, v := range infoFields(line) {
				if strings.ContainsAny(k+v, "\r\n") {
					t.Errorf("field %q:%q spans lines", k, v)
				}
			}
			for _, auth := range []bool{true, false} {
				if err := redisError(in, line, auth); err != nil && strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q shows the password", err)
				}
			}
		}
	})
}
