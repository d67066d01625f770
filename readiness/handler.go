package readiness

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// Handler serves the Monitor's state. It never dials: every answer is read
// from the state the background loops keep.
//
//   - GET /readyz: 200 "ok" when every target that is not optional is
//     ready, else 503 with one line per target, `[+]db ok` or
//     `[-]cache failed: connect refused`, and a last line
//     `readyz check failed`, as the Kubernetes API server words it.
//     `?verbose` lists the targets on success too. An optional target's
//     line ends in " (optional)".
//   - GET /readyz/NAME: the same for one target (optional or not): 200 "ok",
//     or 503 with its line; 404 for a name that is not a target.
//   - Either with `Accept: application/json`: the states as JSON (see
//     TargetJSON), with the same status codes.
//   - GET /livez: 200 "ok" while the probing loops run (see Alive), 503
//     otherwise; it never depends on a dependency.
//   - GET /metrics: the Prometheus exposition.
//
// Other paths are 404, other methods 405.
func (m *Monitor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", m.readyz)
	mux.HandleFunc("GET /readyz/{name}", m.readyzTarget)
	mux.HandleFunc("GET /livez", m.livez)
	mux.Handle("GET /metrics", m.metrics.handler())
	return mux
}

// ReadyzJSON is the JSON form of /readyz.
type ReadyzJSON struct {
	Ready   bool         `json:"ready"` // every target that is not optional is ready
	Targets []TargetJSON `json:"targets"`
}

// TargetJSON is one target in the JSON form of /readyz and /readyz/NAME.
// Step, Outcome and Addr are empty before the first attempt ends; Hint and
// Error are empty while ready. Nothing in it holds a secret: URL is
// redacted, and Error is probe.Result.Diagnosis.
type TargetJSON struct {
	Name                string     `json:"name"`
	URL                 string     `json:"url"`
	Ready               bool       `json:"ready"`
	Optional            bool       `json:"optional"`
	Step                string     `json:"step"`
	Outcome             string     `json:"outcome"`
	Addr                string     `json:"addr"`
	Since               time.Time  `json:"since"`
	LastSuccess         *time.Time `json:"last_success"` // null if never ready
	ConsecutiveFailures int        `json:"consecutive_failures"`
	Attempts            int        `json:"attempts"`
	Steps               string     `json:"steps"` // per-step durations of the last attempt, "resolve=1.2ms connect=310µs"
	Hint                string     `json:"hint"`
	Error               string     `json:"error"`
	// Cause is what the Kubernetes API found, in a pod: "pods_not_ready",
	// "job_failed", …; empty when it found nothing or was not asked.
	Cause string `json:"cause,omitempty"`
}

func targetJSON(s State) TargetJSON {
	j := TargetJSON{
		Name:                s.Name,
		URL:                 s.URL,
		Ready:               s.Ready,
		Optional:            s.Optional,
		Step:                string(s.Last.Step),
		Outcome:             string(s.Last.Outcome),
		Addr:                s.Last.Addr,
		Since:               s.Since.UTC(),
		ConsecutiveFailures: s.ConsecutiveFailures,
		Attempts:            s.Attempts,
		Steps:               s.Last.StepDurations(),
		Hint:                s.Last.Hint,
		Error:               s.Last.Diagnosis(),
	}
	if !s.Probed {
		j.Error = "not probed yet"
	}
	if f := s.Last.Finding; f != nil && !s.Ready {
		j.Cause = f.Cause
	}
	if !s.LastSuccess.IsZero() {
		t := s.LastSuccess.UTC()
		j.LastSuccess = &t
	}
	return j
}

// line is a target's line in /readyz: "[+]db ok", "[-]cache failed: connect refused".
// verbose adds what the Kubernetes API found: "[-]cache failed: connect
// refused, pods_not_ready: Service "cache" selects 1 pod (app=cache), none
// ready: …".
func line(s State, verbose bool) string {
	var b strings.Builder
	if s.Ready {
		b.WriteString("[+]" + s.Name + " ok")
	} else {
		b.WriteString("[-]" + s.Name + " failed: " + s.Summary())
		if f := s.Last.Finding; verbose && f != nil {
			b.WriteString(": " + f.Text)
		}
	}
	if s.Optional {
		b.WriteString(" (optional)")
	}
	return b.String()
}

func (m *Monitor) readyz(w http.ResponseWriter, r *http.Request) {
	if !wantsJSON(r) && !verbose(r) && m.Ready() {
		writeText(w, http.StatusOK, "ok\n") // the kubelet's case: no snapshot, nothing to allocate
		return
	}
	states := m.States()
	ready := allReady(states)
	code := http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
	}
	if wantsJSON(r) {
		out := ReadyzJSON{Ready: ready, Targets: make([]TargetJSON, len(states))}
		for i, s := range states {
			out.Targets[i] = targetJSON(s)
		}
		writeJSON(w, code, out)
		return
	}
	if ready && !verbose(r) {
		writeText(w, code, "ok\n")
		return
	}
	var b strings.Builder
	for _, s := range states {
		b.WriteString(line(s, verbose(r)) + "\n")
	}
	if ready {
		b.WriteString("readyz check passed\n")
	} else {
		b.WriteString("readyz check failed\n")
	}
	writeText(w, code, b.String())
}

func (m *Monitor) readyzTarget(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var (
		s     State
		found bool
	)
	for _, st := range m.States() {
		if st.Name == name {
			s, found = st, true
			break
		}
	}
	if !found {
		http.Error(w, "no target named "+strings.ReplaceAll(name, "\n", " ")+"\n", http.StatusNotFound)
		return
	}
	code := http.StatusOK
	if !s.Ready {
		code = http.StatusServiceUnavailable
	}
	switch {
	case wantsJSON(r):
		writeJSON(w, code, targetJSON(s))
	case s.Ready && !verbose(r):
		writeText(w, code, "ok\n")
	default:
		writeText(w, code, line(s, verbose(r))+"\n")
	}
}

func (m *Monitor) livez(w http.ResponseWriter, _ *http.Request) {
	if ok, why := m.Alive(); !ok {
		writeText(w, http.StatusServiceUnavailable, why+"\n")
		return
	}
	writeText(w, http.StatusOK, "ok\n")
}

// verbose reports whether the query asks for every target's line.
func verbose(r *http.Request) bool {
	return r.URL.RawQuery != "" && r.URL.Query().Has("verbose")
}

// wantsJSON reports whether the request's Accept header names
// application/json.
func wantsJSON(r *http.Request) bool {
	for _, accept := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(accept, ",") {
			if mt, _, err := mime.ParseMediaType(part); err == nil && mt == "application/json" {
				return true
			}
		}
	}
	return false
}

// Header values, shared by every response (net/http only reads them).
var (
	textPlain = []string{"text/plain; charset=utf-8"}
	appJSON   = []string{"application/json"}
	noStore   = []string{"no-store"}
	nosniff   = []string{"nosniff"}
)

func noCache(w http.ResponseWriter, contentType []string) {
	h := w.Header()
	h["Content-Type"] = contentType
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = nosniff
}

func writeText(w http.ResponseWriter, code int, body string) {
	noCache(w, textPlain)
	w.WriteHeader(code)
	io.WriteString(w, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	noCache(w, appJSON)
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
