package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/store"
)

// fuzzT0 is the time of Slack's published signature example.
const fuzzT0 = 1531420618

func FuzzVerify(f *testing.F) {
	const (
		exampleSecret = "8f742231b10e8888abcd99yyyzzz85a5"
		exampleBody   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
		exampleSig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	)
	f.Add(exampleSecret, int64(fuzzT0), []byte(exampleBody), exampleSig)
	f.Add(exampleSecret, int64(fuzzT0+300), []byte(exampleBody), strings.ToUpper(exampleSig))
	f.Add(exampleSecret, int64(fuzzT0-301), []byte(exampleBody), exampleSig[:len(exampleSig)-1])
	f.Add("", int64(0), []byte{}, "")
	f.Add("s3cret", int64(-1), []byte("payload=%7B%7D"), "v0=")
	f.Add("s3cret", int64(math.MaxInt64), []byte("x"), "v1=00")
	f.Add("s3cret", int64(math.MinInt64), []byte("\x00\xff"), "v0=zz")
	f.Add("\x00", int64(fuzzT0), []byte(exampleBody), " v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503 ")
	f.Fuzz(func(t *testing.T, secret string, ts int64, body []byte, sig string) {
		at := time.Unix(ts, 0)
		v := NewVerifier(secret, func() time.Time { return at })
		good := Sign(secret, at, body)
		if err := v.Verify(good, body); err != nil {
			t.Fatalf("Verify(Sign(secret, %d, body), body) = %v, want ok", ts, err)
		}
		want := good.Get("X-Slack-Signature")

		// Any other signature fails: the one given, and the right one with
		// the given text spliced in where the body's length points.
		k := len(body) % len(want)
		spliced := want[:k] + sig + want[min(k+len(sig), len(want)):]
		for _, other := range []string{sig, spliced, want + sig} {
			if other == want {
				continue
			}
			h := good.Clone()
			h.Set("X-Slack-Signature", other)
			if err := v.Verify(h, body); err == nil {
				t.Errorf("Verify accepted signature %q; only %q is right", other, want)
			}
		}

		// The timestamp may be at most five minutes away from now.
		v0 := NewVerifier(secret, func() time.Time { return time.Unix(fuzzT0, 0) })
		err := v0.Verify(good, body)
		if inWindow := ts >= fuzzT0-300 && ts <= fuzzT0+300; inWindow != (err == nil) {
			t.Errorf("at %d, Verify of a request signed at %d = %v; want ok=%v", fuzzT0, ts, err, inWindow)
		}
	})
}

// fuzzSlack is the Slack Web API of FuzzInteractionPayload: every call
// succeeds and is counted, and nothing goes over the network.
type fuzzSlack struct {
	mu    sync.Mutex
	calls map[string]int
}

func (s *fuzzSlack) count(method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[method]++
}

func (s *fuzzSlack) OpenViewContext(context.Context, string, slack.ModalViewRequest) (*slack.ViewResponse, error) {
	s.count("views.open")
	return &slack.ViewResponse{}, nil
}

func (s *fuzzSlack) PostMessageContext(_ context.Context, channel string, _ ...slack.MsgOption) (string, string, error) {
	s.count("chat.postMessage")
	return channel, "1700000000.000100", nil
}

func (s *fuzzSlack) UpdateMessageContext(_ context.Context, channel, ts string, _ ...slack.MsgOption) (string, string, string, error) {
	s.count("chat.update")
	return channel, ts, "", nil
}

func (s *fuzzSlack) PostEphemeralContext(context.Context, string, string, ...slack.MsgOption) (string, error) {
	s.count("chat.postEphemeral")
	return "1700000000.000200", nil
}

func (s *fuzzSlack) OpenConversationContext(context.Context, *slack.OpenConversationParameters) (*slack.Channel, bool, bool, error) {
	s.count("conversations.open")
	ch := &slack.Channel{}
	ch.ID = "DFUZZ"
	return ch, false, false, nil
}

func (s *fuzzSlack) PublishViewContext(context.Context, slack.PublishViewContextRequest) (*slack.ViewResponse, error) {
	s.count("views.publish")
	return &slack.ViewResponse{}, nil
}

func (s *fuzzSlack) GetConversationHistoryContext(context.Context, *slack.GetConversationHistoryParameters) (*slack.GetConversationHistoryResponse, error) {
	s.count("conversations.history")
	return &slack.GetConversationHistoryResponse{}, nil
}

func (s *fuzzSlack) GetConversationRepliesContext(context.Context, *slack.GetConversationRepliesParameters) ([]slack.Message, bool, string, error) {
	s.count("conversations.replies")
	return nil, false, "", nil
}

// fuzzNoSupport is a support team nobody belongs to.
type fuzzNoSupport struct{}

func (fuzzNoSupport) IsSupport(context.Context, string) bool { return false }

// fuzzNoNetwork fails every HTTP request a handler would make (response URLs).
type fuzzNoNetwork struct{}

func (fuzzNoNetwork) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, errors.New("fuzz: no network: " + r.URL.Redacted())
}

func fuzzClusters() []astrobot.Cluster {
	p := func(s string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(s)} }
	return []astrobot.Cluster{
		{ID: "cl-acme-prod", Name: "Prod-East", Organization: "acme", Region: "us-east-1", AccountID: "111111111111",
			VPCID: "vpc-0a1b2c3d4e5f60718", CIDRs: p("10.0.0.0/16"), ExternalIPs: []netip.Addr{netip.MustParseAddr("3.3.3.3")}},
		{ID: "cl-globex-prod", Name: "Globex-Main", Organization: "globex", Region: "eu-west-1", AccountID: "222222222222",
			VPCID: "vpc-33334444", CIDRs: p("172.20.0.0/16"), ExternalIPs: []netip.Addr{netip.MustParseAddr("52.0.0.1")}},
	}
}

func fuzzOrgs() []astrobot.Organization {
	return []astrobot.Organization{
		{ID: "acme", Name: "Acme", SlackTeams: []string{"TACME"}},
		{ID: "globex", Name: "Globex", SlackTeams: []string{"TGLOBEX"}, SlackChannels: []string{"CGLOBEX"}},
	}
}

// fuzzForm is the peering form as a user fills it in.
type fuzzForm struct{ cluster, account, region, vpc, cidrs, note string }

// fuzzSubmission returns the view_submission payload Slack sends when user of
// team submits form from view viewID, as Slack writes it.
func fuzzSubmission(user, team, viewID, channel string, form fuzzForm) string {
	input := func(v string) map[string]any { return map[string]any{"type": "plain_text_input", "value": v} }
	selected := func(v string) map[string]any {
		return map[string]any{"type": "static_select", "selected_option": map[string]any{
			"text": map[string]any{"type": "plain_text", "text": v}, "value": v}}
	}
	meta, _ := json.Marshal(map[string]string{"c": channel, "k": string(astrobot.KindPeering)})
	field := func(name string, v map[string]any) map[string]any {
		return map[string]any{handlers.FieldAction(name): v}
	}
	b, _ := json.Marshal(map[string]any{
		"type": "view_submission",
		"team": map[string]any{"id": team},
		"user": map[string]any{"id": user, "team_id": team},
		"view": map[string]any{
			"id": viewID, "type": "modal", "callback_id": handlers.CallbackRequest, "private_metadata": string(meta),
			"state": map[string]any{"values": map[string]any{
				handlers.FieldBlock(astrobot.FieldCluster): field(astrobot.FieldCluster, selected(form.cluster)),
				handlers.FieldBlock(astrobot.FieldAccount): field(astrobot.FieldAccount, input(form.account)),
				handlers.FieldBlock(astrobot.FieldRegion):  field(astrobot.FieldRegion, selected(form.region)),
				handlers.FieldBlock(astrobot.FieldVPC):     field(astrobot.FieldVPC, input(form.vpc)),
				handlers.FieldBlock(astrobot.FieldCIDRs):   field(astrobot.FieldCIDRs, input(form.cidrs)),
				handlers.FieldBlock(astrobot.FieldNote):    field(astrobot.FieldNote, input(form.note)),
			}},
		},
	})
	return string(b)
}

// fuzzButton returns the block_actions payload of user pressing the button
// actionID with value in channel.
func fuzzButton(user, team, channel, actionID, value string) string {
	b, _ := json.Marshal(map[string]any{
		"type":       "block_actions",
		"team":       map[string]any{"id": team},
		"user":       map[string]any{"id": user, "team_id": team},
		"channel":    map[string]any{"id": channel},
		"trigger_id": "1234.5678.fuzz",
		"actions":    []any{map[string]any{"type": "button", "action_id": actionID, "block_id": handlers.BlockCardActions, "value": value}},
	})
	return string(b)
}

func FuzzInteractionPayload(f *testing.F) {
	const secret = "fuzz-signing-secret"
	now := func() time.Time { return time.Date(2025, 3, 4, 15, 4, 5, 0, time.UTC) }
	valid := fuzzForm{cluster: "cl-acme-prod", account: "123456789012", region: "us-east-1",
		vpc: "vpc-0abc12345678def90", cidrs: "192.168.0.0/20"}
	other := fuzzForm{cluster: "cl-acme-prod", account: "123456789012", region: "eu-west-1",
		vpc: "vpc-1234abcd", cidrs: "100.64.0.0/16, 172.16.4.0/24", note: "<!channel> hi"}
	for _, p := range []string{
		fuzzSubmission("UOWNER", "TACME", "VSEED1", "CACME", other),
		fuzzSubmission("UOWNER", "TACME", "VSEED2", "", fuzzForm{cluster: "cl-globex-prod", account: "123456789012",
			region: "us-east-1", vpc: "vpc-0abc12345678def91", cidrs: "192.168.32.0/20"}),
		fuzzSubmission("UOTHER", "T9999", "VSEED3", "CGLOBEX", fuzzForm{cluster: "Globex-Main", account: "1234-5678-9012",
			region: "us-east-1", vpc: " VPC-0ABC12345678DEF92 ", cidrs: "192.168.48.0/20"}),
		fuzzSubmission("UOWNER", "TACME", "VSEED4", "CACME", fuzzForm{cluster: "cl-acme-prod", account: "12345678901",
			region: "mars-1", vpc: "vpc-xyz", cidrs: "10.0.0.0/24", note: strings.Repeat("n", 2001)}),
		fuzzSubmission("UOWNER\x00", "TACME", "VSEED5", "CACME", valid),
		fuzzButton("UOWNER", "TACME", "CACME", handlers.ActionButton(astrobot.ActCancel), "PEER-0001"),
		fuzzButton("UOTHER", "TACME", "", handlers.ActionButton(astrobot.ActApprove), "PEER-0001"),
		fuzzButton("UOWNER", "TACME", "CACME", handlers.ActionButton(astrobot.ActReject), "PEER-99999999999999999999"),
		`{"type":"block_suggestion","action_id":"` + handlers.ActionCluster + `","value":"prod","user":{"id":"UOWNER","team_id":"TACME"},"view":{"private_metadata":"{\"c\":\"CACME\",\"k\":\"vpc_peering\"}"}}`,
		`{"type":"view_submission","user":{"id":"UOWNER","team_id":"TACME"},"view":{"callback_id":"` + handlers.CallbackReject + `","private_metadata":"PEER-0001","state":{"values":{}}}}`,
		`{"type":"view_submission","user":{"id":"UOWNER","team_id":"TACME"},"view":{"callback_id":"` + handlers.CallbackResource + `","private_metadata":"PEER-0001","state":{"values":{"` + handlers.BlockResource + `":{"` + handlers.ActionResource + `":{"type":"plain_text_input","value":"pcx-1234abcd"}}}}}}`,
		`{"type":"view_submission","user":{"id":"UOWNER","team_id":"TACME"},"view":{"callback_id":"` + handlers.CallbackRequest + `","private_metadata":"{\"c\":\"CACME\",\"k\":\"tgw\"}","state":{"values":{}}}}`,
		`{"type":"view_closed","view":{"callback_id":"` + handlers.CallbackRequest + `"}}`,
		`{"type":"shortcut","callback_id":"x"}`,
		`{"type":"view_submission","view":{"state":{"values":{"a":{"b":{"type":"datepicker","selected_date":"2025-13-45"}}}}}}`,
		`{"type":"block_actions","actions":[]}`,
		`{"type":"block_actions","actions":{}}`,
		`{"view":{"state":null}}`,
		`{}`, `null`, `[]`, `"x"`, `{`, ``, `{"type":1}`,
	} {
		f.Add(p)
	}

	ctx := context.Background()
	db, err := store.Open(filepath.Join(f.TempDir(), "fuzz.db"), store.Options{Now: now})
	if err != nil {
		f.Fatalf("open store: %v", err)
	}
	f.Cleanup(func() { _ = db.Close() })
	clusters := fuzzClusters()
	tenancy := astrobot.NewTenancy(fuzzOrgs())
	log := slog.New(slog.DiscardHandler)
	h := handlers.New(handlers.Config{
		Directory:      cloud.NewStatic(clusters),
		Tenancy:        tenancy,
		Requests:       db,
		Support:        fuzzNoSupport{},
		Slack:          &fuzzSlack{},
		SupportChannel: "CSUPPORT",
		HTTPClient:     &http.Client{Transport: fuzzNoNetwork{}},
		Now:            now,
		Logger:         log,
	})
	f.Cleanup(h.Close)
	srv := &HTTP{d: newDispatcher(h, NewMetrics(), log, now), v: NewVerifier(secret, now)}

	count := func(t testing.TB) int {
		t.Helper()
		counts, err := db.RequestCounts(ctx)
		if err != nil {
			t.Fatalf("RequestCounts: %v", err)
		}
		n := 0
		for _, c := range counts {
			n += c
		}
		return n
	}
	post := func(payload string) *httptest.ResponseRecorder {
		body := []byte("payload=" + url.QueryEscape(payload))
		r := httptest.NewRequest(http.MethodPost, "/slack/events", bytes.NewReader(body))
		r.Header = Sign(secret, now(), body)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w
	}

	// The harness files a valid request, so the store has one to act on.
	if w := post(fuzzSubmission("UOWNER", "TACME", "VSETUP", "CACME", valid)); w.Code != http.StatusOK || count(f) != 1 {
		f.Fatalf("a valid submission answered %d %s and left %d requests; want 200 and 1", w.Code, w.Body.String(), count(f))
	}

	calls := 0
	f.Fuzz(func(t *testing.T, payload string) {
		// Callback and action IDs label the metrics: start afresh now and
		// then so that arbitrary IDs do not pile up in the fuzz worker.
		if calls++; calls%1000 == 0 {
			srv.d.m = NewMetrics()
		}
		var cb slack.InteractionCallback
		parseErr := json.Unmarshal([]byte(payload), &cb)
		before := count(t)
		w := post(payload)
		after := count(t)

		switch {
		case w.Code != http.StatusOK && w.Code != http.StatusBadRequest:
			t.Fatalf("status %d %q, want 200 or 400", w.Code, w.Body.String())
		case (w.Code == http.StatusBadRequest) != (payload == "" || parseErr != nil):
			t.Errorf("status %d for a payload that json.Unmarshal takes with error %v", w.Code, parseErr)
		case w.Code == http.StatusOK && w.Body.Len() > 0 && !json.Valid(w.Body.Bytes()):
			t.Errorf("200 with a body that is not JSON: %q", w.Body.String())
		}
		switch grown := after - before; {
		case grown < 0 || grown > 1:
			t.Fatalf("one payload took the store from %d to %d requests", before, after)
		case grown == 1 && (cb.Type != slack.InteractionTypeViewSubmission || cb.View.CallbackID != handlers.CallbackRequest):
			t.Fatalf("a %q payload (callback %q) filed a request", cb.Type, cb.View.CallbackID)
		case grown == 1:
			checkFiled(t, db, tenancy, clusters, cb, w.Body.Bytes())
		}
	})
}

// checkFiled checks the request the submission cb just filed: it answered
// with the filed modal, and what it stored passes intake validation and names
// a cluster its requester may see.
func checkFiled(t *testing.T, db *store.DB, tenancy astrobot.Tenancy, clusters []astrobot.Cluster, cb slack.InteractionCallback, ack []byte) {
	t.Helper()
	var resp slack.ViewSubmissionResponse
	if err := json.Unmarshal(ack, &resp); err != nil || resp.ResponseAction != slack.RAUpdate {
		t.Errorf("filed a request but acked %s (%v); want response_action update", ack, err)
	}
	rs, err := db.RequestsByRequester(context.Background(), cb.User.ID, 1)
	if err != nil || len(rs) != 1 {
		t.Fatalf("RequestsByRequester(%q) = %v, %v; want the new request", cb.User.ID, rs, err)
	}
	r := rs[0]
	spec, ok := r.Spec.(astrobot.PeeringSpec)
	if r.Kind != astrobot.KindPeering || !ok {
		t.Fatalf("filed %d of kind %q with a spec of type %T; want a peering (the only kind the form of these payloads names)", r.ID, r.Kind, r.Spec)
	}
	cidrs := make([]string, len(spec.CIDRs))
	for i, p := range spec.CIDRs {
		cidrs[i] = p.String()
	}
	_, _, cidrErr := astrobot.ParseCIDRs(strings.Join(cidrs, ","))
	c := astrobot.Caller{UserID: r.Requester.UserID, TeamID: r.Requester.TeamID, ChannelID: r.Requester.ChannelID}
	cl, clusterErr := tenancy.FindCluster(c, clusters, r.ClusterID)
	for what, err := range map[string]error{
		"account":       astrobot.ValidateAccountID(spec.AccountID),
		"region":        astrobot.ValidateRegion(spec.Region),
		"VPC":           astrobot.ValidateVPCID(spec.VPCID),
		"CIDRs":         cidrErr,
		"cluster":       clusterErr,
		"cluster CIDRs": astrobot.CheckClusterOverlap(cl, spec.CIDRs),
		"note":          noteErr(r.Note),
	} {
		if err != nil {
			t.Errorf("filed %s with a bad %s: %v\nrequest: %+v", r.Ref(), what, err, r)
		}
	}
}

func noteErr(note string) error {
	if len(note) > astrobot.MaxNoteLength {
		return fmt.Errorf("%s bytes, over %d", strconv.Itoa(len(note)), astrobot.MaxNoteLength)
	}
	return nil
}
