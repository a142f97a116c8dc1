package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/bot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/store"
	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"
)

const testSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// nobody is a support team without members.
type nobody struct{}

func (nobody) IsSupport(context.Context, string) bool { return false }

// slackApp is a stand-in for astrobot's HTTP transport: it verifies each
// signature with bot.NewVerifier, hands the request to the real handlers and
// counts what it saw.
type slackApp struct {
	t *testing.T
	v *bot.Verifier
	h *handlers.Handler

	verified atomic.Int64
	refused  atomic.Int64

	mu      sync.Mutex
	answers map[string]int // ack body → how many times it was sent
}

func newSlackApp(t *testing.T, requests handlers.Requests) *slackApp {
	t.Helper()
	file, err := cloud.LoadFile(filepath.Join("..", "..", "examples", "clusters.yaml"))
	if err != nil {
		t.Fatalf("load the example cluster file: %v", err)
	}
	h := handlers.New(handlers.Config{
		Directory: cloud.NewStatic(file.Clusters),
		Tenancy:   astrobot.NewTenancy(file.Organizations),
		Requests:  requests,
		Support:   nobody{},
		Logger:    slog.New(slog.DiscardHandler),
	})
	t.Cleanup(h.Close)
	return &slackApp{t: t, v: bot.NewVerifier(testSecret, time.Now), h: h, answers: map[string]int{}}
}

func (a *slackApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := a.v.Verify(r.Header, body); err != nil {
		a.refused.Add(1)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	a.verified.Add(1)
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, "not a form", http.StatusBadRequest)
		return
	}
	var ack any
	if p := form.Get("payload"); p != "" {
		var cb slack.InteractionCallback
		if err := json.Unmarshal([]byte(p), &cb); err != nil {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		ack = a.h.Interaction(r.Context(), cb)
	} else {
		ack = a.h.SlashCommand(r.Context(), slack.SlashCommand{Command: form.Get("command"), Text: form.Get("text"),
			TeamID: form.Get("team_id"), UserID: form.Get("user_id"), ChannelID: form.Get("channel_id")})
	}
	out, err := json.Marshal(ack)
	if err != nil {
		a.t.Errorf("encode ack: %v", err)
	}
	a.mu.Lock()
	a.answers[string(out)]++
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

func TestLoadIP(t *testing.T) {
	app := newSlackApp(t, nil)
	srv := httptest.NewServer(app)
	defer srv.Close()

	const n = 300
	rep := load(t.Context(), srv.Client(), srv.URL, testSecret, 8, n, ipScenario("clx123abc", callerIDs{"T0001", "U0001", "C0001"}), time.Now)

	if rep.requests != n || rep.errors != 0 || len(rep.latencies) != n {
		t.Errorf("load: %d requests, %d errors, %d latencies (first failure %q); want %d, 0, %d", rep.requests, rep.errors, len(rep.latencies), rep.firstFailure, n, n)
	}
	if got := app.verified.Load(); got != n || app.refused.Load() != 0 {
		t.Errorf("server verified %d signatures and refused %d; want %d and 0", got, app.refused.Load(), n)
	}
	if len(app.answers) != 1 {
		t.Fatalf("server sent %d distinct answers; want the same one every time", len(app.answers))
	}
	for ans, count := range app.answers {
		if !strings.Contains(ans, "vpc-0abc12345678def90") || !strings.Contains(ans, "203.0.113.10") || count != n {
			t.Errorf("answer %q sent %d times; want acme-prod's VPC and IPs, %d times", ans, count, n)
		}
	}
	if rep.elapsed <= 0 || rep.latencies[0] <= 0 || rep.latencies[0] > rep.latencies[n-1] {
		t.Errorf("elapsed %s, latencies from %s to %s: want positive, sorted", rep.elapsed, rep.latencies[0], rep.latencies[n-1])
	}
}

func TestLoadPeerSubmitFilesEveryRequest(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "astrobot.db"), store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer db.Close()
	app := newSlackApp(t, db)
	srv := httptest.NewServer(app)
	defer srv.Close()

	pool := netip.MustParsePrefix("172.16.0.0/12")
	const n = 200
	rep := load(t.Context(), srv.Client(), srv.URL, testSecret, 8, n,
		peerScenario("clx123abc,clx456def", callerIDs{"T0001", "U0001", "C0001"}, pool, 0xdecafbad), time.Now)

	if rep.requests != n || rep.errors != 0 {
		t.Fatalf("load: %d requests, %d errors (first failure %q); want %d, 0", rep.requests, rep.errors, rep.firstFailure, n)
	}
	stored, err := db.RequestsByRequester(t.Context(), "U0001", 0)
	if err != nil {
		t.Fatalf("list the stored requests: %v", err)
	}
	if len(stored) != n {
		t.Fatalf("%d requests stored; want %d", len(stored), n)
	}
	vpcs, cidrs := map[string]bool{}, map[netip.Prefix]bool{}
	for _, r := range stored {
		if r.Kind != astrobot.KindPeering {
			t.Errorf("%s: kind %q; want %q", r.Ref(), r.Kind, astrobot.KindPeering)
			continue
		}
		p, _ := r.Spec.(astrobot.PeeringSpec)
		want := astrobot.PeeringSpec{AccountID: peerAccount, Region: peerRegion, VPCID: p.VPCID, CIDRs: p.CIDRs}
		if diff := cmp.Diff(astrobot.Spec(want), r.Spec, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
			t.Errorf("%s peering spec (-want +got):\n%s", r.Ref(), diff)
		}
		if (r.ClusterID != "clx123abc" && r.ClusterID != "clx456def") || r.Requester.TeamID != "T0001" || r.Requester.ChannelID != "C0001" || r.Status != astrobot.StatusSubmitted {
			t.Errorf("%s: cluster %q, requester %+v, status %s; want clx123abc or clx456def, T0001/C0001, submitted", r.Ref(), r.ClusterID, r.Requester, r.Status)
		}
		if len(p.CIDRs) != 1 || p.CIDRs[0].Bits() != peerBlockBits || !pool.Overlaps(p.CIDRs[0]) {
			t.Errorf("%s CIDRs %v: want one /%d inside %s", r.Ref(), p.CIDRs, peerBlockBits, pool)
			continue
		}
		vpcs[p.VPCID] = true
		cidrs[p.CIDRs[0]] = true
	}
	if len(vpcs) != n || len(cidrs) != n {
		t.Errorf("%d distinct VPCs and %d distinct CIDRs; want %d of each", len(vpcs), len(cidrs), n)
	}
}

func TestLoadCountsFailures(t *testing.T) {
	v := bot.NewVerifier(testSecret, time.Now)
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := v.Verify(r.Header, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if seen.Add(1)%3 == 0 {
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	sc := ipScenario("clx123abc", callerIDs{"T0001", "U0001", "C0001"})

	rep := load(t.Context(), srv.Client(), srv.URL, testSecret, 4, 99, sc, time.Now)
	if rep.requests != 99 || rep.errors != 33 || !strings.Contains(rep.firstFailure, "HTTP 500: boom") {
		t.Errorf("load: %d requests, %d errors, first failure %q; want 99, 33, an HTTP 500", rep.requests, rep.errors, rep.firstFailure)
	}

	rep = load(t.Context(), srv.Client(), srv.URL, "not-the-secret", 4, 20, sc, time.Now)
	if rep.requests != 20 || rep.errors != 20 || !strings.Contains(rep.firstFailure, "HTTP 401") {
		t.Errorf("wrong secret: %d requests, %d errors, first failure %q; want 20, 20, an HTTP 401", rep.requests, rep.errors, rep.firstFailure)
	}
}

func TestLoadStopsWhenContextEnds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()

	rep := load(ctx, srv.Client(), srv.URL, testSecret, 4, 0, ipScenario("x", callerIDs{}), time.Now)
	if ctx.Err() == nil {
		t.Errorf("load returned before the context ended, with no request limit")
	}
	if rep.requests == 0 || rep.errors != 0 || len(rep.latencies) != rep.requests {
		t.Errorf("load: %d requests, %d errors, %d latencies; want some, 0, one each", rep.requests, rep.errors, len(rep.latencies))
	}
}

func TestPercentile(t *testing.T) {
	series := func(n int) []time.Duration {
		s := make([]time.Duration, n)
		for i := range s {
			s[i] = time.Duration(i+1) * time.Millisecond
		}
		return s
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"p50 of 1..100", series(100), 50, 50 * time.Millisecond},
		{"p90 of 1..100", series(100), 90, 90 * time.Millisecond},
		{"p99 of 1..100", series(100), 99, 99 * time.Millisecond},
		{"p100 of 1..100", series(100), 100, 100 * time.Millisecond},
		{"p99.9 of 1..1000", series(1000), 99.9, 999 * time.Millisecond},
		{"p50 of 1..10", series(10), 50, 5 * time.Millisecond},
		{"p90 of 1..10", series(10), 90, 9 * time.Millisecond},
		{"p99 of 1..10", series(10), 99, 10 * time.Millisecond},
		{"p50 of 1..3", series(3), 50, 2 * time.Millisecond},
		{"p1 of 1..3", series(3), 1, 1 * time.Millisecond},
		{"one value", []time.Duration{7}, 99, 7},
		{"no value", nil, 50, 0},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: percentile(%v) = %s, want %s", tt.name, tt.p, got, tt.want)
		}
	}
}

func TestSummary(t *testing.T) {
	rep := report{requests: 4, errors: 1, elapsed: 2 * time.Second,
		latencies: []time.Duration{1200 * time.Microsecond, 2 * time.Millisecond, 3100 * time.Microsecond, 9 * time.Millisecond}}
	got := rep.summary("ip", 32)
	want := "ip: 4 requests, 32 concurrent, 2 req/s, p50 2.00ms p90 9.00ms p99 9.00ms max 9.00ms, errors 1"
	if got != want {
		t.Errorf("summary:\n got %s\nwant %s", got, want)
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:3000/slack/events", true},
		{"http://127.8.9.10/slack/events", true},
		{"https://[::1]:3000/slack/events", true},
		{"http://localhost:3000/slack/events", true},
		{"http://LocalHost/slack/events", true},
		{"http://[::ffff:127.0.0.1]:3000/", true},
		{"http://10.0.0.1:3000/slack/events", false},
		{"http://0.0.0.0:3000/slack/events", false},
		{"http://128.0.0.1/", false},
		{"https://example.com/slack/events", false},
		{"http://localhost.example.com/", false},
		{"ftp://127.0.0.1/", false},
		{"127.0.0.1:3000", false},
		{"", false},
	}
	for _, tt := range tests {
		if err := checkLoopback(tt.url); (err == nil) != tt.ok {
			t.Errorf("checkLoopback(%q) = %v; want ok=%v", tt.url, err, tt.ok)
		}
	}
}

func TestRun(t *testing.T) {
	v := bot.NewVerifier(testSecret, time.Now)
	var verified atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := v.Verify(r.Header, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		verified.Add(1)
	}))
	defer srv.Close()
	env := func(secret string) func(string) string {
		return func(k string) string {
			if k == "SLACK_SIGNING_SECRET" {
				return secret
			}
			return ""
		}
	}
	summary := regexp.MustCompile(`^ip: 50 requests, 4 concurrent, \d+ req/s, p50 \d+\.\d\dms p90 \d+\.\d\dms p99 \d+\.\d\dms max \d+\.\d\dms, errors 0\n$`)

	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"-url", srv.URL, "-c", "4", "-n", "50"}, env(testSecret), &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d, stderr %q; want 0", code, stderr.String())
	}
	if !summary.MatchString(stdout.String()) || verified.Load() != 50 {
		t.Errorf("run printed %q and the server verified %d requests; want a summary of 50 requests", stdout.String(), verified.Load())
	}

	stdout.Reset()
	stderr.Reset()
	if code := run(t.Context(), []string{"-url", srv.URL, "-c", "2", "-n", "10", "-secret", "wrong"}, env(testSecret), &stdout, &stderr); code != 1 {
		t.Errorf("run with a wrong secret = %d; want 1", code)
	}
	if !strings.Contains(stdout.String(), "errors 10") || !strings.Contains(stderr.String(), "HTTP 401") {
		t.Errorf("run with a wrong secret printed %q and %q; want errors 10 and the 401", stdout.String(), stderr.String())
	}
}

func TestRunRefusesBadUsage(t *testing.T) {
	tests := []struct {
		args   []string
		secret string
		want   string
	}{
		{[]string{"-url", "http://10.1.2.3:3000/slack/events"}, "s", "not a loopback address"},
		{[]string{"-url", "https://hooks.slack.com/x"}, "s", "not a loopback address"},
		{nil, "", "no signing secret"},
		{[]string{"-scenario", "burst"}, "s", "unknown -scenario"},
		{[]string{"-d", "11m"}, "s", "up to 10m0s"},
		{[]string{"-n", "0"}, "s", "both 0"},
		{[]string{"-c", "0"}, "s", "at least 1"},
		{[]string{"-scenario", "peer-submit", "-pool", "10.0.0.1/8"}, "s", "-pool"},
		{[]string{"extra"}, "s", "unexpected argument"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		getenv := func(string) string { return tt.secret }
		code := run(t.Context(), tt.args, getenv, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tt.want) || stdout.Len() != 0 {
			t.Errorf("run(%q) = %d, stderr %q, stdout %q; want 2 and a message with %q", tt.args, code, stderr.String(), stdout.String(), tt.want)
		}
	}
}

func TestPeerSubmissionShape(t *testing.T) {
	sc := peerScenario("acme-prod", callerIDs{"T0001", "U0001", "C0001"}, netip.MustParsePrefix("192.168.0.0/16"), 1)
	if sc.max != 4096 {
		t.Errorf("a /16 pool holds %d /28 blocks; want 4096", sc.max)
	}
	ctype, body, err := sc.request(17)
	if err != nil || ctype != "application/x-www-form-urlencoded" {
		t.Fatalf("request(17) = %q, %v; want a form", ctype, err)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		t.Fatalf("parse the form: %v", err)
	}
	// Decode as plain JSON, not through slack-go, to check the field shapes
	// Slack sends.
	type rawInput struct {
		Type           string `json:"type"`
		Value          string `json:"value"`
		SelectedOption struct {
			Value string `json:"value"`
		} `json:"selected_option"`
	}
	var raw struct {
		Type string `json:"type"`
		User struct {
			ID     string `json:"id"`
			TeamID string `json:"team_id"`
		} `json:"user"`
		View struct {
			ID              string `json:"id"`
			CallbackID      string `json:"callback_id"`
			PrivateMetadata string `json:"private_metadata"`
			State           struct {
				Values map[string]map[string]rawInput `json:"values"`
			} `json:"state"`
		} `json:"view"`
	}
	if err := json.Unmarshal([]byte(form.Get("payload")), &raw); err != nil {
		t.Fatalf("decode the payload: %v", err)
	}
	vals := raw.View.State.Values
	field := func(name string) rawInput { return vals[handlers.FieldBlock(name)][handlers.FieldAction(name)] }
	got := []string{raw.Type, raw.User.ID, raw.User.TeamID, raw.View.ID, raw.View.CallbackID, raw.View.PrivateMetadata,
		field(astrobot.FieldCluster).SelectedOption.Value,
		field(astrobot.FieldAccount).Value,
		field(astrobot.FieldRegion).SelectedOption.Value,
		field(astrobot.FieldVPC).Value,
		field(astrobot.FieldCIDRs).Value,
	}
	want := []string{"view_submission", "U0001", "T0001", fmt.Sprintf("VLOAD%08X%09X", 1, 17), handlers.CallbackRequest, `{"c":"C0001","k":"vpc_peering"}`,
		"acme-prod", peerAccount, peerRegion, fmt.Sprintf("vpc-%08x%09x", 1, 17), "192.168.1.16/28"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payload fields (-want +got):\n%s", diff)
	}
	if err := astrobot.ValidateVPCID(got[9]); err != nil {
		t.Errorf("VPC ID: %v", err)
	}
}

func TestClaimScenarioShape(t *testing.T) {
	sc := claimScenario(callerIDs{"T0001", "USUPPORT", "CSUPPORT"}, 3)
	for i, want := range []string{"PEER-0001", "PEER-0002", "PEER-0003", "PEER-0001"} {
		ctype, body, err := sc.request(i)
		if err != nil || ctype != "application/x-www-form-urlencoded" {
			t.Fatalf("request %d: %q, %v", i, ctype, err)
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			t.Fatal(err)
		}
		var cb slack.InteractionCallback
		if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
			t.Fatalf("request %d: payload is not an interaction: %v", i, err)
		}
		if cb.Type != slack.InteractionTypeBlockActions || cb.User.ID != "USUPPORT" || cb.Channel.ID != "CSUPPORT" ||
			len(cb.ActionCallback.BlockActions) != 1 || cb.ActionCallback.BlockActions[0].ActionID != handlers.ActionButton(astrobot.ActClaim) ||
			cb.ActionCallback.BlockActions[0].Value != want {
			t.Errorf("request %d decodes to %+v; want a Claim press on %s by USUPPORT", i, cb, want)
		}
	}
	if sc.check(nil) != nil || sc.check([]byte(`{"text":"x"}`)) == nil {
		t.Error("check: want an empty ack to pass and a body to fail")
	}
}
