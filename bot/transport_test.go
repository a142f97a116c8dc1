package bot

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/slack-go/slack"

	"github.com/astrobot-dev/astrobot/handlers"
)

const testSigningSecret = "test-signing-secret"

// serverTimeouts are the http.Server timeouts of a test server.
type serverTimeouts struct {
	readHeader, read, write, idle time.Duration
}

// runTimeouts are the timeouts run.go gives the HTTP transport.
var runTimeouts = serverTimeouts{readHeader: 5 * time.Second, read: 10 * time.Second, write: 10 * time.Second, idle: 60 * time.Second}

// httpHarness is the HTTP transport on a real listener, in front of the real
// handler of a testEnv.
type httpHarness struct {
	*testEnv
	m      *Metrics
	d      *dispatcher
	srv    *httptest.Server
	client *http.Client
}

func newHTTPHarness(t *testing.T, to serverTimeouts) *httpHarness {
	t.Helper()
	e := newTestEnv(t)
	m := NewMetrics()
	d := newDispatcher(e.h, m, e.log, e.clock.Now)
	mux := http.NewServeMux()
	mux.Handle("/slack/events", &HTTP{d: d, v: NewVerifier(testSigningSecret, e.clock.Now)})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ReadHeaderTimeout, srv.Config.ReadTimeout = to.readHeader, to.read
	srv.Config.WriteTimeout, srv.Config.IdleTimeout = to.write, to.idle
	srv.Start()
	// Events run after their ack: wait for them before the store closes.
	t.Cleanup(func() { srv.Close(); d.running.Wait() })
	// Slack gives up on an ack after 3 seconds: so does the test client.
	return &httpHarness{testEnv: e, m: m, d: d, srv: srv, client: &http.Client{Timeout: 3 * time.Second}}
}

// request is one HTTP request to the transport.
type request struct {
	method string
	ctype  string
	body   []byte
	header http.Header // signature headers; nil for none
}

// signed returns a POST of body with ctype, signed at the harness's now.
func (h *httpHarness) signed(ctype string, body []byte) request {
	return request{method: http.MethodPost, ctype: ctype, body: body, header: Sign(testSigningSecret, h.clock.Now(), body)}
}

// form returns a signed form POST of v.
func (h *httpHarness) form(v url.Values) request {
	return h.signed("application/x-www-form-urlencoded", []byte(v.Encode()))
}

// interaction returns a signed form POST of an interaction payload.
func (h *httpHarness) interaction(t *testing.T, cb slack.InteractionCallback) request {
	t.Helper()
	p, err := json.Marshal(cb)
	if err != nil {
		t.Fatalf("marshal interaction: %v", err)
	}
	return h.form(url.Values{"payload": {string(p)}})
}

// response is what the transport answered.
type response struct {
	status int
	header http.Header
	body   string
}

func (h *httpHarness) do(t *testing.T, r request) response {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), r.method, h.srv.URL+"/slack/events", bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("%s /slack/events: %v", r.method, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// rejected returns the number of requests refused, by reason.
func (h *httpHarness) rejected(t *testing.T) map[string]float64 {
	t.Helper()
	families, err := h.m.Registry.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "astrobot_http_rejected_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// state is what a request must not change: the store and Slack.
type state struct {
	requests, outbox, calls int
}

func (h *httpHarness) state(t *testing.T) state {
	t.Helper()
	counts, err := h.db.RequestCounts(testContext(t))
	if err != nil {
		t.Fatalf("RequestCounts: %v", err)
	}
	n := 0
	for _, c := range counts {
		n += c
	}
	return state{requests: n, outbox: h.stats(t).Depth, calls: len(h.fake.Calls())}
}

// appHomeOpened is the Events API callback Slack sends when user opens App Home.
func appHomeOpened(eventID, user string) []byte {
	b, _ := json.Marshal(map[string]any{
		"token": "legacy", "team_id": testTeam, "api_app_id": "A0001", "type": "event_callback",
		"event_id": eventID, "event_time": 1700000000,
		"event": map[string]any{"type": "app_home_opened", "user": user, "channel": "D" + user, "tab": "home", "event_ts": "1700000000.000100"},
	})
	return b
}

func TestHTTPRefusesHostileInput(t *testing.T) {
	h := newHTTPHarness(t, runTimeouts)
	slash := []byte(url.Values{"command": {handlers.CommandIP}, "text": {testCluster.ID},
		"team_id": {testTeam}, "user_id": {testUser}, "channel_id": {testChannel}}.Encode())
	const form = "application/x-www-form-urlencoded"

	tests := []struct {
		name   string
		req    func() request
		status int
		reason string // the astrobot_http_rejected_total reason
	}{
		{"oversized body", func() request {
			body := append([]byte("command=%2Fastro-ip&text="), bytes.Repeat([]byte("a"), maxBody)...)
			return h.signed(form, body)
		}, http.StatusRequestEntityTooLarge, "too_large"},
		{"text/plain", func() request { return h.signed("text/plain", slash) }, http.StatusUnsupportedMediaType, "content_type"},
		{"no content type", func() request { return h.signed("", slash) }, http.StatusUnsupportedMediaType, "content_type"},
		{"GET", func() request {
			r := h.signed("", nil)
			r.method = http.MethodGet
			return r
		}, http.StatusMethodNotAllowed, "method"},
		{"malformed form", func() request { return h.signed(form, []byte("command=%2Fastro-ip&text=%zz")) }, http.StatusBadRequest, "form"},
		{"form that is neither command nor interaction", func() request { return h.form(url.Values{"text": {"hello"}}) }, http.StatusBadRequest, "form"},
		{"malformed JSON in payload", func() request { return h.form(url.Values{"payload": {`{"type":"view_submission",`}}) }, http.StatusBadRequest, "payload"},
		{"malformed JSON body", func() request { return h.signed("application/json", []byte(`{"type":`)) }, http.StatusBadRequest, "json"},
		{"JSON body that is not an event", func() request { return h.signed("application/json", []byte(`{"hello":"world"}`)) }, http.StatusBadRequest, "event"},
		{"event callback without its event", func() request {
			return h.signed("application/json", []byte(`{"type":"event_callback","event_id":"Ev0NONE"}`))
		}, http.StatusBadRequest, "event"},
		{"replayed: timestamp 6 minutes old", func() request {
			r := h.signed(form, slash)
			r.header = Sign(testSigningSecret, h.clock.Now().Add(-6*time.Minute), slash)
			return r
		}, http.StatusUnauthorized, "signature"},
		{"timestamp 6 minutes ahead", func() request {
			r := h.signed(form, slash)
			r.header = Sign(testSigningSecret, h.clock.Now().Add(6*time.Minute), slash)
			return r
		}, http.StatusUnauthorized, "signature"},
		{"no signature", func() request {
			r := h.signed(form, slash)
			r.header = nil
			return r
		}, http.StatusUnauthorized, "signature"},
		{"signature of another body", func() request {
			r := h.signed(form, slash)
			r.header = Sign(testSigningSecret, h.clock.Now(), []byte("command=%2Fastro-ip&text=other"))
			return r
		}, http.StatusUnauthorized, "signature"},
		{"signed with another secret", func() request {
			r := h.signed(form, slash)
			r.header = Sign("not-the-secret", h.clock.Now(), slash)
			return r
		}, http.StatusUnauthorized, "signature"},
		{"signature header without v0", func() request {
			r := h.signed(form, slash)
			r.header.Set("X-Slack-Signature", strings.TrimPrefix(r.header.Get("X-Slack-Signature"), "v0="))
			return r
		}, http.StatusUnauthorized, "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, rejected, warnings := h.state(t), h.rejected(t), h.logs.count(slog.LevelWarn)
			resp := h.do(t, tt.req())
			if resp.status != tt.status {
				t.Errorf("status = %d %q, want %d", resp.status, resp.body, tt.status)
			}
			if tt.status == http.StatusMethodNotAllowed && resp.header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q, want POST", resp.header.Get("Allow"))
			}
			after := h.rejected(t)
			if got := after[tt.reason] - rejected[tt.reason]; got != 1 {
				t.Errorf(`astrobot_http_rejected_total{reason=%q} grew by %v, want 1; by reason before %v, after %v`, tt.reason, got, rejected, after)
			}
			refused := h.logs.find(slog.LevelWarn, "refused")
			if n := h.logs.count(slog.LevelWarn) - warnings; n != 1 || len(refused) == 0 || attr(refused[len(refused)-1], "reason") != tt.reason {
				t.Errorf("%d warnings logged, want 1 refusal with reason %s; logs:\n%s", n, tt.reason, h.logs.dump())
			}
			h.d.running.Wait()
			if got := h.state(t); got != before {
				t.Errorf("state changed: before %+v, after %+v; calls: %v", before, got, h.fake.Calls())
			}
		})
	}
	if n := testutil.ToFloat64(h.m.Requests.WithLabelValues("command", handlers.CommandIP, "ok")); n != 0 {
		t.Errorf("%v /astro-ip commands reached the handler, want none", n)
	}
}

func TestHTTPIgnoresUnknownInteractions(t *testing.T) {
	h := newHTTPHarness(t, runTimeouts)
	tests := []struct {
		name string
		cb   slack.InteractionCallback
		log  string // the warning the handler logs
	}{
		{"unknown callback ID", slack.InteractionCallback{Type: slack.InteractionTypeViewSubmission,
			User: slack.User{ID: testUser, TeamID: testTeam},
			View: slack.View{ID: "V0NOPE", Type: slack.VTModal, CallbackID: "no_such_modal"}}, "unknown interaction"},
		{"unknown action ID", slack.InteractionCallback{Type: slack.InteractionTypeBlockActions,
			User:           slack.User{ID: testSupportUser, TeamID: testTeam},
			ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{ActionID: "no_such_button", Value: "PEER-0001"}}}},
			"unknown action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, warnings := h.state(t), h.logs.count(slog.LevelWarn)
			resp := h.do(t, h.interaction(t, tt.cb))
			if resp.status != http.StatusOK || resp.body != "" {
				t.Errorf("answer = %d %q, want an empty 200", resp.status, resp.body)
			}
			if got := h.rejected(t); len(got) != 0 {
				t.Errorf("rejected = %v, want nothing refused", got)
			}
			if n := h.logs.count(slog.LevelWarn) - warnings; n != 1 || len(h.logs.find(slog.LevelWarn, tt.log)) != 1 {
				t.Errorf("%d warnings logged, want one %q; logs:\n%s", n, tt.log, h.logs.dump())
			}
			if got := h.state(t); got != before {
				t.Errorf("state changed: before %+v, after %+v; calls: %v", before, got, h.fake.Calls())
			}
		})
	}
}

func TestHTTPServesSlashCommand(t *testing.T) {
	h := newHTTPHarness(t, runTimeouts)
	cmd := url.Values{"command": {handlers.CommandIP}, "text": {testCluster.ID},
		"team_id": {testTeam}, "user_id": {testUser}, "channel_id": {testChannel}}
	resp := h.do(t, h.form(cmd))
	if resp.status != http.StatusOK || resp.header.Get("Content-Type") != "application/json" {
		t.Fatalf("answer = %d %s %q, want 200 JSON", resp.status, resp.header.Get("Content-Type"), resp.body)
	}
	want, err := json.Marshal(h.h.SlashCommand(testContext(t), slashCommand(cmd)))
	if err != nil {
		t.Fatalf("marshal the handler's answer: %v", err)
	}
	if resp.body != string(want) {
		t.Errorf("the transport answered\n%s\nwant the handler's answer\n%s", resp.body, want)
	}
	for _, fact := range []string{testCluster.VPCID, testCluster.ExternalIPs[0].String()} {
		if !strings.Contains(resp.body, fact) {
			t.Errorf("the answer lacks %s: %s", fact, resp.body)
		}
	}
	if n := testutil.ToFloat64(h.m.Requests.WithLabelValues("command", handlers.CommandIP, "ok")); n != 1 {
		t.Errorf(`astrobot_slack_requests_total{command,/astro-ip,ok} = %v, want 1`, n)
	}
}

func TestHTTPURLVerification(t *testing.T) {
	h := newHTTPHarness(t, runTimeouts)
	const challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
	body := []byte(`{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"` + challenge + `","type":"url_verification"}`)
	before := h.state(t)
	resp := h.do(t, h.signed("application/json", body))
	if resp.status != http.StatusOK || resp.body != challenge {
		t.Fatalf("answer = %d %q, want 200 with the challenge %q", resp.status, resp.body, challenge)
	}
	if got := h.rejected(t); len(got) != 0 {
		t.Errorf("rejected = %v, want nothing refused", got)
	}
	if got := h.state(t); got != before {
		t.Errorf("state changed: before %+v, after %+v", before, got)
	}
}

func TestHTTPAppRateLimitedAccepted(t *testing.T) {
	h := newHTTPHarness(t, runTimeouts)
	body := []byte(`{"token":"legacy","type":"app_rate_limited","team_id":"` + testTeam + `","minute_rate_limited":1518467820,"api_app_id":"A0001"}`)
	if resp := h.do(t, h.signed("application/json", body)); resp.status != http.StatusOK {
		t.Fatalf("app_rate_limited answered %d %q, want 200: Slack expects it acknowledged", resp.status, resp.body)
	}
	if got := h.rejected(t); len(got) != 0 {
		t.Errorf("rejected = %v, want nothing refused", got)
	}
}

func TestHTTPEventRetriesHandledOnce(t *testing.T) {
	h := newHTTPHarness(t, runTimeouts)
	first := appHomeOpened("Ev0AAAA", testUser)
	for i := range 3 { // the event, then two retries by Slack
		r := h.signed("application/json", first)
		if i > 0 {
			r.header.Set("X-Slack-Retry-Num", strconv.Itoa(i))
			r.header.Set("X-Slack-Retry-Reason", "http_timeout")
		}
		if resp := h.do(t, r); resp.status != http.StatusOK || resp.body != "" {
			t.Fatalf("delivery %d answered %d %q, want an empty 200", i+1, resp.status, resp.body)
		}
	}
	if resp := h.do(t, h.signed("application/json", appHomeOpened("Ev0BBBB", testSupportUser))); resp.status != http.StatusOK {
		t.Fatalf("another event answered %d %q, want 200", resp.status, resp.body)
	}
	h.d.running.Wait()

	var users []string
	for _, c := range h.fake.CallsTo("views.publish") {
		users = append(users, c.Param("user_id"))
	}
	// Events run after their ack, each on its own: in any order.
	slices.Sort(users)
	if want := slices.Sorted(slices.Values([]string{testUser, testSupportUser})); !slices.Equal(users, want) {
		t.Errorf("views.publish for %v, want once for each of %v", users, want)
	}
	ok := testutil.ToFloat64(h.m.Requests.WithLabelValues("event", "app_home_opened", "ok"))
	dup := testutil.ToFloat64(h.m.Requests.WithLabelValues("event", "app_home_opened", "duplicate"))
	if ok != 2 || dup != 2 {
		t.Errorf("events ok=%v duplicate=%v, want 2 and 2", ok, dup)
	}
}

// rawRequest starts a signed POST on a plain TCP connection: the request line
// and headers for a body of bodyLen bytes, and the first part of the body.
func rawRequest(t *testing.T, h *httpHarness, body []byte, bodyLen int, headersDone bool) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", h.srv.Listener.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	var b bytes.Buffer
	b.WriteString("POST /slack/events HTTP/1.1\r\nHost: astrobot\r\nContent-Type: application/x-www-form-urlencoded\r\n")
	b.WriteString("Content-Length: " + strconv.Itoa(bodyLen) + "\r\n")
	for k, vs := range Sign(testSigningSecret, h.clock.Now(), body) {
		b.WriteString(k + ": " + vs[0] + "\r\n")
	}
	if headersDone {
		b.WriteString("\r\n")
		b.Write(body)
	}
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatalf("write the request: %v", err)
	}
	return conn
}

// awaitEnd reads what the server sends on conn until it closes it, and fails
// the test if it does not within limit.
func awaitEnd(t *testing.T, conn net.Conn, limit time.Duration) (*http.Response, error) {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(limit)); err != nil {
		t.Fatalf("set deadline: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("the server kept a stalled connection open for %v", limit)
	}
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func TestHTTPSlowClientCutOff(t *testing.T) {
	short := serverTimeouts{readHeader: 200 * time.Millisecond, read: 400 * time.Millisecond, write: time.Second, idle: time.Second}

	t.Run("stalled body", func(t *testing.T) {
		h := newHTTPHarness(t, short)
		body := []byte(url.Values{"command": {handlers.CommandIP}, "text": {testCluster.ID}, "user_id": {testUser}}.Encode())
		before := h.state(t)
		// Headers announce the whole body; half of it comes, then nothing.
		conn := rawRequest(t, h, body[:len(body)/2], len(body), true)
		resp, err := awaitEnd(t, conn, 5*time.Second)
		if err == nil && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("the stalled request was answered %d, want 400 or a closed connection", resp.StatusCode)
		}
		if got := h.rejected(t); got["read"] != 1 || len(got) != 1 {
			t.Errorf("rejected = %v, want one with reason read", got)
		}
		if n := h.logs.count(slog.LevelWarn); n != 1 {
			t.Errorf("%d warnings logged, want 1; logs:\n%s", n, h.logs.dump())
		}
		if got := h.state(t); got != before {
			t.Errorf("state changed: before %+v, after %+v", before, got)
		}
	})

	t.Run("stalled headers", func(t *testing.T) {
		h := newHTTPHarness(t, short)
		before := h.state(t)
		conn := rawRequest(t, h, []byte("command=%2Fastro-ip"), 19, false)
		if resp, err := awaitEnd(t, conn, 5*time.Second); err == nil && resp.StatusCode < 400 {
			t.Errorf("the request with stalled headers was answered %d", resp.StatusCode)
		}
		if got := h.rejected(t); len(got) != 0 {
			t.Errorf("rejected = %v: the handler ran on a request whose headers never ended", got)
		}
		if got := h.state(t); got != before {
			t.Errorf("state changed: before %+v, after %+v", before, got)
		}
	})
}
