package bot

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/store"
)

// testSLAs are the default reminder thresholds.
var testSLAs = astrobot.SLAs{Unclaimed: 4 * time.Hour, Customer: 48 * time.Hour}

// reminders runs one reminder round and returns how many it sent.
func reminders(t *testing.T, w *ReminderWorker) int {
	t.Helper()
	n, err := w.Round(testContext(t))
	if err != nil {
		t.Fatalf("reminder round: %v", err)
	}
	return n
}

// nudges returns the reminder events of request id.
func (e *testEnv) nudges(t *testing.T, id astrobot.RequestID) []astrobot.Event {
	t.Helper()
	_, events, err := e.db.History(testContext(t), id)
	if err != nil {
		t.Fatalf("History(%d): %v", id, err)
	}
	var out []astrobot.Event
	for _, ev := range events {
		if ev.Action == astrobot.ActNudgeSupport || ev.Action == astrobot.ActNudgeCustomer {
			out = append(out, ev)
		}
	}
	return out
}

// takeOutbox acknowledges every waiting outbox entry without sending it, and
// returns their notifications in delivery order.
func (e *testEnv) takeOutbox(t *testing.T) []astrobot.Notification {
	t.Helper()
	ctx := testContext(t)
	var out []astrobot.Notification
	for range 100 {
		ds, err := e.db.Outbox().Due(ctx, e.clock.Now(), 0)
		if err != nil {
			t.Fatalf("Outbox().Due: %v", err)
		}
		if len(ds) == 0 {
			return out
		}
		keys := make([]uint64, len(ds))
		for i, d := range ds {
			out = append(out, d.Notification())
			keys[i] = d.Key
		}
		if err := e.db.Outbox().Done(ctx, keys...); err != nil {
			t.Fatalf("Outbox().Done: %v", err)
		}
	}
	t.Fatal("the outbox does not empty")
	return nil
}

func TestReminderNudgesUnclaimedRequests(t *testing.T) {
	e := newTestEnv(t)
	w := NewReminderWorker(e.db, testSLAs, e.clock.Now, e.log)
	waiting := e.file(t, 1)
	claimed := e.file(t, 2)
	e.clock.Advance(time.Minute)
	e.apply(t, claimed, astrobot.Change{Action: astrobot.ActClaim, Actor: testSupportUser, Role: astrobot.RoleSupport})
	e.takeOutbox(t)

	e.clock.Advance(testSLAs.Unclaimed - 2*time.Minute)
	if n := reminders(t, w); n != 0 {
		t.Fatalf("a round a minute before the SLA sent %d reminders, want 0", n)
	}
	e.clock.Advance(time.Minute)
	if n := reminders(t, w); n != 1 {
		t.Fatalf("the round at the SLA sent %d reminders, want 1", n)
	}
	got := e.nudges(t, waiting)
	want := []astrobot.Event{{At: e.clock.Now(), Actor: astrobot.ActorBot, Action: astrobot.ActNudgeSupport,
		From: astrobot.StatusSubmitted, To: astrobot.StatusSubmitted}}
	ignore := func(p cmp.Path) bool { f := p.Last().String(); return f == ".Seq" || f == ".Note" }
	if diff := cmp.Diff(want, got, cmp.FilterPath(ignore, cmp.Ignore())); diff != "" {
		t.Fatalf("reminder events of %d (-want +got):\n%s", waiting, diff)
	}
	wantOutbox := []astrobot.Notification{{RequestID: waiting, Kind: astrobot.NotifyThread, Event: got[0].Seq}}
	if diff := cmp.Diff(wantOutbox, e.takeOutbox(t)); diff != "" {
		t.Fatalf("notifications of the reminder (-want +got):\n%s", diff)
	}
	if r := e.request(t, waiting); r.Status != astrobot.StatusSubmitted || !r.UpdatedAt.Equal(testStart) {
		t.Errorf("the reminder changed %d: status %s, updated %v; want it left submitted, updated %v", waiting, r.Status, r.UpdatedAt, testStart)
	}

	// At most one per window.
	if n := reminders(t, w); n != 0 {
		t.Fatalf("a second round right after sent %d reminders, want 0", n)
	}
	e.clock.Advance(testSLAs.Unclaimed - time.Second)
	if n := reminders(t, w); n != 0 {
		t.Fatalf("a round a second before the next window sent %d reminders, want 0", n)
	}
	e.clock.Advance(time.Second)
	if n := reminders(t, w); n != 1 {
		t.Fatalf("the round one window later sent %d reminders, want 1", n)
	}
	if got := e.nudges(t, waiting); len(got) != 2 {
		t.Fatalf("%d has %d reminders after two windows, want 2", waiting, len(got))
	}
	if got := e.takeOutbox(t); len(got) != 1 || got[0].Kind != astrobot.NotifyThread {
		t.Fatalf("notifications of the second reminder = %v, want one thread line", got)
	}
	if got := e.nudges(t, claimed); len(got) != 0 {
		t.Errorf("the claimed %d got reminders: %v", claimed, got)
	}
}

func TestReminderNudgesCustomer(t *testing.T) {
	e := newTestEnv(t)
	w := NewReminderWorker(e.db, testSLAs, e.clock.Now, e.log)
	id := e.file(t, 1)
	e.apply(t, id, astrobot.Change{Action: astrobot.ActApprove, Actor: testSupportUser, Role: astrobot.RoleSupport})
	// Recorded by hand without its AWS expiry: the customer SLA applies.
	e.apply(t, id, astrobot.Change{Action: astrobot.ActPeeringCreated, Actor: testSupportUser, Role: astrobot.RoleSupport,
		Resource: "pcx-0abc12345678def90"})
	e.takeOutbox(t)

	// Waiting on the customer is not support's SLA.
	e.clock.Advance(testSLAs.Customer - time.Minute)
	if n := reminders(t, w); n != 0 {
		t.Fatalf("a round before the customer SLA sent %d reminders, want 0", n)
	}
	e.clock.Advance(time.Minute)
	if n := reminders(t, w); n != 1 {
		t.Fatalf("the round at the customer SLA sent %d reminders, want 1", n)
	}
	got := e.nudges(t, id)
	if len(got) != 1 || got[0].Action != astrobot.ActNudgeCustomer || got[0].Actor != astrobot.ActorBot {
		t.Fatalf("reminders of %d = %+v, want one nudge_customer by the bot", id, got)
	}
	want := []astrobot.Notification{
		{RequestID: id, Kind: astrobot.NotifyThread, Event: got[0].Seq},
		{RequestID: id, Kind: astrobot.NotifyRequester, Event: got[0].Seq},
	}
	if diff := cmp.Diff(want, e.takeOutbox(t)); diff != "" {
		t.Fatalf("notifications of the customer reminder (-want +got):\n%s", diff)
	}
	if n := reminders(t, w); n != 0 {
		t.Fatalf("a second round right after sent %d reminders, want 0", n)
	}
}

func TestReminderDeliveredAsDM(t *testing.T) {
	e := newTestEnv(t)
	id := e.file(t, 1)
	e.apply(t, id, astrobot.Change{Action: astrobot.ActApprove, Actor: testSupportUser, Role: astrobot.RoleSupport})
	e.apply(t, id, astrobot.Change{Action: astrobot.ActPeeringCreated, Actor: testSupportUser, Role: astrobot.RoleSupport,
		Resource: "pcx-0abc12345678def90"})
	out := e.worker(NewMetrics())
	drain(t, out)
	before := len(e.fake.Calls())

	e.clock.Advance(testSLAs.Customer)
	if n := reminders(t, NewReminderWorker(e.db, testSLAs, e.clock.Now, e.log)); n != 1 {
		t.Fatalf("reminder round sent %d, want 1", n)
	}
	drain(t, out)
	card := e.request(t, id).Card
	want := []string{"chat.postMessage " + card.Channel + " thread=" + card.TS, "conversations.open " + testUser, "chat.postMessage D" + testUser}
	if diff := cmp.Diff(want, slackTrace(e.fake.Calls()[before:])); diff != "" {
		t.Fatalf("Slack calls for the customer reminder (-want +got):\n%s", diff)
	}
}

func TestReminderSurvivesRestart(t *testing.T) {
	e := newTestEnv(t)
	id := e.file(t, 1)
	e.clock.Advance(testSLAs.Unclaimed)
	if n := reminders(t, NewReminderWorker(e.db, testSLAs, e.clock.Now, e.log)); n != 1 {
		t.Fatalf("first round sent %d reminders, want 1", n)
	}

	e.reopen(t)
	w := NewReminderWorker(e.db, testSLAs, e.clock.Now, e.log)
	if n := reminders(t, w); n != 0 {
		t.Fatalf("the first round after a restart sent %d reminders, want 0", n)
	}
	if got := e.nudges(t, id); len(got) != 1 {
		t.Fatalf("%d has %d reminders after the restart, want 1", id, len(got))
	}
	e.clock.Advance(testSLAs.Unclaimed)
	if n := reminders(t, w); n != 1 {
		t.Fatalf("the round one window after the restart sent %d reminders, want 1", n)
	}
}

// movingStore is the real store, except that a request is approved between
// the worker's listing and its reminder, as a support engineer might.
type movingStore struct {
	*store.DB
	move astrobot.RequestID
}

func (s movingStore) RequestsByStatus(ctx context.Context, statuses []astrobot.Status, limit int) ([]astrobot.Request, error) {
	rs, err := s.DB.RequestsByStatus(ctx, statuses, limit)
	if err != nil {
		return nil, err
	}
	_, _, err = s.Apply(ctx, s.move, astrobot.Change{Action: astrobot.ActApprove, Actor: testSupportUser, Role: astrobot.RoleSupport})
	return rs, err
}

func TestReminderSkipsRequestThatMovedOn(t *testing.T) {
	e := newTestEnv(t)
	moved := e.file(t, 1)
	still := e.file(t, 2)
	e.clock.Advance(testSLAs.Unclaimed)
	w := NewReminderWorker(movingStore{DB: e.db, move: moved}, testSLAs, e.clock.Now, e.log)
	if n := reminders(t, w); n != 1 {
		t.Fatalf("round sent %d reminders, want 1 (for %d only)", n, still)
	}
	if got := e.nudges(t, moved); len(got) != 0 {
		t.Errorf("%d was approved meanwhile but got reminders: %v", moved, got)
	}
	if got := e.nudges(t, still); len(got) != 1 {
		t.Errorf("%d got %d reminders, want 1", still, len(got))
	}
}
