package handlers_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/astrobot-dev/astrobot/handlers"
)

// homeOpened parses an app_home_opened callback as Slack sends it.
func homeOpened(t *testing.T, c caller, tab string) slackevents.EventsAPIEvent {
	t.Helper()
	body := fmt.Sprintf(`{"token":"x","team_id":%q,"api_app_id":"A0001","type":"event_callback","event_id":"Ev1",
		"event":{"type":"app_home_opened","user":%q,"channel":"D0001","tab":%q,"event_ts":"1700000000.000100"}}`, c.team, c.user, tab)
	ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	if err != nil {
		t.Fatalf("parse event: %v", err)
	}
	return ev
}

func TestAppHome(t *testing.T) {
	e := newEnv(t)
	twoRequests(t, e)
	tests := []struct {
		name    string
		caller  caller
		tab     string
		publish bool
		want    []string
		notWant []string
	}{
		{name: "requester", caller: alice, tab: "home", publish: true,
			want: []string{handlers.CommandIP, "PEER-0001", validForm().vpc}, notWant: []string{"PEER-0002", ginaForm().vpc}},
		{name: "no requests", caller: bob, tab: "home", publish: true,
			want: []string{"You have no requests"}, notWant: []string{"PEER-0001"}},
		{name: "support", caller: support, tab: "home", publish: true,
			want: []string{"Open requests", "PEER-0001", "PEER-0002"}},
		{name: "messages tab", caller: alice, tab: "messages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.srv.CallsTo("views.publish"))
			e.h.Event(testContext(t), homeOpened(t, tt.caller, tt.tab))
			calls := e.srv.CallsTo("views.publish")
			if !tt.publish {
				if len(calls) != before {
					t.Errorf("views.publish calls = %d, want none for tab %q", len(calls)-before, tt.tab)
				}
				return
			}
			if len(calls) != before+1 {
				t.Fatalf("views.publish calls = %d, want 1", len(calls)-before)
			}
			var req struct {
				UserID string     `json:"user_id"`
				View   slack.View `json:"view"`
			}
			if err := json.Unmarshal(calls[len(calls)-1].Raw, &req); err != nil {
				t.Fatalf("views.publish body: %v", err)
			}
			if req.UserID != tt.caller.user || req.View.Type != slack.VTHomeTab {
				t.Errorf("published a %q view for %q, want a home view for %q", req.View.Type, req.UserID, tt.caller.user)
			}
			var parts []string
			for _, b := range req.View.Blocks.BlockSet {
				if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil {
					parts = append(parts, s.Text.Text)
				}
			}
			checkText(t, strings.Join(parts, "\n"), tt.want, tt.notWant)
		})
	}
}
