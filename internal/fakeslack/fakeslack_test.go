package fakeslack_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/astrobot-dev/astrobot/internal/fakeslack"
)

// newServer starts a fake Slack that the test closes when it ends.
func newServer(t *testing.T, opts ...fakeslack.Option) *fakeslack.Server {
	t.Helper()
	s := fakeslack.New(opts...)
	t.Cleanup(s.Close)
	return s
}

// newClient returns a real slack-go client with a bot token, pointed at s.
func newClient(s *fakeslack.Server) *slack.Client {
	return slack.New("xoxb-test", slack.OptionAPIURL(s.APIURL()))
}

// testContext returns a context that ends with the test, or after 10 seconds.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func section(text string) slack.Block {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)
}

func TestAPIURL(t *testing.T) {
	s := newServer(t)
	if got, want := s.APIURL(), s.URL+"/api/"; got != want {
		t.Errorf("APIURL() = %q, want %q", got, want)
	}
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Errorf("URL = %q, want a loopback http URL", s.URL)
	}
}

func TestAuthTest(t *testing.T) {
	s := newServer(t)
	resp, err := newClient(s).AuthTestContext(testContext(t))
	if err != nil {
		t.Fatalf("AuthTest: %v", err)
	}
	got := [3]string{resp.TeamID, resp.UserID, resp.BotID}
	if want := [3]string{fakeslack.TeamID, fakeslack.BotUserID, fakeslack.BotID}; got != want {
		t.Errorf("AuthTest team, user, bot = %v, want %v", got, want)
	}
	calls := s.CallsTo("auth.test")
	if len(calls) != 1 || calls[0].Token != "xoxb-test" {
		t.Errorf("auth.test calls = %+v, want one with token xoxb-test", calls)
	}
}

func TestPostMessage(t *testing.T) {
	s := newServer(t)
	api := newClient(s)
	ctx := testContext(t)

	tests := []struct {
		name        string
		channel     string
		wantChannel string
		opts        []slack.MsgOption
		wantForm    map[string]string
	}{
		{
			name: "channel", channel: "C0SUPPORT", wantChannel: "C0SUPPORT",
			opts:     []slack.MsgOption{slack.MsgOptionText("new request", false)},
			wantForm: map[string]string{"channel": "C0SUPPORT", "text": "new request", "token": "xoxb-test"},
		},
		{
			name: "user ID opens the DM", channel: "U123", wantChannel: "DU123",
			opts:     []slack.MsgOption{slack.MsgOptionText("your request was approved", false)},
			wantForm: map[string]string{"channel": "U123", "text": "your request was approved"},
		},
		{
			name: "thread reply", channel: "C0SUPPORT", wantChannel: "C0SUPPORT",
			opts:     []slack.MsgOption{slack.MsgOptionText("approved by @x", false), slack.MsgOptionTS("1700000000.000001")},
			wantForm: map[string]string{"thread_ts": "1700000000.000001"},
		},
	}
	var lastTS string
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			channel, ts, err := api.PostMessageContext(ctx, tt.channel, tt.opts...)
			if err != nil {
				t.Fatalf("PostMessage: %v", err)
			}
			if channel != tt.wantChannel {
				t.Errorf("channel = %q, want %q", channel, tt.wantChannel)
			}
			if ts <= lastTS || len(ts) != len("1700000000.000001") {
				t.Errorf("ts = %q after %q, want a later message timestamp", ts, lastTS)
			}
			lastTS = ts
			calls := s.CallsTo("chat.postMessage")
			if len(calls) != i+1 {
				t.Fatalf("recorded %d chat.postMessage calls, want %d", len(calls), i+1)
			}
			for k, want := range tt.wantForm {
				if got := calls[i].Form.Get(k); got != want {
					t.Errorf("form %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestPostMessageEchoesBlocks(t *testing.T) {
	s := newServer(t)
	_, ts, msg, err := newClient(s).PostMessageWithResponseContext(testContext(t), "C1",
		slack.MsgOptionText("fallback", false), slack.MsgOptionBlocks(section("*Request #7*")))
	if err != nil {
		t.Fatalf("PostMessage: %v", err)
	}
	if msg.Timestamp != ts || msg.Text != "fallback" || msg.BotID != fakeslack.BotID {
		t.Errorf("message = ts %q text %q bot %q, want ts %q text %q bot %q", msg.Timestamp, msg.Text, msg.BotID, ts, "fallback", fakeslack.BotID)
	}
	if n := len(msg.Blocks.BlockSet); n != 1 {
		t.Fatalf("message has %d blocks, want 1", n)
	}
	got, ok := msg.Blocks.BlockSet[0].(*slack.SectionBlock)
	if !ok || got.Text.Text != "*Request #7*" {
		t.Errorf("block = %#v, want the section sent", msg.Blocks.BlockSet[0])
	}
	var sent []map[string]any
	if err := json.Unmarshal([]byte(s.CallsTo("chat.postMessage")[0].Param("blocks")), &sent); err != nil || len(sent) != 1 || sent[0]["type"] != "section" {
		t.Errorf("recorded blocks = %v (%v), want one section", sent, err)
	}
}

func TestChatErrors(t *testing.T) {
	s := newServer(t)
	api := newClient(s)
	ctx := testContext(t)
	tests := []struct {
		name string
		send func() error
		want string
	}{
		{"post without text", func() error {
			_, _, err := api.PostMessageContext(ctx, "C1")
			return err
		}, "no_text"},
		{"post without channel", func() error {
			_, _, err := api.PostMessageContext(ctx, "", slack.MsgOptionText("hi", false))
			return err
		}, "channel_not_found"},
		{"update through a user ID", func() error {
			_, _, _, err := api.UpdateMessageContext(ctx, "U123", "1700000000.000001", slack.MsgOptionText("hi", false))
			return err
		}, "channel_not_found"},
		{"update without ts", func() error {
			_, _, _, err := api.UpdateMessageContext(ctx, "C1", "", slack.MsgOptionText("hi", false))
			return err
		}, "message_not_found"},
		{"ephemeral without user", func() error {
			_, err := api.PostEphemeralContext(ctx, "C1", "", slack.MsgOptionText("hi", false))
			return err
		}, "user_not_in_channel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.send()
			if _, ok := errors.AsType[slack.SlackErrorResponse](err); !ok || err.Error() != tt.want {
				t.Errorf("error = %v, want Slack error %q", err, tt.want)
			}
		})
	}
}

func TestUpdateMessage(t *testing.T) {
	s := newServer(t)
	api := newClient(s)
	ctx := testContext(t)
	channel, ts, err := api.PostMessageContext(ctx, "U123", slack.MsgOptionText("submitted", false))
	if err != nil {
		t.Fatalf("PostMessage: %v", err)
	}
	gotChannel, gotTS, gotText, err := api.UpdateMessageContext(ctx, channel, ts, slack.MsgOptionText("approved", false))
	if err != nil {
		t.Fatalf("UpdateMessage: %v", err)
	}
	if diff := cmp.Diff([]string{channel, ts, "approved"}, []string{gotChannel, gotTS, gotText}); diff != "" {
		t.Errorf("UpdateMessage channel, ts, text (-want +got):\n%s", diff)
	}
	calls := s.CallsTo("chat.update")
	if len(calls) != 1 {
		t.Fatalf("recorded %d chat.update calls, want 1", len(calls))
	}
	want := map[string]string{"channel": "DU123", "ts": ts, "text": "approved", "token": "xoxb-test"}
	for k, v := range want {
		if got := calls[0].Param(k); got != v {
			t.Errorf("chat.update %s = %q, want %q", k, got, v)
		}
	}
}

func TestPostEphemeral(t *testing.T) {
	s := newServer(t)
	api := newClient(s)
	ctx := testContext(t)
	ts1, err := api.PostEphemeralContext(ctx, "C1", "U1", slack.MsgOptionText("only you", false))
	if err != nil {
		t.Fatalf("PostEphemeral: %v", err)
	}
	ts2, err := api.PostEphemeralContext(ctx, "C1", "U1", slack.MsgOptionText("only you again", false))
	if err != nil {
		t.Fatalf("PostEphemeral: %v", err)
	}
	if ts1 == "" || ts2 <= ts1 {
		t.Errorf("message_ts = %q then %q, want increasing timestamps", ts1, ts2)
	}
	calls := s.CallsTo("chat.postEphemeral")
	if len(calls) != 2 || calls[0].Param("user") != "U1" || calls[1].Param("text") != "only you again" {
		t.Errorf("chat.postEphemeral calls = %+v, want two for U1", calls)
	}
}

func TestOpenConversation(t *testing.T) {
	s := newServer(t)
	api := newClient(s)
	tests := []struct {
		users  []string
		wantID string
	}{
		{[]string{"U123"}, "DU123"},
		{[]string{"U1", "U2"}, "GU1U2"},
	}
	for _, tt := range tests {
		ch, _, _, err := api.OpenConversationContext(testContext(t), &slack.OpenConversationParameters{Users: tt.users})
		if err != nil {
			t.Fatalf("OpenConversation(%v): %v", tt.users, err)
		}
		if ch.ID != tt.wantID {
			t.Errorf("OpenConversation(%v) channel = %q, want %q", tt.users, ch.ID, tt.wantID)
		}
	}
	calls := s.CallsTo("conversations.open")
	if len(calls) != 2 || calls[0].Param("users") != "U123" || calls[1].Param("users") != "U1,U2" {
		t.Errorf("conversations.open calls = %+v, want users U123 then U1,U2", calls)
	}
}

func modal(callbackID, externalID string) slack.ModalViewRequest {
	return slack.ModalViewRequest{
		Type:       slack.VTModal,
		Title:      slack.NewTextBlockObject(slack.PlainTextType, "Peering request", false, false),
		Blocks:     slack.Blocks{BlockSet: []slack.Block{section("Tell us about your VPC.")}},
		CallbackID: callbackID,
		ExternalID: externalID,
	}
}

func TestViews(t *testing.T) {
	s := newServer(t)
	api := newClient(s)
	ctx := testContext(t)

	opened, err := api.OpenViewContext(ctx, "trigger-1", modal("peer_request", ""))
	if err != nil {
		t.Fatalf("OpenView: %v", err)
	}
	v := opened.View
	if !strings.HasPrefix(v.ID, "V") || v.Hash == "" || v.Type != slack.VTModal || v.CallbackID != "peer_request" {
		t.Errorf("opened view = id %q hash %q type %q callback %q, want a V… id, a hash, modal, peer_request", v.ID, v.Hash, v.Type, v.CallbackID)
	}
	open := s.CallsTo("views.open")
	if len(open) != 1 || open[0].Token != "xoxb-test" || open[0].Param("trigger_id") != "trigger-1" {
		t.Fatalf("views.open calls = %+v, want one with token xoxb-test and trigger_id trigger-1", open)
	}
	if view, _ := open[0].JSON["view"].(map[string]any); view["callback_id"] != "peer_request" {
		t.Errorf("recorded view = %v, want callback_id peer_request", open[0].JSON["view"])
	}

	updated, err := api.UpdateViewContext(ctx, modal("peer_request", ""), "", v.Hash, v.ID)
	if err != nil {
		t.Fatalf("UpdateView: %v", err)
	}
	if updated.View.ID != v.ID || updated.View.Hash == v.Hash {
		t.Errorf("updated view = id %q hash %q, want id %q and a hash other than %q", updated.View.ID, updated.View.Hash, v.ID, v.Hash)
	}

	other, err := api.OpenViewContext(ctx, "trigger-2", modal("peer_request", "req-7"))
	if err != nil {
		t.Fatalf("OpenView: %v", err)
	}
	if other.View.ID == v.ID {
		t.Errorf("second view has the first view's ID %q", v.ID)
	}
	byExternal, err := api.UpdateViewContext(ctx, modal("peer_request", "req-7"), "req-7", "", "")
	if err != nil {
		t.Fatalf("UpdateView by external_id: %v", err)
	}
	if byExternal.View.ID != other.View.ID {
		t.Errorf("update by external_id changed view %q, want %q", byExternal.View.ID, other.View.ID)
	}

	errs := []struct {
		name          string
		hash, id, ext string
		want          string
	}{
		{"stale hash", v.Hash, v.ID, "", "hash_conflict"},
		{"unknown view ID", "", "V404", "", "not_found"},
		{"unknown external ID", "", "", "nope", "not_found"},
	}
	for _, tt := range errs {
		_, err := api.UpdateViewContext(ctx, modal("peer_request", ""), tt.ext, tt.hash, tt.id)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: UpdateView error = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestPublishView(t *testing.T) {
	s := newServer(t)
	api := newClient(s)
	ctx := testContext(t)
	home := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{section("Your requests")}}}

	first, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U1", View: home})
	if err != nil {
		t.Fatalf("PublishView: %v", err)
	}
	hash := first.View.Hash
	again, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U1", View: home, Hash: &hash})
	if err != nil {
		t.Fatalf("PublishView again: %v", err)
	}
	if again.View.ID != first.View.ID || again.View.Hash == hash || again.View.Type != slack.VTHomeTab {
		t.Errorf("republished view = id %q hash %q type %q, want id %q, a new hash, home", again.View.ID, again.View.Hash, again.View.Type, first.View.ID)
	}
	if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U1", View: home, Hash: &hash}); err == nil || err.Error() != "hash_conflict" {
		t.Errorf("publish with a stale hash: error = %v, want hash_conflict", err)
	}
	someoneElse, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U2", View: home})
	if err != nil {
		t.Fatalf("PublishView for U2: %v", err)
	}
	if someoneElse.View.ID == first.View.ID {
		t.Errorf("U2's home has U1's view ID %q", first.View.ID)
	}
	calls := s.CallsTo("views.publish")
	if len(calls) != 4 || calls[3].Param("user_id") != "U2" || calls[1].Param("hash") != hash {
		t.Errorf("views.publish calls = %+v, want 4 with the user IDs and hashes sent", calls)
	}
}

func TestUserGroupMembers(t *testing.T) {
	s := newServer(t)
	api := newClient(s)
	ctx := testContext(t)
	s.SetUserGroup("S0SUPPORT", []string{"U1", "U2"})
	s.SetUserGroup("S0EMPTY", nil)

	got, err := api.GetUserGroupMembersContext(ctx, "S0SUPPORT")
	if err != nil {
		t.Fatalf("GetUserGroupMembers: %v", err)
	}
	if diff := cmp.Diff([]string{"U1", "U2"}, got); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	if got, err := api.GetUserGroupMembersContext(ctx, "S0EMPTY"); err != nil || len(got) != 0 {
		t.Errorf("members of an empty group = %v, %v; want none and no error", got, err)
	}
	if _, err := api.GetUserGroupMembersContext(ctx, "S404"); err == nil || err.Error() != "no_such_subteam" {
		t.Errorf("unknown group: error = %v, want no_such_subteam", err)
	}
	calls := s.CallsTo("usergroups.users.list")
	if len(calls) != 3 || calls[0].Param("usergroup") != "S0SUPPORT" {
		t.Errorf("usergroups.users.list calls = %+v, want 3, the first for S0SUPPORT", calls)
	}
}

func TestFailNext(t *testing.T) {
	tests := []struct {
		name  string
		f     fakeslack.Failure
		check func(t *testing.T, err error)
	}{
		{"rate limited", fakeslack.Failure{Status: http.StatusTooManyRequests, RetryAfter: 7}, func(t *testing.T, err error) {
			rl, ok := errors.AsType[*slack.RateLimitedError](err)
			if !ok || rl.RetryAfter != 7*time.Second {
				t.Errorf("error = %#v, want *slack.RateLimitedError{RetryAfter: 7s}", err)
			}
		}},
		{"429 without Retry-After", fakeslack.Failure{Status: http.StatusTooManyRequests}, func(t *testing.T, err error) {
			if sc, ok := errors.AsType[slack.StatusCodeError](err); !ok || sc.Code != http.StatusTooManyRequests {
				t.Errorf("error = %#v, want slack.StatusCodeError 429", err)
			}
		}},
		{"server error", fakeslack.Failure{Status: http.StatusServiceUnavailable}, func(t *testing.T, err error) {
			if sc, ok := errors.AsType[slack.StatusCodeError](err); !ok || sc.Code != http.StatusServiceUnavailable {
				t.Errorf("error = %#v, want slack.StatusCodeError 503", err)
			}
		}},
		{"default status", fakeslack.Failure{}, func(t *testing.T, err error) {
			if sc, ok := errors.AsType[slack.StatusCodeError](err); !ok || sc.Code != http.StatusInternalServerError {
				t.Errorf("error = %#v, want slack.StatusCodeError 500", err)
			}
		}},
		{"Slack error", fakeslack.Failure{SlackError: "channel_not_found"}, func(t *testing.T, err error) {
			if _, ok := errors.AsType[slack.SlackErrorResponse](err); !ok || err.Error() != "channel_not_found" {
				t.Errorf("error = %#v, want Slack error channel_not_found", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			api := newClient(s)
			ctx := testContext(t)
			s.FailNext("chat.postMessage", 2, tt.f)
			for i := range 2 {
				_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("hi", false))
				if err == nil {
					t.Fatalf("call %d succeeded, want the injected failure", i+1)
				}
				tt.check(t, err)
			}
			if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("hi", false)); err != nil {
				t.Errorf("third call: %v, want success once the failures are used up", err)
			}
			if _, err := api.AuthTestContext(ctx); err != nil {
				t.Errorf("auth.test: %v, want success: failures apply to their method only", err)
			}
			if n := len(s.CallsTo("chat.postMessage")); n != 3 {
				t.Errorf("recorded %d chat.postMessage calls, want 3 (failed calls are recorded too)", n)
			}
		})
	}
}

func TestResponseURL(t *testing.T) {
	s := newServer(t)
	api := newClient(s)
	ctx := testContext(t)
	u := s.ResponseURL("cmd/42")

	_, _, err := api.PostMessageContext(ctx, "", slack.MsgOptionResponseURL(u, slack.ResponseTypeEphemeral),
		slack.MsgOptionText("Cluster c1: 203.0.113.7", false))
	if err != nil {
		t.Fatalf("post to response_url: %v", err)
	}
	if err := slack.PostWebhookContext(ctx, u, &slack.WebhookMessage{Text: "again", ReplaceOriginal: true}); err != nil {
		t.Fatalf("PostWebhook to response_url: %v", err)
	}
	calls := s.CallsTo("response_url")
	if len(calls) != 2 {
		t.Fatalf("recorded %d response_url calls, want 2", len(calls))
	}
	wantPath := "/response/" + url.PathEscape("cmd/42")
	if calls[0].Path != wantPath || calls[0].JSON["text"] != "Cluster c1: 203.0.113.7" || calls[0].JSON["response_type"] != "ephemeral" {
		t.Errorf("first call = path %q JSON %v, want path %q with the text and response_type ephemeral", calls[0].Path, calls[0].JSON, wantPath)
	}
	if calls[1].JSON["replace_original"] != true {
		t.Errorf("second call JSON = %v, want replace_original true", calls[1].JSON)
	}

	s.FailNext("response_url", 1, fakeslack.Failure{Status: http.StatusNotFound})
	err = slack.PostWebhookContext(ctx, u, &slack.WebhookMessage{Text: "too late"})
	if sc, ok := errors.AsType[slack.StatusCodeError](err); !ok || sc.Code != http.StatusNotFound {
		t.Errorf("injected failure: error = %#v, want slack.StatusCodeError 404", err)
	}
}

// rawCall sends one HTTP request to the fake and decodes its JSON answer.
func rawCall(t *testing.T, method, target, contentType, auth, body string) map[string]any {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: status %s, want 200", method, target, resp.Status)
	}
	var got map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("%s %s: decode answer: %v", method, target, err)
	}
	return got
}

func TestTokensAndBodies(t *testing.T) {
	s := newServer(t)
	const form, js = "application/x-www-form-urlencoded", "application/json"
	tests := []struct {
		name              string
		method, path      string
		contentType, auth string
		body              string
		wantError         string // "" means ok
		wantToken         string
	}{
		{"form token", "POST", "auth.test", form, "", "token=xoxb-1", "", "xoxb-1"},
		{"bearer token", "POST", "auth.test", form, "xoxb-2", "", "", "xoxb-2"},
		{"GET with query token", "GET", "auth.test?token=xoxb-3", "", "", "", "", "xoxb-3"},
		{"GET with bearer", "GET", "auth.test", "", "xoxb-4", "", "", "xoxb-4"},
		{"no token", "POST", "chat.postMessage", form, "", "channel=C1&text=hi", "not_authed", ""},
		{"app token on a bot method", "POST", "chat.postMessage", form, "", "token=xapp-1&channel=C1&text=hi", "not_allowed_token_type", "xapp-1"},
		{"bot token on apps.connections.open", "POST", "apps.connections.open", js, "xoxb-5", "", "not_allowed_token_type", "xoxb-5"},
		{"unknown method", "POST", "chat.meow", form, "", "token=xoxb-6", "unknown_method", "xoxb-6"},
		{"bad JSON", "POST", "views.open", js, "xoxb-7", "{", "invalid_json", "xoxb-7"},
		{"bad blocks", "POST", "chat.postMessage", form, "", "token=xoxb-8&channel=C1&blocks=%5B", "invalid_blocks", "xoxb-8"},
		{"view as a form field", "POST", "views.open", form, "", "token=xoxb-9&trigger_id=t&view=" + url.QueryEscape(`{"type":"modal","title":{"type":"plain_text","text":"Peering"}}`), "", "xoxb-9"},
		{"home view through views.open", "POST", "views.open", js, "xoxb-10", `{"trigger_id":"t","view":{"type":"home"}}`, "invalid_arguments", "xoxb-10"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rawCall(t, tt.method, s.APIURL()+tt.path, tt.contentType, tt.auth, tt.body)
			if tt.wantError == "" && got["ok"] != true {
				t.Errorf("answer = %v, want ok", got)
			}
			if tt.wantError != "" && (got["ok"] != false || got["error"] != tt.wantError) {
				t.Errorf("answer = %v, want error %q", got, tt.wantError)
			}
			calls := s.Calls()
			if len(calls) != i+1 {
				t.Fatalf("recorded %d calls, want %d", len(calls), i+1)
			}
			last := calls[i]
			if wantMethod, _, _ := strings.Cut(tt.path, "?"); last.Method != wantMethod || last.Token != tt.wantToken || string(last.Raw) != tt.body {
				t.Errorf("recorded method %q token %q raw %q, want %q, %q, %q", last.Method, last.Token, last.Raw, wantMethod, tt.wantToken, tt.body)
			}
		})
	}
}

func TestCallTimeComesFromTheClock(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := newServer(t, fakeslack.WithNow(func() time.Time { return at }))
	if _, err := newClient(s).AuthTestContext(testContext(t)); err != nil {
		t.Fatalf("AuthTest: %v", err)
	}
	if got := s.Calls()[0].At; !got.Equal(at) {
		t.Errorf("At = %v, want %v", got, at)
	}
}

func TestWaitFor(t *testing.T) {
	s := newServer(t)
	api := newClient(s)
	ctx := testContext(t)

	type waited struct {
		calls []fakeslack.Call
		err   error
	}
	done := make(chan waited, 1)
	go func() {
		calls, err := s.WaitFor(ctx, "chat.update", 2)
		done <- waited{calls, err}
	}()
	for _, text := range []string{"one", "two"} {
		if _, _, _, err := api.UpdateMessageContext(ctx, "C1", "1700000000.000001", slack.MsgOptionText(text, false)); err != nil {
			t.Fatalf("UpdateMessage: %v", err)
		}
	}
	w := <-done
	if w.err != nil {
		t.Fatalf("WaitFor: %v", w.err)
	}
	if len(w.calls) != 2 || w.calls[0].Param("text") != "one" || w.calls[1].Param("text") != "two" {
		t.Errorf("WaitFor calls = %+v, want the two updates in order", w.calls)
	}

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	calls, err := s.WaitFor(short, "chat.update", 3)
	if !errors.Is(err, context.DeadlineExceeded) || len(calls) != 2 {
		t.Errorf("WaitFor more than arrive = %d calls, %v; want 2 calls and a deadline error", len(calls), err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	s := newServer(t)
	api := newClient(s)
	ctx := testContext(t)
	const workers, each = 8, 10
	var mu sync.Mutex
	seen := make(map[string]bool)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				_, ts, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("hi", false))
				if err != nil {
					t.Errorf("PostMessage: %v", err)
					return
				}
				mu.Lock()
				seen[ts] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != workers*each {
		t.Errorf("got %d distinct ts for %d messages", len(seen), workers*each)
	}
	if n := len(s.Calls()); n != workers*each {
		t.Errorf("recorded %d calls, want %d", n, workers*each)
	}
}

// runSocketMode runs a real slack-go Socket Mode client against s until the
// test ends. handle answers each envelope; its result is the ack payload.
func runSocketMode(t *testing.T, s *fakeslack.Server, handle func(socketmode.Event) any) {
	t.Helper()
	api := slack.New("xoxb-test", slack.OptionAPIURL(s.APIURL()), slack.OptionAppLevelToken("xapp-test"))
	client := socketmode.New(api, socketmode.OptionLog(log.New(io.Discard, "", 0)))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = client.RunContext(ctx) })
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-client.Events:
				if evt.Request == nil || evt.Request.EnvelopeID == "" {
					continue
				}
				_ = client.AckCtx(ctx, evt.Request.EnvelopeID, handle(evt))
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

func TestSocketModeRoundTrip(t *testing.T) {
	s := newServer(t)
	ctx := testContext(t)
	events := make(chan socketmode.Event, 10)
	runSocketMode(t, s, func(evt socketmode.Event) any {
		events <- evt
		switch evt.Type {
		case socketmode.EventTypeSlashCommand:
			cmd := evt.Data.(slack.SlashCommand)
			return map[string]any{"response_type": "ephemeral", "text": "clusters for " + cmd.Text}
		case socketmode.EventTypeInteractive:
			return map[string]any{"response_action": "errors", "errors": map[string]string{"vpc": "Use a VPC ID like vpc-0a1b2c3d."}}
		default:
			return nil
		}
	})

	t.Run("slash command", func(t *testing.T) {
		ack, err := s.SendEnvelope(ctx, "slash_commands", map[string]string{
			"command": "/astro-ip", "text": "c1", "user_id": "U1", "team_id": fakeslack.TeamID, "channel_id": "C1",
			"response_url": s.ResponseURL("1"), "trigger_id": "trigger-1",
		})
		if err != nil {
			t.Fatalf("SendEnvelope: %v", err)
		}
		if diff := cmp.Diff(`{"response_type":"ephemeral","text":"clusters for c1"}`, string(ack)); diff != "" {
			t.Errorf("ack payload (-want +got):\n%s", diff)
		}
		evt := <-events
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok || cmd.Command != "/astro-ip" || cmd.UserID != "U1" || cmd.ResponseURL != s.ResponseURL("1") || cmd.TriggerID != "trigger-1" {
			t.Errorf("app got %#v, want the slash command sent", evt.Data)
		}
		if !evt.Request.AcceptsResponsePayload {
			t.Error("slash command envelope does not accept a response payload")
		}
	})

	t.Run("interactive", func(t *testing.T) {
		payload := json.RawMessage(`{"type":"view_submission","user":{"id":"U1"},"view":{"id":"V1","callback_id":"peer_request"}}`)
		ack, err := s.SendEnvelope(ctx, "interactive", payload)
		if err != nil {
			t.Fatalf("SendEnvelope: %v", err)
		}
		var got map[string]any
		if err := json.Unmarshal(ack, &got); err != nil || got["response_action"] != "errors" {
			t.Errorf("ack payload = %s (%v), want response_action errors", ack, err)
		}
		evt := <-events
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !ok || cb.Type != slack.InteractionTypeViewSubmission || cb.View.CallbackID != "peer_request" || cb.User.ID != "U1" {
			t.Errorf("app got %#v, want the view submission sent", evt.Data)
		}
	})

	t.Run("events API", func(t *testing.T) {
		payload := map[string]any{
			"type": "event_callback", "team_id": fakeslack.TeamID, "api_app_id": fakeslack.AppID, "event_id": "Ev1",
			"event": map[string]any{"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"},
		}
		ack, err := s.SendEnvelope(ctx, "events_api", payload)
		if err != nil {
			t.Fatalf("SendEnvelope: %v", err)
		}
		if ack != nil {
			t.Errorf("ack payload = %s, want none", ack)
		}
		evt := <-events
		ev, ok := evt.Data.(slackevents.EventsAPIEvent)
		if !ok || ev.InnerEvent.Type != "app_home_opened" {
			t.Errorf("app got %#v, want an app_home_opened event", evt.Data)
		}
		if evt.Request.AcceptsResponsePayload {
			t.Error("events_api envelope accepts a response payload; Slack's do not")
		}
	})

	opens := s.CallsTo("apps.connections.open")
	if len(opens) != 1 || opens[0].Token != "xapp-test" {
		t.Errorf("apps.connections.open calls = %+v, want one with the app-level token", opens)
	}
}

func TestSocketModeDisconnect(t *testing.T) {
	s := newServer(t)
	ctx := testContext(t)
	runSocketMode(t, s, func(evt socketmode.Event) any {
		return map[string]string{"text": evt.Data.(slack.SlashCommand).Text}
	})
	for _, text := range []string{"before", "after"} {
		ack, err := s.SendEnvelope(ctx, "slash_commands", map[string]string{"command": "/astro-ip", "text": text})
		if err != nil {
			t.Fatalf("SendEnvelope %s: %v", text, err)
		}
		if want := `{"text":"` + text + `"}`; string(ack) != want {
			t.Errorf("ack = %s, want %s", ack, want)
		}
		if text == "before" {
			if err := s.Disconnect(ctx, "refresh_requested"); err != nil {
				t.Fatalf("Disconnect: %v", err)
			}
		}
	}
	if _, err := s.WaitFor(ctx, "apps.connections.open", 2); err != nil {
		t.Errorf("the client did not reconnect: %v", err)
	}
}

func TestSocketPingsAndTickets(t *testing.T) {
	s := newServer(t, fakeslack.WithPingInterval(5*time.Millisecond))
	ctx := testContext(t)
	api := slack.New("xoxb-test", slack.OptionAPIURL(s.APIURL()), slack.OptionAppLevelToken("xapp-test"))
	_, wsURL, err := api.StartSocketModeContext(ctx)
	if err != nil {
		t.Fatalf("apps.connections.open: %v", err)
	}
	if !strings.HasPrefix(wsURL, "ws://127.0.0.1:") {
		t.Errorf("websocket URL = %q, want ws://127.0.0.1:…", wsURL)
	}
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, wsURL, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()

	var hello socketmode.Request
	if err := conn.ReadJSON(&hello); err != nil {
		t.Fatalf("read hello: %v", err)
	}
	if hello.Type != "hello" || hello.ConnectionInfo.AppID != fakeslack.AppID || hello.NumConnections != 1 {
		t.Errorf("first message = %+v, want hello from app %s", hello, fakeslack.AppID)
	}

	pings := make(chan struct{}, 100)
	conn.SetPingHandler(func(string) error {
		pings <- struct{}{}
		return nil
	})
	go func() {
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	for i := range 3 {
		select {
		case <-pings:
		case <-ctx.Done():
			t.Fatalf("got %d pings, want 3", i)
		}
	}

	_, resp, err := websocket.DefaultDialer.DialContext(ctx, wsURL, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("second dial with the same ticket: %v, want 401", err)
	}
}

func TestSendEnvelopeWithoutApp(t *testing.T) {
	s := fakeslack.New()
	short, cancel := context.WithTimeout(testContext(t), 20*time.Millisecond)
	defer cancel()
	if _, err := s.SendEnvelope(short, "slash_commands", map[string]string{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SendEnvelope with no app connected: %v, want a deadline error", err)
	}

	errs := make(chan error, 2)
	go func() {
		_, err := s.SendEnvelope(context.Background(), "slash_commands", map[string]string{})
		errs <- err
	}()
	go func() {
		_, err := s.WaitFor(context.Background(), "chat.postMessage", 1)
		errs <- err
	}()
	s.Close()
	s.Close()
	for range 2 {
		if err := <-errs; err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("blocked call after Close: %v, want a closed-server error", err)
		}
	}
}
