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

// entry is an outbox key and its notification.
type entry struct {
	Key          uint64
	Notification astrobot.Notification
}

// outboxEntries returns the entries of the outbox, in key order.
func outboxEntries(t testing.TB, db *DB) []entry {
	t.Helper()
	var out []entry
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return bucket(tx, bucketOutbox).ForEach(func(k, v []byte) error {
			key := binary.BigEndian.Uint64(k)
			rec, err := decodeQueue(bucketOutbox, key, v)
			out = append(out, entry{key, astrobot.Notification{RequestID: astrobot.RequestID(rec.RequestID), Kind: astrobot.NotificationKind(rec.Kind), Event: rec.Event}})
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// outboxNotifications returns the notifications in the outbox, in key order.
func outboxNotifications(t testing.TB, db *DB) []astrobot.Notification {
	t.Helper()
	var out []astrobot.Notification
	for _, e := range outboxEntries(t, db) {
		out = append(out, e.Notification)
	}
	return out
}

// owed returns the notifications the history of request id owes, in order,
// as the domain computes them.
func owed(t testing.TB, db *DB, id astrobot.RequestID) []astrobot.Notification {
	t.Helper()
	r, events, err := db.History(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []astrobot.Notification
	for _, e := range events {
		out = append(out, astrobot.Notifications(&r, e)...)
	}
	return out
}

// entriesOf returns the outbox entries of request id, in key order.
func entriesOf(all []entry, id astrobot.RequestID) []entry {
	var out []entry
	for _, e := range all {
		if e.Notification.RequestID == id {
			out = append(out, e)
		}
	}
	return out
}

func pending(t *testing.T, db *DB, now time.Time, limit int) []entry {
	t.Helper()
	ds, err := db.Outbox().Due(context.Background(), now, limit)
	if err != nil {
		t.Fatal(err)
	}
	var out []entry
	for _, d := range ds {
		out = append(out, entry{d.Key, d.Notification()})
	}
	return out
}

func TestQueueDueOrder(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db := openTest(t, clk)
	a := create(t, db, peering("U1", "cl-1", "vpc-0000000a", "10.1.0.0/16"))
	b := create(t, db, peering("U2", "cl-1", "vpc-0000000b", "10.2.0.0/16"))
	a = apply(t, db, a.ID, astrobot.Change{Action: astrobot.ActNote, Actor: "S1", Role: astrobot.RoleSupport, Note: "looking"})
	all := outboxEntries(t, db)
	// In commit order: a's submission, b's submission, a's note.
	_, eventsA, err := db.History(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, eventsB, err := db.History(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	var wantOutbox []astrobot.Notification
	wantOutbox = append(wantOutbox, astrobot.Notifications(&a, eventsA[0])...)
	wantOutbox = append(wantOutbox, astrobot.Notifications(&b, eventsB[0])...)
	wantOutbox = append(wantOutbox, astrobot.Notifications(&a, eventsA[1])...)
	if diff := cmp.Diff(wantOutbox, outboxNotifications(t, db)); diff != "" {
		t.Fatalf("outbox does not hold what the events owe (-want +got):\n%s", diff)
	}
	ea, eb := entriesOf(all, a.ID), entriesOf(all, b.ID)
	if len(ea) < 3 || len(eb) < 2 || ea[0].Notification.Kind != astrobot.NotifyCard || eb[0].Notification.Kind != astrobot.NotifyCard {
		t.Fatalf("outbox = %+v; want a card first for each request and more entries after", all)
	}
	now := clk.Now()

	// One per request, the earliest of each.
	want := []entry{ea[0], eb[0]}
	if diff := cmp.Diff(want, pending(t, db, now, 10)); diff != "" {
		t.Errorf("pending (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[:1], pending(t, db, now, 1)); diff != "" {
		t.Errorf("pending with limit 1 (-want +got):\n%s", diff)
	}

	// The delivery carries what rendering needs: the request as it stands,
	// and the event the notification is about.
	ds, err := db.Outbox().Due(ctx, now, 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, ds[0].Request, cmpOpts()); diff != "" {
		t.Errorf("delivery request (-want +got):\n%s", diff)
	}
	if ds[0].Event.Action != astrobot.ActSubmit || ds[0].Event.Seq != 0 || ds[0].Attempts != 0 || !ds[0].NotBefore.IsZero() {
		t.Errorf("delivery = %+v", ds[0])
	}

	// Delivering a's card lets its next entry go.
	if err := db.Outbox().Done(ctx, ea[0].Key); err != nil {
		t.Fatal(err)
	}
	want = []entry{ea[1], eb[0]}
	if diff := cmp.Diff(want, pending(t, db, now, 0)); diff != "" {
		t.Errorf("pending after ack (-want +got):\n%s", diff)
	}

	// A deferred card holds back all of b, and only b.
	retry := now.Add(time.Minute)
	if err := db.Outbox().Retry(ctx, eb[0].Key, retry, "ratelimited", false); err != nil {
		t.Fatal(err)
	}
	want = []entry{ea[1]}
	if diff := cmp.Diff(want, pending(t, db, now, 0)); diff != "" {
		t.Errorf("pending while b is deferred (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, pending(t, db, retry.Add(-time.Nanosecond), 0)); diff != "" {
		t.Errorf("pending just before b's retry (-want +got):\n%s", diff)
	}
	ds, err = db.Outbox().Due(ctx, retry, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[1].Key != eb[0].Key || ds[1].Attempts != 1 || ds[1].LastError != "ratelimited" || !ds[1].NotBefore.Equal(retry) {
		t.Errorf("pending at b's retry time = %+v; want a's next entry, then b's card with 1 attempt", ds)
	}
	if err := db.Outbox().Retry(ctx, eb[0].Key, retry, "ratelimited again", false); err != nil {
		t.Fatal(err)
	}
	if ds, err := db.Outbox().Due(ctx, retry, 0); err != nil || len(ds) != 2 || ds[1].Attempts != 2 || ds[1].LastError != "ratelimited again" {
		t.Errorf("after second Defer: %+v, %v", ds, err)
	}
	wantCode(t, db.Outbox().Retry(ctx, 999, retry, "x", true), astrobot.ENotFound)
}

func TestRecordCard(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db := openTest(t, clk)
	r := create(t, db, peering("U1", "cl-1", "vpc-0000000a", "10.1.0.0/16"))
	submitted := outboxEntries(t, db)
	apply(t, db, r.ID, astrobot.Change{Action: astrobot.ActApprove, Actor: "S1", Role: astrobot.RoleSupport})
	approved := outboxEntries(t, db)[len(submitted):]
	if len(submitted) < 2 || submitted[0].Notification.Kind != astrobot.NotifyCard ||
		len(approved) < 2 || approved[0].Notification.Kind != astrobot.NotifyCard {
		t.Fatalf("outbox = %+v then %+v; want a card first after each event", submitted, approved)
	}

	card := astrobot.MessageRef{Channel: "CSUP", TS: "1.000100"}
	if err := db.RecordCard(ctx, r.ID, card); err != nil {
		t.Fatal(err)
	}
	var keys []uint64
	for _, e := range submitted {
		keys = append(keys, e.Key)
	}
	if err := db.Outbox().Done(ctx, keys...); err != nil {
		t.Fatal(err)
	}
	got, err := db.Request(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Card != card {
		t.Errorf("Card = %+v, want %+v", got.Card, card)
	}
	// Recording the card does not touch the audit fields.
	if got.Status != astrobot.StatusApproved || got.UpdatedBy != "S1" || !got.UpdatedAt.Equal(clk.Now()) {
		t.Errorf("request after ack = %+v", got)
	}
	if diff := cmp.Diff(approved, outboxEntries(t, db)); diff != "" {
		t.Errorf("outbox after acknowledging the submission (-want +got):\n%s", diff)
	}

	// A later card keeps the first; removing done entries is idempotent.
	other := astrobot.MessageRef{Channel: "CSUP", TS: "2.000200"}
	if err := db.RecordCard(ctx, r.ID, other); err != nil {
		t.Fatal(err)
	}
	keys = keys[:0]
	for _, e := range append(approved, submitted...) {
		keys = append(keys, e.Key, e.Key)
	}
	if err := db.Outbox().Done(ctx, keys...); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Request(ctx, r.ID); err != nil || got.Card != card {
		t.Errorf("Card = %+v, %v; want the first card %+v kept", got.Card, err, card)
	}
	if st, err := db.Outbox().Stats(ctx); err != nil || st.Depth != 0 {
		t.Errorf("outbox depth = %d, %v; want 0", st.Depth, err)
	}
	if err := db.Outbox().Done(ctx); err != nil {
		t.Errorf("Done() = %v", err)
	}
	wantCode(t, db.RecordCard(ctx, 999, card), astrobot.ENotFound)
}

func TestDeadLetterAndStats(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db := openTest(t, clk)

	st, err := db.Outbox().Stats(ctx)
	if err != nil || st != (QueueStats{}) {
		t.Fatalf("OutboxStats of an empty store = %+v, %v", st, err)
	}

	first := clk.Now()
	r := create(t, db, peering("U1", "cl-1", "vpc-0000000a", "10.1.0.0/16"))
	clk.Advance(time.Minute)
	create(t, db, peering("U2", "cl-1", "vpc-0000000b", "10.2.0.0/16"))
	all := outboxEntries(t, db)
	st, err = db.Outbox().Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(QueueStats{Depth: len(all), Oldest: first}, st); diff != "" {
		t.Errorf("OutboxStats (-want +got):\n%s", diff)
	}

	clk.Advance(time.Minute)
	mine := entriesOf(all, r.ID)
	if err := db.Outbox().DeadLetter(ctx, mine[0].Key, "channel_not_found"); err != nil {
		t.Fatal(err)
	}
	// The next entry of the request may go now.
	if got := pending(t, db, clk.Now(), 0); len(got) != 2 || got[0] != mine[1] {
		t.Errorf("pending after dead letter = %+v; want %+v first", got, mine[1])
	}
	st, err = db.Outbox().Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(QueueStats{Depth: len(all) - 1, Oldest: first, DeadLetters: 1}, st); diff != "" {
		t.Errorf("OutboxStats after dead letter (-want +got):\n%s", diff)
	}

	var dead deadRecord
	err = db.bolt.View(func(tx *bolt.Tx) error {
		return json.Unmarshal(bucket(tx, bucketDeadletter).Get(u64(mine[0].Key)), &dead)
	})
	if err != nil {
		t.Fatal(err)
	}
	wantDead := deadRecord{
		queueRecord: queueRecord{RequestID: uint64(r.ID), Kind: string(mine[0].Notification.Kind), Event: 0, CreatedAt: first},
		Reason:      "channel_not_found",
		DeadAt:      clk.Now(),
	}
	if diff := cmp.Diff(wantDead, dead, cmp.AllowUnexported(deadRecord{})); diff != "" {
		t.Errorf("dead letter (-want +got):\n%s", diff)
	}
	letters, err := db.Outbox().DeadLetters(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantLetters := []DeadLetter{{Key: mine[0].Key, RequestID: r.ID, Kind: string(mine[0].Notification.Kind), CreatedAt: first,
		Reason: "channel_not_found", DeadAt: clk.Now()}}
	if diff := cmp.Diff(wantLetters, letters); diff != "" {
		t.Errorf("DeadLetters (-want +got):\n%s", diff)
	}
	wantCode(t, db.Outbox().DeadLetter(ctx, mine[0].Key, "again"), astrobot.ENotFound)
}

// TestCancelQueuesCleanupJob checks that cancelling a request that holds an
// AWS resource owes a cleanup job, in the jobs queue and not in the outbox,
// written with the cancellation; and that one without a resource owes none.
func TestCancelQueuesCleanupJob(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db := openTest(t, clk)
	made := create(t, db, peering("U1", "cl-1", "vpc-0000000a", "10.1.0.0/16"))
	bare := create(t, db, peering("U1", "cl-1", "vpc-0000000b", "10.2.0.0/16"))
	apply(t, db, made.ID, astrobot.Change{Action: astrobot.ActApprove, Actor: "S1", Role: astrobot.RoleSupport})
	apply(t, db, made.ID, astrobot.Change{Action: astrobot.ActPeeringCreated, Actor: astrobot.ActorAWS, Role: astrobot.RoleBot, Resource: "pcx-0aaa1111"})
	if jobs, err := db.Jobs().Due(ctx, clk.Now(), 0); err != nil || len(jobs) != 0 {
		t.Fatalf("jobs before any cancel = %+v, %v", jobs, err)
	}
	apply(t, db, bare.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: "U1", Role: astrobot.RoleRequester})
	apply(t, db, made.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: "U1", Role: astrobot.RoleRequester})
	jobs, err := db.Jobs().Due(ctx, clk.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].Job() != (astrobot.Job{RequestID: made.ID, Kind: astrobot.JobCleanup, Event: 3}) ||
		jobs[0].Request.Resource != "pcx-0aaa1111" || jobs[0].Event.Action != astrobot.ActCancel {
		t.Fatalf("jobs = %+v; want the cleanup of %d's pcx-0aaa1111", jobs, made.ID)
	}
	for _, n := range outboxNotifications(t, db) {
		if string(n.Kind) == string(astrobot.JobCleanup) {
			t.Errorf("the outbox holds a cleanup: %+v", n)
		}
	}
	if err := db.Jobs().Done(ctx, jobs[0].Key); err != nil {
		t.Fatal(err)
	}
	if st, err := db.Jobs().Stats(ctx); err != nil || st.Depth != 0 {
		t.Errorf("jobs after Done = %+v, %v", st, err)
	}
}

// TestClaimMarksEntries checks that Claim marks entries taken and reports
// whether each was taken before, so that an entry taken again (its outcome
// was never recorded: a crash) says it may have been done already, while one
// never taken does not; and that Due reads the mark without changing it.
func TestClaimMarksEntries(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db := openTest(t, clk)
	create(t, db, peering("U1", "cl-1", "vpc-0000000a", "10.1.0.0/16"))
	create(t, db, peering("U2", "cl-1", "vpc-0000000b", "10.2.0.0/16"))
	due, err := db.Outbox().Due(ctx, clk.Now(), 0)
	if err != nil || len(due) != 2 || due[0].Claimed || due[1].Claimed {
		t.Fatalf("Due = %+v, %v; want two entries never claimed", due, err)
	}
	before, err := db.Outbox().Claim(ctx, due[0].Key)
	if err != nil || len(before) != 1 || before[0] {
		t.Fatalf("first Claim = %v, %v; want [false]", before, err)
	}
	before, err = db.Outbox().Claim(ctx, due[0].Key, due[1].Key, 999)
	if err != nil || len(before) != 3 || !before[0] || before[1] || before[2] {
		t.Fatalf("second Claim = %v, %v; want [true false false]", before, err)
	}
	// An attempt that may have taken effect keeps the mark, one that
	// surely did not clears it; Due reads it.
	if err := db.Outbox().Retry(ctx, due[1].Key, clk.Now(), "timeout", true); err != nil {
		t.Fatal(err)
	}
	if err := db.Outbox().Retry(ctx, due[0].Key, clk.Now(), "ratelimited", false); err != nil {
		t.Fatal(err)
	}
	due, err = db.Outbox().Due(ctx, clk.Now(), 0)
	if err != nil || len(due) != 2 || due[0].Claimed || !due[1].Claimed || due[1].Attempts != 1 {
		t.Errorf("Due after the retries = %+v, %v; want the timed-out one claimed, the rate-limited one not", due, err)
	}
}
