package handlers_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
)

// lookups counts the outcomes Handler reports for its look-ups.
type lookups struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *lookups) count(outcome string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == nil {
		l.n = map[string]int{}
	}
	l.n[outcome]++
}

func (l *lookups) get(outcome string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[outcome]
}

// TestDeliverExactlyOnce checks that every message the bot posts names its
// outbox entry in its metadata, that a first delivery makes no look-up, and
// that a delivery that may have happened already (its entry was handed out
// before: a crash) finds the message it posted and adopts it instead of
// posting again — for the card, a thread line and a DM — or posts when it
// finds none.
func TestDeliverExactlyOnce(t *testing.T) {
	var counted lookups
	e := newEnv(t, func(c *handlers.Config) { c.CountLookup = counted.count })
	id := e.mustFile(t, alice, "V1", validForm())
	ctx := testContext(t)
	r, events, err := e.db.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	history := func() int {
		return len(e.srv.CallsTo("conversations.history")) + len(e.srv.CallsTo("conversations.replies"))
	}

	// The card, posted the first time without a look-up, carries its entry.
	d := handlers.Delivery{Entry: 101, Notification: astrobot.Notification{RequestID: id, Kind: astrobot.NotifyCard}, Request: r, Event: events[0]}
	card, err := e.h.Deliver(ctx, d)
	if err != nil || card == nil {
		t.Fatalf("Deliver(card) = %+v, %v", card, err)
	}
	if n := history(); n != 0 {
		t.Errorf("a first delivery made %d look-ups, want none", n)
	}
	post := e.lastCall(t, "chat.postMessage", 1)
	var meta struct {
		EventType    string            `json:"event_type"`
		EventPayload map[string]string `json:"event_payload"`
	}
	if err := json.Unmarshal([]byte(post.Param("metadata")), &meta); err != nil || meta.EventType != handlers.DeliveryEventType ||
		meta.EventPayload["entry"] != "101" || meta.EventPayload["request"] != "PEER-0001" {
		t.Errorf("card metadata %q (%v), want the event type %s with entry 101 and PEER-0001", post.Param("metadata"), err, handlers.DeliveryEventType)
	}

	// The same entry again after a crash: the card is found, not posted.
	d.MaybeSent = true
	again, err := e.h.Deliver(ctx, d)
	if err != nil || again == nil || *again != *card {
		t.Fatalf("Deliver(card) again = %+v, %v; want the card %+v adopted", again, err, card)
	}
	if n := len(e.srv.CallsTo("chat.postMessage")); n != 1 {
		t.Errorf("chat.postMessage calls = %d after a repeated card, want 1", n)
	}
	if err := e.db.RecordCard(ctx, id, *card); err != nil {
		t.Fatal(err)
	}
	r.Card = *card

	// A thread line and a DM, each delivered, then delivered again.
	for i, kind := range []astrobot.NotificationKind{astrobot.NotifyThread, astrobot.NotifyRequester} {
		d := handlers.Delivery{Entry: uint64(200 + i), Notification: astrobot.Notification{RequestID: id, Kind: kind}, Request: r, Event: events[0]}
		if _, err := e.h.Deliver(ctx, d); err != nil {
			t.Fatal(err)
		}
		posts := len(e.srv.CallsTo("chat.postMessage"))
		d.MaybeSent = true
		if _, err := e.h.Deliver(ctx, d); err != nil {
			t.Fatal(err)
		}
		if n := len(e.srv.CallsTo("chat.postMessage")); n != posts {
			t.Errorf("%s delivered again posted %d more messages, want none", kind, n-posts)
		}
	}
	if n := len(e.srv.CallsTo("conversations.replies")); n != 1 {
		t.Errorf("conversations.replies calls = %d, want 1 (the thread line's look-up)", n)
	}
	for _, c := range e.srv.Messages(chanSupport) {
		if c.ThreadTS == card.TS && c.TS != card.TS && !strings.Contains(string(c.Metadata), `"entry":"200"`) {
			t.Errorf("thread reply %s lacks its entry in %s", c.TS, c.Metadata)
		}
	}

	// An entry handed out before that never reached Slack is posted.
	posts := len(e.srv.CallsTo("chat.postMessage"))
	lost := handlers.Delivery{Entry: 300, MaybeSent: true, Notification: astrobot.Notification{RequestID: id, Kind: astrobot.NotifyThread},
		Request: r, Event: events[0]}
	if _, err := e.h.Deliver(ctx, lost); err != nil {
		t.Fatal(err)
	}
	if n := len(e.srv.CallsTo("chat.postMessage")); n != posts+1 {
		t.Errorf("a lost entry posted %d messages, want 1", n-posts)
	}
	if got := [3]int{counted.get("found"), counted.get("not_found"), counted.get("missing_scope")}; got != [3]int{3, 1, 0} {
		t.Errorf("look-ups found, not found, missing scope = %v, want [3 1 0]", got)
	}
}

// TestDeliverWithoutHistoryScopes checks an old install without the history
// scopes: a delivery that may have happened is posted (at least once, as
// before), one warning says what to do, and each look-up is counted.
func TestDeliverWithoutHistoryScopes(t *testing.T) {
	var counted lookups
	e := newEnvWith(t, []fakeslack.Option{fakeslack.WithScopes("chat:write", "im:write", "commands")},
		func(c *handlers.Config) { c.CountLookup = counted.count })

	id := e.mustFile(t, alice, "V1", validForm())
	ctx := testContext(t)
	r, events, err := e.db.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		d := handlers.Delivery{Entry: uint64(400 + i), MaybeSent: true, Notification: astrobot.Notification{RequestID: id, Kind: astrobot.NotifyRequester},
			Request: r, Event: events[0]}
		if _, err := e.h.Deliver(ctx, d); err != nil {
			t.Fatalf("Deliver without the history scope: %v", err)
		}
	}
	if n := len(e.srv.CallsTo("chat.postMessage")); n != 2 {
		t.Errorf("chat.postMessage calls = %d, want 2: it still delivers", n)
	}
	if n := counted.get("missing_scope"); n != 2 {
		t.Errorf("missing_scope look-ups counted = %d, want 2", n)
	}
	var warnings int
	for _, m := range e.logs.messages(slog.LevelWarn) {
		if strings.Contains(m, "history") {
			warnings++
		}
	}
	if warnings != 1 {
		t.Errorf("%d warnings about the history scopes, want one: %v", warnings, e.logs.messages(slog.LevelWarn))
	}
}
