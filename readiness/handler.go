package readiness

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
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
//     line ends in " (optional)". `?exclude=NAME` (repeated, or
//     comma-separated) leaves targets out of the verdict, as
//     kube-apiserver's /readyz does: their line reads `[+]NAME excluded: ok`,
//     and a name that is no target's is named in a `warn:` line.
//   - GET /readyz/NAME: the same for one target (optional or not): 200 "ok",
//     or 503 with its line; 404 for a name that is not a target.
//   - Either with `Accept: application/json`: the states as JSON (see
//     TargetJSON), with the same status codes; a 404 is JSON too.
//   - GET /livez: 200 "ok" while the probing loops run (see Alive), 503
//     otherwise; it never depends on a dependency. `?verbose` and
//     `?exclude=` work as for /readyz, on the checks `probing` and
//     `loop/NAME` (one per target's loop).
//   - GET /metrics: the Prometheus exposition, rendered at most once per
//     Config.MetricsMaxAge (see metrics.handler).
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
	Ready   bool         `json:"ready"` // every target that is neither optional nor excluded is ready
	Targets []TargetJSON `json:"targets"`
	// Warnings name what ?exclude= asked for that is no target's.
	Warnings []string `json:"warnings,omitempty"`
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
	Excluded            bool       `json:"excluded,omitempty"` // left out of the verdict by ?exclude=
	Step                string     `json:"step"`
	Outcome             string     `json:"outcome"`
	Addr                string     `json:"addr"`
	Since               time.Time  `json:"since"`
	LastSuccess         *time.Time `json:"last_success"` // null if never ready
	ConsecutiveFailures int        `json:"consecutive_failures"`
	Attempts            int        `json:"attempts"`
	Steps               []StepJSON `json:"steps"` // the last attempt's steps, in order; empty before it ends
	Hint                string     `json:"hint"`
	Error               string     `json:"error"`
	// Cause is what the Kubernetes API found, in a pod: "pods_not_ready",
	// "job_failed", …; empty when it found nothing or was not asked.
	Cause string `json:"cause,omitempty"`
}

// StepJSON is one step of an attempt in the JSON form: the step, the
// address it worked on, its outcome and how long it took in milliseconds
// (a number with microseconds as its fraction, for machines to compare).
type StepJSON struct {
	Step       string  `json:"step"`
	Addr       string  `json:"addr"`
	Outcome    string  `json:"outcome"`
	DurationMS float64 `json:"duration_ms"`
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
		Steps:               make([]StepJSON, len(s.Last.Steps)),
		Hint:                s.Last.Hint,
		Error:               s.Last.Diagnosis(),
	}
	for i, st := range s.Last.Steps {
		j.Steps[i] = StepJSON{Step: string(st.Step), Addr: st.Addr, Outcome: string(st.Outcome), DurationMS: float64(st.Duration.Microseconds()) / 1000}
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
		b.WriteString("[-]" + s.Name + " failed: " + why(s, verbose))
	}
	if s.Optional {
		b.WriteString(" (optional)")
	}
	return b.String()
}

// why is the few words of a target's failed line; verbose adds what the
// Kubernetes API found.
func why(s State, verbose bool) string {
	if f := s.Last.Finding; verbose && f != nil {
		return s.Summary() + ": " + f.Text
	}
	return s.Summary()
}

func (m *Monitor) readyz(w http.ResponseWriter, r *http.Request) {
	ex := excluded(r)
	if !wantsJSON(r) && !verbose(r) && ex == nil && m.Ready() {
		writeText(w, http.StatusOK, "ok\n") // the kubelet's case: no snapshot, nothing to allocate
		return
	}
	states := m.States()
	checks := make([]check, len(states))
	for i, s := range states {
		checks[i] = check{name: s.Name, ok: s.Ready, why: why(s, verbose(r)), optional: s.Optional}
	}
	if wantsJSON(r) {
		ready, unknown := verdict(checks, ex)
		code := http.StatusOK
		if !ready {
			code = http.StatusServiceUnavailable
		}
		out := ReadyzJSON{Ready: ready, Targets: make([]TargetJSON, len(states))}
		for i, s := range states {
			out.Targets[i] = targetJSON(s)
			out.Targets[i].Excluded = ex[s.Name]
		}
		if len(unknown) > 0 {
			out.Warnings = []string{unknownWarning(unknown)}
		}
		writeJSON(w, code, out)
		return
	}
	writeChecks(w, r, "readyz", checks, ex)
}

// check is one line of /readyz (a target) or /livez (a loop).
type check struct {
	name     string
	ok       bool
	why      string // a few words when not ok: "connect refused"
	optional bool   // shown, never counted
}

// verdict is whether every check that counts (neither optional nor
// excluded) is ok, and the excluded names that match no check, sorted.
func verdict(checks []check, ex map[string]bool) (ok bool, unknown []string) {
	ok = true
	for _, c := range checks {
		if !c.ok && !c.optional && !ex[c.name] {
			ok = false
		}
	}
	for name := range ex {
		if !slices.ContainsFunc(checks, func(c check) bool { return c.name == name }) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	return ok, unknown
}

func unknownWarning(unknown []string) string {
	quoted := make([]string, len(unknown))
	for i, n := range unknown {
		quoted[i] = strconv.Quote(n)
	}
	return "some health checks cannot be excluded: no matches for " + strings.Join(quoted, ",")
}

// writeChecks writes the text form of /readyz or /livez, worded as the
// Kubernetes API server words its own: "ok" when every check that counts
// passes and no detail was asked for, else one line per check and a last
// line "KIND check passed" or "KIND check failed" (503).
func writeChecks(w http.ResponseWriter, r *http.Request, kind string, checks []check, ex map[string]bool) {
	ok, unknown := verdict(checks, ex)
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	if ok && !verbose(r) {
		writeText(w, code, "ok\n")
		return
	}
	var b strings.Builder
	for _, c := range checks {
		switch {
		case ex[c.name]:
			b.WriteString("[+]" + c.name + " excluded: ok")
		case c.ok:
			b.WriteString("[+]" + c.name + " ok")
		default:
			b.WriteString("[-]" + c.name + " failed: " + c.why)
		}
		if c.optional {
			b.WriteString(" (optional)")
		}
		b.WriteByte('\n')
	}
	if len(unknown) > 0 {
		b.WriteString("warn: " + unknownWarning(unknown) + "\n")
	}
	if ok {
		b.WriteString(kind + " check passed\n")
	} else {
		b.WriteString(kind + " check failed\n")
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
		msg := "no target named " + strconv.Quote(name)
		if wantsJSON(r) {
			writeJSON(w, http.StatusNotFound, struct {
				Error string `json:"error"`
			}{msg})
			return
		}
		writeText(w, http.StatusNotFound, msg+"\n")
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

func (m *Monitor) livez(w http.ResponseWriter, r *http.Request) {
	ex := excluded(r)
	checks := m.liveness()
	if ok, _ := verdict(checks, ex); !ok && !verbose(r) {
		// Without ?verbose, the failing checks' words alone, as before.
		var b strings.Builder
		for _, c := range checks {
			if !c.ok && !ex[c.name] {
				b.WriteString(c.why + "\n")
			}
		}
		writeText(w, http.StatusServiceUnavailable, b.String())
		return
	}
	writeChecks(w, r, "livez", checks, ex)
}

// excluded is the set of names the query's exclude parameters name, each
// possibly a comma-separated list (kube-apiserver's form); nil when none.
func excluded(r *http.Request) map[string]bool {
	if r.URL.RawQuery == "" {
		return nil
	}
	var ex map[string]bool
	for _, v := range r.URL.Query()["exclude"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				if ex == nil {
					ex = map[string]bool{}
				}
				ex[name] = true
			}
		}
	}
	return ex
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
