// Package kube is depprobe's in-cluster Kubernetes API client and its
// diagnosis of Kubernetes objects: why a Service has no ready endpoint (no
// such Service, a selector that matches no pod, pods in CrashLoopBackOff,
// ImagePullBackOff or Pending, a targetPort no container declares, a
// NetworkPolicy), and whether a Service, Job, Deployment, StatefulSet or a
// set of pods is ready.
//
// It speaks the API's JSON over net/http with the pod's service account
// (the token re-read at every request, so a rotated token is used at once)
// and decodes answers into minimal structs of its own: client-go would cost
// 20 MB of binary and 3 ms of every start (see docs/cluster.md). It only
// reads, except for the Events it publishes when asked to.
//
// It knows nothing of probe's ladder, targets or outcomes, nor of
// environment variables: cmd/depprobe reads those, builds a Client with
// Config and hands what it learns to probe. Of depprobe it imports only
// probe/proto, for the helper that cleans text a peer sends.
package kube

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/depprobe/depprobe/probe/proto"
)

// printable makes text from the API (a condition's message, a user name)
// fit for a log line and a termination message: control characters
// replaced, cut after max bytes. The API server is trusted, but what it
// relays (an image registry's error) is not.
func printable(s string, max int) string { return proto.Printable(s, max) }

// ServiceAccountDir is where Kubernetes mounts a pod's service account:
// token, ca.crt and namespace.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// RequestTimeout is the time limit of one API request when Config leaves
// it zero.
const RequestTimeout = 2 * time.Second

// MaxAnswer caps what depprobe reads of one answer: 2 MiB. It decodes as it
// reads, one list item at a time, keeping only the fields it needs, so
// memory stays far below it; an answer that goes on (the API server's
// cache ignores a list's limit, see list) is "too many to say"
// (*TooBigError), never read whole.
const MaxAnswer = 2 << 20

// listLimit caps the items of one LIST where the API server honors a
// limit: a diagnosis names a few objects, never hundreds.
const listLimit = 100

// maxStatus caps what is read of an error's answer (a metav1.Status).
const maxStatus = 64 << 10

// Config is where the API is and who depprobe is there. cmd fills it from
// KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT and the service
// account's files.
type Config struct {
	Host, Port string // the API server, e.g. 10.96.0.1 and 443
	TokenFile  string // read at every request
	CAFile     string // the CA that signs the API server's certificate
	Namespace  string // the pod's own namespace
	Pod        string // the pod's own name; empty: unknown (no Events, no own-pod evidence)
	UserAgent  string // "depprobe/<version>"
	Timeout    time.Duration
	Log        *slog.Logger // debug lines: why a lookup was skipped; nil: none
	Now        func() time.Time
}

// Client asks the API. It is safe for concurrent use.
type Client struct {
	base      string
	tokenFile string
	ns, pod   string
	ua        string
	timeout   time.Duration
	http      *http.Client
	log       *slog.Logger
	now       func() time.Time

	mu     sync.Mutex
	denied map[Rule]denial // requests answered 403: not asked again for deniedFor
}

// deniedFor is how long a request answered 403 is not made again: a Role
// granted later (serve runs for days) is noticed within it.
const deniedFor = 5 * time.Minute

// denial is a 403 the Client remembers.
type denial struct {
	user string
	at   time.Time
}

// New checks cfg and builds a Client: the token and CA files must be
// readable. It makes no request.
func New(cfg Config) (*Client, error) {
	if cfg.Host == "" || cfg.Port == "" {
		return nil, errors.New("no API server address")
	}
	if _, err := readToken(cfg.TokenFile); err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("the API server's CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the API server's CA %s: no PEM certificate", cfg.CAFile)
	}
	if cfg.Namespace == "" {
		return nil, errors.New("no namespace")
	}
	c := &Client{
		base:      "https://" + net.JoinHostPort(cfg.Host, cfg.Port),
		tokenFile: cfg.TokenFile,
		ns:        cfg.Namespace,
		pod:       cfg.Pod,
		ua:        cfg.UserAgent,
		timeout:   cfg.Timeout,
		log:       cfg.Log,
		now:       cfg.Now,
		denied:    map[Rule]denial{},
		http: &http.Client{
			Transport: &http.Transport{
				// The API is in the cluster: no proxy variable applies.
				Proxy:               nil,
				TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
				MaxIdleConnsPerHost: 2,
				IdleConnTimeout:     30 * time.Second,
				TLSHandshakeTimeout: RequestTimeout,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	if c.timeout <= 0 {
		c.timeout = RequestTimeout
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Namespace is the pod's own namespace: where short Service names live.
func (c *Client) Namespace() string { return c.ns }

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// readToken reads the service account token; it is a secret, and no error
// or output ever holds it.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("the service account token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("the service account token %s is empty", path)
	}
	return tok, nil
}

// request is one API call: a verb on a resource, as RBAC names them.
type request struct {
	rule      Rule   // verb, API group and resource
	version   string // "v1"
	namespace string // "": cluster-wide
	name      string // get, or the object a create is for
	query     url.Values
	body      any // create
}

func (r request) path() string {
	var b strings.Builder
	if r.rule.Group == "" {
		b.WriteString("/api/" + r.version)
	} else {
		b.WriteString("/apis/" + r.rule.Group + "/" + r.version)
	}
	if r.namespace != "" {
		b.WriteString("/namespaces/" + url.PathEscape(r.namespace))
	}
	b.WriteString("/" + r.rule.Resource)
	if r.rule.Verb == "get" {
		b.WriteString("/" + url.PathEscape(r.name))
	}
	if len(r.query) > 0 {
		b.WriteString("?" + r.query.Encode())
	}
	return b.String()
}

// do makes one request under its own time limit and decodes the answer
// with decode (nil: the answer is not read), from at most MaxAnswer bytes.
// A 403 is a *ForbiddenError, a 404 a *NotFoundError, any other status a
// *StatusError, a longer answer a *TooBigError; a request that was denied
// once is not made again.
func (c *Client) do(ctx context.Context, r request, decode func(*json.Decoder) error) error {
	key := r.rule
	key.Namespace = r.namespace
	c.mu.Lock()
	d, denied := c.denied[key]
	c.mu.Unlock()
	if denied && c.now().Sub(d.at) < deniedFor {
		return &ForbiddenError{Rule: key, User: d.user, Repeated: true}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tok, err := readToken(c.tokenFile)
	if err != nil {
		return err
	}
	method := http.MethodGet
	var body io.Reader
	if r.rule.Verb == "create" {
		method = http.MethodPost
		b, err := json.Marshal(r.body)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+r.path(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL: the error says "the API", the step names the object
		}
		return &APIError{Rule: key, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var st status
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxStatus))
		json.Unmarshal(data, &st) // a body that is not a Status leaves the message empty
		switch resp.StatusCode {
		case http.StatusForbidden:
			user := forbiddenUser(st.Message)
			c.mu.Lock()
			c.denied[key] = denial{user: user, at: c.now()}
			c.mu.Unlock()
			return &ForbiddenError{Rule: key, User: user}
		case http.StatusNotFound:
			return &NotFoundError{Rule: key, Name: r.name}
		}
		return &StatusError{Rule: key, Code: resp.StatusCode, Reason: st.Reason, Message: printable(st.Message, 300)}
	}
	if decode == nil {
		return nil
	}
	answer := &io.LimitedReader{R: resp.Body, N: MaxAnswer}
	if err := decode(json.NewDecoder(answer)); err != nil {
		if answer.N == 0 {
			return &TooBigError{Rule: key}
		}
		var (
			se *json.SyntaxError
			te *json.UnmarshalTypeError
		)
		if errors.As(err, &se) || errors.As(err, &te) || errors.Is(err, errShape) {
			return &APIError{Rule: key, Err: fmt.Errorf("an answer that is not the expected JSON: %v", err)}
		}
		return &APIError{Rule: key, Err: err} // the answer broke off: the transport's error

	}
	return nil
}

// get reads one object.
func (c *Client) get(ctx context.Context, group, version, resource, ns, name string, out any) error {
	return c.do(ctx, request{rule: Rule{Verb: "get", Group: group, Resource: resource}, version: version, namespace: ns, name: name},
		func(dec *json.Decoder) error { return dec.Decode(out) })
}

// listItems reads into items the objects of a namespace ("" for every
// namespace) that match a label selector or a field selector, or, with
// neither, the first listLimit of every one (depprobe lists unselected
// only the few kinds a namespace has few of: workloads, NetworkPolicies).
//
// A selected list is read from the API server's cache (resourceVersion=0:
// no quorum read of etcd, which keeps 500 waiting pods cheap), which
// serves every match and ignores the limit; the selector keeps it small,
// and MaxAnswer bounds what is read. An unselected one is read without
// resourceVersion=0, so that its limit holds: a consistent read, paged by
// the API server.
func listItems[T any](ctx context.Context, c *Client, group, version, resource, ns, labels, fields string, items *[]T) error {
	q := url.Values{"limit": {fmt.Sprint(listLimit)}}
	if labels != "" {
		q.Set("labelSelector", labels)
	}
	if fields != "" {
		q.Set("fieldSelector", fields)
	}
	if labels != "" || fields != "" {
		q.Set("resourceVersion", "0")
	}
	return c.do(ctx, request{rule: Rule{Verb: "list", Group: group, Resource: resource}, version: version, namespace: ns, query: q},
		func(dec *json.Decoder) error { return decodeItems(dec, items) })
}

// decodeItems decodes a list's items one at a time into items, skipping
// the list's other fields: the decoder holds one item, never the list.
func decodeItems[T any](dec *json.Decoder, items *[]T) error {
	if err := delim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		name, err := dec.Token()
		if err != nil {
			return err
		}
		if name != "items" { // kind, apiVersion, metadata: small
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
			continue
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok == nil { // "items": null
			continue
		}
		if tok != json.Delim('[') {
			return fmt.Errorf("%w: items is %v, not a list", errShape, tok)
		}
		for dec.More() {
			var it T
			if err := dec.Decode(&it); err != nil {
				return err
			}
			*items = append(*items, it)
		}
		if err := delim(dec, ']'); err != nil {
			return err
		}
	}
	return delim(dec, '}')
}

// delim reads the next token, which must be d.
func delim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != d {
		return fmt.Errorf("%w: %v where %v was expected", errShape, tok, d)
	}
	return nil
}

// errShape is a list whose JSON is not shaped as the API writes one.
var errShape = errors.New("not a list")

// Rule is one RBAC permission: a verb on a resource of an API group, in a
// namespace ("" where it does not matter or is cluster-wide).
type Rule struct {
	Verb, Group, Resource string
	Namespace             string
}

// String is the rule as a Role writes it, in YAML's flow style:
// {apiGroups: [""], resources: ["pods"], verbs: ["list"]}.
func (r Rule) String() string {
	return fmt.Sprintf(`{apiGroups: [%q], resources: [%q], verbs: [%q]}`, r.Group, r.Resource, r.Verb)
}

// ForbiddenError is a 403: the service account may not make the request.
type ForbiddenError struct {
	Rule     Rule
	User     string // "system:serviceaccount:app:default", from the API's message; may be empty
	Repeated bool   // denied before: this time the request was not made
}

func (e *ForbiddenError) Error() string {
	where := ""
	if e.Rule.Namespace != "" {
		where = fmt.Sprintf(" in namespace %q", e.Rule.Namespace)
	} else if e.Rule.Verb == "list" {
		where = " in all namespaces"
	}
	who := "this pod's service account"
	if e.User != "" {
		who = e.User
	}
	return fmt.Sprintf("the Kubernetes API forbids %s to %s %s%s", who, e.Rule.Verb, resourceName(e.Rule), where)
}

// resourceName is "pods", "deployments.apps", "endpointslices.discovery.k8s.io",
// as kubectl names a resource.
func resourceName(r Rule) string {
	if r.Group == "" {
		return r.Resource
	}
	return r.Resource + "." + r.Group
}

// forbiddenUser finds the user in the API's 403 message: `... User
// "system:serviceaccount:app:default" cannot get resource ...`.
func forbiddenUser(msg string) string {
	_, rest, ok := strings.Cut(msg, `User "`)
	if !ok {
		return ""
	}
	user, _, ok := strings.Cut(rest, `"`)
	if !ok || len(user) > 253 {
		return ""
	}
	return printable(user, 253)
}

// NotFoundError is a 404: the object (or its namespace) does not exist.
type NotFoundError struct {
	Rule Rule
	Name string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s %q not found in namespace %q", resourceName(e.Rule), e.Name, e.Rule.Namespace)
}

// StatusError is any other answer that is not a success.
type StatusError struct {
	Rule    Rule
	Code    int
	Reason  string
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("the Kubernetes API answered %d %s to %s %s: %s", e.Code, e.Reason, e.Rule.Verb, resourceName(e.Rule), e.Message)
}

// TooBigError is an answer longer than MaxAnswer: more objects than a
// diagnosis can say anything of (a selector that matches hundreds of
// pods), read no further.
type TooBigError struct{ Rule Rule }

func (e *TooBigError) Error() string {
	return fmt.Sprintf("the Kubernetes API: %s %s: more than %d MiB in one answer: too many to say", e.Rule.Verb, resourceName(e.Rule), MaxAnswer>>20)
}

// APIError is a request that got no answer: the API server refused the
// connection, did not answer in time, or its certificate did not verify.
// Err is the cause, for errors.Is and errors.As.
type APIError struct {
	Rule Rule
	Err  error
}

func (e *APIError) Error() string {
	return fmt.Sprintf("the Kubernetes API: %s %s: %v", e.Rule.Verb, resourceName(e.Rule), e.Err)
}

func (e *APIError) Unwrap() error { return e.Err }

// status is the API's metav1.Status, what it answers with an error code.
type status struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}
