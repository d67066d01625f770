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
)

// scheme is how one URL scheme climbs the ladder.
type scheme struct {
	port    string // default port; empty: the URL must name one
	network string // "tcp", "unix", "dns" (resolve only) or "file" (no network)
	tls     bool   // a TLS handshake follows connect
	options map[string]option
	// prepare builds what the options need once, when the target is built
	// (a TLS config from a CA file); its errors are configuration errors.
	prepare func(t *Target) error
	// handshake is the protocol step on an established connection (after
	// TLS when the scheme has it); nil means the connect step is enough. It
	// returns nil when ready, a *stepError naming the outcome otherwise;
	// other errors are classified like I/O errors.
	handshake func(ctx context.Context, conn net.Conn, t *Target) error
}

// option is one OPTION=VALUE a scheme accepts.
type option struct {
	help string
	set  func(c *config, value string) error
}

// config is what a target's options set. The zero value means defaults.
type config struct {
	statusMin, statusMax int // http: ready status range; zero: 200-399
	caFile               string
	serverName           string
	insecure             bool
	tls                  *tls.Config // built by prepareTLS
	service              string      // grpc: the service whose health to check; empty: the server
}

// schemes is every scheme depprobe knows.
var schemes = map[string]*scheme{
	"tcp":   {network: "tcp"},
	"unix":  {network: "unix"},
	"http":  {port: "80", network: "tcp", options: httpOptions, handshake: httpCheck},
	"https": {port: "443", network: "tcp", tls: true, options: withTLS(httpOptions), prepare: prepareTLS, handshake: httpCheck},
	"tls":   {network: "tcp", tls: true, options: tlsOptions, prepare: prepareTLS},
	"dns":   {network: "dns"},
	"file":  {network: "file", handshake: fileCheck},

	"postgres":   {port: "5432", network: "tcp", handshake: postgresCheck},
	"postgresql": {port: "5432", network: "tcp", handshake: postgresCheck},
	"mysql":      {port: "3306", network: "tcp", handshake: mysqlCheck},
	"mariadb":    {port: "3306", network: "tcp", handshake: mysqlCheck},
	"redis":      {port: "6379", network: "tcp", handshake: redisCheck},
	"rediss":     {port: "6379", network: "tcp", tls: true, options: tlsOptions, prepare: prepareTLS, handshake: redisCheck},
	"amqp":       {port: "5672", network: "tcp", handshake: amqpCheck},
	"amqps":      {port: "5671", network: "tcp", tls: true, options: tlsOptions, prepare: prepareTLS, handshake: amqpCheck},
	"nats":       {port: "4222", network: "tcp", handshake: natsCheck},
	"mqtt":       {port: "1883", network: "tcp", handshake: mqttCheck},
	"mqtts":      {port: "8883", network: "tcp", tls: true, options: tlsOptions, prepare: prepareTLS, handshake: mqttCheck},
	"grpc":       {network: "tcp", options: grpcOptions, handshake: grpcCheck},
	"grpcs":      {network: "tcp", tls: true, options: withTLS(grpcOptions), prepare: prepareGRPCTLS, handshake: grpcCheck},
}

var grpcOptions = map[string]option{
	"service": {help: "the service whose health to check (grpc.health.v1 HealthCheckRequest.service); default: the server as a whole", set: func(c *config, v string) error {
		c.service = v
		return nil
	}},
}

var tlsOptions = map[string]option{
	"ca": {help: "PEM file of the CA(s) that sign the server's certificate, instead of the system's", set: func(c *config, v string) error {
		c.caFile = v
		return nil
	}},
	"servername": {help: "name to verify the certificate against and send as SNI, instead of the URL's host", set: func(c *config, v string) error {
		c.serverName = v
		return nil
	}},
	"insecure": {help: "true: skip certificate verification (the handshake must still succeed)", set: func(c *config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		c.insecure = b
		return nil
	}},
}

var httpOptions = map[string]option{
	"status": {help: "ready status codes: one code (204) or a range (200-299); default 200-399", set: func(c *config, v string) error {
		lo, hi, isRange := strings.Cut(v, "-")
		if !isRange {
			hi = lo
		}
		min, err1 := strconv.Atoi(lo)
		max, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || min < 100 || max > 599 || min > max {
			return errors.New("want a status code or a range of codes from 100 to 599, e.g. 200-299")
		}
		c.statusMin, c.statusMax = min, max
		return nil
	}},
}

// withTLS adds the TLS options to a scheme's own.
func withTLS(opts map[string]option) map[string]option {
	m := maps.Clone(tlsOptions)
	maps.Copy(m, opts)
	return m
}

// prepareTLS builds the target's TLS config: the CA file is read now, so a
// missing or bad file is a configuration error, not "not ready".
func prepareTLS(t *Target) error {
	c := &tls.Config{
		ServerName:         t.host,
		InsecureSkipVerify: t.cfg.insecure,
		MinVersion:         tls.VersionTLS12,
	}
	if t.cfg.serverName != "" {
		c.ServerName = t.cfg.serverName
	}
	if t.cfg.caFile != "" {
		pem, err := os.ReadFile(t.cfg.caFile)
		if err != nil {
			return fmt.Errorf("option ca=%q: %w", t.cfg.caFile, errors.Unwrap(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("option ca=%q: no PEM certificate in the file", t.cfg.caFile)
		}
		c.RootCAs = pool
	}
	t.cfg.tls = c
	return nil
}

func schemeNames() []string { return slices.Sorted(maps.Keys(schemes)) }

// optionNames lists the options a scheme accepts, optional=true included.
func optionNames(sc *scheme) []string {
	return append(slices.Sorted(maps.Keys(sc.options)), "optional")
}

// Schemes lists the URL schemes depprobe knows, sorted.
func Schemes() []string { return schemeNames() }
