package postgres

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/depprobe/depprobe/probe/proto"
)

// FuzzErrorFields: any ErrorResponse body decodes without a panic, and
// every field is a NUL-free string of the body.
func FuzzErrorFields(f *testing.F) {
	f.Add([]byte("SFATAL\x00C57P03\x00Mthe database system is starting up\x00\x00"))
	f.Add([]byte("C28000\x00Mrole \"x\" does not exist"))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		for code, v := range pgErrorFields(b) {
			if bytes.IndexByte([]byte(v), 0) >= 0 || !bytes.Contains(b, append([]byte{code}, v...)) {
				t.Errorf("field %q = %q is not a NUL-free string of the body", code, v)
			}
		}
	})
}

// FuzzLogin: any bytes read as the server's side of a login and of the
// queries of role= and query= (authentication requests, errors, row
// descriptions, DataRows, ReadyForQuery) never panic and never show the
// password; the session is ready only after a ReadyForQuery and a row.
func FuzzLogin(f *testing.F) {
	msg := func(typ byte, body string) string { return string(message(typ, []byte(body))) }
	row := func(v string) string {
		return msg('D', "\x00\x01"+string([]byte{0, 0, 0, byte(len(v))})+v)
	}
	answer := func(v string) string {
		return msg('T', "\x00\x01col\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00\x01\xff\xff\xff\xff\x00\x00") + row(v) + msg('C', "SELECT 1\x00") + msg('Z', "I")
	}
	loggedIn := msg('R', "\x00\x00\x00\x00") + msg('S', "server_version\x0016.4\x00") + msg('K', "\x00\x00\x00\x01\x00\x00\x00\x02") + msg('Z', "I")
	f.Add([]byte(loggedIn + answer("f") + answer("1")))
	f.Add([]byte(loggedIn + answer("t")))
	f.Add([]byte(loggedIn + msg('T', "\x00\x00") + msg('C', "SELECT 0\x00") + msg('Z', "I"))) // no row
	f.Add([]byte(msg('R', "\x00\x00\x00\x05salt") + msg('E', "SFATAL\x00C28P01\x00Mpassword authentication failed for hunter2\x00\x00")))
	f.Add([]byte(msg('R', "\x00\x00\x00\x0aSCRAM-SHA-256\x00\x00") + msg('R', "\x00\x00\x00\x0br=x,s=QSXCR+Q6sek8bf92,i=4096")))
	f.Add([]byte(loggedIn + msg('E', "SERROR\x00C42P01\x00Mrelation \"later\" does not exist\x00\x00") + msg('Z', "I")))
	in := proto.Input{Addr: "db:5432", User: "app", Password: "hunter2", HasUser: true, HasPassword: true}
	f.Fuzz(func(t *testing.T, b []byte) {
		types := map[byte]bool{} // the types of the messages the bytes hold
		for r := bufio.NewReader(bytes.NewReader(b)); ; {
			typ, _, err := readMessage(r)
			if err != nil {
				break
			}
			types[typ] = true
		}
		for _, opts := range []Options{{Role: "primary", Query: "SELECT 1"}, {Role: "standby"}, {Query: "SELECT 1"}} {
			err := login(struct {
				io.Reader
				io.Writer
			}{bytes.NewReader(b), io.Discard}, in, "app", opts)
			switch {
			case err != nil && strings.Contains(err.Error(), "hunter2"):
				t.Errorf("login(%+v) shows the password: %v", opts, err)
			case err == nil && (!types['Z'] || !types['D']):
				t.Errorf("login(%+v) = ready without a ReadyForQuery and a DataRow", opts)
			}
		}
	})
}
