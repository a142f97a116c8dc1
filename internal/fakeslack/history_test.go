package fakeslack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"

	"github.com/astrobot-dev/astrobot/internal/clocktest"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
)

// start is when the settable clocks of these tests start: 2025-06-01 09:00 UTC,
// Unix time 1748768400.
var start = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

// delivery returns the metadata the bot puts on the message of outbox entry.
func delivery(entry string) slack.SlackMetadata {
	return slack.SlackMetadata{EventType: "astrobot_delivery", EventPayload: map[string]any{"entry": entry, "request": "PEER-0042"}}
}

// post posts text to channel with opts and returns its ts.
func post(t *testing.T, api *slack.Client, channel, text string, opts ...slack.MsgOption) string {
	t.Helper()
	_, ts, err := api.PostMessageContext(testContext(t), channel, append([]slack.MsgOption{slack.MsgOptionText(text, false)}, opts...)...)
	if err != nil {
		t.Fatalf("PostMessage %q to %s: %v", text, channel, err)
	}
	return ts
}

// summary describes msgs as "text" or "text entry" when a message has
// delivery metadata, for comparison.
func summary(msgs []slack.Message) []string {
	out := []string{}
	for _, m := range msgs {
		s := m.Text
		if m.Metadata.EventType != "" {
			s += fmt.Sprintf(" %s:%v", m.Metadata.EventType, m.Metadata.EventPayload["entry"])
		}
		out = append(out, s)
	}
	return out
}

// history reads one page of conversations.history with the real client.
func history(t *testing.T, api *slack.Client, p slack.GetConversationHistoryParameters) *slack.GetConversationHistoryResponse {
	t.Helper()
	resp, err := api.GetConversationHistoryContext(testContext(t), &p)
	if err != nil {
		t.Fatalf("GetConversationHistory(%+v): %v", p, err)
	}
	return resp
}

func TestTimestampsFollowTheClock(t *testing.T) {
	s := newServer(t, fakeslack.WithNow(func() time.Time { return start }))
	api := newClient(s)
	var got []string
	for _, channel := range []string{"C1", "C2", "U1"} {
		got = append(got, post(t, api, channel, "hi"))
	}
	ts, err := api.PostEphemeralContext(testContext(t), "C1", "U1", slack.MsgOptionText("only you", false))
	if err != nil {
		t.Fatalf("PostEphemeral: %v", err)
	}
	got = append(got, ts)
	// The clock stands still: each timestamp is a microsecond after the last.
	want := []string{"1748768400.000000", "1748768400.000001", "1748768400.000002", "1748768400.000003"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("timestamps (-want +got):\n%s", diff)
	}
}

func TestHistoryKeepsWhatWasPosted(t *testing.T) {
	clock := clocktest.New(start)
	s := newServer(t, fakeslack.WithNow(clock.Now))
	api := newClient(s)
	ctx := testContext(t)

	_, cardTS, echoed, err := api.PostMessageWithResponseContext(ctx, "C0SUPPORT", slack.MsgOptionText("card", false),
		slack.MsgOptionBlocks(section("*PEER-0042*")), slack.MsgOptionMetadata(delivery("card-1")))
	if err != nil {
		t.Fatalf("PostMessage: %v", err)
	}
	if echoed.Metadata.EventType != "astrobot_delivery" || echoed.Metadata.EventPayload["entry"] != "card-1" {
		t.Errorf("chat.postMessage answer metadata = %+v, want the metadata sent", echoed.Metadata)
	}
	clock.Advance(time.Second)
	lineTS := post(t, api, "C0SUPPORT", "line", slack.MsgOptionTS(cardTS), slack.MsgOptionMetadata(delivery("line-1")))
	clock.Advance(time.Second)
	post(t, api, "C0SUPPORT", "broadcast", slack.MsgOptionTS(cardTS), slack.MsgOptionBroadcast())
	clock.Advance(time.Second)
	post(t, api, "C0SUPPORT", "plain")
	clock.Advance(time.Second)
	post(t, api, "U123", "dm", slack.MsgOptionMetadata(delivery("dm-1")))

	tests := []struct {
		name string
		p    slack.GetConversationHistoryParameters
		want []string
	}{
		{"channel, newest first, replies left out", slack.GetConversationHistoryParameters{ChannelID: "C0SUPPORT"},
			[]string{"plain", "broadcast", "card"}},
		{"channel with metadata", slack.GetConversationHistoryParameters{ChannelID: "C0SUPPORT", IncludeAllMetadata: true},
			[]string{"plain", "broadcast", "card astrobot_delivery:card-1"}},
		{"DM through its D channel", slack.GetConversationHistoryParameters{ChannelID: "DU123", IncludeAllMetadata: true},
			[]string{"dm astrobot_delivery:dm-1"}},
		{"DM without metadata", slack.GetConversationHistoryParameters{ChannelID: "DU123"}, []string{"dm"}},
		{"a channel never posted to", slack.GetConversationHistoryParameters{ChannelID: "C0EMPTY"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := history(t, api, tt.p)
			if diff := cmp.Diff(tt.want, summary(resp.Messages)); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			if resp.HasMore || resp.ResponseMetaData.NextCursor != "" {
				t.Errorf("has_more %v, next_cursor %q; want one page", resp.HasMore, resp.ResponseMetaData.NextCursor)
			}
		})
	}

	msgs := history(t, api, slack.GetConversationHistoryParameters{ChannelID: "C0SUPPORT"}).Messages
	card, broadcast := msgs[2], msgs[1]
	if card.Timestamp != cardTS || card.User != fakeslack.BotUserID || card.BotID != fakeslack.BotID || len(card.Blocks.BlockSet) != 1 {
		t.Errorf("card = ts %q user %q bot %q %d blocks, want ts %q by the bot with its block", card.Timestamp, card.User, card.BotID, len(card.Blocks.BlockSet), cardTS)
	}
	if card.ThreadTimestamp != cardTS || card.ReplyCount != 2 || card.LatestReply != broadcast.Timestamp {
		t.Errorf("card thread = thread_ts %q, %d replies, latest %q; want its own ts, 2, %q", card.ThreadTimestamp, card.ReplyCount, card.LatestReply, broadcast.Timestamp)
	}
	if broadcast.SubType != "thread_broadcast" || broadcast.ThreadTimestamp != cardTS {
		t.Errorf("broadcast = subtype %q thread_ts %q, want thread_broadcast in %q", broadcast.SubType, broadcast.ThreadTimestamp, cardTS)
	}

	kept := s.Messages("C0SUPPORT")
	if len(kept) != 4 || kept[1].TS != lineTS || kept[1].ThreadTS != cardTS || kept[1].Channel != "C0SUPPORT" {
		t.Fatalf("Messages(C0SUPPORT) = %+v, want 4 with the thread line second", kept)
	}
	var meta slack.SlackMetadata
	if err := json.Unmarshal(kept[1].Metadata, &meta); err != nil || meta.EventPayload["entry"] != "line-1" {
		t.Errorf("kept metadata = %s (%v), want the line's", kept[1].Metadata, err)
	}
	if dm := s.Messages("DU123"); len(dm) != 1 || dm[0].Text != "dm" {
		t.Errorf("Messages(DU123) = %+v, want the DM", dm)
	}
	if n := len(s.CallsTo("conversations.history")); n != len(tests)+1 {
		t.Errorf("recorded %d conversations.history calls, want %d", n, len(tests)+1)
	}
}

func TestHistoryBounds(t *testing.T) {
	clock := clocktest.New(start)
	s := newServer(t, fakeslack.WithNow(clock.Now))
	api := newClient(s)
	var ts []string // ts[i] is message "m<i>", posted at start + i seconds
	for i := range 5 {
		ts = append(ts, post(t, api, "C1", fmt.Sprintf("m%d", i)))
		clock.Advance(time.Second)
	}
	if ts[1] != "1748768401.000000" {
		t.Fatalf("ts[1] = %q, want the clock's time", ts[1])
	}
	tests := []struct {
		name      string
		oldest    string
		latest    string
		inclusive bool
		want      []string
	}{
		{"oldest is exclusive", ts[1], "", false, []string{"m4", "m3", "m2"}},
		{"oldest inclusive", ts[1], "", true, []string{"m4", "m3", "m2", "m1"}},
		{"latest is exclusive", "", ts[3], false, []string{"m2", "m1", "m0"}},
		{"latest inclusive", "", ts[3], true, []string{"m3", "m2", "m1", "m0"}},
		{"both", ts[0], ts[3], false, []string{"m2", "m1"}},
		{"both inclusive", ts[0], ts[3], true, []string{"m3", "m2", "m1", "m0"}},
		{"whole seconds compare as numbers", "1748768402", "1748768403.5", false, []string{"m3"}},
		{"a microsecond before", "1748768401.999999", "", false, []string{"m4", "m3", "m2"}},
		{"nothing in range", ts[4], "", false, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := history(t, api, slack.GetConversationHistoryParameters{ChannelID: "C1", Oldest: tt.oldest, Latest: tt.latest, Inclusive: tt.inclusive})
			if diff := cmp.Diff(tt.want, summary(resp.Messages)); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHistoryPages(t *testing.T) {
	s := newServer(t)
	api := newClient(s)
	for i := range 7 {
		post(t, api, "C1", fmt.Sprintf("m%d", i), slack.MsgOptionMetadata(delivery(fmt.Sprint(i))))
	}
	tests := []struct {
		name string
		p    slack.GetConversationHistoryParameters
		want [][]string
	}{
		{"limit 3", slack.GetConversationHistoryParameters{ChannelID: "C1", Limit: 3},
			[][]string{{"m6", "m5", "m4"}, {"m3", "m2", "m1"}, {"m0"}}},
		{"pages that end exactly", slack.GetConversationHistoryParameters{ChannelID: "C1", Limit: 7},
			[][]string{{"m6", "m5", "m4", "m3", "m2", "m1", "m0"}}},
		{"default limit", slack.GetConversationHistoryParameters{ChannelID: "C1"},
			[][]string{{"m6", "m5", "m4", "m3", "m2", "m1", "m0"}}},
		{"metadata on every page", slack.GetConversationHistoryParameters{ChannelID: "C1", Limit: 4, IncludeAllMetadata: true},
			[][]string{{"m6 astrobot_delivery:6", "m5 astrobot_delivery:5", "m4 astrobot_delivery:4", "m3 astrobot_delivery:3"},
				{"m2 astrobot_delivery:2", "m1 astrobot_delivery:1", "m0 astrobot_delivery:0"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]string
			p := tt.p
			for {
				resp := history(t, api, p)
				got = append(got, summary(resp.Messages))
				if resp.HasMore != (resp.ResponseMetaData.NextCursor != "") {
					t.Fatalf("has_more %v with next_cursor %q", resp.HasMore, resp.ResponseMetaData.NextCursor)
				}
				if !resp.HasMore || len(got) > 10 {
					break
				}
				p.Cursor = resp.ResponseMetaData.NextCursor
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("pages (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("bounds apply with the cursor", func(t *testing.T) {
		msgs := s.Messages("C1")
		p := slack.GetConversationHistoryParameters{ChannelID: "C1", Limit: 2, Oldest: msgs[1].TS, Latest: msgs[6].TS}
		first := history(t, api, p)
		p.Cursor = first.ResponseMetaData.NextCursor
		second := history(t, api, p)
		got := [][]string{summary(first.Messages), summary(second.Messages)}
		if diff := cmp.Diff([][]string{{"m5", "m4"}, {"m3", "m2"}}, got); diff != "" || !first.HasMore || second.HasMore {
			t.Errorf("pages (-want +got):\n%s\nhas_more %v then %v, want true then false", diff, first.HasMore, second.HasMore)
		}
	})
}

func TestReplies(t *testing.T) {
	clock := clocktest.New(start)
	s := newServer(t, fakeslack.WithNow(clock.Now))
	api := newClient(s)
	next := func(channel, text string, opts ...slack.MsgOption) string {
		clock.Advance(time.Second)
		return post(t, api, channel, text, opts...)
	}
	card := next("C1", "card", slack.MsgOptionMetadata(delivery("card")))
	r1 := next("C1", "r1", slack.MsgOptionTS(card), slack.MsgOptionMetadata(delivery("r1")))
	other := next("C1", "other card")
	next("C1", "other reply", slack.MsgOptionTS(other))
	r2 := next("C1", "r2", slack.MsgOptionTS(card))
	next("C1", "r3", slack.MsgOptionTS(card), slack.MsgOptionBroadcast())
	lonely := next("C1", "no replies")
	orphan := "1700000000.000001" // a parent the fake never posted, as when a card predates the fake
	next("C1", "orphan reply", slack.MsgOptionTS(orphan))
	dm := next("U1", "dm")
	next("DU1", "dm reply", slack.MsgOptionTS(dm))

	tests := []struct {
		name string
		p    slack.GetConversationRepliesParameters
		want [][]string
	}{
		{"parent first, then replies oldest first", slack.GetConversationRepliesParameters{ChannelID: "C1", Timestamp: card},
			[][]string{{"card", "r1", "r2", "r3"}}},
		{"with metadata", slack.GetConversationRepliesParameters{ChannelID: "C1", Timestamp: card, IncludeAllMetadata: true},
			[][]string{{"card astrobot_delivery:card", "r1 astrobot_delivery:r1", "r2", "r3"}}},
		{"ts of a reply names its thread", slack.GetConversationRepliesParameters{ChannelID: "C1", Timestamp: r2},
			[][]string{{"card", "r1", "r2", "r3"}}},
		{"pages: the parent counts and comes once", slack.GetConversationRepliesParameters{ChannelID: "C1", Timestamp: card, Limit: 2},
			[][]string{{"card", "r1"}, {"r2", "r3"}}},
		{"oldest bounds the replies, not the parent", slack.GetConversationRepliesParameters{ChannelID: "C1", Timestamp: card, Oldest: r1},
			[][]string{{"card", "r2", "r3"}}},
		{"inclusive", slack.GetConversationRepliesParameters{ChannelID: "C1", Timestamp: card, Oldest: r1, Latest: r2, Inclusive: true},
			[][]string{{"card", "r1", "r2"}}},
		{"a message without replies", slack.GetConversationRepliesParameters{ChannelID: "C1", Timestamp: lonely},
			[][]string{{"no replies"}}},
		{"a thread whose parent the fake lacks", slack.GetConversationRepliesParameters{ChannelID: "C1", Timestamp: orphan},
			[][]string{{"orphan reply"}}},
		{"a DM thread", slack.GetConversationRepliesParameters{ChannelID: "DU1", Timestamp: dm},
			[][]string{{"dm", "dm reply"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]string
			p := tt.p
			for len(got) < 10 {
				msgs, more, cursor, err := api.GetConversationRepliesContext(testContext(t), &p)
				if err != nil {
					t.Fatalf("GetConversationReplies(%+v): %v", p, err)
				}
				got = append(got, summary(msgs))
				if more != (cursor != "") {
					t.Fatalf("has_more %v with next_cursor %q", more, cursor)
				}
				if !more {
					break
				}
				p.Cursor = cursor
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("pages (-want +got):\n%s", diff)
			}
		})
	}

	msgs, _, _, err := api.GetConversationRepliesContext(testContext(t), &slack.GetConversationRepliesParameters{ChannelID: "C1", Timestamp: card})
	if err != nil {
		t.Fatalf("GetConversationReplies: %v", err)
	}
	if msgs[0].ReplyCount != 3 || msgs[1].ThreadTimestamp != card || msgs[1].ParentUserId != fakeslack.BotUserID {
		t.Errorf("parent reply_count %d, reply thread_ts %q parent_user_id %q; want 3, %q, %q",
			msgs[0].ReplyCount, msgs[1].ThreadTimestamp, msgs[1].ParentUserId, card, fakeslack.BotUserID)
	}
}

func TestHistoryErrors(t *testing.T) {
	s := newServer(t)
	api := newClient(s)
	ctx := testContext(t)
	card := post(t, api, "C1", "card")
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"history of a user ID", func() error {
			_, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "U123"})
			return err
		}, "channel_not_found"},
		{"history without channel", func() error {
			_, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{})
			return err
		}, "channel_not_found"},
		{"history with a bad cursor", func() error {
			_, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "C1", Cursor: "bm9wZQ=="})
			return err
		}, "invalid_cursor"},
		{"history with a bad oldest", func() error {
			_, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "C1", Oldest: "yesterday"})
			return err
		}, "invalid_ts_oldest"},
		{"replies of an unknown thread", func() error {
			_, _, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: "C1", Timestamp: "1748768400.000001"})
			return err
		}, "thread_not_found"},
		{"replies in another channel", func() error {
			_, _, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: "C2", Timestamp: card})
			return err
		}, "thread_not_found"},
		{"replies in a user ID", func() error {
			_, _, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: "U1", Timestamp: card})
			return err
		}, "channel_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if _, ok := errors.AsType[slack.SlackErrorResponse](err); !ok || err.Error() != tt.want {
				t.Errorf("error = %v, want Slack error %q", err, tt.want)
			}
		})
	}
}

func TestUpdateKeepsOrReplacesMetadata(t *testing.T) {
	tests := []struct {
		name      string
		opts      []slack.MsgOption
		wantText  string
		wantBlock bool
		wantEntry string // "" for no metadata
	}{
		{"without metadata: kept", []slack.MsgOption{slack.MsgOptionText("approved", false)}, "approved", false, "card-1"},
		{"with metadata: replaced", []slack.MsgOption{slack.MsgOptionText("approved", false), slack.MsgOptionMetadata(delivery("card-2"))},
			"approved", false, "card-2"},
		{"with empty metadata: removed", []slack.MsgOption{slack.MsgOptionText("approved", false), slack.MsgOptionMetadata(slack.SlackMetadata{})},
			"approved", false, ""},
		{"blocks replaced", []slack.MsgOption{slack.MsgOptionText("approved", false), slack.MsgOptionBlocks(section("*approved*"))},
			"approved", true, "card-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			api := newClient(s)
			ctx := testContext(t)
			channel, ts, err := api.PostMessageContext(ctx, "U1", slack.MsgOptionText("submitted", false),
				slack.MsgOptionBlocks(section("*submitted*")), slack.MsgOptionMetadata(delivery("card-1")))
			if err != nil {
				t.Fatalf("PostMessage: %v", err)
			}
			if _, _, _, err := api.UpdateMessageContext(ctx, channel, ts, tt.opts...); err != nil {
				t.Fatalf("UpdateMessage: %v", err)
			}
			msgs := history(t, api, slack.GetConversationHistoryParameters{ChannelID: channel, IncludeAllMetadata: true}).Messages
			if len(msgs) != 1 {
				t.Fatalf("history has %d messages, want the one updated", len(msgs))
			}
			m := msgs[0]
			entry, _ := m.Metadata.EventPayload["entry"].(string)
			if m.Timestamp != ts || m.Text != tt.wantText || (len(m.Blocks.BlockSet) == 1) != tt.wantBlock || entry != tt.wantEntry {
				t.Errorf("updated message = ts %q text %q %d blocks entry %q; want ts %q text %q blocks %v entry %q",
					m.Timestamp, m.Text, len(m.Blocks.BlockSet), entry, ts, tt.wantText, tt.wantBlock, tt.wantEntry)
			}
		})
	}
}

func TestMetadataErrors(t *testing.T) {
	s := newServer(t)
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name     string
		metadata string
		want     string // "" for ok
	}{
		{"not JSON", "entry=1", "invalid_metadata_format"},
		{"not an object", `["astrobot_delivery"]`, "invalid_metadata_format"},
		{"event_type not a string", `{"event_type":7,"event_payload":{}}`, "invalid_metadata_schema"},
		{"payload without event_type", `{"event_payload":{"entry":"1"}}`, "invalid_metadata_schema"},
		{"empty object", `{}`, ""},
		{"event type alone", `{"event_type":"astrobot_delivery"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{"chat.postMessage", "chat.update"} {
				body := "token=xoxb-1&channel=C1&ts=1748768400.000001&text=hi&metadata=" + url.QueryEscape(tt.metadata)
				got := rawCall(t, "POST", s.APIURL()+method, form, "", body)
				if tt.want == "" && got["ok"] != true || tt.want != "" && got["error"] != tt.want {
					t.Errorf("%s answer = %v, want error %q", method, got, tt.want)
				}
			}
		})
	}
	if msgs := s.Messages("C1"); len(msgs) != 2 || msgs[0].Metadata != nil || string(msgs[1].Metadata) != `{"event_type":"astrobot_delivery"}` {
		t.Errorf("kept messages = %+v, want two, the first without metadata", msgs)
	}
}

func TestMissingScope(t *testing.T) {
	old := []string{"commands", "chat:write", "im:write", "usergroups:read", "users:read"}
	tests := []struct {
		name       string
		scopes     []string
		channel    string
		wantNeeded string // "" for ok
	}{
		{"channel, old install", old, "C1", "channels:history"},
		{"DM, old install", old, "DU1", "im:history"},
		{"group DM, old install", old, "GU1U2", "mpim:history"},
		{"channel with channels:history", slices.Concat(old, []string{"channels:history"}), "C1", ""},
		{"DM with only channels:history", slices.Concat(old, []string{"channels:history"}), "DU1", "im:history"},
		{"no scopes at all", []string{}, "C1", "channels:history"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, fakeslack.WithScopes(tt.scopes...))
			api := newClient(s)
			ctx := testContext(t)
			ts := post(t, api, tt.channel, "posting needs no history scope")
			_, histErr := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: tt.channel})
			_, _, _, repliesErr := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: tt.channel, Timestamp: ts})
			for method, err := range map[string]error{"history": histErr, "replies": repliesErr} {
				if tt.wantNeeded == "" {
					if err != nil {
						t.Errorf("%s: %v, want success", method, err)
					}
					continue
				}
				e, ok := errors.AsType[slack.SlackErrorResponse](err)
				if !ok || e.Err != "missing_scope" || e.Needed != tt.wantNeeded || e.Provided != strings.Join(tt.scopes, ",") {
					t.Errorf("%s: error = %#v, want missing_scope needing %q, providing %q", method, err, tt.wantNeeded, strings.Join(tt.scopes, ","))
				}
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	tests := []struct {
		name      string
		burst     int
		every     time.Duration
		wantRetry time.Duration // Retry-After of the call after the burst
	}{
		{"one a second, bursts of 3", 3, time.Second, time.Second},
		{"slow refill rounds Retry-After up", 2, 2500 * time.Millisecond, 3 * time.Second},
		{"no burst", 1, time.Second, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clocktest.New(start)
			s := newServer(t, fakeslack.WithNow(clock.Now), fakeslack.WithRateLimit(tt.burst, tt.every))
			api := newClient(s)
			ctx := testContext(t)
			send := func(channel string) error {
				_, _, err := api.PostMessageContext(ctx, channel, slack.MsgOptionText("hi", false))
				return err
			}
			for i := range tt.burst {
				if err := send("C1"); err != nil {
					t.Fatalf("message %d of the burst: %v", i+1, err)
				}
			}
			err := send("C1")
			rl, ok := errors.AsType[*slack.RateLimitedError](err)
			if !ok || rl.RetryAfter != tt.wantRetry {
				t.Fatalf("message after the burst: error = %#v, want *slack.RateLimitedError{RetryAfter: %v}", err, tt.wantRetry)
			}
			if err := send("C2"); err != nil {
				t.Errorf("another channel: %v, want success (the limit is per channel)", err)
			}
			early := tt.every - time.Millisecond
			clock.Advance(early)
			if _, ok := errors.AsType[*slack.RateLimitedError](send("C1")); !ok {
				t.Errorf("retry before the bucket refilled: want rate limited again")
			}
			clock.Advance(rl.RetryAfter - early)
			if err := send("C1"); err != nil {
				t.Errorf("retry after Retry-After: %v, want success", err)
			}
			if got := s.RateLimited(); got != 2 {
				t.Errorf("RateLimited() = %d, want 2", got)
			}
			if n, want := len(s.CallsTo("chat.postMessage")), tt.burst+4; n != want {
				t.Errorf("recorded %d chat.postMessage calls, want %d (429s included)", n, want)
			}
			if n, want := len(s.Messages("C1")), tt.burst+1; n != want {
				t.Errorf("C1 holds %d messages, want %d (none for the 429s)", n, want)
			}
		})
	}
}

func TestRateLimitCountsDMsByChannel(t *testing.T) {
	clock := clocktest.New(start)
	s := newServer(t, fakeslack.WithNow(clock.Now), fakeslack.WithRateLimit(1, time.Second))
	api := newClient(s)
	post(t, api, "U1", "first")
	_, _, err := api.PostMessageContext(testContext(t), "DU1", slack.MsgOptionText("second", false))
	if _, ok := errors.AsType[*slack.RateLimitedError](err); !ok {
		t.Errorf("second DM through the D channel: error = %v, want rate limited", err)
	}
	s.FailNext("chat.postMessage", 1, fakeslack.Failure{Status: http.StatusTooManyRequests, RetryAfter: 5})
	_, _, _ = api.PostMessageContext(testContext(t), "C9", slack.MsgOptionText("injected", false))
	if got := s.RateLimited(); got != 1 {
		t.Errorf("RateLimited() = %d, want 1 (FailNext failures are not counted)", got)
	}
}

func TestLatency(t *testing.T) {
	const latency = 300 * time.Millisecond
	s := newServer(t, fakeslack.WithLatency(latency))
	api := newClient(s)

	began := time.Now()
	post(t, api, "C1", "slow")
	if took := time.Since(began); took < latency {
		t.Errorf("a call took %v, want at least %v", took, latency)
	}

	short, cancel := context.WithTimeout(testContext(t), latency/3)
	defer cancel()
	_, _, err := api.PostMessageContext(short, "C1", slack.MsgOptionText("in flight", false),
		slack.MsgOptionMetadata(delivery("entry-7")))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("post that gives up early: error = %v, want a deadline error", err)
	}
	msgs := history(t, api, slack.GetConversationHistoryParameters{ChannelID: "C1", IncludeAllMetadata: true}).Messages
	if diff := cmp.Diff([]string{"in flight astrobot_delivery:entry-7", "slow"}, summary(msgs)); diff != "" {
		t.Errorf("Slack posted the message whose answer was lost; history (-want +got):\n%s", diff)
	}
}
