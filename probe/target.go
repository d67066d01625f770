package probe

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/depprobe/depprobe/probe/proto"
)

// Spec is one target as written by a user, before it is checked:
// `[NAME=]URL [OPTION=VALUE ...]`.
type Spec struct {
	Name string // empty when the user gave none
	URL  string // as written; may hold a password
	// Options are the OPTION=VALUE pairs: the values of each option in the
	// order given; more than one only for an option that is repeatable
	// (header=).
	Options map[string][]string
	Source  string // where it came from, e.g. "DEPPROBE_TARGETS, target 2"
}

// validName reports whether s may be a NAME: 1 to 63 letters, digits, '_',
// '.' or '-', starting with a letter or digit. A name appears in log fields,
// metric labels and the /readyz/NAME path, so it stays plain. (Loops, not
// regular expressions: compiling those cost every start a third of a
// millisecond.)
func validName(s string) bool {
	if len(s) == 0 || len(s) > 63 || !alnum(s[0]) {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !alnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// validOptionKey reports whether s may be an OPTION name: a lowercase
// letter, then lowercase letters, digits and '_'.
func validOptionKey(s string) bool {
	if len(s) == 0 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }

// ParseSpecs splits text into target specs. Targets are separated by commas
// or newlines; blank entries and lines whose first non-blank character is '#'
// are skipped. A comma inside a URL's authority (after "://", before the
// first '/', '?', '#' or blank) that is followed by something other than a
// blank or `[NAME=]scheme://` separates hosts of that URL, not targets:
// `kafka://k1:9092,k2:9092` is one target, `tcp://a:1,tcp://b:2` two. So
// does a comma inside an option's value: `k8s://pods selector=app=web,tier=db`
// is one target.
// Within an entry, fields are separated by spaces or tabs: the
// first is `[NAME=]URL`, where NAME is everything before the first '=' that
// comes before "://"; the others are OPTION=VALUE. Any other comma or space
// inside a URL must be percent-encoded. source names the origin in error
// messages.
//
// ParseSpecs checks the grammar only; New checks what a spec means. Every
// problem is reported, joined with errors.Join; the specs without problems
// are returned all the same. Error messages never contain a URL's userinfo or
// query.
func ParseSpecs(source, text string) ([]Spec, error) {
	var (
		specs []Spec
		errs  []error
		n     int
	)
	for line := range strings.Lines(text) {
		if trimmed := strings.TrimSpace(line); strings.HasPrefix(trimmed, "#") {
			continue
		}
		for _, entry := range entries(line) {
			// Blanks are spaces and tabs, as the grammar says (strings.Fields
			// would also split at \v, \f, U+0085 and U+00A0, which entries
			// does not know as blanks).
			fields := strings.FieldsFunc(entry, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' })
			if len(fields) == 0 {
				continue
			}
			n++
			where := fmt.Sprintf("%s, target %d", source, n)
			s, err := parseSpec(where, fields)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			specs = append(specs, s)
		}
	}
	return specs, errors.Join(errs...)
}

// entries splits one line at the commas that separate targets: every comma
// but one inside a URL's authority or an option's value that more of the
// same follows (another host, another label of a selector).
func entries(line string) []string {
	var (
		out       []string
		start     int
		authority bool // inside a URL's authority
		options   bool // past the entry's first field: OPTION=VALUE fields
		eq        bool // past an option's '='
		value     bool // inside an option's value, past its first character
	)
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case strings.HasPrefix(line[i:], "://") && !options:
			authority = true
			i += len("://") - 1
		case c == ',':
			if (authority || value) && hostFollows(line[i+1:]) {
				continue
			}
			out = append(out, line[start:i])
			start, authority, options, eq, value = i+1, false, false, false, false
		case c == ' ' || c == '\t':
			authority, eq, value = false, false, false
			options = options || strings.TrimSpace(line[start:i]) != ""
		case c == '=' && options && !eq:
			eq = true
		case strings.IndexByte("/?#\r\n", c) >= 0:
			authority = false
			value = value || eq
		default:
			value = value || eq
		}
	}
	return append(out, line[start:])
}

// hostFollows reports whether the text after a comma in a URL's authority
// or an option's value continues it (another host of that URL, another
// label of a selector): not a blank, a comma or the end of the line, and
// not the start of a target, `[NAME=]scheme://`.
func hostFollows(s string) bool {
	if s == "" || strings.IndexByte(" \t\r\n,", s[0]) >= 0 {
		return false
	}
	word := s
	if end := strings.IndexAny(s, ", \t\r\n"); end >= 0 {
		word = s[:end]
	}
	sep := strings.Index(word, "://")
	return sep < 0 || strings.ContainsAny(word[:sep], "/?#@")
}

func parseSpec(where string, fields []string) (Spec, error) {
	s := Spec{URL: fields[0], Source: where}
	if slices.ContainsFunc(fields[1:], cutUserinfo) {
		// "postgres://app:my pass@db": a blank cut the URL's user info;
		// the fields after it hold the rest of the password, so none is
		// echoed, and the URL is shown masked up to the last '@'.
		return s, fmt.Errorf("%s: %q: a blank cuts the URL (inside its user info?): write a blank in a URL as %%20", where, redactRaw(strings.Join(fields, " ")))
	}
	if sep := strings.Index(s.URL, "://"); sep > 0 {
		if eq := strings.IndexByte(s.URL[:sep], '='); eq >= 0 {
			s.Name, s.URL = s.URL[:eq], s.URL[eq+1:]
			if !validName(s.Name) {
				shown := fmt.Sprintf("%q", s.Name)
				if strings.ContainsAny(s.Name, "@:/") {
					shown = "(not shown: it looks like part of a URL's user info)"
				}
				return s, fmt.Errorf("%s: name %s: use 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit", where, shown)
			}
		}
	} else {
		return s, fmt.Errorf("%s: %q is not a URL: write scheme://address, e.g. tcp://db:5432", where, redactRaw(s.URL))
	}
	var (
		errs []error
		prev string // the option before, whose value a blank may have cut
	)
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case !ok && secretOption(prev):
			// Likely the rest of a secret value that held a blank: never
			// echo it.
			errs = append(errs, fmt.Errorf("%s: a field after option %s= is not OPTION=VALUE: write a blank inside a value as %%20", where, prev))
		case !ok:
			errs = append(errs, fmt.Errorf("%s: option %q: write OPTION=VALUE", where, f))
		case !validOptionKey(k):
			errs = append(errs, fmt.Errorf("%s: option %q: the name must be lowercase letters, digits and '_'", where, k))
		case len(s.Options[k]) > 0 && !repeatable(k):
			errs = append(errs, fmt.Errorf("%s: option %q is given twice", where, k))
		case v == "":
			errs = append(errs, fmt.Errorf("%s: option %q has no value", where, k))
		default:
			if s.Options == nil {
				s.Options = map[string][]string{}
			}
			s.Options[k] = append(s.Options[k], v)
		}
		if ok {
			prev = k
		}
	}
	return s, errors.Join(errs...)
}

// cutUserinfo reports whether a field after the URL looks like the rest of
// user info that a blank cut off ("pass@db"): it holds an '@' and is not an
// option any scheme knows (header=x:@/path is one).
func cutUserinfo(field string) bool {
	if !strings.Contains(field, "@") {
		return false
	}
	k, _, ok := strings.Cut(field, "=")
	return !ok || !knownOption(k)
}

// knownOption reports whether some scheme accepts an option of that name.
func knownOption(name string) bool {
	if name == "optional" {
		return true
	}
	for _, sc := range schemes {
		if sc.accepts(name) {
			return true
		}
	}
	return false
}

// Target is one checked dependency: a name, a URL and how to probe it. It is
// built once from configuration by New and is safe for concurrent use by
// several attempts.
type Target struct {
	// Name is what logs, endpoints and metrics call the target; unique.
	Name string
	// Kubernetes makes hints speak of Services, endpoints and NetworkPolicy.
	// New sets it for host names that look like cluster Services; callers set
	// it when the process runs in a pod.
	Kubernetes bool
	// Optional (option optional=true) marks a target that is probed,
	// logged and shown, but that readiness does not wait for: wait exits
	// without it, check's exit code and serve's /readyz leave it out.
	Optional bool
	// Timeout (option timeout=) is the target's own deadline in Wait,
	// within the caller's; zero: only the caller's.
	Timeout time.Duration
	// AttemptTimeout (option attempt_timeout=) is the time limit of one
	// attempt of this target, instead of the caller's (see AttemptLimit).
	AttemptTimeout time.Duration
	// UntilDown (option until=down) inverts readiness: the target is
	// ready when nothing answers (see Probe).
	UntilDown bool
	// Resolver resolves host names; nil means net.DefaultResolver. Only
	// tests and programs that embed probe set it (a DNS server of their
	// own); the command leaves it nil.
	Resolver *net.Resolver
	// API asks the Kubernetes API: the cluster step after a failed
	// resolve or connect, and the one step of a k8s:// target. nil: no
	// API (outside a pod); callers set it.
	API API
	// Version is depprobe's version, sent as User-Agent: depprobe/<Version>
	// by http(s):// and grpc(s)://; empty means "(devel)". Callers set it
	// (the command: the version it prints).
	Version string

	url    *url.URL // holds the password: never print it, use redacted
	scheme *scheme
	host   string   // host name or IP literal, without brackets; empty for unix:// and file://
	port   string   // the port, the scheme's default filled in
	hosts  []string // every host:port of the URL's authority, the first one included
	path   string   // unix:// socket or file:// path
	object *Object  // what a k8s:// target waits for
	in     proto.Input
	check  proto.Check // the protocol step with the target's options bound; nil: none
	source string      // where the spec came from, for error messages

	// Worked out once in New, not at every attempt:
	redacted string       // URL()
	address  string       // Address()
	literal  netip.Addr   // host as an IP address; invalid: a name (resolved at each attempt)
	literals []string     // Result.Addrs of an IP literal: the address, unmapped (shared, read only)
	dialIPs  []netip.Addr // what resolve returns for an IP literal (shared, read only)
}

// userAgent is what the protocols that speak HTTP send: "depprobe/<version>",
// the version the caller set (Version).
func (t *Target) userAgent() string {
	if t.Version == "" {
		return "depprobe/(devel)"
	}
	return "depprobe/" + t.Version
}

// Source is where the target's spec came from, for messages:
// "DEPPROBE_TARGETS, target 2".
func (t *Target) Source() string { return t.source }

// URL is the target's URL with passwords and query values masked.
func (t *Target) URL() string {
	if t.redacted == "" { // a Target not made by New
		return redact(t.url)
	}
	return t.redacted
}

// Scheme is the URL's scheme, lowercase.
func (t *Target) Scheme() string { return t.url.Scheme }

// Address is what the attempt dials, e.g. "db:5432" or "/run/app.sock";
// for a k8s:// target, the object: "job/migrate", "other/job/migrate",
// "pods -l app=web".
func (t *Target) Address() string {
	if t.address != "" {
		return t.address
	}
	if o := t.object; o != nil {
		what := o.Kind + "/" + o.Name
		if o.Kind == "pods" {
			what = "pods -l " + o.Selector
		}
		if o.Namespace != "" {
			return o.Namespace + "/" + what
		}
		return what
	}
	if t.path != "" {
		return t.path
	}
	if t.port == "" { // dns://, mongodb+srv://: a name
		return t.host
	}
	return net.JoinHostPort(t.host, t.port)
}

// Hosts is every host:port the URL's authority names, in order: one, or
// for a scheme that takes a list of hosts (a bootstrap list,
// `kafka://k1:9092,k2:9092`) every one of them.
func (t *Target) Hosts() []string { return slices.Clone(t.hosts) }

// New checks a spec and builds its target: a known scheme, a host and port
// where the scheme needs them, known options with valid values, readable CA
// files. The name defaults to one derived from the URL (see DefaultName).
// Errors name the spec's source and never contain a password.
func New(s Spec) (*Target, error) {
	where := s.Source
	if where == "" {
		where = "target"
	}
	if strings.Contains(s.URL, "#") {
		// No scheme uses a fragment; a '#' is nearly always one of a
		// password's, and what follows it would be lost.
		return nil, fmt.Errorf("%s: %q: a '#' starts a fragment, which no scheme uses: write a '#' in a password as %%23", where, redactRaw(s.URL))
	}
	first, hostList := splitHosts(s.URL)
	u, err := url.Parse(first)
	if err != nil {
		// Never url.Parse's words: they quote the part that did not parse,
		// which may be a password's.
		return nil, fmt.Errorf("%s: %q is not a valid URL: %s", where, redactRaw(s.URL), urlProblem(err))
	}
	if afterAuthority(first, "@") {
		// "redis://:12345/6@host": a '/' or '?' in a password ended the
		// authority early; what url.Parse took for host and path is the
		// password's. (An '@' in a path is written %40.)
		return nil, fmt.Errorf("%s: %q: an '@' after the host: write a '/', '?' or '@' in a user name or password as %%2F, %%3F, %%40", where, redactRaw(s.URL))
	}
	if sep := strings.Index(first, "://"); u.Opaque != "" || u.Scheme == "" || sep < 0 || u.User == nil && strings.Contains(first[sep:], "@") {
		// "postgres:://pw@", "0/://pw@": not scheme://authority as
		// url.Parse sees it; its pieces (opaque, path) would show user info.
		return nil, fmt.Errorf("%s: %q is not a valid URL: write scheme://address, e.g. tcp://db:5432", where, redactRaw(s.URL))
	}
	u.Scheme = strings.ToLower(u.Scheme)
	sc, ok := schemes[u.Scheme]
	if !ok {
		// By position: a URL whose scheme url.Parse did not find is all
		// path to it, user info included.
		return nil, fmt.Errorf("%s: %q: unknown scheme %q; known: %s", where, redactRaw(s.URL), u.Scheme, strings.Join(schemeNames(), ", "))
	}
	if err := unusedParts(u); err != nil {
		return nil, fmt.Errorf("%s: %q: %v", where, redact(u), err)
	}
	t := &Target{Name: s.Name, url: u, scheme: sc, source: where}
	var errs []error
	switch sc.network {
	case "unix", "file":
		if u.Host != "" || u.Path == "" {
			errs = append(errs, fmt.Errorf("%s: %q: write %s:///absolute/path (three slashes)", where, redact(u), u.Scheme))
		}
		t.path = path.Clean(u.Path)
	case "cluster":
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("%s: %q: a k8s:// URL has no user, query or fragment", where, redact(u)))
		}
		o, objErrs := parseObject(u.Hostname(), u.Path, u.Port() != "", firstValues(s.Options))
		for _, err := range objErrs {
			errs = append(errs, fmt.Errorf("%s: %q: %v", where, redact(u), err))
		}
		t.object = o
	case "dns":
		t.host = u.Hostname()
		if t.host == "" {
			errs = append(errs, fmt.Errorf("%s: %q: no name to resolve; write dns://name", where, redact(u)))
		}
		if u.Port() != "" {
			errs = append(errs, fmt.Errorf("%s: %q: dns:// takes a name without a port: the system's resolver is asked, on its own port", where, redact(u)))
		}
	case "srv":
		// One name, whose SRV records name the hosts and their ports
		// (https://github.com/mongodb/specifications/blob/master/source/initial-dns-seedlist-discovery/initial-dns-seedlist-discovery.md).
		t.host = u.Hostname()
		if t.host == "" || u.Port() != "" || len(hostList) > 1 || net.ParseIP(t.host) != nil {
			errs = append(errs, fmt.Errorf("%s: %q: %s:// takes one host name without a port: its DNS SRV records name the hosts and ports", where, redact(u), u.Scheme))
		}
		hostList = nil
	default:
		t.host, t.port = u.Hostname(), u.Port()
		if t.host == "" {
			errs = append(errs, fmt.Errorf("%s: %q: no host; write %s://host:port", where, redact(u), u.Scheme))
		}
		if strings.Contains(t.host, ":") && !strings.HasPrefix(u.Host, "[") {
			// "127.0.0.1:5432:5433": url.Parse takes the last port and
			// leaves the rest in the host name.
			errs = append(errs, fmt.Errorf("%s: %q: more than one ':' after the host: give one port; an IPv6 address goes in brackets, [::1]:5432", where, redact(u)))
		}
		if t.port == "" {
			t.port = sc.port
		}
		if p, err := strconv.ParseUint(t.port, 10, 16); err != nil || p == 0 {
			errs = append(errs, fmt.Errorf("%s: %q: needs a port from 1 to 65535", where, redact(u)))
		}
		t.hosts = []string{net.JoinHostPort(t.host, t.port)}
	}
	switch {
	case len(hostList) > 1 && sc.manyHosts:
		t.hosts = t.hosts[:0]
		for _, h := range hostList {
			hp, err := hostPort(h, sc.port)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %q: host %d of %d: %v", where, redact(u), len(t.hosts)+1, len(hostList), err))
			}
			t.hosts = append(t.hosts, hp)
		}
	case len(hostList) > 1:
		// Say how to write them as targets of their own.
		one := make([]string, len(hostList))
		for i, h := range hostList {
			c := *u
			c.Host = h
			one[i] = redact(&c)
		}
		errs = append(errs, fmt.Errorf("%s: %q: %s:// takes one host; for %s targets write %s", where, redact(u), u.Scheme, numberWord(len(hostList)), strings.Join(one, ",")))
	}
	var common commonOptions
	for _, err := range setOptions(&common, commonOptionList, s.Options) {
		errs = append(errs, fmt.Errorf("%s: %v", where, err))
	}
	t.Optional, t.Timeout, t.AttemptTimeout, t.UntilDown = common.optional, common.timeout, common.attemptTimeout, common.untilDown
	for k := range s.Options {
		if !sc.accepts(k) {
			errs = append(errs, fmt.Errorf("%s: %q: unknown option %q for %s://; known: %s", where, redact(u), k, u.Scheme, strings.Join(optionNames(sc), ", ")))
		}
	}
	if sc.bind != nil {
		check, bindErrs := sc.bind(s.Options)
		for _, err := range bindErrs {
			errs = append(errs, fmt.Errorf("%s: %v", where, err))
		}
		t.check = check
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	t.in = t.input()
	if len(t.hosts) > 1 {
		u.Host = strings.Join(hostList, ",") // the URL as written, every host shown
	}
	if sc.tls || sc.starttls {
		c, tlsErrs := sc.tlsConfig(t.host, s.Options)
		if len(tlsErrs) > 0 {
			return nil, fmt.Errorf("%s: %q: %v", where, redact(u), errors.Join(tlsErrs...))
		}
		t.in.TLS = c
	}
	if t.Name == "" {
		t.Name = DefaultName(t)
	}
	t.Kubernetes = clusterName(t.host)
	t.redacted = redact(u)
	t.derive()
	return t, nil
}

// derive works out once what every attempt would otherwise work out again
// from the host and port: the address, and whether the host is an IP.
func (t *Target) derive() {
	t.address = ""
	t.address = t.Address()
	t.literal, t.literals, t.dialIPs = netip.Addr{}, nil, nil
	if ip, err := netip.ParseAddr(t.host); err == nil {
		t.literal, t.literals, t.dialIPs = ip, []string{ip.Unmap().String()}, []netip.Addr{ip.Unmap()}
	}
}

// input is what the target's protocol step is given of it.
func (t *Target) input() proto.Input {
	in := proto.Input{
		Addr:       t.Address(),
		Host:       t.host,
		Authority:  t.url.Host,
		Path:       t.url.Path,
		RequestURI: t.url.RequestURI(),
	}
	if t.path != "" {
		in.Path = t.path
	}
	if u := t.url.User; u != nil {
		in.HasUser, in.User = true, u.Username()
		in.Password, in.HasPassword = u.Password()
	}
	return in
}

// numberWord says small numbers in words, as a sentence does.
func numberWord(n int) string {
	if words := []string{"no", "one", "two", "three", "four", "five"}; n < len(words) {
		return words[n]
	}
	return strconv.Itoa(n)
}

// hostPort checks one host of a list, "host[:port]", and fills in the
// default port.
func hostPort(h, defaultPort string) (string, error) {
	u, err := url.Parse("x://" + h)
	if err != nil || u.Hostname() == "" || u.User != nil || u.Path != "" || u.RawQuery != "" {
		return "", errors.New("write host or host:port")
	}
	port := u.Port()
	if port == "" {
		port = defaultPort
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return "", errors.New("needs a port from 1 to 65535")
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

// splitHosts finds a list of hosts in a URL's authority (after "://",
// before the first '/', '?' or '#'; after the userinfo): it returns the URL
// with only the first host, for url.Parse, and every host as written; nil
// when the authority names one host or none.
func splitHosts(raw string) (first string, hosts []string) {
	sep := strings.Index(raw, "://")
	if sep < 0 {
		return raw, nil
	}
	start := sep + len("://")
	end := len(raw)
	if i := strings.IndexAny(raw[start:], "/?#"); i >= 0 {
		end = start + i
	}
	if at := strings.LastIndexByte(raw[start:end], '@'); at >= 0 {
		start += at + 1
	}
	if !strings.Contains(raw[start:end], ",") {
		return raw, nil
	}
	hosts = strings.Split(raw[start:end], ",")
	return raw[:start] + hosts[0] + raw[end:], hosts
}

// Targets builds every spec. A derived name that clashes with another name
// takes the port (or, without one, the scheme) as a suffix: "db-5432". Two
// equal names given by the user, or the same URL twice, are errors. Every
// problem is reported.
func Targets(specs []Spec) ([]*Target, error) {
	var (
		targets []*Target
		derived []bool
		errs    []error
		count   = map[string]int{}
	)
	for _, s := range specs {
		t, err := New(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		targets = append(targets, t)
		derived = append(derived, s.Name == "")
		count[t.Name]++
	}
	for i, t := range targets {
		if derived[i] && count[t.Name] > 1 {
			suffix := t.port
			if suffix == "" {
				suffix = t.url.Scheme
			}
			t.Name = sanitizeName(t.Name + "-" + suffix)
		}
	}
	seen := map[string]*Target{}
	for i, t := range targets {
		prev, dup := seen[t.Name]
		switch {
		case !dup:
			seen[t.Name] = t
		case !derived[i]:
			errs = append(errs, fmt.Errorf("%s: name %q is already used by %s", t.source, t.Name, prev.source))
		case t.URL() == prev.URL():
			// Redacted URLs are compared: two that differ only in a
			// secret are the same URL here, and the message says no more.
			errs = append(errs, fmt.Errorf("%s: %q is listed twice (also %s: the same URL, secrets aside); drop one, or give one a NAME= to tell them apart", t.source, t.URL(), prev.source))
		default:
			errs = append(errs, fmt.Errorf("%s: %q derives the same name %q as %q (%s); give one a NAME=", t.source, t.URL(), t.Name, prev.URL(), prev.source))
		}
	}
	return targets, errors.Join(errs...)
}

// DefaultName derives a readable name from a target's URL: the host for
// network schemes ("db" for postgres://db:5432), the file name for unix://
// and file://.
func DefaultName(t *Target) string {
	if o := t.object; o != nil {
		if o.Kind == "pods" {
			name := sanitizeName("pods-" + o.Selector)
			for strings.Contains(name, "__") {
				name = strings.ReplaceAll(name, "__", "_")
			}
			return name
		}
		return sanitizeName(o.Name)
	}
	if t.path != "" {
		return sanitizeName(path.Base(t.path))
	}
	if strings.Contains(t.host, ":") { // an IPv6 literal
		return sanitizeName("ipv6-" + strings.ReplaceAll(t.host, ":", "-"))
	}
	return sanitizeName(t.host)
}

func sanitizeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !alnum(c) && c != '_' && c != '.' && c != '-' {
			b[i] = '_'
		}
	}
	s = strings.Trim(string(b), "_.-")
	if len(s) > 63 {
		s = s[:63]
	}
	if s == "" {
		s = "target"
	}
	return s
}

// clusterName reports whether host looks like a Kubernetes Service name.
func clusterName(host string) bool {
	h := strings.TrimSuffix(host, ".")
	return strings.HasSuffix(h, ".svc") || strings.Contains(h, ".svc.")
}

// redact prints a URL with its secrets masked (see proto.RedactURL, which
// the http check shares for a redirect's URL).
func redact(u *url.URL) string { return proto.RedactURL(u) }

// redactRaw masks a URL's user info and query by their position in the
// text, for a URL that did not parse or that is not what it seems: the
// user info is everything from "://" (or the start) to the last '@', since
// a password may hold '/', '?', '#' or ':' that end the authority early
// for url.Parse; the query is everything from the first '?' or '#' after
// that. It masks too much rather than too little.
func redactRaw(s string) string {
	start := 0
	if i := strings.Index(s, "://"); i >= 0 && validScheme(s[:i]) {
		start = i + len("://")
	}
	rest := s[start:]
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = "xxxxx" + rest[at:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i] + "?xxxxx"
	}
	return s[:start] + rest
}

// afterAuthority reports whether chars occur in raw after its authority
// (from the first '/', '?' or '#' after "://").
func afterAuthority(raw, chars string) bool {
	sep := strings.Index(raw, "://")
	if sep < 0 {
		return false
	}
	rest := raw[sep+len("://"):]
	i := strings.IndexAny(rest, "/?#")
	return i >= 0 && strings.ContainsAny(rest[i:], chars)
}

// validScheme reports whether s is a URL scheme: a letter, then letters,
// digits, '+', '-' or '.' (RFC 3986, 3.1). A NAME= before it is allowed.
func validScheme(s string) bool {
	if eq := strings.IndexByte(s, '='); eq >= 0 && validName(s[:eq]) {
		s = s[eq+1:]
	}
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !alnum(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// urlProblem names what url.Parse found wrong, in words of depprobe's own:
// its messages quote the part that did not parse, which may be a
// password's.
func urlProblem(err error) string {
	msg := proto.UnwrapURLError(err).Error()
	switch {
	case strings.Contains(msg, "invalid port"):
		return "the port is not a number (a '/', '?' or '#' in a password ends the host early: write them as %2F, %3F, %23)"
	case strings.Contains(msg, "invalid URL escape"):
		return "a '%' that does not start an escape: write a '%' as %25"
	case strings.Contains(msg, "invalid userinfo"):
		return "the user name or password holds a character that must be percent-encoded (a blank, '%', '/', '?', '#', '[', ']', '\"' and every non-ASCII character: UTF-8 bytes as %XX)"
	case strings.Contains(msg, "control character"):
		return "it holds a control character"
	case strings.Contains(msg, "host"):
		return "the host is not a valid host name or address (a '/', '?' or '#' in a password ends the user info early: write them as %2F, %3F, %23)"
	case strings.Contains(msg, "missing protocol scheme"), strings.Contains(msg, "colon"):
		return "write scheme://address, e.g. tcp://db:5432"
	}
	return "it does not parse as a URL"
}

// unusedParts rejects the parts of a URL that its scheme does not use,
// rather than ignore them: a path or query on tcp:// says the URL is not
// what its writer thinks, and user info there would be a password sent
// nowhere. A client's query parameters on the database schemes
// (?sslmode=…, ?authSource=…) are accepted: the same URL often serves the
// application.
func unusedParts(u *url.URL) error {
	user, path, query := true, true, true // what the scheme uses; a scheme not named here, all
	switch u.Scheme {
	case "tcp", "tls", "dns", "grpc", "grpcs":
		user, path, query = false, false, false
	case "unix", "file":
		user, query = false, false
	case "nats", "mqtt", "mqtts", "memcached", "kafka":
		path, query = false, false
	}
	var unused []string
	if u.User != nil && !user {
		unused = append(unused, "user info (user:password@)")
	}
	if u.Path != "" && u.Path != "/" && !path {
		unused = append(unused, "a path")
	}
	if (u.RawQuery != "" || u.ForceQuery) && !query {
		unused = append(unused, "a query (?…)")
	}
	if len(unused) > 0 {
		return fmt.Errorf("%s:// does not use %s: remove it (an option is written after the URL, OPTION=VALUE)", u.Scheme, strings.Join(unused, " or "))
	}
	if (u.Scheme == "redis" || u.Scheme == "rediss") && u.User != nil {
		if _, ok := u.User.Password(); !ok {
			// "redis://secret@host": the colon forgotten, the password
			// taken for a user name and never sent.
			return fmt.Errorf("a user name without a password: Redis logs in with a password, write %s://:PASSWORD@host (the ':' before it) or %s://USER:PASSWORD@host", u.Scheme, u.Scheme)
		}
	}
	return nil
}

// firstValues is each option's value, for a scheme whose options are
// given once (the grammar has refused them twice).
func firstValues(opts map[string][]string) map[string]string {
	m := make(map[string]string, len(opts))
	for k, vs := range opts {
		if len(vs) > 0 {
			m[k] = vs[0]
		}
	}
	return m
}
