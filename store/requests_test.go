package store

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/astrobot-dev/astrobot"
)

func TestRequestRoundTrip(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "astrobot.db")
	db, err := Open(path, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}

	in := astrobot.Request{
		Kind:      astrobot.KindPeering,
		Requester: astrobot.Requester{UserID: "U042", TeamID: "T042", ChannelID: "C042"},
		ClusterID: "cl-prod",
		Spec: astrobot.PeeringSpec{AccountID: "210987654321", Region: "eu-central-1", VPCID: "vpc-0abc12345678def90",
			CIDRs: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("100.64.8.0/22")}},
		Note:     "Snowflake connector, please",
		Warnings: []string{"100.64.8.0/22 is in the shared address space (RFC 6598)."},
	}
	created, ok, err := db.CreateRequest(ctx, in, "V1")
	if err != nil || !ok {
		t.Fatalf("CreateRequest: created=%v err=%v", ok, err)
	}
	want := in
	want.ID, want.Status = 1, astrobot.StatusSubmitted
	want.CreatedAt, want.UpdatedAt, want.UpdatedBy = clk.Now(), clk.Now(), "U042"
	if diff := cmp.Diff(want, created, cmpOpts()); diff != "" {
		t.Fatalf("CreateRequest returned (-want +got):\n%s", diff)
	}

	// Fill every other field through the normal paths.
	clk.Advance(time.Minute)
	reminded := clk.Now().Add(-30 * time.Second)
	apply(t, db, 1, astrobot.Change{Action: astrobot.ActNudgeSupport, Actor: "UBOT", Role: astrobot.RoleBot, At: reminded})
	apply(t, db, 1, astrobot.Change{Action: astrobot.ActClaim, Actor: "S1", Role: astrobot.RoleSupport})
	apply(t, db, 1, astrobot.Change{Action: astrobot.ActApprove, Actor: "S1", Role: astrobot.RoleSupport, At: clk.Now()})
	apply(t, db, 1, astrobot.Change{Action: astrobot.ActPeeringCreated, Actor: astrobot.ActorAWS, Role: astrobot.RoleBot, Resource: "pcx-0aaa1111"})
	apply(t, db, 1, astrobot.Change{Action: astrobot.ActFail, Actor: astrobot.ActorAWS, Role: astrobot.RoleBot, Note: "overlap"})
	apply(t, db, 1, astrobot.Change{Action: astrobot.ActRetry, Actor: "S1", Role: astrobot.RoleSupport, At: clk.Now()})
	expires := time.Date(2025, 3, 11, 10, 1, 0, 987654321, time.FixedZone("PST", -8*3600))
	apply(t, db, 1, astrobot.Change{Action: astrobot.ActPeeringCreated, Actor: astrobot.ActorAWS, Role: astrobot.RoleBot,
		At: clk.Now().Add(time.Second), Resource: "pcx-0123456789abcdef0", ExpiresAt: expires, Details: map[string]string{"seen": "in us-east-1"}})
	last := apply(t, db, 1, astrobot.Change{Action: astrobot.ActAlert, Actor: astrobot.ActorBot, Role: astrobot.RoleBot, At: clk.Now().Add(2 * time.Second), Note: "no permission"})
	card := astrobot.MessageRef{Channel: "CSUPPORT", TS: "1741082400.000100"}
	if err := db.RecordCard(ctx, 1, card); err != nil {
		t.Fatal(err)
	}

	want = last
	want.Card = card
	// Every field is set, so the round trip covers every field: a field added
	// to astrobot.Request fails here until the store persists it.
	rv := reflect.ValueOf(want)
	for i := range rv.NumField() {
		if rv.Field(i).IsZero() {
			t.Fatalf("field %s of the test request is not set: set it above and persist it in requestRecord", rv.Type().Field(i).Name)
		}
	}
	check := func(db *DB, when string) {
		t.Helper()
		got, err := db.Request(ctx, 1)
		if err != nil {
			t.Fatalf("%s: Request: %v", when, err)
		}
		if diff := cmp.Diff(want, got, cmpOpts()); diff != "" {
			t.Errorf("%s: Request (-want +got):\n%s", when, diff)
		}
	}
	check(db, "before reopen")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check(db, "after reopen")

	_, events, err := db.History(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	wantEvents := []astrobot.Event{
		{Seq: 0, At: created.CreatedAt, Actor: "U042", Action: astrobot.ActSubmit, To: astrobot.StatusSubmitted, Note: in.Note},
		{Seq: 1, At: reminded, Actor: "UBOT", Action: astrobot.ActNudgeSupport, From: astrobot.StatusSubmitted, To: astrobot.StatusSubmitted},
		{Seq: 2, At: clk.Now(), Actor: "S1", Action: astrobot.ActClaim, From: astrobot.StatusSubmitted, To: astrobot.StatusSubmitted},
		{Seq: 3, At: clk.Now(), Actor: "S1", Action: astrobot.ActApprove, From: astrobot.StatusSubmitted, To: astrobot.StatusApproved},
		{Seq: 4, At: clk.Now(), Actor: astrobot.ActorAWS, Action: astrobot.ActPeeringCreated,
			From: astrobot.StatusApproved, To: astrobot.StatusPendingAcceptance},
		{Seq: 5, At: clk.Now(), Actor: astrobot.ActorAWS, Action: astrobot.ActFail, From: astrobot.StatusPendingAcceptance, To: astrobot.StatusFailed, Note: "overlap"},
		{Seq: 6, At: clk.Now(), Actor: "S1", Action: astrobot.ActRetry, From: astrobot.StatusFailed, To: astrobot.StatusApproved},
		{Seq: 7, At: clk.Now().Add(time.Second), Actor: astrobot.ActorAWS, Action: astrobot.ActPeeringCreated,
			From: astrobot.StatusApproved, To: astrobot.StatusPendingAcceptance},
		{Seq: 8, At: clk.Now().Add(2 * time.Second), Actor: astrobot.ActorBot, Action: astrobot.ActAlert, From: astrobot.StatusPendingAcceptance, To: astrobot.StatusPendingAcceptance, Note: "no permission"},
	}
	if diff := cmp.Diff(wantEvents, events); diff != "" {
		t.Errorf("History events (-want +got):\n%s", diff)
	}
}

func TestRequestNotFound(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, newClock())
	_, err := db.Request(ctx, 42)
	if e := wantCode(t, err, astrobot.ENotFound); e.Message != "No request 42." {
		t.Errorf("message = %q, want %q", e.Message, "No request 42.")
	}
	_, _, err = db.History(ctx, 42)
	wantCode(t, err, astrobot.ENotFound)
	_, _, err = db.Apply(ctx, 42, astrobot.Change{Action: astrobot.ActApprove, Actor: "S1", Role: astrobot.RoleSupport})
	wantCode(t, err, astrobot.ENotFound)
}

func TestCreateRequestViewDedupe(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, newClock())
	r := peering("U1", "cl-1", "vpc-0000000a", "10.1.0.0/16")

	first, created, err := db.CreateRequest(ctx, r, "V123")
	if err != nil || !created {
		t.Fatalf("first CreateRequest: created=%v err=%v", created, err)
	}
	again, created, err := db.CreateRequest(ctx, r, "V123")
	if err != nil {
		t.Fatalf("second CreateRequest: %v", err)
	}
	if created {
		t.Error("second CreateRequest with the same view created a request")
	}
	if diff := cmp.Diff(first, again, cmpOpts()); diff != "" {
		t.Errorf("second CreateRequest returned another request (-first +second):\n%s", diff)
	}
	all, err := db.RequestsByRequester(ctx, "U1", 0)
	if err != nil || len(all) != 1 {
		t.Errorf("requests of U1 = %v, %v; want one", ids(all), err)
	}
	if diff := cmp.Diff(owed(t, db, first.ID), outboxNotifications(t, db)); diff != "" {
		t.Errorf("outbox holds more than one submission (-want +got):\n%s", diff)
	}
	// Without a view ID there is no dedupe: the conflict check speaks.
	_, _, err = db.CreateRequest(ctx, r, "")
	wantCode(t, err, astrobot.EConflict)
}

func TestCreateRequestConflicts(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, newClock())
	first := create(t, db, peering("U1", "cl-1", "vpc-0000000a", "10.1.0.0/16"))

	tests := []struct {
		name    string
		r       astrobot.Request
		wantErr bool
		want    []string // in the error message
	}{
		{"same VPC of the same account", peering("U2", "cl-1", "vpc-0000000a", "10.2.0.0/16"), true,
			[]string{"PEER-0001", "vpc-0000000a", "submitted"}},
		{"overlapping CIDR", peering("U2", "cl-1", "vpc-0000000b", "10.1.128.0/17"), true,
			[]string{"10.1.128.0/17", "10.1.0.0/16", "PEER-0001"}},
		{"same VPC on another cluster", peering("U2", "cl-2", "vpc-0000000a", "10.1.0.0/16"), false, nil},
		{"distinct VPC and CIDR", peering("U2", "cl-1", "vpc-0000000c", "10.3.0.0/16"), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := db.RequestCounts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got, created, err := db.CreateRequest(ctx, tt.r, "")
			if !tt.wantErr {
				if err != nil || !created || got.ID == 0 {
					t.Fatalf("CreateRequest = %v, %v, %v; want a new request", got.ID, created, err)
				}
				return
			}
			e := wantCode(t, err, astrobot.EConflict)
			for _, w := range tt.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not name %q", e.Message, w)
				}
			}
			after, err := db.RequestCounts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("a refused request changed the counts (-before +after):\n%s", diff)
			}
		})
	}

	// Once the first is cancelled its VPC and CIDRs are free again.
	apply(t, db, first.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: "U1", Role: astrobot.RoleRequester})
	again := create(t, db, peering("U2", "cl-1", "vpc-0000000a", "10.1.0.0/16"))
	if again.ID == first.ID {
		t.Errorf("the new request reused %d", first.ID)
	}
}

func TestIndexes(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db := openTest(t, clk)
	// 12 requests: users U1 (odd IDs) and U2 (even IDs); clusters cl-a (IDs 1-6) and cl-b (7-12).
	for i := 1; i <= 12; i++ {
		cluster := "cl-a"
		if i > 6 {
			cluster = "cl-b"
		}
		create(t, db, peering(fmt.Sprintf("U%d", 2-i%2), cluster, fmt.Sprintf("vpc-%08x", i), fmt.Sprintf("10.%d.0.0/16", i)))
		clk.Advance(time.Second)
	}
	support := func(a astrobot.Action, note string) astrobot.Change {
		return astrobot.Change{Action: a, Actor: "S1", Role: astrobot.RoleSupport, Note: note}
	}
	apply(t, db, 2, support(astrobot.ActApprove, ""))
	apply(t, db, 9, support(astrobot.ActApprove, ""))
	apply(t, db, 4, support(astrobot.ActReject, "wrong account"))
	apply(t, db, 7, support(astrobot.ActCancel, ""))
	apply(t, db, 12, support(astrobot.ActCancel, ""))

	list := func(rs []astrobot.Request, err error) []astrobot.RequestID {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ids(rs)
	}
	claims := func(cs []astrobot.Claim, err error) []astrobot.RequestID {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []astrobot.RequestID
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	tests := []struct {
		name string
		got  []astrobot.RequestID
		want []astrobot.RequestID
	}{
		{"U1 newest first", list(db.RequestsByRequester(ctx, "U1", 0)), []astrobot.RequestID{11, 9, 7, 5, 3, 1}},
		{"U2 limit 4", list(db.RequestsByRequester(ctx, "U2", 4)), []astrobot.RequestID{12, 10, 8, 6}},
		{"prefix of another user", list(db.RequestsByRequester(ctx, "U", 0)), nil},
		{"unknown user", list(db.RequestsByRequester(ctx, "U3", 5)), nil},
		{"cl-a newest first", list(db.RequestsByCluster(ctx, "cl-a", 0)), []astrobot.RequestID{6, 5, 4, 3, 2, 1}},
		{"cl-b limit 2", list(db.RequestsByCluster(ctx, "cl-b", 2)), []astrobot.RequestID{12, 11}},
		{"submitted", list(db.RequestsByStatus(ctx, []astrobot.Status{astrobot.StatusSubmitted}, 0)),
			[]astrobot.RequestID{1, 3, 5, 6, 8, 10, 11}},
		{"approved and cancelled merged by ID", list(db.RequestsByStatus(ctx,
			[]astrobot.Status{astrobot.StatusCancelled, astrobot.StatusApproved, astrobot.StatusCancelled}, 0)),
			[]astrobot.RequestID{2, 7, 9, 12}},
		{"union with limit", list(db.RequestsByStatus(ctx,
			[]astrobot.Status{astrobot.StatusRejected, astrobot.StatusApproved, astrobot.StatusSubmitted}, 5)),
			[]astrobot.RequestID{1, 2, 3, 4, 5}},
		{"status without requests", list(db.RequestsByStatus(ctx, []astrobot.Status{astrobot.StatusActive}, 5)), nil},
		{"open of cl-a", claims(openOfCluster(db, ctx, "cl-a")), []astrobot.RequestID{1, 2, 3, 5, 6}},
		{"open of cl-b", claims(openOfCluster(db, ctx, "cl-b")), []astrobot.RequestID{8, 9, 10, 11}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}

	counts, err := db.RequestCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[astrobot.Status]int{}
	for _, s := range astrobot.Statuses() {
		want[s] = 0
	}
	want[astrobot.StatusSubmitted], want[astrobot.StatusApproved] = 7, 2
	want[astrobot.StatusRejected], want[astrobot.StatusCancelled] = 1, 2
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("RequestCounts (-want +got):\n%s", diff)
	}

	// The listed requests are whole records.
	got, err := db.RequestsByRequester(ctx, "U2", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Status != astrobot.StatusCancelled || got[0].Spec.(astrobot.PeeringSpec).VPCID != "vpc-0000000c" || got[0].UpdatedBy != "S1" {
		t.Errorf("newest request of U2 = %+v", got[0])
	}
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db := openTest(t, clk)
	r := create(t, db, peering("U1", "cl-1", "vpc-0000000a", "10.1.0.0/16"))
	clk.Advance(time.Hour)

	got, ev, err := db.Apply(ctx, r.ID, astrobot.Change{Action: astrobot.ActApprove, Actor: "S1", Role: astrobot.RoleSupport})
	if err != nil {
		t.Fatal(err)
	}
	wantEv := astrobot.Event{Seq: 1, At: clk.Now(), Actor: "S1", Action: astrobot.ActApprove,
		From: astrobot.StatusSubmitted, To: astrobot.StatusApproved}
	if diff := cmp.Diff(wantEv, ev); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	if got.Status != astrobot.StatusApproved || !got.UpdatedAt.Equal(clk.Now()) || got.UpdatedBy != "S1" {
		t.Errorf("Apply returned %+v", got)
	}
	_, events, err := db.History(ctx, r.ID)
	if err != nil || len(events) != 2 {
		t.Fatalf("History = %v, %v; want 2 events", events, err)
	}
	if diff := cmp.Diff(wantEv, events[1]); diff != "" {
		t.Errorf("stored event (-want +got):\n%s", diff)
	}
	for status, want := range map[astrobot.Status][]astrobot.RequestID{
		astrobot.StatusSubmitted: nil,
		astrobot.StatusApproved:  {r.ID},
	} {
		rs, err := db.RequestsByStatus(ctx, []astrobot.Status{status}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, ids(rs)); diff != "" {
			t.Errorf("%s after approve (-want +got):\n%s", status, diff)
		}
	}
	if diff := cmp.Diff(owed(t, db, r.ID), outboxNotifications(t, db)); diff != "" {
		t.Errorf("outbox after approve (-want +got):\n%s", diff)
	}
	if n := outboxNotifications(t, db); len(n) == 0 || n[len(n)-1].Event != 1 {
		t.Errorf("outbox after approve = %v; want notifications about event 1 last", n)
	}

	// Refused changes write nothing.
	refused := []struct {
		c    astrobot.Change
		code astrobot.ErrorCode
	}{
		{astrobot.Change{Action: astrobot.ActApprove, Actor: "S2", Role: astrobot.RoleSupport}, astrobot.EConflict},
		{astrobot.Change{Action: astrobot.ActApprove, Actor: "U1", Role: astrobot.RoleRequester}, astrobot.EUnauthorized},
		{astrobot.Change{Action: astrobot.ActNote, Actor: "S1", Role: astrobot.RoleSupport}, astrobot.EInvalid},
		{astrobot.Change{Action: "launch", Actor: "S1", Role: astrobot.RoleSupport}, astrobot.EInvalid},
	}
	before := snapshot(t, db, r.ID)
	for _, tt := range refused {
		_, _, err := db.Apply(ctx, r.ID, tt.c)
		wantCode(t, err, tt.code)
		if diff := cmp.Diff(before, snapshot(t, db, r.ID), cmpOpts()); diff != "" {
			t.Errorf("refused %s changed the store (-before +after):\n%s", tt.c.Action, diff)
		}
	}

	// A terminal status leaves the open index; the cancel owes a DM too.
	got = apply(t, db, r.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: "U1", Role: astrobot.RoleRequester, Note: "not needed"})
	if got.Open() {
		t.Fatalf("cancelled request is open: %+v", got)
	}
	if open, err := openOfCluster(db, ctx, "cl-1"); err != nil || len(open) != 0 {
		t.Errorf("open requests after cancel = %v, %v; want none", open, err)
	}
	if diff := cmp.Diff(owed(t, db, r.ID), outboxNotifications(t, db)); diff != "" {
		t.Errorf("outbox after cancel (-want +got):\n%s", diff)
	}
	if !slices.Contains(outboxNotifications(t, db), astrobot.Notification{RequestID: r.ID, Kind: astrobot.NotifyRequester, Event: 2}) {
		t.Errorf("outbox after cancel = %v; want a message to the requester about event 2", outboxNotifications(t, db))
	}
}

// storeSnapshot is what a refused change must leave alone.
type storeSnapshot struct {
	Request astrobot.Request
	Events  []astrobot.Event
	Outbox  []astrobot.Notification
	Counts  map[astrobot.Status]int
}

func snapshot(t *testing.T, db *DB, id astrobot.RequestID) storeSnapshot {
	t.Helper()
	r, events, err := db.History(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := db.RequestCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return storeSnapshot{r, events, outboxNotifications(t, db), counts}
}

func TestApplyRace(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, newClock())
	r := create(t, db, peering("U1", "cl-1", "vpc-0000000a", "10.1.0.0/16"))

	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, _, errs[i] = db.Apply(ctx, r.ID, astrobot.Change{Action: astrobot.ActApprove, Actor: fmt.Sprintf("S%d", i), Role: astrobot.RoleSupport})
		})
	}
	wg.Wait()

	winner, conflicts := -1, 0
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("S%d and S%d both approved", winner, i)
			}
			winner = i
		case astrobot.ErrorCodeOf(err) == astrobot.EConflict:
			conflicts++
		default:
			t.Errorf("S%d: unexpected error %v", i, err)
		}
	}
	if winner < 0 || conflicts != n-1 {
		t.Fatalf("winner S%d, %d conflicts; want one winner and %d conflicts", winner, conflicts, n-1)
	}
	// The losers read who won.
	for i, err := range errs {
		if err != nil && !strings.Contains(astrobot.ErrorMessageOf(err), fmt.Sprintf("<@S%d>", winner)) {
			t.Errorf("S%d got %q, which does not name the winner S%d", i, astrobot.ErrorMessageOf(err), winner)
		}
	}
	_, events, err := db.History(ctx, r.ID)
	if err != nil || len(events) != 2 || events[1].Actor != fmt.Sprintf("S%d", winner) {
		t.Errorf("History = %+v, %v; want submission and one approval by S%d", events, err, winner)
	}
}

func TestCreateRequestConcurrent(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, newClock())
	const n = 32
	got := make([]astrobot.Request, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Every fourth caller submits the same view twice.
			r := peering(fmt.Sprintf("U%d", i), fmt.Sprintf("cl-%d", i%4), fmt.Sprintf("vpc-%08x", i), fmt.Sprintf("10.%d.0.0/16", i))
			got[i], _, errs[i] = db.CreateRequest(ctx, r, fmt.Sprintf("V%d", i))
			if i%4 == 0 && errs[i] == nil {
				again, created, err := db.CreateRequest(ctx, r, fmt.Sprintf("V%d", i))
				if err != nil || created || again.ID != got[i].ID {
					errs[i] = fmt.Errorf("resubmission: id %d, created %v, err %v", again.ID, created, err)
				}
			}
		})
	}
	wg.Wait()

	var seen []astrobot.RequestID
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		stored, err := db.Request(ctx, got[i].ID)
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
		if stored.Requester.UserID != fmt.Sprintf("U%d", i) {
			t.Errorf("%d belongs to %s, want U%d", got[i].ID, stored.Requester.UserID, i)
		}
		seen = append(seen, got[i].ID)
	}
	slices.Sort(seen)
	for i, id := range seen {
		if id != astrobot.RequestID(i+1) {
			t.Fatalf("IDs = %v, want 1..%d each once", seen, n)
		}
	}
	counts, err := db.RequestCounts(ctx)
	if err != nil || counts[astrobot.StatusSubmitted] != n {
		t.Errorf("submitted = %d, %v; want %d", counts[astrobot.StatusSubmitted], err, n)
	}
	all := outboxEntries(t, db)
	if st, err := db.Outbox().Stats(ctx); err != nil || st.Depth != len(all) {
		t.Errorf("outbox depth = %d, %v; want %d", st.Depth, err, len(all))
	}
	total := 0
	for id := astrobot.RequestID(1); id <= n; id++ {
		var got []astrobot.Notification
		for _, e := range entriesOf(all, id) {
			got = append(got, e.Notification)
		}
		total += len(got)
		if diff := cmp.Diff(owed(t, db, id), got); diff != "" {
			t.Errorf("outbox entries of %d (-want +got):\n%s", id, diff)
		}
	}
	if total != len(all) {
		t.Errorf("outbox holds %d entries, %d of them for the %d requests", len(all), total, n)
	}
}

func TestCreateRequestRejectsNUL(t *testing.T) {
	db := openTest(t, newClock())
	_, _, err := db.CreateRequest(context.Background(), peering("U1\x00x", "cl-1", "vpc-0000000a", "10.1.0.0/16"), "")
	wantCode(t, err, astrobot.EInvalid)
	if n, err := db.RequestCounts(context.Background()); err != nil || n[astrobot.StatusSubmitted] != 0 {
		t.Errorf("counts = %v, %v; want nothing filed", n, err)
	}
}

// openOfCluster reads the idx_open_cluster entries of a cluster, as the
// conflict check of CreateRequest does.
func openOfCluster(db *DB, ctx context.Context, clusterID string) ([]astrobot.Claim, error) {
	var out []astrobot.Claim
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = claimsOnCluster(tx, clusterID)
		return err
	})
	return out, err
}

// TestOpenIndexFollowsStatus checks that the compact entries the conflict check
// reads carry the request's current status and claim.
func TestOpenIndexFollowsStatus(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, newClock())
	r := create(t, db, peering("U1", "cl-1", "vpc-0123456789abcdef0", "10.1.0.0/16", "192.168.4.0/24"))
	apply(t, db, r.ID, astrobot.Change{Action: astrobot.ActApprove, Actor: "S1", Role: astrobot.RoleSupport})
	open, err := openOfCluster(db, ctx, "cl-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []astrobot.Claim{{ID: r.ID, Kind: astrobot.KindPeering, Status: astrobot.StatusApproved, Key: "vpc-0123456789abcdef0 in account 123456789012", Routes: r.Spec.Routes()}}
	if diff := cmp.Diff(want, open, cmpOpts()); diff != "" {
		t.Fatalf("open index (-want +got):\n%s", diff)
	}
}
