package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/astrobot-dev/astrobot"
)

// outboxNotifications returns the notifications in the outbox, in key order.
func outboxNotifications(t testing.TB, db *DB) []astrobot.Notification {
	t.Helper()
	var out []astrobot.Notification
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return bucket(tx, bucketOutbox).ForEach(func(k, v []byte) error {
			rec, err := decodeOutbox(binary.BigEndian.Uint64(k), v)
			out = append(out, rec.notification())
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pendingSummary is the part of a Delivery the ordering tests look at.
type pendingSummary struct {
	Key          uint64
	Notification astrobot.Notification
}

func pending(t *testing.T, db *DB, now time.Time, limit int) []pendingSummary {
	t.Helper()
	ds, err := db.PendingDeliveries(context.Background(), now, limit)
	if err != nil {
		t.Fatal(err)
	}
	var out []pendingSummary
	for _, d := range ds {
		out = append(out, pendingSummary{d.Key, d.Notification})
	}
	return out
}

func TestPendingDeliveriesOrder(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db := openTest(t, clk)
	a := create(t, db, peering("U1", "cl-1", "vpc-0000000a", "10.1.0.0/16")) // keys 1 card, 2 requester
	b := create(t, db, peering("U2", "cl-1", "vpc-0000000b", "10.2.0.0/16")) // keys 3 card, 4 requester
	a = apply(t, db, a.ID, astrobot.Change{Action: astrobot.ActNote, Actor: "S1", Role: astrobot.RoleSupport, Note: "looking"}) // key 5 thread
	n := func(id astrobot.RequestID, k astrobot.NotificationKind, ev int) astrobot.Notification {
		return astrobot.Notification{RequestID: id, Kind: k, Event: ev}
	}
	now := clk.Now()

	// One per request, the earliest of each.
	want := []pendingSummary{{1, n(a.ID, astrobot.NotifyCard, 0)}, {3, n(b.ID, astrobot.NotifyCard, 0)}}
	if diff := cmp.Diff(want, pending(t, db, now, 10)); diff != "" {
		t.Errorf("pending (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[:1], pending(t, db, now, 1)); diff != "" {
		t.Errorf("pending with limit 1 (-want +got):\n%s", diff)
	}

	// The delivery carries what rendering needs: the request as it stands,
	// and the event the notification is about.
	ds, err := db.PendingDeliveries(ctx, now, 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, ds[0].Request, cmpOpts()); diff != "" {
		t.Errorf("delivery request (-want +got):\n%s", diff)
	}
	if ds[0].Event.Action != astrobot.ActSubmit || ds[0].Event.Seq != 0 || ds[0].Attempts != 0 || !ds[0].NotBefore.IsZero() {
		t.Errorf("delivery = %+v", ds[0])
	}

	// Delivering a's card lets its DM go next.
	if err := db.Acknowledge(ctx, []Ack{{Key: 1}}); err != nil {
		t.Fatal(err)
	}
	want = []pendingSummary{{2, n(a.ID, astrobot.NotifyRequester, 0)}, {3, n(b.ID, astrobot.NotifyCard, 0)}}
	if diff := cmp.Diff(want, pending(t, db, now, 0)); diff != "" {
		t.Errorf("pending after ack (-want +got):\n%s", diff)
	}

	// A deferred card holds back all of b, and only b.
	retry := now.Add(time.Minute)
	if err := db.Defer(ctx, 3, retry, "ratelimited"); err != nil {
		t.Fatal(err)
	}
	want = []pendingSummary{{2, n(a.ID, astrobot.NotifyRequester, 0)}}
	if diff := cmp.Diff(want, pending(t, db, now, 0)); diff != "" {
		t.Errorf("pending while b is deferred (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, pending(t, db, retry.Add(-time.Nanosecond), 0)); diff != "" {
		t.Errorf("pending just before b's retry (-want +got):\n%s", diff)
	}
	ds, err = db.PendingDeliveries(ctx, retry, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[1].Key != 3 || ds[1].Attempts != 1 || ds[1].LastError != "ratelimited" || !ds[1].NotBefore.Equal(retry) {
		t.Errorf("pending at b's retry time = %+v; want a's DM, then b's card with 1 attempt", ds)
	}
	if err := db.Defer(ctx, 3, retry, "ratelimited again"); err != nil {
		t.Fatal(err)
	}
	if ds, err := db.PendingDeliveries(ctx, retry, 0); err != nil || ds[1].Attempts != 2 || ds[1].LastError != "ratelimited again" {
		t.Errorf("after second Defer: %+v, %v", ds, err)
	}
	wantCode(t, db.Defer(ctx, 99, retry, "x"), astrobot.ENotFound)
}

func TestAcknowledgeSetsCard(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db := openTest(t, clk)
	r := create(t, db, peering("U1", "cl-1", "vpc-0000000a", "10.1.0.0/16"))
	apply(t, db, r.ID, astrobot.Change{Action: astrobot.ActApprove, Actor: "S1", Role: astrobot.RoleSupport}) // key 3 card, 4 thread

	card := astrobot.MessageRef{Channel: "CSUP", TS: "1.000100"}
	if err := db.Acknowledge(ctx, []Ack{{Key: 1, Card: &card}, {Key: 2}}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Request(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Card != card {
		t.Errorf("Card = %+v, want %+v", got.Card, card)
	}
	// Acknowledging does not touch the audit fields.
	if got.Status != astrobot.StatusApproved || got.UpdatedBy != "S1" {
		t.Errorf("request after ack = %+v", got)
	}

	// A later card acknowledgement keeps the first card; acks are idempotent.
	other := astrobot.MessageRef{Channel: "CSUP", TS: "2.000200"}
	if err := db.Acknowledge(ctx, []Ack{{Key: 3, Card: &other}, {Key: 1, Card: &other}, {Key: 4}, {Key: 4}}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Request(ctx, r.ID); err != nil || got.Card != card {
		t.Errorf("Card = %+v, %v; want the first card %+v kept", got.Card, err, card)
	}
	if st, err := db.OutboxStats(ctx); err != nil || st.Depth != 0 {
		t.Errorf("outbox depth = %d, %v; want 0", st.Depth, err)
	}
	if err := db.Acknowledge(ctx, nil); err != nil {
		t.Errorf("Acknowledge(nil) = %v", err)
	}
}

func TestDeadLetterAndStats(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db := openTest(t, clk)

	st, err := db.OutboxStats(ctx)
	if err != nil || st != (OutboxStats{}) {
		t.Fatalf("OutboxStats of an empty store = %+v, %v", st, err)
	}

	first := clk.Now()
	r := create(t, db, peering("U1", "cl-1", "vpc-0000000a", "10.1.0.0/16")) // keys 1, 2
	clk.Advance(time.Minute)
	create(t, db, peering("U2", "cl-1", "vpc-0000000b", "10.2.0.0/16")) // keys 3, 4
	st, err = db.OutboxStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(OutboxStats{Depth: 4, Oldest: first}, st); diff != "" {
		t.Errorf("OutboxStats (-want +got):\n%s", diff)
	}

	clk.Advance(time.Minute)
	if err := db.DeadLetter(ctx, 1, "channel_not_found"); err != nil {
		t.Fatal(err)
	}
	// The next entry of the request may go now.
	if got := pending(t, db, clk.Now(), 0); len(got) != 2 || got[0].Key != 2 || got[0].Notification.RequestID != r.ID {
		t.Errorf("pending after dead letter = %+v; want key 2 of %s first", got, r.ID)
	}
	st, err = db.OutboxStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(OutboxStats{Depth: 3, Oldest: first, DeadLetters: 1}, st); diff != "" {
		t.Errorf("OutboxStats after dead letter (-want +got):\n%s", diff)
	}

	var dead deadRecord
	err = db.bolt.View(func(tx *bolt.Tx) error {
		return json.Unmarshal(bucket(tx, bucketDeadletter).Get(u64(1)), &dead)
	})
	if err != nil {
		t.Fatal(err)
	}
	wantDead := deadRecord{
		outboxRecord: outboxRecord{RequestID: uint64(r.ID), Kind: string(astrobot.NotifyCard), Event: 0, CreatedAt: first},
		Reason:       "channel_not_found",
		DeadAt:       clk.Now(),
	}
	if diff := cmp.Diff(wantDead, dead, cmp.AllowUnexported(deadRecord{})); diff != "" {
		t.Errorf("dead letter (-want +got):\n%s", diff)
	}
	wantCode(t, db.DeadLetter(ctx, 1, "again"), astrobot.ENotFound)
}
