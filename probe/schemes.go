package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/depprobe/depprobe/probe/proto"
	"github.com/depprobe/depprobe/probe/proto/amqp"
	"github.com/depprobe/depprobe/probe/proto/file"
	"github.com/depprobe/depprobe/probe/proto/grpc"
	"github.com/depprobe/depprobe/probe/proto/http"
	"github.com/depprobe/depprobe/probe/proto/kafka"
	"github.com/depprobe/depprobe/probe/proto/memcached"
	"github.com/depprobe/depprobe/probe/proto/mongodb"
	"github.com/depprobe/depprobe/probe/proto/mqtt"
	"github.com/depprobe/depprobe/probe/proto/mysql"
	"github.com/depprobe/depprobe/probe/proto/nats"
	"github.com/depprobe/depprobe/probe/proto/postgres"
	"github.com/depprobe/depprobe/probe/proto/redis"
	"github.com/depprobe/depprobe/probe/proto/stream"
)

// scheme is how one URL scheme climbs the ladder.
type scheme struct {
	port    string // default port; empty: the URL must name one
	network string // "tcp", "unix", "dns" (resolve only), "file" (no network), "cluster" (the Kubernetes API) or "srv" (the hosts from DNS SRV records, then as "tcp")
	tls     bool   // a TLS handshake follows connect; the TLS options apply
	// starttls: the protocol asks for TLS on its own connection
	// (PostgreSQL, MySQL), as its mode option says; the TLS options but
	// insecure= apply (the mode says what is verified).
	starttls bool
	alpn     []string // protocols offered in the TLS handshake (ALPN)
	// manyHosts: the URL may name a list of hosts (a seed or bootstrap
	// list); the others take one.
	manyHosts bool
	// options are the scheme's own OPTION=VALUE pairs, for help and for
	// "unknown option" messages; optional= and the TLS options are
	// everyone's (see optionNames).
	options []option
	// bind checks a target's own options and returns its protocol step
	// with them bound; nil bind (or a nil Check) means the connect step is
	// enough. Its errors are configuration errors.
	bind func(values map[string][]string) (proto.Check, []error)
	// local is the protocol step of a scheme without a network (file://).
	local func(ctx context.Context, in proto.Input) error
}

// option is one OPTION=VALUE a scheme accepts, as help shows it.
type option struct {
	name, help string
	// repeatable: the option may be given several times (header=), and
	// its setter is called with each value in order; any other option
	// given twice is an error of the grammar.
	repeatable bool
	// secret: the value may hold a secret (a header's value, a body), so
	// an error message names the option but never shows its value.
	secret bool
}

// typedOption is one option of a scheme whose options are of type O.
type typedOption[O any] struct {
	option
	set func(o *O, value string) error
}

// setOptions sets every option of opts that values holds, in order; its
// errors name the option and, unless it is secret, the value.
func setOptions[O any](o *O, opts []typedOption[O], values map[string][]string) []error {
	var errs []error
	for _, opt := range opts {
		for _, v := range values[opt.name] {
			if err := opt.set(o, v); err != nil {
				errs = append(errs, optionError(opt.option, v, err))
			}
		}
	}
	return errs
}

// optionError is a bad value's configuration error.
func optionError(opt option, v string, err error) error {
	if opt.secret {
		return fmt.Errorf("option %s=…: %v", opt.name, err)
	}
	return fmt.Errorf("option %s=%q: %v", opt.name, v, err)
}

// protocol makes s a scheme whose protocol step is check, with options of
// its own type O set by opts.
func protocol[O any](s scheme, check func(context.Context, net.Conn, proto.Input, O) error, opts ...typedOption[O]) *scheme {
	for _, o := range opts {
		s.options = append(s.options, o.option)
	}
	s.bind = func(values map[string][]string) (proto.Check, []error) {
		var o O
		errs := setOptions(&o, opts, values)
		// What the options say together (a body with POST): O's own check.
		if v, ok := any(&o).(interface{ Validate() error }); ok && len(errs) == 0 {
			if err := v.Validate(); err != nil {
				errs = append(errs, err)
			}
		}
		return func(ctx context.Context, conn net.Conn, in proto.Input) error { return check(ctx, conn, in, o) }, errs
	}
	return &s
}

// repeatable reports whether an option of that name may be given several
// times, for the grammar, which knows no scheme.
func repeatable(name string) bool {
	return anyOption(name, func(o option) bool { return o.repeatable })
}

// secretOption reports whether an option of that name holds a secret.
func secretOption(name string) bool { return anyOption(name, func(o option) bool { return o.secret }) }

func anyOption(name string, is func(option) bool) bool {
	for _, sc := range schemes {
		for _, o := range sc.options {
			if o.name == name && is(o) {
				return true
			}
		}
	}
	return false
}

// noOptions adapts a check that takes no options to protocol.
func noOptions(check proto.Check) func(context.Context, net.Conn, proto.Input, struct{}) error {
	return func(ctx context.Context, conn net.Conn, in proto.Input, _ struct{}) error {
		return check(ctx, conn, in)
	}
}

// schemes is every scheme depprobe knows.
var schemes = map[string]*scheme{
	"tcp":   sendExpect(scheme{network: "tcp"}),
	"unix":  sendExpect(scheme{network: "unix"}),
	"http":  protocol(scheme{port: "80", network: "tcp"}, http.Check, httpOptions...),
	"https": protocol(scheme{port: "443", network: "tcp", tls: true}, http.Check, httpOptions...),
	"tls":   sendExpect(scheme{network: "tcp", tls: true}),
	"dns":   {network: "dns"},
	"file":  {network: "file", local: file.Check},
	"k8s": {network: "cluster", options: []option{
		{name: "namespace", help: "the object's namespace; default: depprobe's own"},
		{name: "port", help: "k8s://service: the Service port (name or number) that needs a ready endpoint; default: any"},
		{name: "selector", help: "k8s://pods: the pods' labels, key=value[,key=value...] (also key!=value, key, !key)"},
	}},

	"postgres":   protocol(scheme{port: "5432", network: "tcp", starttls: true}, postgres.Check, pgOptions...),
	"postgresql": protocol(scheme{port: "5432", network: "tcp", starttls: true}, postgres.Check, pgOptions...),
	"mysql":      protocol(scheme{port: "3306", network: "tcp", starttls: true}, mysql.Check, mysqlOptions...),
	"mariadb":    protocol(scheme{port: "3306", network: "tcp", starttls: true}, mysql.Check, mysqlOptions...),
	"redis":      protocol(scheme{port: "6379", network: "tcp"}, redis.Check, redisOptions...),
	"rediss":     protocol(scheme{port: "6379", network: "tcp", tls: true}, redis.Check, redisOptions...),
	"amqp":       protocol(scheme{port: "5672", network: "tcp"}, noOptions(amqp.Check)),
	"amqps":      protocol(scheme{port: "5671", network: "tcp", tls: true}, noOptions(amqp.Check)),
	"nats":       protocol(scheme{port: "4222", network: "tcp"}, noOptions(nats.Check)),
	"mqtt":       protocol(scheme{port: "1883", network: "tcp"}, noOptions(mqtt.Check)),
	"mqtts":      protocol(scheme{port: "8883", network: "tcp", tls: true}, noOptions(mqtt.Check)),
	"memcached":  protocol(scheme{port: "11211", network: "tcp"}, noOptions(memcached.Check)),
	"mongodb":    protocol(scheme{port: "27017", network: "tcp", manyHosts: true}, mongodb.Check, roleOption),
	// mongodb+srv: TLS, as drivers do for it.
	"mongodb+srv": protocol(scheme{network: "srv", tls: true}, mongodb.Check, roleOption),
	"kafka":       protocol(scheme{port: "9092", network: "tcp", manyHosts: true}, kafka.Check, topicOption),
	"grpc":        protocol(scheme{network: "tcp"}, grpc.Check, serviceOption, grpcHeaderOption),
	// gRPC servers require ALPN "h2".
	"grpcs": protocol(scheme{network: "tcp", tls: true, alpn: []string{"h2"}}, grpc.Check, serviceOption, grpcHeaderOption),
}

// sendExpect makes s a scheme whose protocol step is a send/expect
// exchange when the target has send=, expect= or expect_re=, and none
// (the connection is enough) otherwise.
func sendExpect(s scheme) *scheme {
	sc := protocol(s, stream.Check, sendOption, expectOption, expectReOption)
	bind := sc.bind
	sc.bind = func(values map[string][]string) (proto.Check, []error) {
		var o stream.Options
		errs := setOptions(&o, []typedOption[stream.Options]{sendOption, expectOption, expectReOption}, values)
		if !o.Set() {
			return nil, errs
		}
		return bind(values)
	}
	return sc
}

var sendOption = typedOption[stream.Options]{
	// secret: a request may carry a credential; an error never shows it.
	option{name: "send", secret: true, help: "bytes to send first (%XX escapes decoded: %20 a blank, %0D%0A a line break), e.g. ruok or QUIT%0D%0A"},
	func(o *stream.Options, v string) error {
		b, err := proto.Unescape(v)
		o.Send = []byte(b)
		return err
	},
}

var expectOption = typedOption[stream.Options]{
	option{name: "expect", help: "text the reply must contain (its first 4 KiB; %XX escapes decoded), e.g. imok"},
	func(o *stream.Options, v string) error {
		if o.Expect.Set() {
			return errors.New("give expect= or expect_re=, not both")
		}
		b, err := proto.Unescape(v)
		if err == nil {
			o.Expect, err = proto.ExpectSubstring(b)
		}
		return err
	},
}

var expectReOption = typedOption[stream.Options]{
	option{name: "expect_re", help: `RE2 regular expression the reply must match (its first 4 KiB), e.g. ^220\x20`},
	func(o *stream.Options, v string) (err error) {
		if o.Expect.Set() {
			return errors.New("give expect= or expect_re=, not both")
		}
		o.Expect, err = proto.ExpectRegexp(v)
		return err
	},
}

// httpOptions are http(s)://'s options, in the order help shows them.
var httpOptions = []typedOption[http.Options]{
	statusOption,
	{option{name: "method", help: "GET (the default), HEAD or POST"}, func(o *http.Options, v string) error {
		switch m := strings.ToUpper(v); m {
		case "GET", "HEAD", "POST":
			o.Method = m
			return nil
		}
		return errors.New("want GET, HEAD or POST")
	}},
	{option{name: "header", repeatable: true, secret: true, help: "a request header Name:value, e.g. Accept:application/json or Authorization:Bearer%20TOKEN (repeatable; %XX escapes decoded); " +
		"Name:@/path reads the value from a file at every attempt (a mounted Secret); the value is never shown"},
		func(o *http.Options, v string) error {
			h, err := proto.ParseHeader(v, proto.HTTPHeader)
			o.Headers = append(o.Headers, h)
			return err
		}},
	{option{name: "body", secret: true, help: "the request body (%XX escapes decoded), e.g. {\"ping\":1}; makes the method POST; never shown"},
		func(o *http.Options, v string) error {
			b, err := proto.Unescape(v)
			o.Body = []byte(b)
			return err
		}},
	{option{name: "body_file", help: "a file whose content is the request body, read at every attempt (at most 64 KiB); makes the method POST"},
		func(o *http.Options, v string) error {
			if _, err := http.ReadBodyFile(v); err != nil {
				return err
			}
			o.BodyFile = v
			return nil
		}},
	{option{name: "expect", help: "text the body must contain (its first 64 KiB; %XX escapes decoded), e.g. \"status\":\"UP\""},
		func(o *http.Options, v string) error {
			t, err := proto.Unescape(v)
			if err != nil {
				return err
			}
			e, err := proto.ExpectSubstring(t)
			o.Expect = append(o.Expect, e)
			return err
		}},
	{option{name: "expect_re", help: "RE2 regular expression the body must match (its first 64 KiB), e.g. ^OK$"},
		func(o *http.Options, v string) error {
			e, err := proto.ExpectRegexp(v)
			o.Expect = append(o.Expect, e)
			return err
		}},
	{option{name: "json", repeatable: true, help: "the body is JSON and the value at a path is one of some values: .status=green|yellow, .checks[0].ok=true (repeatable)"},
		func(o *http.Options, v string) error {
			w, err := http.ParseJSONWant(v)
			o.JSON = append(o.JSON, w)
			return err
		}},
	{option{name: "expect_header", repeatable: true, help: "a response header that must be there, Name, or hold a text, Name:value (repeatable)"},
		func(o *http.Options, v string) error {
			w, err := http.ParseHeaderWant(v)
			o.ExpectHeaders = append(o.ExpectHeaders, w)
			return err
		}},
	{option{name: "redirects", help: "follow at most this many redirects (0 to 10; default 0: a 3xx is judged by status=); the URL and header= go only to the URL's own scheme, host and port"},
		func(o *http.Options, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > http.MaxRedirects {
				return fmt.Errorf("want a number from 0 to %d", http.MaxRedirects)
			}
			o.Redirects = n
			return nil
		}},
	clusterHealthOption,
}

var statusOption = typedOption[http.Options]{
	option{name: "status", help: "ready status codes: one code (204) or a range (200-299); default 200-399"},
	func(o *http.Options, v string) error {
		lo, hi, isRange := strings.Cut(v, "-")
		if !isRange {
			hi = lo
		}
		min, err1 := strconv.Atoi(lo)
		max, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || min < 100 || max > 599 || min > max {
			return errors.New("want a status code or a range of codes from 100 to 599, e.g. 200-299")
		}
		o.StatusMin, o.StatusMax = min, max
		return nil
	},
}

var clusterHealthOption = typedOption[http.Options]{
	option{name: "cluster_health", help: "yellow or green: judge the answer as an Elasticsearch or OpenSearch cluster health, ready at that colour or better (a URL without a path asks for " + http.HealthPath + ")"},
	func(o *http.Options, v string) error {
		if !http.ValidColour(v) {
			return errors.New("want yellow or green")
		}
		o.ClusterHealth = v
		return nil
	},
}

var roleOption = typedOption[mongodb.Options]{
	option{name: "role", help: "primary: only the replica set's writable primary is ready; any (the default): any member that serves"},
	func(o *mongodb.Options, v string) error {
		switch v {
		case "primary":
			o.Primary = true
		case "any":
		default:
			return errors.New("want primary or any")
		}
		return nil
	},
}

var topicOption = typedOption[kafka.Options]{
	option{name: "topic", help: "a topic that must exist with a leader for every partition (never created by the probe)"},
	func(o *kafka.Options, v string) error {
		// Kafka's rule for topic names (Topic.validate).
		if len(v) > 249 || strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" || v == "." || v == ".." {
			return errors.New("want a Kafka topic name: at most 249 letters, digits, '.', '_' or '-'")
		}
		o.Topic = v
		return nil
	},
}

var pgOptions = []typedOption[postgres.Options]{
	{option{name: "sslmode", help: "disable, prefer, require, verify-ca or verify-full, as libpq's sslmode; default disable, or prefer with role= or query="},
		func(o *postgres.Options, v string) error {
			m, ok := sslModes[v]
			if !ok {
				return errors.New("want disable, prefer, require, verify-ca or verify-full")
			}
			o.SSLMode = m
			return nil
		}},
	{option{name: "role", help: "primary (not in recovery) or standby (in recovery); logs in with the URL's user and password"},
		func(o *postgres.Options, v string) error {
			if v != "primary" && v != "standby" {
				return errors.New("want primary or standby")
			}
			o.Role = v
			return nil
		}},
	{option{name: "query", help: queryHelp}, func(o *postgres.Options, v string) error {
		q, err := sqlQuery(v)
		o.Query = q
		return err
	}},
}

var mysqlOptions = []typedOption[mysql.Options]{
	{option{name: "ssl_mode", help: "disabled, preferred, required, verify_ca or verify_identity, as the mysql client's --ssl-mode; default disabled, or preferred with role= or query="},
		func(o *mysql.Options, v string) error {
			m, ok := mysqlSSLModes[strings.ToLower(v)]
			if !ok {
				return errors.New("want disabled, preferred, required, verify_ca or verify_identity")
			}
			o.SSLMode = m
			return nil
		}},
	{option{name: "role", help: "primary: the server takes writes (@@global.read_only = 0); logs in with the URL's user and password"},
		func(o *mysql.Options, v string) error {
			if v != "primary" {
				return errors.New("want primary")
			}
			o.Primary = true
			return nil
		}},
	{option{name: "query", help: queryHelp}, func(o *mysql.Options, v string) error {
		q, err := sqlQuery(v)
		o.Query = q
		return err
	}},
}

// mysqlSSLModes are the mysql client's --ssl-mode values, lowercase.
var mysqlSSLModes = map[string]proto.TLSMode{
	"disabled": proto.TLSDisable, "preferred": proto.TLSPrefer, "required": proto.TLSRequire,
	"verify_ca": proto.TLSVerifyCA, "verify_identity": proto.TLSVerifyFull,
}

var redisOptions = []typedOption[redis.Options]{
	{option{name: "role", help: "master, or replica whose link to its master is up (INFO replication)"},
		func(o *redis.Options, v string) error {
			switch v {
			case "master", "primary":
				o.Role = "master"
			case "replica", "slave":
				o.Role = "replica"
			default:
				return errors.New("want master or replica")
			}
			return nil
		}},
	{option{name: "cluster", help: "true: the node must say cluster_state:ok (CLUSTER INFO)"},
		func(o *redis.Options, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("want true or false")
			}
			o.Cluster = b
			return nil
		}},
}

// queryHelp is query='s help, the same for every database.
const queryHelp = "SQL that must return a row, e.g. SELECT%201%20FROM%20schema_migrations%20WHERE%20version='42' (%XX escapes decoded); logs in with the URL's user and password"

// sqlQuery decodes query='s %XX escapes.
func sqlQuery(v string) (string, error) {
	q, err := proto.Unescape(v)
	switch {
	case err != nil:
		return "", err
	case strings.ContainsRune(q, 0):
		return "", errors.New("the query holds a NUL")
	}
	return q, nil
}

// sslModes are libpq's sslmode values depprobe has ("allow", plain first,
// is left out: a probe that tries plain text first learns nothing).
var sslModes = map[string]proto.TLSMode{
	"disable": proto.TLSDisable, "prefer": proto.TLSPrefer, "require": proto.TLSRequire,
	"verify-ca": proto.TLSVerifyCA, "verify-full": proto.TLSVerifyFull,
}

var serviceOption = typedOption[grpc.Options]{
	option{name: "service", help: "the service whose health to check (grpc.health.v1 HealthCheckRequest.service); default: the server as a whole"},
	func(o *grpc.Options, v string) error {
		o.Service = v
		return nil
	},
}

var grpcHeaderOption = typedOption[grpc.Options]{
	option{name: "header", repeatable: true, secret: true, help: "request metadata Name:value, e.g. authorization:Bearer%20TOKEN (repeatable; %XX escapes decoded); " +
		"Name:@/path reads the value from a file at every attempt (a mounted Secret); the value is never shown"},
	func(o *grpc.Options, v string) error {
		h, err := proto.ParseHeader(v, proto.GRPCMetadata)
		o.Headers = append(o.Headers, h)
		return err
	},
}

// tlsOptions are the options of every scheme with a TLS step.
type tlsOptions struct {
	caFile, serverName string
	certFile, keyFile  string
	insecure           bool
}

var tlsOptionList = []typedOption[tlsOptions]{
	{option{name: "ca", help: "PEM file of the CA(s) that sign the server's certificate, instead of the system's"}, func(o *tlsOptions, v string) error {
		o.caFile = v
		return nil
	}},
	{option{name: "servername", help: "name to verify the certificate against and send as SNI, instead of the URL's host"}, func(o *tlsOptions, v string) error {
		o.serverName = v
		return nil
	}},
	{option{name: "insecure", help: "true: skip certificate verification (the handshake must still succeed)"}, func(o *tlsOptions, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		o.insecure = b
		return nil
	}},
	{option{name: "cert", help: "PEM file of the client certificate (and its chain) to present, for servers that verify clients; with key="}, func(o *tlsOptions, v string) error {
		o.certFile = v
		return nil
	}},
	{option{name: "key", help: "PEM file of the client certificate's private key, with cert="}, func(o *tlsOptions, v string) error {
		o.keyFile = v
		return nil
	}},
}

// tlsOptions are the TLS options the scheme takes: all for a TLS scheme,
// all but insecure= for one that asks for TLS itself, none otherwise.
func (sc *scheme) tlsOptions() []typedOption[tlsOptions] {
	switch {
	case sc.tls:
		return tlsOptionList
	case sc.starttls:
		return slices.DeleteFunc(slices.Clone(tlsOptionList), func(o typedOption[tlsOptions]) bool { return o.name == "insecure" })
	}
	return nil
}

// tlsConfig builds a target's TLS config from its options: the CA file and
// the client certificate are read now, so a missing or bad file is a
// configuration error, not "not ready". A certificate renewed on disk is
// picked up by a restart.
func (sc *scheme) tlsConfig(host string, values map[string][]string) (*tls.Config, []error) {
	var o tlsOptions
	if errs := setOptions(&o, sc.tlsOptions(), values); len(errs) > 0 {
		return nil, errs
	}
	c := &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: o.insecure,
		MinVersion:         tls.VersionTLS12,
		NextProtos:         sc.alpn,
	}
	if o.serverName != "" {
		c.ServerName = o.serverName
	}
	var errs []error
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("option ca=%q: %w", o.caFile, errors.Unwrap(err)))
		default:
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				errs = append(errs, fmt.Errorf("option ca=%q: no PEM certificate in the file", o.caFile))
			}
			c.RootCAs = pool
		}
	}
	switch {
	case o.certFile == "" && o.keyFile == "":
	case o.keyFile == "":
		errs = append(errs, fmt.Errorf("option cert=%q needs key=, the file of its private key", o.certFile))
	case o.certFile == "":
		errs = append(errs, fmt.Errorf("option key=%q needs cert=, the file of its certificate", o.keyFile))
	default:
		cert, err := clientCertificate(o.certFile, o.keyFile)
		if err != nil {
			errs = append(errs, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, errs
}

// clientCertificate loads cert= and key=. Its errors name the files, never
// what they hold.
func clientCertificate(certFile, keyFile string) (tls.Certificate, error) {
	for _, f := range [][2]string{{"cert", certFile}, {"key", keyFile}} {
		if _, err := os.ReadFile(f[1]); err != nil {
			return tls.Certificate{}, fmt.Errorf("option %s=%q: %w", f[0], f[1], errors.Unwrap(err))
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		// crypto/tls's words: "failed to find any PEM data in certificate
		// input", "private key does not match public key", …
		return tls.Certificate{}, fmt.Errorf("options cert=%q key=%q: %s", certFile, keyFile, strings.TrimPrefix(err.Error(), "tls: "))
	}
	return cert, nil
}

// accepts reports whether the scheme takes option name (optional= aside).
func (sc *scheme) accepts(name string) bool {
	return slices.Contains(optionNames(sc), name)
}

func schemeNames() []string { return slices.Sorted(maps.Keys(schemes)) }

// optionNames lists the options a scheme accepts, optional=true included.
func optionNames(sc *scheme) []string {
	var names []string
	for _, o := range sc.options {
		names = append(names, o.name)
	}
	for _, o := range sc.tlsOptions() {
		names = append(names, o.name)
	}
	for _, o := range commonOptionList {
		names = append(names, o.name)
	}
	slices.Sort(names)
	return names
}

// Schemes lists the URL schemes depprobe knows, sorted.
func Schemes() []string { return schemeNames() }

// family documents the schemes that share a protocol (aliases, TLS
// variants), for `depprobe help` and the README's scheme summary.
type family struct {
	schemes []string
	form    string // how a URL is written
	ready   string // when a target is ready
	byHand  string // what a person would run for the same check
}

// families lists every scheme once, in the order help and docs show them.
var families = []family{
	{[]string{"tcp"}, "`tcp://host:port`", "a TCP connection is established (and, with `send=`/`expect=`, the reply matches)", "`nc -z host port`, `nc host port`"},
	{[]string{"unix"}, "`unix:///path`", "a stream connection to the socket succeeds", "`nc -U /path`"},
	{[]string{"http", "https"}, "`http://host[:port]/path`, `https://…`", "a GET (or `method=`) answers a status in range (default 200-399) and the body and headers expected", "`curl`"},
	{[]string{"tls"}, "`tls://host:port`", "a TCP connection and a verified TLS handshake succeed", "`openssl s_client`"},
	{[]string{"postgres", "postgresql"}, "`postgres://[user[:password]@]host[:port][/db]`, `postgresql://…`", "the server accepts connections (`pg_isready` semantics; no password sent; \"starting up\" is not ready); with `role=` or `query=`, a login and the answer", "`pg_isready`, `psql`"},
	{[]string{"mysql", "mariadb"}, "`mysql://[user[:password]@]host[:port][/db]`, `mariadb://…`", "the server sends its handshake and is not refusing (too many connections, starting); with `role=primary` or `query=`, a login and the answer", "`mysqladmin ping`, `mysql`"},
	{[]string{"redis", "rediss"}, "`redis://[[user]:password@]host[:port]`, `rediss://…`", "`PING` answers (`LOADING` is not ready; `NOAUTH` counts as up unless a password was given); `role=` and `cluster=` ask `INFO replication` and `CLUSTER INFO`", "`redis-cli ping`"},
	{[]string{"amqp", "amqps"}, "`amqp://[user:password@]host[:port][/vhost]`, `amqps://…`", "the broker answers the protocol header with `Connection.Start` (and accepts the login when the URL has a user)", "—"},
	{[]string{"nats"}, "`nats://[user:password@]host[:port]`", "the server sends `INFO` (and answers `PING`)", "`nats server check connection`"},
	{[]string{"mqtt", "mqtts"}, "`mqtt://[user[:password]@]host[:port]`, `mqtts://…`", "`CONNECT` is answered by `CONNACK` (accepted, or refused only for credentials)", "`mosquitto_sub`"},
	{[]string{"memcached"}, "`memcached://[user:password@]host[:port]`", "`version` answers `VERSION` (\"too many open connections\" is not ready)", "`telnet host 11211`, then `version`"},
	{[]string{"mongodb", "mongodb+srv"}, "`mongodb://[user:password@]host[:port][,host[:port]…][/db][?replicaSet=…]`, `mongodb+srv://[user:password@]name[/db]`", "`hello` answers: a primary, a standalone server or a mongos, a secondary unless `role=primary` (a member starting or recovering is not ready)", "`mongosh --eval 'db.hello()'`"},
	{[]string{"kafka"}, "`kafka://[user:password@]host[:port][,host[:port]…]`", "a broker answers ApiVersions and Metadata naming a controller (and the topic has a leader for every partition)", "`kafka-broker-api-versions.sh`, `kcat -L`"},
	{[]string{"grpc", "grpcs"}, "`grpc://host:port`, `grpcs://…`", "`grpc.health.v1.Health/Check` says `SERVING`", "`grpc_health_probe`"},
	{[]string{"dns"}, "`dns://name`", "the name resolves", "`dig`, `nslookup`"},
	{[]string{"file"}, "`file:///path`", "the path exists", "`test -e`"},
	{[]string{"k8s"}, "`k8s://KIND/NAME`, `k8s://pods selector=…`", "in a pod, the API says it is ready (a failed Job: give up at once)", "`kubectl wait`"},
}

// SchemeDoc describes schemes that share a protocol (an alias, a TLS
// variant), for help and docs. Text may hold Markdown code spans.
type SchemeDoc struct {
	Schemes []string    // "http", "https"
	Ports   []string    // each scheme's default port; "" where the URL must name one or has none
	Form    string      // how a URL is written
	Ready   string      // when a target is ready
	ByHand  string      // what a person would run for the same check
	Options []OptionDoc // the options these schemes take, optional= aside
}

// OptionDoc is one OPTION=VALUE.
type OptionDoc struct {
	Name, Help string
	Schemes    []string // which of the family's schemes take it
	TLS        bool     // one of the TLS options, which every TLS scheme shares
}

// commonOptions are the options every scheme takes.
type commonOptions struct {
	optional                bool
	timeout, attemptTimeout time.Duration
	untilDown               bool
}

var commonOptionList = []typedOption[commonOptions]{
	{option{name: "optional", help: "true: the target is probed, logged and shown, but wait does not wait for it, and check's exit code and serve's /readyz leave it out"},
		func(o *commonOptions, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("want true or false")
			}
			o.optional = b
			return nil
		}},
	{option{name: "timeout", help: "the target's own deadline in wait (e.g. 30s), within DEPPROBE_TIMEOUT: wait gives up when it passes; at least 10ms"},
		func(o *commonOptions, v string) (err error) {
			o.timeout, err = durationAtLeast(v, MinAttemptTimeout)
			return err
		}},
	{option{name: "attempt_timeout", help: "the time limit of one attempt of this target, instead of DEPPROBE_ATTEMPT_TIMEOUT; at least 10ms"},
		func(o *commonOptions, v string) (err error) {
			o.attemptTimeout, err = durationAtLeast(v, MinAttemptTimeout)
			return err
		}},
	{option{name: "until", help: "down: ready when nothing answers (connect refused, name not found, file absent), e.g. a port that must be free"},
		func(o *commonOptions, v string) error {
			if v != "down" {
				return errors.New("want down")
			}
			o.untilDown = true
			return nil
		}},
}

// MinAttemptTimeout is the shortest time limit of an attempt
// (DEPPROBE_ATTEMPT_TIMEOUT, attempt_timeout=) and of a target's deadline
// (timeout=): less holds no DNS lookup or TLS handshake, and 1ns, a
// typo's value, makes every attempt a timeout.
const MinAttemptTimeout = 10 * time.Millisecond

// durationAtLeast reads a Go duration of at least min; a bare number is an
// error, not a guess.
func durationAtLeast(v string, min time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < min {
		return 0, fmt.Errorf("want a duration of at least %s with its unit, e.g. 500ms, 30s, 2m", min)
	}
	return d, nil
}

// CommonOptions are the options every scheme takes, for help and docs.
func CommonOptions() []OptionDoc {
	docs := make([]OptionDoc, len(commonOptionList))
	for i, o := range commonOptionList {
		docs[i] = OptionDoc{Name: o.name, Help: o.help}
	}
	return docs
}

// SchemeDocs describes every scheme, from the table that probes them: the
// one source of `depprobe help` and the README's scheme summary.
func SchemeDocs() []SchemeDoc {
	docs := make([]SchemeDoc, len(families))
	for i, f := range families {
		d := SchemeDoc{Schemes: f.schemes, Form: f.form, Ready: f.ready, ByHand: f.byHand}
		var names []string
		takers := map[string][]string{}
		helps := map[string]string{}
		for _, name := range f.schemes {
			sc := schemes[name]
			d.Ports = append(d.Ports, sc.port)
			opts := sc.options
			for _, o := range sc.tlsOptions() {
				opts = append(opts, o.option)
			}
			for _, o := range opts {
				if takers[o.name] == nil {
					names = append(names, o.name)
				}
				takers[o.name] = append(takers[o.name], name)
				helps[o.name] = o.help
			}
		}
		for _, n := range names {
			tls := slices.ContainsFunc(tlsOptionList, func(o typedOption[tlsOptions]) bool { return o.name == n })
			d.Options = append(d.Options, OptionDoc{Name: n, Help: helps[n], Schemes: takers[n], TLS: tls})
		}
		docs[i] = d
	}
	return docs
}
