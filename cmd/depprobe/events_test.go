package main

import (
	"strings"
	"testing"
	"time"

	"github.com/depprobe/depprobe/internal/kube/kubetest"
	"github.com/depprobe/depprobe/internal/loopback"
)

// TestEventsOnChange: with DEPPROBE_KUBE_EVENTS, two targets refused round
// after round are one Event, and the give-up another: an Event is
// published only when the verdict changes. (The two targets' diagnoses
// took turns as the message, and each turn was an Event, one per
// interval while nothing changed.) The interval is 20ms here, so a second
// of backoff rounds spans fifty of them.
func TestEventsOnChange(t *testing.T) {
	saved := eventInterval
	eventInterval = 20 * time.Millisecond
	t.Cleanup(func() { eventInterval = saved })
	api, env := inPod(t, map[string]kubetest.Answer{
		"POST /api/v1/namespaces/app/events": {Code: 201, Body: `{}`},
	})
	env["DEPPROBE_KUBE_EVENTS"] = "true"
	env["DEPPROBE_TIMEOUT"] = "1s"
	res := runWith(t, env, "wait", "db=tcp://"+loopback.Refused(t), "cache=tcp://"+loopback.Refused(t))
	if res.code != exitNotReady {
		t.Fatalf("exit code %d, want %d\n%s", res.code, exitNotReady, res.stderr)
	}
	var events []string
	for _, b := range api.Bodies() {
		if strings.Contains(b, `"kind":"Event"`) {
			events = append(events, b)
		}
	}
	if len(events) != 2 {
		t.Fatalf("%d Events, want 2 (the verdict, then the give-up):\n%s", len(events), strings.Join(events, "\n"))
	}
	for _, want := range []string{`db: refused: connect to`, `; cache: refused: connect to`} {
		if !strings.Contains(events[0], want) {
			t.Errorf("the first Event lacks %q:\n%s", want, events[0])
		}
	}
	if !strings.Contains(events[1], "depprobe gave up after") {
		t.Errorf("the last Event is not the give-up:\n%s", events[1])
	}
}
