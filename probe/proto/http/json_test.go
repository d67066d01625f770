package http

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/depprobe/depprobe/probe/proto"
)

func TestJSONWant(t *testing.T) {
	body := []byte(`{"status":"green","items":[{"ready":true},{"ready":false}],"n":3,"nil":null,"a.b":{"c":"x"},"deep":{"k":[1,[2,"two"]]}}`)
	for _, tc := range []struct {
		opt  string
		want string // "" = match
	}{
		{".status=green", ""},
		{".status=yellow|green", ""},
		{".status=red", `found "green"`},
		{".items[0].ready=true", ""},
		{".items[1].ready=true", `found "false"`},
		{".n=3", ""},
		{".nil=null", ""},
		{".deep.k[1][1]=two", ""},
		{".items=x", "found an array of 2"},
		{".deep=x", "found an object"},
		{".=x", "found an object"},
		{".missing=x", `found no key "missing" at .`},
		{".items[0].ready.x=1", "found no object at .items[0].ready"},
		{".status=green%20light|green", ""},
	} {
		w, err := ParseJSONWant(tc.opt)
		if err != nil {
			t.Errorf("ParseJSONWant(%q) = %v", tc.opt, err)
			continue
		}
		err = w.Match(body)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: Match = %v, want a match", tc.opt, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: Match = %v, want %q", tc.opt, err, tc.want)
		}
	}
}

// FuzzJSONWant: any option text parses or fails cleanly, and any body
// matches or fails with a short, valid message that holds no more than a
// few dozen bytes of the body.
func FuzzJSONWant(f *testing.F) {
	f.Add(".status=green|yellow", []byte(`{"status":"green"}`))
	f.Add(".items[0].ready=true", []byte(`{"items":[{"ready":true}]}`))
	f.Add(".[2]=x", []byte(`[1,2,"x"]`))
	f.Add(".a..b=1", []byte(`{`))
	f.Add(".token=x", []byte(`{"token":"BODYSECRET-BODYSECRET-BODYSECRET-BODYSECRET"}`))
	f.Fuzz(func(t *testing.T, opt string, body []byte) {
		w, err := ParseJSONWant(opt)
		if err != nil {
			return
		}
		if len(w.path) > MaxJSONPath {
			t.Fatalf("a path of %d steps", len(w.path))
		}
		err = w.Match(body)
		if err == nil {
			return
		}
		msg := err.Error()
		if !utf8.ValidString(msg) {
			t.Fatalf("message %q is not valid UTF-8", msg)
		}
		_, found, _ := strings.Cut(msg, ", found ")
		if len(found) > 6*proto.FoundMax+32 { // quoted and escaped, or a key's name
			t.Fatalf("message %q shows more than a few dozen bytes of the body", msg)
		}
	})
}

// FuzzHeaderWant: expect_header= parses or fails cleanly, and never shows
// a cookie's value.
func FuzzHeaderWant(f *testing.F) {
	f.Add("X-Ready:yes", "no")
	f.Add("Set-Cookie:x", "session=COOKIESECRET")
	f.Fuzz(func(t *testing.T, opt, value string) {
		w, err := ParseHeaderWant(opt)
		if err != nil {
			return
		}
		err = w.Match(http.Header{w.Name: {value}, "Set-Cookie": {"session=COOKIESECRET"}})
		if err != nil && sensitiveHeader(w.Name) && strings.Contains(err.Error(), "COOKIESECRET") {
			t.Fatalf("Match = %v shows a cookie", err)
		}
	})
}
