package amqp

import (
	"bytes"
	"testing"

	"github.com/depprobe/depprobe/probe/proto"
)

// FuzzMethods: any byte stream read as AMQP method frames, each decoded as
// a Connection.Close, never panics.
func FuzzMethods(f *testing.F) {
	f.Add([]byte("\x01\x00\x00\x00\x00\x00\x0c\x00\x0a\x00\x0a\x00\x09\x00\x00\x00\x00\x00\x00\xce"))
	f.Add([]byte("\x01\x00\x00\x00\x00\x00\x12\x00\x0a\x00\x32\x01\x93\x0aNOT_ALLOWE\x00\x00\x00\x00\xce"))
	f.Add([]byte("AMQP\x00\x00\x09\x01"))
	in := proto.Input{Addr: "mq:5672", Password: "pw"}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for {
			_, _, args, err := amqpNext(r)
			if err != nil {
				return
			}
			amqpClosed(in, args)
		}
	})
}
