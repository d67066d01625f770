package nats

import (
	"strings"
	"testing"

	"github.com/depprobe/depprobe/probe/proto"
)

// FuzzLines: any line decoded as INFO and mapped as -ERR never panics, and
// never shows the password.
func FuzzLines(f *testing.F) {
	f.Add(`INFO {"server_id":"x","auth_required":true,"ldm":false}`)
	f.Add(`-ERR 'Authorization Violation'`)
	f.Add(`-ERR 'maximum connections exceeded hunter2'`)
	in := proto.Input{Addr: "nats:4222", User: "u", Password: "hunter2", HasUser: true}
	f.Fuzz(func(t *testing.T, line string) {
		parseInfo(line)
		if err := natsError(in, line); err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q shows the password", err)
		}
	})
}
