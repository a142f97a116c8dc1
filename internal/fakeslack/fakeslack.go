// Package fakeslack is an in-process fake of the Slack Web API and of Socket
// Mode, for tests only.
//
// It is the only mock of Slack in the project: no Slack emulator exists, so
// package tests and end-to-end tests point the real slack-go client at a Server
// (slack.OptionAPIURL(s.APIURL())). The Server answers the Web API methods the
// bot calls in the shapes slack-go parses, records every call, injects failures
// on request (rate limits, server errors, Slack error codes), serves
// response_url posts, and runs a Socket Mode websocket that delivers envelopes
// and collects their acks.
//
// It keeps the messages it posts, with their metadata, and serves them back
// through conversations.history and conversations.replies (Messages shows
// them to tests). On request it enforces Slack's per-channel rate limit of
// chat.postMessage (WithRateLimit), answers slowly (WithLatency), or lacks
// the history scopes of an old install (WithScopes).
//
// The fake is deliberately small. It checks what Slack checks when a check
// catches a real bug (a token is present and of the right kind, a DM is
// updated through its D… channel, a view hash is current), and nothing more.
// Among those checks are Slack's Block Kit limits: every message, view and
// Socket Mode acknowledgement it receives is checked, a payload Slack would
// refuse is refused, and each violation is recorded (Violations) and, with
// WithTest, fails the test. CheckCommandAck, CheckViewSubmissionAck and
// CheckOptionsAck check the acknowledgements the fake never sees.
package fakeslack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Identities the fake reports for its workspace, bot and app.
const (
	TeamID    = "T0001" // the workspace
	BotUserID = "UBOT"  // the bot's user, as auth.test reports it
	BotID     = "B0001" // the bot
	AppID     = "A0001" // the app, as the Socket Mode hello reports it
)

// Server is a fake Slack, listening on a loopback port. Create it with New and
// release it with Close. All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the fake, such as http://127.0.0.1:41234, with
	// no trailing slash.
	URL string

	srv          *httptest.Server
	now          func() time.Time
	pingInterval time.Duration
	done         chan struct{}  // closed by Close
	wg           sync.WaitGroup // websocket goroutines

	mu       sync.Mutex
	closed   bool
	changed  chan struct{} // closed and replaced whenever calls or connections change
	calls    []Call
	failures map[string][]Failure
	groups   map[string][]string
	seq      int64
	views    map[string]string // view ID → current hash
	external map[string]string // external_id → view ID
	homes    map[string]string // user ID → ID of their App Home view
	tickets  map[string]bool   // websocket tickets handed out by apps.connections.open, unused yet
	conn     *wsConn           // the connection envelopes go to, nil when none
	conns    map[*wsConn]bool  // every open websocket connection
	pending  map[string]chan json.RawMessage
	hist     history // messages posted, for conversations.history and .replies
	limits   limits  // WithRateLimit and WithLatency
	checks   checks  // WithTest and the violations found
}

// Option configures a Server.
type Option func(*Server)

// WithNow sets the clock that stamps Call.At. The default is time.Now.
func WithNow(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// WithPingInterval sets how often the fake pings each Socket Mode connection.
// The default is one second; slack-go reconnects when it gets no ping for 30
// seconds (socketmode.OptionPingInterval).
func WithPingInterval(d time.Duration) Option {
	return func(s *Server) { s.pingInterval = d }
}

// Failure is an answer FailNext substitutes for the normal one.
//
// With SlackError set the fake answers HTTP Status (200 when zero) with
// {"ok":false,"error":SlackError}, which slack-go reports as a
// slack.SlackErrorResponse. Otherwise it answers HTTP Status (500 when zero)
// with a plain-text body. RetryAfter, when positive, sets the Retry-After
// header in seconds: slack-go turns a 429 into a *slack.RateLimitedError only
// when that header is present, and into a slack.StatusCodeError otherwise.
type Failure struct {
	Status     int
	RetryAfter int
	SlackError string
}

// Call is one request the fake received.
//
// Form holds the query parameters and, for a form body, its fields; JSON holds
// a JSON body decoded into a map (nil for other bodies). Both are shared with
// the Server's own record: read them, do not modify them.
type Call struct {
	Method string // the Web API method, such as "chat.postMessage", or "response_url"
	Path   string // the escaped request path, such as "/api/chat.postMessage" or "/response/abc"
	Form   url.Values
	JSON   map[string]any
	Raw    []byte    // the request body as received
	Token  string    // the token= field, else the Authorization: Bearer token
	At     time.Time // when the call arrived, by the Server's clock
}

// Param returns the named parameter of the call: the form or query field, or
// else the JSON body's field when it is a string. It returns "" when the call
// has no such parameter.
func (c Call) Param(name string) string {
	if v, ok := c.Form[name]; ok && len(v) > 0 {
		return v[0]
	}
	s, _ := c.JSON[name].(string)
	return s
}

// object returns the named parameter as a JSON object, whether it came as a
// JSON body field or as a JSON-encoded form field (Slack accepts both).
func (c Call) object(name string) (map[string]any, bool) {
	if m, ok := c.JSON[name].(map[string]any); ok {
		return m, true
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(c.Param(name)), &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

// New starts a fake Slack on a loopback port. The caller must call Close.
func New(opts ...Option) *Server {
	s := &Server{
		now:          time.Now,
		pingInterval: time.Second,
		done:         make(chan struct{}),
		changed:      make(chan struct{}),
		failures:     make(map[string][]Failure),
		groups:       make(map[string][]string),
		views:        make(map[string]string),
		external:     make(map[string]string),
		homes:        make(map[string]string),
		tickets:      make(map[string]bool),
		conns:        make(map[*wsConn]bool),
		pending:      make(map[string]chan json.RawMessage),
	}
	for _, opt := range opts {
		opt(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.slow(s.serveAPI))
	mux.HandleFunc("POST /response/{id...}", s.serveResponseURL)
	mux.HandleFunc("GET /ws", s.serveSocket)
	// URL is set before the server starts, so that handlers read it after
	// the write as far as the race detector can tell.
	s.srv = httptest.NewUnstartedServer(mux)
	s.URL = "http://" + s.srv.Listener.Addr().String()
	s.srv.Start()
	return s
}

// Close closes every Socket Mode connection, then shuts the server down and
// waits for its goroutines. Calls blocked in WaitFor, SendEnvelope or
// Disconnect return an error. Close may be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	s.notifyLocked()
	conns := slices.Collect(maps.Keys(s.conns))
	s.mu.Unlock()

	for _, c := range conns {
		_ = c.ws.Close()
	}
	s.wg.Wait()
	s.srv.Close()
}

// errClosed returns the error of calls that wait on a Server that was closed.
func errClosed() error {
	return errors.New("the fake Slack server is closed")
}

// APIURL returns the Web API base URL to give slack.OptionAPIURL. It ends in
// '/', as slack-go requires.
func (s *Server) APIURL() string {
	return s.URL + "/api/"
}

// ResponseURL returns a response_url served by the fake. Posts to it are
// recorded as calls to the method "response_url" and answered 200 "ok".
func (s *Server) ResponseURL(id string) string {
	return s.URL + "/response/" + url.PathEscape(id)
}

// Calls returns every call received so far, in arrival order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallsTo returns the calls to method received so far, in arrival order.
func (s *Server) CallsTo(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callsToLocked(method)
}

func (s *Server) callsToLocked(method string) []Call {
	var calls []Call
	for _, c := range s.calls {
		if c.Method == method {
			calls = append(calls, c)
		}
	}
	return calls
}

// WaitFor blocks until at least n calls to method were received, and returns
// them all. When ctx ends first it returns the calls received so far and an
// error.
func (s *Server) WaitFor(ctx context.Context, method string, n int) ([]Call, error) {
	for {
		s.mu.Lock()
		calls, changed, closed := s.callsToLocked(method), s.changed, s.closed
		s.mu.Unlock()
		if len(calls) >= n {
			return calls, nil
		}
		if closed {
			return calls, fmt.Errorf("wait for %d calls to %s (got %d): %w", n, method, len(calls), errClosed())
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return calls, fmt.Errorf("wait for %d calls to %s (got %d): %w", n, method, len(calls), ctx.Err())
		}
	}
}

// FailNext makes the next n calls to method (a Web API method or
// "response_url") answer with f instead of their normal answer. The calls are
// still recorded. Failures queue up: two FailNext calls for one method apply
// one after the other.
func (s *Server) FailNext(method string, n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures[method] = append(s.failures[method], f)
	}
}

// ClearFailures drops every failure still queued by FailNext: Slack is well
// again.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.failures)
}

// SetUserGroup sets the members usergroups.users.list reports for the user
// group groupID (an S… ID). Groups never set are unknown to the fake.
func (s *Server) SetUserGroup(groupID string, users []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[groupID] = slices.Clone(users)
}

// record stores c and returns the failure to answer it with, if one is queued.
func (s *Server) record(c Call) (Failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
	s.notifyLocked()
	queue := s.failures[c.Method]
	if len(queue) == 0 {
		return Failure{}, false
	}
	if len(queue) == 1 {
		delete(s.failures, c.Method)
	} else {
		s.failures[c.Method] = queue[1:]
	}
	return queue[0], true
}

// notifyLocked wakes every goroutine waiting for a change. s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// nextLocked returns a number never returned before. s.mu must be held.
func (s *Server) nextLocked() int64 {
	s.seq++
	return s.seq
}
