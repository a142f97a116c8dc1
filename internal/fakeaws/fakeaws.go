// Package fakeaws is an in-process AWS endpoint for tests, speaking the real
// wire protocols (EC2 Query, REST-JSON as RAM speaks it, REST-XML as Route 53
// speaks it), for what moto does not model: other accounts' states, pages,
// throttling, refusals. The SDK still does the HTTP: a test points the real
// aws-sdk-go-v2 clients at a Server with Config or RetryConfig, and the
// Server hands every call, decoded, to the test's Handler, which keeps the
// state of its kind and answers with the writers of this package.
//
// A Server records every call it gets (action, region of the signature,
// parameters) before anything else, and answers an action made to fail with
// Fail in the call's protocol without asking the Handler.
package fakeaws

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Protocol is the AWS wire protocol of a call.
type Protocol int

const (
	// Query is a form POST with an Action parameter, answered in XML: EC2's
	// protocol (and STS's, which a client with a role meets first). Failures
	// are written as EC2 errors.
	Query Protocol = iota
	// RESTJSON is an operation named by its method and path with a JSON
	// body and answer, as RAM speaks it.
	RESTJSON
	// RESTXML is an operation named by its method and path with an XML body
	// and answer in the Route's namespace, as Route 53 speaks it.
	RESTXML
)

// String returns the protocol's name.
func (p Protocol) String() string {
	switch p {
	case Query:
		return "Query"
	case RESTJSON:
		return "REST-JSON"
	case RESTXML:
		return "REST-XML"
	}
	return "Protocol(" + strconv.Itoa(int(p)) + ")"
}

// Route names a REST operation: the requests that match Pattern, an
// http.ServeMux pattern such as "POST /2013-04-01/hostedzone/{Id}/associatevpc",
// are calls of Op in Protocol. Every request no Route matches is a Query call.
type Route struct {
	Pattern   string
	Op        string
	Protocol  Protocol // RESTJSON or RESTXML
	Namespace string   // RESTXML: the XML namespace of answers and errors
}

// Call is one request to a Server, decoded.
type Call struct {
	Protocol Protocol
	Service  string // the signing name of the credential scope: ec2, ram, route53, sts
	Region   string // the region of the credential scope
	Action   string // the Query Action parameter, or the Route's Op
	// Form holds the parameters of a Query call.
	Form url.Values
	// JSON holds the body of a REST-JSON call.
	JSON map[string]any
	// Body is the raw request body.
	Body []byte
	// PathValues are the wildcards of the Route's pattern, by name.
	PathValues map[string]string
	// URLQuery is the query string of the request's URL.
	URLQuery url.Values

	ctx       context.Context
	namespace string
}

// Context returns the request's context, done when the client gives up.
func (c Call) Context() context.Context { return c.ctx }

// WriteError answers c with an AWS error in its protocol.
func (c Call) WriteError(w http.ResponseWriter, status int, code, message string) {
	switch c.Protocol {
	case RESTJSON:
		WriteJSONError(w, status, code, message)
	case RESTXML:
		WriteRESTXMLError(w, status, c.namespace, code, message)
	default:
		WriteEC2Error(w, status, code, message)
	}
}

// Handler answers the calls of a Server that are not made to fail.
type Handler func(w http.ResponseWriter, c Call)

// Failure is an AWS error a Server answers instead of its Handler.
type Failure struct {
	Status  int // HTTP status
	Code    string
	Message string
	Times   int // how many calls fail; 0: every call until Heal
}

// Server is an in-process AWS endpoint that records its calls and answers
// them with a Handler or an injected Failure. Its methods are safe for
// concurrent use.
type Server struct {
	// URL is the endpoint, for aws.Config.BaseEndpoint or AWS_ENDPOINT_URL.
	URL string

	handle Handler
	mu     sync.Mutex
	calls  []Call
	fails  map[string]Failure // by action; "*" for every call
}

// New starts a Server for the test t that answers calls with handle (nil:
// every call that is not made to fail gets an InvalidAction error), with
// routes naming its REST operations. t's cleanup closes it.
func New(t testing.TB, handle Handler, routes ...Route) *Server {
	t.Helper()
	s := &Server{handle: handle, fails: map[string]Failure{}}
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.HandleFunc(rt.Pattern, func(w http.ResponseWriter, r *http.Request) { s.serveREST(w, r, rt) })
	}
	mux.HandleFunc("/", s.serveQuery)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		msg := "the fake knows no operation " + r.Method + " " + r.URL.Path
		if strings.HasPrefix(ct, "application/json") {
			WriteJSONError(w, http.StatusNotFound, "UnknownOperationException", msg)
			return
		}
		http.Error(w, msg, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.serve(w, r, Call{Protocol: Query, Action: form.Get("Action"), Form: form, Body: body})
}

func (s *Server) serveREST(w http.ResponseWriter, r *http.Request, rt Route) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c := Call{Protocol: rt.Protocol, Action: rt.Op, Body: body, PathValues: map[string]string{}, namespace: rt.Namespace}
	for _, name := range wildcards(rt.Pattern) {
		c.PathValues[name] = r.PathValue(name)
	}
	if rt.Protocol == RESTJSON {
		c.JSON = map[string]any{}
		if err := json.Unmarshal(body, &c.JSON); err != nil {
			WriteJSONError(w, http.StatusBadRequest, "SerializationException", err.Error())
			return
		}
	}
	s.serve(w, r, c)
}

// wildcards returns the names of the wildcards of a ServeMux pattern.
func wildcards(pattern string) []string {
	var out []string
	for seg := range strings.SplitSeq(pattern, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok && strings.HasSuffix(name, "}") && name != "$}" {
			out = append(out, strings.TrimSuffix(strings.TrimSuffix(name, "}"), "..."))
		}
	}
	return out
}

// serve records c, then answers it with its failure or the handler.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, c Call) {
	c.ctx, c.URLQuery = r.Context(), r.URL.Query()
	// Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, ...
	if _, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
		parts := strings.Split(cred, "/")
		if len(parts) > 2 {
			c.Region = parts[2]
		}
		if len(parts) > 3 {
			c.Service = parts[3]
		}
	}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	f, failed := s.failure(c.Action)
	s.mu.Unlock()
	switch {
	case failed:
		c.WriteError(w, f.Status, f.Code, f.Message)
	case s.handle == nil:
		c.WriteError(w, http.StatusBadRequest, "InvalidAction", "The fake answers no "+c.Action)
	default:
		s.handle(w, c)
	}
}

// failure returns the failure of action, its own or that of every call, and
// counts it down. s.mu is held.
func (s *Server) failure(action string) (Failure, bool) {
	for _, key := range []string{action, "*"} {
		f, ok := s.fails[key]
		if !ok {
			continue
		}
		if f.Times > 0 {
			if f.Times--; f.Times == 0 {
				delete(s.fails, key)
			} else {
				s.fails[key] = f
			}
		}
		return f, true
	}
	return Failure{}, false
}

// Fail makes the calls of action ("*" for every call) fail with f, f.Times
// times or until Heal. A call of an action failing on its own gets that
// failure rather than the one of "*".
func (s *Server) Fail(action string, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails[action] = f
}

// Heal ends the failure of action ("*" for that of every call).
func (s *Server) Heal(action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.fails, action)
}

// Calls returns the calls of the actions, or every call when none is named,
// in the order they came.
func (s *Server) Calls(actions ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(actions) == 0 || slices.Contains(actions, c.Action) {
			out = append(out, c)
		}
	}
	return out
}

// Count returns how many calls of the actions came, or how many calls when
// none is named.
func (s *Server) Count(actions ...string) int { return len(s.Calls(actions...)) }

// Regions returns the region of every call of action, in order.
func (s *Server) Regions(action string) []string {
	var out []string
	for _, c := range s.Calls(action) {
		out = append(out, c.Region)
	}
	return out
}
