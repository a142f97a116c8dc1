package bot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/internal/fakeaws"
	"github.com/astrobot-dev/astrobot/internal/mototest"
	"github.com/astrobot-dev/astrobot/store"
)

// The watcher tests run the Watcher on a real store in a temporary directory,
// a static cluster directory and either fakePeerer, a scripted AWS side, or
// the real cloud.Peerings against moto or an in-process EC2 that refuses
// every call.

// watchAccount is the Astro account of the clusters of the fake tests.
const watchAccount = "111122223333"

// watchClusters are the clusters of the fake tests: two in us-east-1 and two
// in eu-west-1, all in watchAccount.
var watchClusters = []astrobot.Cluster{
	{ID: "clx-use1-a", Name: "acme-use1-a", Organization: "acme", Region: "us-east-1", AccountID: watchAccount,
		VPCID: "vpc-0a0000000000000a1", CIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}},
	{ID: "clx-use1-b", Name: "acme-use1-b", Organization: "acme", Region: "us-east-1", AccountID: watchAccount,
		VPCID: "vpc-0a0000000000000a2", CIDRs: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")}},
	{ID: "clx-euw1-a", Name: "acme-euw1-a", Organization: "acme", Region: "eu-west-1", AccountID: watchAccount,
		VPCID: "vpc-0a0000000000000b1", CIDRs: []netip.Prefix{netip.MustParsePrefix("10.3.0.0/16")}},
	{ID: "clx-euw1-b", Name: "acme-euw1-b", Organization: "acme", Region: "eu-west-1", AccountID: watchAccount,
		VPCID: "vpc-0a0000000000000b2", CIDRs: []netip.Prefix{netip.MustParsePrefix("10.4.0.0/16")}},
}

// watchExpiry is when the peerings fakePeerer creates expire.
var watchExpiry = testStart.Add(7 * 24 * time.Hour)

// peererCall is one call the watcher made to its Peerer.
type peererCall struct {
	Op      string // Create, Describe, Configure or Delete
	Account string // Describe's account; the cluster's otherwise
	Region  string // Describe's region; the cluster's otherwise
	Cluster string
	Request astrobot.RequestID
	Attempt int
	PCX     string   // the connection configured or deleted
	IDs     []string // the connections described, sorted
}

// fakePeerer is a scripted AWS side: Create makes pending connections that
// expire at watchExpiry, Describe reports the states set with set (and
// deleted for unknown connections, as cloud.Peerings does), Configure and
// Delete succeed. The function fields, when set, answer instead. Every call
// is recorded.
type fakePeerer struct {
	mu      sync.Mutex
	calls   []peererCall
	created int
	states  map[string]cloud.Peering

	create    func(ctx context.Context, cl astrobot.Cluster, r astrobot.Request, attempt int) (cloud.Peering, error)
	describe  func(ctx context.Context, account, region string, ids []string) (map[string]cloud.Peering, error)
	configure func(ctx context.Context, cl astrobot.Cluster, r astrobot.Request) error
	deleteErr error
}

func newFakePeerer() *fakePeerer { return &fakePeerer{states: make(map[string]cloud.Peering)} }

func (f *fakePeerer) record(c peererCall) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

// set makes Describe report connection id in AWS status with the accepter
// CIDRs.
func (f *fakePeerer) set(id string, status cloud.PeeringState, accepter ...netip.Prefix) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states[id] = cloud.Peering{ID: id, Status: status, AccepterCIDRs: accepter}
}

// setPeering makes Describe report p.
func (f *fakePeerer) setPeering(p cloud.Peering) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states[p.ID] = p
}

// newPeering makes a pending connection with the next ID.
func (f *fakePeerer) newPeering() cloud.Peering {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created++
	p := cloud.Peering{ID: fmt.Sprintf("pcx-%017x", 0xc0000+f.created), Status: cloud.PeeringPending, ExpiresAt: watchExpiry}
	f.states[p.ID] = p
	return p
}

// scripted answers Describe from the states set.
func (f *fakePeerer) scripted(ids []string) map[string]cloud.Peering {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]cloud.Peering, len(ids))
	for _, id := range ids {
		p, ok := f.states[id]
		if !ok {
			p = cloud.Peering{ID: id, Status: cloud.PeeringDeleted, Message: "AWS no longer knows this peering connection."}
		}
		out[id] = p
	}
	return out
}

func (f *fakePeerer) Create(ctx context.Context, cl astrobot.Cluster, r astrobot.Request, attempt int) (cloud.Peering, error) {
	f.record(peererCall{Op: "Create", Account: cl.AccountID, Region: cl.Region, Cluster: cl.ID, Request: r.ID, Attempt: attempt})
	if f.create != nil {
		return f.create(ctx, cl, r, attempt)
	}
	return f.newPeering(), nil
}

func (f *fakePeerer) Describe(ctx context.Context, account, region string, ids []string) (map[string]cloud.Peering, error) {
	f.record(peererCall{Op: "Describe", Account: account, Region: region, IDs: slices.Sorted(slices.Values(ids))})
	if f.describe != nil {
		return f.describe(ctx, account, region, ids)
	}
	return f.scripted(ids), nil
}

func (f *fakePeerer) Configure(ctx context.Context, cl astrobot.Cluster, r astrobot.Request) error {
	f.record(peererCall{Op: "Configure", Account: cl.AccountID, Region: cl.Region, Cluster: cl.ID, Request: r.ID, PCX: r.Resource})
	if f.configure != nil {
		return f.configure(ctx, cl, r)
	}
	return nil
}

func (f *fakePeerer) Delete(ctx context.Context, cl astrobot.Cluster, pcxID string) error {
	f.record(peererCall{Op: "Delete", Account: cl.AccountID, Region: cl.Region, Cluster: cl.ID, PCX: pcxID})
	return f.deleteErr
}

// callsOf returns the recorded calls of op, in order.
func (f *fakePeerer) callsOf(op string) []peererCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []peererCall
	for _, c := range f.calls {
		if c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

// watchEnv is a Watcher with the peering provisioner on a real store, with a
// settable clock and a log recorder, wired as Run wires them in aws mode.
type watchEnv struct {
	db           *store.DB
	clock        *testClock
	logs         *logRecorder
	log          *slog.Logger
	rec          *Recorder
	provisioners map[astrobot.Kind]Provisioner
	w            *Watcher
}

func newWatchEnv(t *testing.T, aws Peerer, clusters []astrobot.Cluster) *watchEnv {
	t.Helper()
	clock := newTestClock()
	db, err := store.Open(filepath.Join(t.TempDir(), "astrobot.db"), store.Options{Now: clock.Now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	logs := &logRecorder{}
	log := slog.New(logs)
	rec := NewRecorder(db, clock.Now, log)
	provisioners := map[astrobot.Kind]Provisioner{astrobot.KindPeering: NewPeeringProvisioner(aws, cloud.NewStatic(clusters), rec)}
	return &watchEnv{db: db, clock: clock, logs: logs, log: log, rec: rec, provisioners: provisioners,
		w: NewWatcher(db, provisioners, time.Minute, log)}
}

// jobs returns the jobs worker with the provisioners, as Run wires it; with
// none, the jobs worker of manual mode.
func (e *watchEnv) jobs(m *Metrics, provisioners map[astrobot.Kind]Provisioner) *QueueWorker {
	return NewQueueWorker(QueueConfig{Name: "jobs", Queue: e.db.Jobs(), Do: runJob(provisioners, e.rec), Retry: awsRetry,
		Outcomes: m.Jobs, Done: "done"}, e.clock.Now, e.log)
}

// dueJobs returns every job waiting, deferred or not.
func (e *watchEnv) dueJobs(t *testing.T) []store.Entry {
	t.Helper()
	js, err := e.db.Jobs().Due(testContext(t), e.clock.Now().Add(24*365*time.Hour), 0)
	if err != nil {
		t.Fatalf("Jobs().Due: %v", err)
	}
	return js
}

// jobStats returns the statistics of the jobs queue.
func (e *watchEnv) jobStats(t *testing.T) store.QueueStats {
	t.Helper()
	st, err := e.db.Jobs().Stats(testContext(t))
	if err != nil {
		t.Fatalf("Jobs().Stats: %v", err)
	}
	return st
}

// peerCIDR is the default CIDR of the customer VPC of request n.
func peerCIDR(n int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(16 + n/256), byte(n % 256), 0}), 24)
}

// approved files request n for cl, with its own customer VPC and the given
// CIDRs (peerCIDR(n) when none), and approves it as support.
func (e *watchEnv) approved(t *testing.T, cl astrobot.Cluster, n int, cidrs ...netip.Prefix) astrobot.Request {
	t.Helper()
	if len(cidrs) == 0 {
		cidrs = []netip.Prefix{peerCIDR(n)}
	}
	return e.fileApproved(t, cl, astrobot.PeeringSpec{AccountID: "444455556666", Region: "us-west-2", VPCID: fmt.Sprintf("vpc-%017x", n), CIDRs: cidrs})
}

// pending files and approves request n for cl and records its peering pcx
// as the watcher does.
func (e *watchEnv) pending(t *testing.T, cl astrobot.Cluster, n int, pcx string, cidrs ...netip.Prefix) astrobot.Request {
	t.Helper()
	r := e.approved(t, cl, n, cidrs...)
	return e.apply(t, r.ID, astrobot.Change{Action: astrobot.ActPeeringCreated, Actor: astrobot.ActorAWS, Role: astrobot.RoleBot,
		Resource: pcx, ExpiresAt: watchExpiry})
}

// apply applies c to request id and fails the test if it is refused.
func (e *watchEnv) apply(t *testing.T, id astrobot.RequestID, c astrobot.Change) astrobot.Request {
	t.Helper()
	r, _, err := e.db.Apply(testContext(t), id, c)
	if err != nil {
		t.Fatalf("apply %s to %d: %v", c.Action, id, err)
	}
	return r
}

// peeringDef returns the definition of the peering kind.
func peeringDef(t *testing.T) astrobot.KindDef {
	t.Helper()
	d, ok := astrobot.KindOf(astrobot.KindPeering)
	if !ok {
		t.Fatal("no peering kind")
	}
	return d
}

// byAWS is a change the watcher would make.
func byAWS(a astrobot.Action) astrobot.Change {
	return astrobot.Change{Action: a, Actor: astrobot.ActorAWS, Role: astrobot.RoleBot}
}

// history returns request id and its events.
func (e *watchEnv) history(t *testing.T, id astrobot.RequestID) (astrobot.Request, []astrobot.Event) {
	t.Helper()
	r, events, err := e.db.History(testContext(t), id)
	if err != nil {
		t.Fatalf("History(%d): %v", id, err)
	}
	return r, events
}

// since returns the events of id after the first n.
func (e *watchEnv) since(t *testing.T, id astrobot.RequestID, n int) []astrobot.Event {
	t.Helper()
	_, events := e.history(t, id)
	return events[n:]
}

// outbox acknowledges every waiting outbox entry without sending it and
// returns them in delivery order as "request event-seq kind".
func (e *watchEnv) outbox(t *testing.T) []string {
	t.Helper()
	ctx := testContext(t)
	var out []string
	for range 1000 {
		ds, err := e.db.Outbox().Due(ctx, e.clock.Now(), 0)
		if err != nil {
			t.Fatalf("Outbox().Due: %v", err)
		}
		if len(ds) == 0 {
			return out
		}
		keys := make([]uint64, len(ds))
		for i, d := range ds {
			n := d.Notification()
			out = append(out, fmt.Sprintf("%d %d %s", n.RequestID, n.Event, n.Kind))
			keys[i] = d.Key
		}
		if err := e.db.Outbox().Done(ctx, keys...); err != nil {
			t.Fatalf("Outbox().Done: %v", err)
		}
	}
	t.Fatal("the outbox does not empty")
	return nil
}

// notes lists the notifications kinds owed for event seq of id, as outbox
// returns them.
func notes(id astrobot.RequestID, seq int, kinds ...astrobot.NotificationKind) []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = fmt.Sprintf("%d %d %s", id, seq, k)
	}
	return out
}

func (e *watchEnv) watch(t *testing.T) {
	t.Helper()
	if err := e.w.Watch(testContext(t)); err != nil {
		t.Fatalf("Watch: %v\nlogs:\n%s", err, e.logs.dump())
	}
}

func (e *watchEnv) advance(t *testing.T) {
	t.Helper()
	if err := e.w.Advance(testContext(t)); err != nil {
		t.Fatalf("Advance: %v\nlogs:\n%s", err, e.logs.dump())
	}
}

// noLoudLogs fails the test when the watcher logged a warning or an error.
func (e *watchEnv) noLoudLogs(t *testing.T) {
	t.Helper()
	if n := e.logs.count(slog.LevelWarn); n > 0 {
		t.Errorf("the watcher logged %d warnings or errors, want none:\n%s", n, e.logs.dump())
	}
}

// eventView is what the tests check of an event.
type eventView struct {
	Action   astrobot.Action
	Actor    string
	From, To astrobot.Status
	At       time.Time
}

func viewOf(events []astrobot.Event) []eventView {
	out := make([]eventView, len(events))
	for i, ev := range events {
		out[i] = eventView{ev.Action, ev.Actor, ev.From, ev.To, ev.At}
	}
	return out
}

func TestWatcherCreatesApprovedPeerings(t *testing.T) {
	fake := newFakePeerer()
	e := newWatchEnv(t, fake, watchClusters)
	a := e.approved(t, watchClusters[0], 1)
	b := e.approved(t, watchClusters[2], 2)
	e.outbox(t)
	e.clock.Advance(time.Minute)

	e.advance(t)

	creates := fake.callsOf("Create")
	want := []peererCall{
		{Op: "Create", Account: watchAccount, Region: "us-east-1", Cluster: watchClusters[0].ID, Request: a.ID, Attempt: 1},
		{Op: "Create", Account: watchAccount, Region: "eu-west-1", Cluster: watchClusters[2].ID, Request: b.ID, Attempt: 1},
	}
	if diff := cmp.Diff(want, creates); diff != "" {
		t.Fatalf("Create calls (-want +got):\n%s", diff)
	}
	var wantOutbox []string
	for i, r := range []astrobot.Request{a, b} {
		got, events := e.history(t, r.ID)
		pcx := fmt.Sprintf("pcx-%017x", 0xc0000+i+1)
		if got.Status != astrobot.StatusPendingAcceptance || got.Resource != pcx || !got.ExpiresAt.Equal(watchExpiry) {
			t.Errorf("%d after Advance: status %s, peering %q, expires %v; want %s, %s, %v",
				r.ID, got.Status, got.Resource, got.ExpiresAt, astrobot.StatusPendingAcceptance, pcx, watchExpiry)
		}
		last := events[len(events)-1]
		wantEv := eventView{astrobot.ActPeeringCreated, astrobot.ActorAWS, astrobot.StatusApproved, astrobot.StatusPendingAcceptance, e.clock.Now()}
		if diff := cmp.Diff([]eventView{wantEv}, viewOf(events[len(events)-1:])); diff != "" {
			t.Errorf("%d: last event (-want +got):\n%s", r.ID, diff)
		}
		if last.Seq != 2 {
			t.Errorf("%d: peering_created is event %d, want 2 (after submit and approve)", r.ID, last.Seq)
		}
		wantOutbox = append(wantOutbox, notes(r.ID, 2, astrobot.NotifyCard, astrobot.NotifyThread, astrobot.NotifyRequester, astrobot.NotifyHome)...)
	}
	got := e.outbox(t)
	slices.Sort(got)
	slices.Sort(wantOutbox)
	if diff := cmp.Diff(wantOutbox, got); diff != "" {
		t.Errorf("outbox after Advance (-want +got):\n%s", diff)
	}

	// Nothing is approved any more: a second round creates nothing.
	e.advance(t)
	if n := len(fake.callsOf("Create")); n != 2 {
		t.Errorf("Create was called %d times after a second round, want still 2", n)
	}
	e.noLoudLogs(t)
}

func TestWatcherCreatesRetryAsNextAttempt(t *testing.T) {
	fake := newFakePeerer()
	e := newWatchEnv(t, fake, watchClusters)
	r := e.pending(t, watchClusters[1], 1, "pcx-00000000000000001")
	e.apply(t, r.ID, byAWS(astrobot.ActExpire))
	e.apply(t, r.ID, astrobot.Change{Action: astrobot.ActRetry, Actor: testSupportUser, Role: astrobot.RoleSupport})

	e.advance(t)

	if diff := cmp.Diff([]peererCall{{Op: "Create", Account: watchAccount, Region: "us-east-1", Cluster: watchClusters[1].ID, Request: r.ID, Attempt: 2}},
		fake.callsOf("Create")); diff != "" {
		t.Errorf("Create calls for a retried request (-want +got):\n%s", diff)
	}
	got, _ := e.history(t, r.ID)
	if got.Status != astrobot.StatusPendingAcceptance || got.Resource == "pcx-00000000000000001" || got.Resource == "" {
		t.Errorf("retried request: status %s, peering %q; want pending_acceptance with a new peering", got.Status, got.Resource)
	}
}

func TestWatcherFollowsAWS(t *testing.T) {
	const pcx = "pcx-0ffffffffffff0001"
	cidr20, cidr21 := netip.MustParsePrefix("172.20.0.0/16"), netip.MustParsePrefix("172.21.0.0/16")
	failed := cloud.Peering{ID: pcx, Status: cloud.PeeringFailed, Message: "Failed due to incorrect VPC-ID, Account ID, or overlapping CIDR range."}
	rejected := cloud.Peering{ID: pcx, Status: cloud.PeeringRejected}
	expired := cloud.Peering{ID: pcx, Status: cloud.PeeringExpired}
	deleted := cloud.Peering{ID: pcx, Status: cloud.PeeringDeleted}
	const (
		card      = astrobot.NotifyCard
		thread    = astrobot.NotifyThread
		requester = astrobot.NotifyRequester
		home      = astrobot.NotifyHome
	)
	tests := []struct {
		name      string
		from      astrobot.Status // pending_acceptance, configuring or active
		asked     []netip.Prefix  // the request's CIDRs
		aws       cloud.Peering   // what Describe reports; ID is set to pcx
		want      astrobot.Status
		actions   []astrobot.Action // the events the watch adds
		configure bool              // whether Configure must be called
		// The note of the last event added: exactly note, or, with
		// noteHas, containing each of noteHas and none of noteLacks.
		note      string
		noteHas   []string
		noteLacks []string
		outbox    [][]astrobot.NotificationKind // per event added
	}{
		{
			name: "accepted, CIDRs match", from: astrobot.StatusPendingAcceptance, asked: []netip.Prefix{cidr20, cidr21},
			aws:  cloud.Peering{Status: cloud.PeeringActive, AccepterCIDRs: []netip.Prefix{cidr20, cidr21}},
			want: astrobot.StatusActive, actions: []astrobot.Action{astrobot.ActAccepted, astrobot.ActConfigured}, configure: true,
			outbox: [][]astrobot.NotificationKind{{card, thread, home}, {card, thread, requester, home}},
		},
		{
			name: "accepted, AWS reports no CIDRs", from: astrobot.StatusPendingAcceptance, asked: []netip.Prefix{cidr20},
			aws:  cloud.Peering{Status: cloud.PeeringActive},
			want: astrobot.StatusActive, actions: []astrobot.Action{astrobot.ActAccepted, astrobot.ActConfigured}, configure: true,
			outbox: [][]astrobot.NotificationKind{{card, thread, home}, {card, thread, requester, home}},
		},
		{
			name: "accepted, a CIDR the request lacks", from: astrobot.StatusPendingAcceptance, asked: []netip.Prefix{cidr20},
			aws:  cloud.Peering{Status: cloud.PeeringActive, AccepterCIDRs: []netip.Prefix{cidr20, cidr21}},
			want: astrobot.StatusActive, actions: []astrobot.Action{astrobot.ActAccepted, astrobot.ActConfigured}, configure: true,
			noteHas: []string{"172.21.0.0/16", "Not in the request"}, noteLacks: []string{"172.20.0.0/16", "not on the VPC"},
			outbox: [][]astrobot.NotificationKind{{card, thread, home}, {card, thread, requester, home}},
		},
		{
			name: "accepted, a CIDR the VPC lacks", from: astrobot.StatusPendingAcceptance, asked: []netip.Prefix{cidr20, cidr21},
			aws:  cloud.Peering{Status: cloud.PeeringActive, AccepterCIDRs: []netip.Prefix{cidr20}},
			want: astrobot.StatusActive, actions: []astrobot.Action{astrobot.ActAccepted, astrobot.ActConfigured}, configure: true,
			noteHas: []string{"172.21.0.0/16", "not on the VPC"}, noteLacks: []string{"172.20.0.0/16", "Not in the request"},
			outbox: [][]astrobot.NotificationKind{{card, thread, home}, {card, thread, requester, home}},
		},
		{
			name: "still pending", from: astrobot.StatusPendingAcceptance,
			aws:  cloud.Peering{Status: cloud.PeeringPending},
			want: astrobot.StatusPendingAcceptance,
		},
		{
			name: "failed", from: astrobot.StatusPendingAcceptance, aws: failed,
			want: astrobot.StatusFailed, actions: []astrobot.Action{astrobot.ActFail}, note: cloud.Explain(failed),
			outbox: [][]astrobot.NotificationKind{{card, thread, requester, home}},
		},
		{
			name: "rejected by the customer", from: astrobot.StatusPendingAcceptance, aws: rejected,
			want: astrobot.StatusDeclined, actions: []astrobot.Action{astrobot.ActDecline}, note: cloud.Explain(rejected),
			outbox: [][]astrobot.NotificationKind{{card, thread, requester, home}},
		},
		{
			name: "expired", from: astrobot.StatusPendingAcceptance, aws: expired,
			want: astrobot.StatusExpired, actions: []astrobot.Action{astrobot.ActExpire}, note: cloud.Explain(expired),
			outbox: [][]astrobot.NotificationKind{{card, thread, requester, home}},
		},
		{
			name: "deleted before acceptance", from: astrobot.StatusPendingAcceptance, aws: deleted,
			want: astrobot.StatusFailed, actions: []astrobot.Action{astrobot.ActFail}, noteHas: []string{pcx, "deleted before it was accepted"},
			outbox: [][]astrobot.NotificationKind{{card, thread, requester, home}},
		},
		{
			name: "deleting before acceptance", from: astrobot.StatusPendingAcceptance, aws: cloud.Peering{Status: cloud.PeeringDeleting},
			want: astrobot.StatusFailed, actions: []astrobot.Action{astrobot.ActFail}, noteHas: []string{pcx, "deleted before it was accepted"},
			outbox: [][]astrobot.NotificationKind{{card, thread, requester, home}},
		},
		{
			name: "configuring after a crash", from: astrobot.StatusConfiguring, asked: []netip.Prefix{cidr20},
			aws:  cloud.Peering{Status: cloud.PeeringActive, AccepterCIDRs: []netip.Prefix{cidr20}},
			want: astrobot.StatusActive, actions: []astrobot.Action{astrobot.ActConfigured}, configure: true,
			outbox: [][]astrobot.NotificationKind{{card, thread, requester, home}},
		},
		{
			name: "deleted while configuring", from: astrobot.StatusConfiguring, aws: deleted,
			want: astrobot.StatusFailed, actions: []astrobot.Action{astrobot.ActFail}, note: cloud.Explain(deleted),
			outbox: [][]astrobot.NotificationKind{{card, thread, requester, home}},
		},
		{
			name: "still active", from: astrobot.StatusActive,
			aws:  cloud.Peering{Status: cloud.PeeringActive},
			want: astrobot.StatusActive,
		},
		{
			name: "deleted when active", from: astrobot.StatusActive, aws: deleted,
			want: astrobot.StatusDeleted, actions: []astrobot.Action{astrobot.ActDelete},
			noteHas: []string{":rotating_light:", pcx, "deleted in AWS"},
			outbox:  [][]astrobot.NotificationKind{{card, thread, requester, home}},
		},
		{
			name: "deleting when active", from: astrobot.StatusActive, aws: cloud.Peering{Status: cloud.PeeringDeleting},
			want: astrobot.StatusDeleted, actions: []astrobot.Action{astrobot.ActDelete},
			noteHas: []string{":rotating_light:", pcx, "deleted in AWS"},
			outbox:  [][]astrobot.NotificationKind{{card, thread, requester, home}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakePeerer()
			e := newWatchEnv(t, fake, watchClusters)
			cl := watchClusters[2]
			r := e.pending(t, cl, 1, pcx, tt.asked...)
			switch tt.from {
			case astrobot.StatusConfiguring:
				r = e.apply(t, r.ID, byAWS(astrobot.ActAccepted))
			case astrobot.StatusActive:
				e.apply(t, r.ID, byAWS(astrobot.ActAccepted))
				r = e.apply(t, r.ID, byAWS(astrobot.ActConfigured))
			}
			if r.Status != tt.from {
				t.Fatalf("set-up left %d %s, want %s", r.ID, r.Status, tt.from)
			}
			p := tt.aws
			p.ID = pcx
			fake.setPeering(p)
			_, before := e.history(t, r.ID)
			e.outbox(t)
			e.clock.Advance(time.Hour)

			e.watch(t)

			got, _ := e.history(t, r.ID)
			if got.Status != tt.want {
				t.Errorf("status after Watch = %s, want %s", got.Status, tt.want)
			}
			if diff := cmp.Diff([]peererCall{{Op: "Describe", Account: watchAccount, Region: cl.Region, IDs: []string{pcx}}}, fake.callsOf("Describe")); diff != "" {
				t.Errorf("Describe calls (-want +got):\n%s", diff)
			}
			var wantConfigure []peererCall
			if tt.configure {
				wantConfigure = []peererCall{{Op: "Configure", Account: watchAccount, Region: cl.Region, Cluster: cl.ID, Request: r.ID, PCX: pcx}}
			}
			if diff := cmp.Diff(wantConfigure, fake.callsOf("Configure")); diff != "" {
				t.Errorf("Configure calls (-want +got):\n%s", diff)
			}

			added := e.since(t, r.ID, len(before))
			var wantEvents []eventView
			var wantOutbox []string
			from := tt.from
			for i, a := range tt.actions {
				rule, ok := astrobot.RuleFor(peeringDef(t), a)
				if !ok {
					t.Fatalf("no rule for %s in the peering kind", a)
				}
				wantEvents = append(wantEvents, eventView{a, astrobot.ActorAWS, from, rule.To, e.clock.Now()})
				from = rule.To
				wantOutbox = append(wantOutbox, notes(r.ID, len(before)+i, tt.outbox[i]...)...)
			}
			if diff := cmp.Diff(wantEvents, viewOf(added), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("events added by Watch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantOutbox, e.outbox(t), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("outbox after Watch (-want +got):\n%s", diff)
			}
			for _, ev := range added[:max(len(added)-1, 0)] {
				if ev.Note != "" {
					t.Errorf("%s event has note %q, want none", ev.Action, ev.Note)
				}
			}
			if len(added) > 0 {
				note := added[len(added)-1].Note
				switch {
				case tt.noteHas != nil:
					for _, s := range tt.noteHas {
						if !strings.Contains(note, s) {
							t.Errorf("note %q does not name %q", note, s)
						}
					}
					for _, s := range tt.noteLacks {
						if strings.Contains(note, s) {
							t.Errorf("note %q names %q, which it should not", note, s)
						}
					}
				case note != tt.note:
					t.Errorf("note = %q, want %q", note, tt.note)
				}
			}

			// A second cycle finds nothing more to do.
			e.watch(t)
			if n := len(e.since(t, r.ID, len(before))); n != len(added) {
				t.Errorf("a second Watch added %d more events", n-len(added))
			}
			if n := len(fake.callsOf("Configure")); tt.configure && n != 1 {
				t.Errorf("Configure was called %d times over two cycles, want 1", n)
			}
			e.noLoudLogs(t)
		})
	}
}

// refusingPeerings returns a real cloud.Peerings whose every EC2 call gets
// the AWS error code with the HTTP status, from an in-process EC2, without
// retries.
func refusingPeerings(t *testing.T, status int, code, msg string) *cloud.Peerings {
	t.Helper()
	refusing := fakeaws.New(t, nil)
	refusing.Fail("*", fakeaws.Failure{Status: status, Code: code, Message: msg})
	return cloud.NewPeerings(refusing.Config(), cloud.PeeringOptions{})
}

func deniedPeerings(t *testing.T) *cloud.Peerings {
	return refusingPeerings(t, http.StatusForbidden, "UnauthorizedOperation", "You are not authorized to perform this operation.")
}

func throttledPeerings(t *testing.T) *cloud.Peerings {
	return refusingPeerings(t, http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded.")
}

// alerts returns the alert events of request id.
func (e *watchEnv) alerts(t *testing.T, id astrobot.RequestID) []astrobot.Event {
	t.Helper()
	_, events := e.history(t, id)
	return slices.DeleteFunc(events, func(ev astrobot.Event) bool { return ev.Action != astrobot.ActAlert })
}

func TestWatcherAlertsOnceOnPermissionError(t *testing.T) {
	const pcx = "pcx-0ffffffffffff0002"
	cl := watchClusters[0]
	denied := deniedPeerings(t)
	fake := newFakePeerer()
	fake.configure = denied.Configure
	e := newWatchEnv(t, fake, watchClusters)
	r := e.pending(t, cl, 1, pcx)
	fake.set(pcx, cloud.PeeringActive, peerCIDR(1))

	// The error the real cloud.Peerings gives; the watcher must see it as a
	// permission problem.
	configured := r
	configured.Status = astrobot.StatusConfiguring
	wantErr := denied.Configure(testContext(t), cl, configured)
	if !cloud.IsPermission(wantErr) || cloud.IsThrottle(wantErr) {
		t.Fatalf("the refusing EC2 gives %v: IsPermission %v, IsThrottle %v; want a permission error", wantErr, cloud.IsPermission(wantErr), cloud.IsThrottle(wantErr))
	}
	_, before := e.history(t, r.ID)
	e.outbox(t)

	for range 3 {
		e.clock.Advance(time.Minute)
		e.watch(t)
	}

	got, _ := e.history(t, r.ID)
	if got.Status != astrobot.StatusConfiguring {
		t.Errorf("status after three cycles with Configure denied = %s, want configuring", got.Status)
	}
	if n := len(fake.callsOf("Configure")); n != 3 {
		t.Errorf("Configure was called %d times over three cycles, want 3 (the bot retries every cycle)", n)
	}
	alerts := e.alerts(t, r.ID)
	if len(alerts) != 1 {
		t.Fatalf("got %d alerts over three cycles, want 1: %+v", len(alerts), alerts)
	}
	alert := alerts[0]
	if alert.Actor != astrobot.ActorBot || alert.From != astrobot.StatusConfiguring || alert.To != astrobot.StatusConfiguring {
		t.Errorf("alert = %+v, want by %s, configuring → configuring", alert, astrobot.ActorBot)
	}
	for _, s := range []string{astrobot.ErrorMessageOf(wantErr), "UnauthorizedOperation", "stays configuring"} {
		if !strings.Contains(alert.Note, s) {
			t.Errorf("alert note %q does not contain %q", alert.Note, s)
		}
	}
	if got.LastAlert != alert.Note {
		t.Errorf("LastAlert = %q, want the alert's note %q", got.LastAlert, alert.Note)
	}
	accepted := len(before) // the seq of the accepted event
	wantOutbox := append(notes(r.ID, accepted, astrobot.NotifyCard, astrobot.NotifyThread, astrobot.NotifyHome),
		notes(r.ID, alert.Seq, astrobot.NotifyThread)...)
	if diff := cmp.Diff(wantOutbox, e.outbox(t)); diff != "" {
		t.Errorf("outbox (-want +got):\n%s", diff)
	}

	// Once the permission is granted, the next cycle finishes the job.
	fake.configure = nil
	e.watch(t)
	if got, _ := e.history(t, r.ID); got.Status != astrobot.StatusActive {
		t.Errorf("status after Configure works again = %s, want active", got.Status)
	}
}

func TestWatcherAlertsOnceOnCreateError(t *testing.T) {
	denied := deniedPeerings(t)
	fake := newFakePeerer()
	fake.create = denied.Create
	e := newWatchEnv(t, fake, watchClusters)
	r := e.approved(t, watchClusters[3], 1)
	wantErr := func() error {
		_, err := denied.Create(testContext(t), watchClusters[3], r, 1)
		return err
	}()
	if !cloud.IsPermission(wantErr) {
		t.Fatalf("the refusing EC2 gives %v, which is no permission error", wantErr)
	}
	e.outbox(t)

	for range 3 {
		e.clock.Advance(time.Minute)
		e.advance(t)
	}

	if got, _ := e.history(t, r.ID); got.Status != astrobot.StatusApproved || got.Resource != "" {
		t.Errorf("after three denied creations: status %s, peering %q; want approved, none", got.Status, got.Resource)
	}
	alerts := e.alerts(t, r.ID)
	if len(alerts) != 1 {
		t.Fatalf("got %d alerts over three rounds, want 1: %+v", len(alerts), alerts)
	}
	for _, s := range []string{astrobot.ErrorMessageOf(wantErr), "UnauthorizedOperation", "stays approved"} {
		if !strings.Contains(alerts[0].Note, s) {
			t.Errorf("alert note %q does not contain %q", alerts[0].Note, s)
		}
	}
	if diff := cmp.Diff(notes(r.ID, alerts[0].Seq, astrobot.NotifyThread), e.outbox(t)); diff != "" {
		t.Errorf("outbox (-want +got):\n%s", diff)
	}
}

func TestWatcherWaitsOutThrottling(t *testing.T) {
	throttled := throttledPeerings(t)
	fake := newFakePeerer()
	e := newWatchEnv(t, fake, watchClusters)
	approved := e.approved(t, watchClusters[0], 1)
	configuring := e.pending(t, watchClusters[0], 2, "pcx-0ffffffffffff0003")
	configuring = e.apply(t, configuring.ID, byAWS(astrobot.ActAccepted))
	pending := e.pending(t, watchClusters[2], 3, "pcx-0ffffffffffff0004")
	fake.set("pcx-0ffffffffffff0003", cloud.PeeringActive)
	fake.set("pcx-0ffffffffffff0004", cloud.PeeringActive)
	fake.create = throttled.Create
	fake.configure = throttled.Configure
	// eu-west-1 is throttled on describe; us-east-1 answers and is throttled on configure.
	fake.describe = func(ctx context.Context, account, region string, ids []string) (map[string]cloud.Peering, error) {
		if region == "eu-west-1" {
			return throttled.Describe(ctx, account, region, ids)
		}
		return fake.scripted(ids), nil
	}
	type snapshot struct {
		Status astrobot.Status
		Events int
	}
	snap := func() map[astrobot.RequestID]snapshot {
		m := make(map[astrobot.RequestID]snapshot)
		for _, id := range []astrobot.RequestID{approved.ID, configuring.ID, pending.ID} {
			r, events := e.history(t, id)
			m[id] = snapshot{r.Status, len(events)}
		}
		return m
	}
	before := snap()
	e.outbox(t)

	for range 3 {
		e.clock.Advance(time.Minute)
		e.advance(t)
		e.watch(t)
	}

	if diff := cmp.Diff(before, snap()); diff != "" {
		t.Errorf("requests moved while AWS throttled (-before +after):\n%s", diff)
	}
	if got := e.outbox(t); len(got) != 0 {
		t.Errorf("outbox while AWS throttled = %v, want empty", got)
	}
	for op, want := range map[string]int{"Create": 3, "Configure": 3, "Describe": 6} {
		if n := len(fake.callsOf(op)); n != want {
			t.Errorf("%s was called %d times over three cycles, want %d", op, n, want)
		}
	}
	if n := len(e.logs.find(slog.LevelWarn, "")); n == 0 {
		t.Errorf("throttling left no warning in the log")
	}
	if n := len(e.logs.find(slog.LevelError, "")); n != 0 {
		t.Errorf("throttling logged %d errors, want none:\n%s", n, e.logs.dump())
	}
}

func TestWatcherIgnoresRequestsMovedMeanwhile(t *testing.T) {
	const pcx = "pcx-0ffffffffffff0005"
	tests := []struct {
		name string
		aws  cloud.PeeringState // the AWS status Describe reports
	}{
		{"accepted", cloud.PeeringActive},
		{"expired", cloud.PeeringExpired},
		{"failed", cloud.PeeringFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakePeerer()
			e := newWatchEnv(t, fake, watchClusters)
			r := e.pending(t, watchClusters[1], 1, pcx)
			fake.set(pcx, tt.aws)
			// Support cancels the request while the watcher asks AWS.
			fake.describe = func(ctx context.Context, account, region string, ids []string) (map[string]cloud.Peering, error) {
				e.apply(t, r.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: testSupportUser, Role: astrobot.RoleSupport, Note: "Customer changed their mind."})
				return fake.scripted(ids), nil
			}
			_, before := e.history(t, r.ID)

			e.watch(t)

			got, events := e.history(t, r.ID)
			if got.Status != astrobot.StatusCancelled {
				t.Errorf("status = %s, want cancelled", got.Status)
			}
			if diff := cmp.Diff([]astrobot.Action{astrobot.ActCancel}, actionsOf(events[len(before):])); diff != "" {
				t.Errorf("events after Watch (-want +got):\n%s", diff)
			}
			if n := len(fake.callsOf("Configure")); n != 0 {
				t.Errorf("Configure was called %d times on a cancelled request", n)
			}
			e.noLoudLogs(t)
		})
	}
}

func actionsOf(events []astrobot.Event) []astrobot.Action {
	out := make([]astrobot.Action, len(events))
	for i, ev := range events {
		out[i] = ev.Action
	}
	return out
}

// A request cancelled while its peering is being created ends without a
// peering ID, so the cancellation owes no cleanup: the watcher, which alone
// knows the connection it just made, must delete it.
func TestWatcherDeletesPeeringOfRequestCancelledDuringCreate(t *testing.T) {
	fake := newFakePeerer()
	e := newWatchEnv(t, fake, watchClusters)
	r := e.approved(t, watchClusters[0], 1)
	var made cloud.Peering
	fake.create = func(ctx context.Context, cl astrobot.Cluster, req astrobot.Request, attempt int) (cloud.Peering, error) {
		made = fake.newPeering()
		e.apply(t, r.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: testUser, Role: astrobot.RoleRequester})
		return made, nil
	}

	e.checkCancelledMeanwhile(t, r)

	want := []peererCall{{Op: "Delete", Account: watchAccount, Region: "us-east-1", Cluster: watchClusters[0].ID, PCX: made.ID}}
	if diff := cmp.Diff(want, fake.callsOf("Delete")); diff != "" {
		t.Errorf("the peering %s created for a request cancelled meanwhile is left in AWS, where the customer can still accept it; Delete calls (-want +got):\n%s", made.ID, diff)
	}
}

// cleanupJob returns the one job waiting, which must be the cleanup of
// request id.
func (e *watchEnv) cleanupJob(t *testing.T, id astrobot.RequestID) store.Entry {
	t.Helper()
	js := e.dueJobs(t)
	if len(js) != 1 {
		t.Fatalf("%d jobs waiting, want the cleanup of %d: %+v", len(js), id, js)
	}
	if j := js[0].Job(); j.Kind != astrobot.JobCleanup || j.RequestID != id {
		t.Fatalf("the job waiting is %+v, want the cleanup of %d", j, id)
	}
	return js[0]
}

// jobRound runs one round of w, which must handle want entries.
func jobRound(t *testing.T, w *QueueWorker, want int) {
	t.Helper()
	if n := round(t, w); n != want {
		t.Fatalf("a round of the %s handled %d entries, want %d", w.Name, n, want)
	}
}

// jobOutcomes returns the counter of jobs of kind with outcome.
func jobOutcomes(m *Metrics, kind astrobot.JobKind, outcome string) float64 {
	return testutil.ToFloat64(m.Jobs.WithLabelValues(string(kind), outcome))
}

// crashBeforeDone is the jobs queue of a bot that crashes after doing a
// round's jobs and before removing them: Done is lost.
type crashBeforeDone struct{ *store.Queue }

func (crashBeforeDone) Done(context.Context, ...uint64) error {
	return errors.New("crashed before removing the jobs done")
}

func TestJobsCleanup(t *testing.T) {
	fake := newFakePeerer()
	e := newWatchEnv(t, fake, watchClusters)
	cl := watchClusters[3]
	r := e.approved(t, cl, 1)
	e.advance(t)
	r = e.apply(t, r.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: testUser, Role: astrobot.RoleRequester})
	pcx := r.Resource
	if pcx == "" {
		t.Fatal("the cancelled request lost its peering ID before cleanup")
	}
	// The jobs queue owes the cleanup and hands it the request as stored.
	stale := e.cleanupJob(t, r.ID)
	if stale.Request.Status != astrobot.StatusCancelled || stale.Request.Resource != pcx {
		t.Fatalf("the cleanup job holds the request %s with peering %q; want it cancelled with %s", stale.Request.Status, stale.Request.Resource, pcx)
	}
	_, before := e.history(t, r.ID)
	e.clock.Advance(time.Minute)

	// The bot does the job and crashes before removing it.
	m := NewMetrics()
	crashing := NewQueueWorker(QueueConfig{Name: "jobs", Queue: crashBeforeDone{e.db.Jobs()}, Do: runJob(e.provisioners, e.rec),
		Retry: awsRetry, Outcomes: m.Jobs, Done: "done"}, e.clock.Now, e.log)
	if n, err := crashing.Round(testContext(t)); n != 1 || err == nil {
		t.Fatalf("the round that crashes = %d, %v; want 1 entry and the error of Done", n, err)
	}
	want := []peererCall{{Op: "Delete", Account: watchAccount, Region: cl.Region, Cluster: cl.ID, PCX: pcx}}
	if diff := cmp.Diff(want, fake.callsOf("Delete")); diff != "" {
		t.Errorf("Delete calls (-want +got):\n%s", diff)
	}
	got, events := e.history(t, r.ID)
	added := events[len(before):]
	if diff := cmp.Diff([]eventView{{astrobot.ActCleanup, astrobot.ActorAWS, astrobot.StatusCancelled, astrobot.StatusCancelled, e.clock.Now()}}, viewOf(added)); diff != "" {
		t.Fatalf("events of the cleanup (-want +got):\n%s", diff)
	}
	if !strings.Contains(added[0].Note, pcx) {
		t.Errorf("cleanup note %q does not name %s", added[0].Note, pcx)
	}
	if got.Resource != "" || got.Status != astrobot.StatusCancelled {
		t.Errorf("after the cleanup: status %s, peering %q; want cancelled, none", got.Status, got.Resource)
	}
	if st := e.jobStats(t); st.Depth != 1 {
		t.Fatalf("jobs queue after the crash = %+v, want the cleanup still waiting", st)
	}
	if j := e.cleanupJob(t, r.ID); !j.Claimed {
		t.Error("the job the crashed round took is not marked claimed")
	}

	// After the restart the job runs again, with the request as it stands
	// now: nothing to do, and it is done.
	jobRound(t, e.jobs(m, e.provisioners), 1)
	if n := len(fake.callsOf("Delete")); n != 1 {
		t.Errorf("Delete was called %d times after the job ran again, want 1", n)
	}
	e.checkJobsDone(t)
	if got := jobOutcomes(m, astrobot.JobCleanup, "done"); got != 1 {
		t.Errorf("jobs{cleanup,done} = %v, want 1", got)
	}
	// Again, with the stale request: no error, no second event.
	if err := runJob(e.provisioners, e.rec)(testContext(t), stale); err != nil {
		t.Fatalf("the cleanup with the stale request: %v", err)
	}
	for _, c := range fake.callsOf("Delete") {
		if c.PCX != pcx {
			t.Errorf("Delete of %s, want only %s", c.PCX, pcx)
		}
	}
	if _, events := e.history(t, r.ID); len(events) != len(before)+1 {
		t.Errorf("three cleanups recorded %d events, want 1: %v", len(events)-len(before), actionsOf(events[len(before):]))
	}
	e.noLoudLogs(t)
}

func TestJobsCleanupSkipsAndFails(t *testing.T) {
	fake := newFakePeerer()
	e := newWatchEnv(t, fake, watchClusters)
	cl := watchClusters[0]
	live := e.pending(t, cl, 1, "pcx-0ffffffffffff0006")
	noPeering := e.approved(t, cl, 2)
	noPeering = e.apply(t, noPeering.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: testUser, Role: astrobot.RoleRequester})
	if js := e.dueJobs(t); len(js) != 0 {
		t.Errorf("a live request and a cancelled one without a peering owe %d jobs, want none: %+v", len(js), js)
	}
	// A cleanup job of either, however it came about, does nothing.
	do := runJob(e.provisioners, e.rec)
	for _, r := range []astrobot.Request{live, noPeering} {
		if err := do(testContext(t), store.Entry{Key: 1, Kind: string(astrobot.JobCleanup), Request: r}); err != nil {
			t.Errorf("cleanup of %d (%s, peering %q): %v", r.ID, r.Status, r.Resource, err)
		}
	}
	if n := len(fake.callsOf("Delete")); n != 0 {
		t.Errorf("Delete was called %d times for a live request and one without a peering, want 0", n)
	}
	if err := do(testContext(t), store.Entry{Key: 1, Kind: "frobnicate", Request: live}); err == nil {
		t.Error("a job of an unknown kind was done without an error")
	}

	// AWS refusing the deletion: the job waits for the operator, nothing recorded.
	cancelled := e.apply(t, live.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: testUser, Role: astrobot.RoleRequester})
	_, before := e.history(t, cancelled.ID)
	fake.deleteErr = deniedPeerings(t).Delete(testContext(t), cl, cancelled.Resource)
	if !cloud.IsPermission(fake.deleteErr) {
		t.Fatalf("the refusing EC2 gives %v, which is no permission error", fake.deleteErr)
	}
	m := NewMetrics()
	w := e.jobs(m, e.provisioners)
	at := e.clock.Now()
	jobRound(t, w, 1)
	got, events := e.history(t, cancelled.ID)
	if len(events) != len(before) || got.Resource != cancelled.Resource {
		t.Errorf("a failed cleanup recorded %v and left peering %q; want nothing recorded", actionsOf(events[len(before):]), got.Resource)
	}
	j := e.cleanupJob(t, cancelled.ID)
	if j.Attempts != 1 || !j.NotBefore.Equal(at.Add(authErrorBackoff)) || !strings.Contains(j.LastError, "UnauthorizedOperation") {
		t.Errorf("the denied job: %d attempts, not before %v, last error %q; want 1 attempt, not before %v (the wait of a permission error), UnauthorizedOperation",
			j.Attempts, j.NotBefore, j.LastError, at.Add(authErrorBackoff))
	}
	if got, dead := jobOutcomes(m, astrobot.JobCleanup, "deferred"), jobOutcomes(m, astrobot.JobCleanup, "dead_letter"); got != 1 || dead != 0 {
		t.Errorf("jobs{cleanup,deferred} = %v and {cleanup,dead_letter} = %v, want 1 and 0", got, dead)
	}

	// Once the permission is granted, the job is done at its time.
	fake.deleteErr = nil
	e.clock.Advance(authErrorBackoff - time.Second)
	jobRound(t, w, 0)
	e.clock.Advance(time.Second)
	jobRound(t, w, 1)
	if got, _ := e.history(t, cancelled.ID); got.Resource != "" {
		t.Errorf("after the permission was granted the request keeps peering %q", got.Resource)
	}
	if n := len(fake.callsOf("Delete")); n != 2 {
		t.Errorf("Delete was called %d times, want 2 (denied, then done)", n)
	}
	e.checkJobsDone(t)
}

// In manual mode there is no provisioner: support deletes the peering by hand,
// and the job is done without an AWS call.
func TestJobsCleanupManualMode(t *testing.T) {
	fake := newFakePeerer()
	e := newWatchEnv(t, fake, watchClusters)
	r := e.pending(t, watchClusters[1], 1, "pcx-0ffffffffffff0007")
	r = e.apply(t, r.ID, astrobot.Change{Action: astrobot.ActCancel, Actor: testUser, Role: astrobot.RoleRequester})
	e.cleanupJob(t, r.ID)
	_, before := e.history(t, r.ID)

	m := NewMetrics()
	jobRound(t, e.jobs(m, map[astrobot.Kind]Provisioner{}), 1)

	if n := len(fake.calls); n != 0 {
		t.Errorf("the manual-mode job made %d AWS calls, want none: %+v", n, fake.calls)
	}
	got, events := e.history(t, r.ID)
	if len(events) != len(before) || got.Resource != r.Resource {
		t.Errorf("the manual-mode job recorded %v and left peering %q; want nothing recorded and %s kept for support",
			actionsOf(events[len(before):]), got.Resource, r.Resource)
	}
	e.checkJobsDone(t)
	if got := jobOutcomes(m, astrobot.JobCleanup, "done"); got != 1 {
		t.Errorf("jobs{cleanup,done} = %v, want 1", got)
	}
	e.noLoudLogs(t)
}

func TestAWSRetry(t *testing.T) {
	denied := deniedPeerings(t).Delete(testContext(t), watchClusters[0], "pcx-0ffffffffffff0008")
	throttled := throttledPeerings(t).Delete(testContext(t), watchClusters[0], "pcx-0ffffffffffff0008")
	if !cloud.IsPermission(denied) || !cloud.IsThrottle(throttled) {
		t.Fatalf("the refusing EC2s give %v and %v; want a permission error and a throttle", denied, throttled)
	}
	wrap := func(err error) error { return fmt.Errorf("cleanup of PEER-0001: %w", err) }
	tests := []struct {
		name     string
		err      error
		attempts int
		delay    time.Duration
	}{
		{"denied, first", wrap(denied), 0, authErrorBackoff},
		{"denied, backed off longer", wrap(denied), 7, 128 * time.Second},
		{"throttled", wrap(throttled), 0, time.Second},
		{"throttled, third", wrap(throttled), 2, 4 * time.Second},
		{"network error, capped", wrap(errors.New("connection reset")), 30, maxBackoff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			delay, retry := awsRetry(tt.err, tt.attempts)
			if delay != tt.delay || !retry {
				t.Fatalf("awsRetry(%v, %d) = %v, %v; want %v, true", tt.err, tt.attempts, delay, retry, tt.delay)
			}
		})
	}
}

// watched files n pending_acceptance requests spread over the clusters in
// turn, the peering of request i being pcx(i), and returns the IDs of the
// peerings of each region.
func (e *watchEnv) watched(t *testing.T, clusters []astrobot.Cluster, n int, pcx func(i int) string) map[string][]string {
	t.Helper()
	byRegion := make(map[string][]string)
	for i := range n {
		cl := clusters[i%len(clusters)]
		e.pending(t, cl, i+1, pcx(i))
		byRegion[cl.Region] = append(byRegion[cl.Region], pcx(i))
	}
	for _, ids := range byRegion {
		slices.Sort(ids)
	}
	return byRegion
}

func TestWatcherDescribesOncePerAccountAndRegion(t *testing.T) {
	fake := newFakePeerer()
	e := newWatchEnv(t, fake, watchClusters)
	pcx := func(i int) string { return fmt.Sprintf("pcx-%017x", 0xa0000+i) }
	byRegion := e.watched(t, watchClusters, 200, pcx)
	for i := range 200 {
		fake.set(pcx(i), cloud.PeeringPending)
	}

	e.watch(t)

	calls := fake.callsOf("Describe")
	slices.SortFunc(calls, func(a, b peererCall) int { return strings.Compare(a.Region, b.Region) })
	want := []peererCall{
		{Op: "Describe", Account: watchAccount, Region: "eu-west-1", IDs: byRegion["eu-west-1"]},
		{Op: "Describe", Account: watchAccount, Region: "us-east-1", IDs: byRegion["us-east-1"]},
	}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("Describe calls for 200 peerings in 2 regions of one account (-want +got):\n%s", diff)
	}
	for _, c := range calls {
		if len(c.IDs) != 100 {
			t.Errorf("Describe in %s got %d IDs, want 100", c.Region, len(c.IDs))
		}
	}
	if n := len(fake.callsOf("Describe")) + len(fake.callsOf("Create")) + len(fake.callsOf("Configure")) + len(fake.callsOf("Delete")); n != 2 {
		t.Errorf("the watch made %d AWS calls, want 2", n)
	}
}

// actionCounter is an HTTP client that counts the AWS Query API requests it
// sends by Action, and keeps how many peering connection IDs each
// DescribeVpcPeeringConnections request names.
type actionCounter struct {
	mu       sync.Mutex
	n        map[string]int
	describe []int
}

func (c *actionCounter) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if form, err := url.ParseQuery(string(body)); err == nil {
			c.mu.Lock()
			c.n[form.Get("Action")]++
			if form.Get("Action") == "DescribeVpcPeeringConnections" {
				ids := 0
				for k := range form {
					if strings.HasPrefix(k, "VpcPeeringConnectionId.") {
						ids++
					}
				}
				c.describe = append(c.describe, ids)
			}
			c.mu.Unlock()
		}
	}
	return http.DefaultClient.Do(r)
}

// describedIDs returns how many IDs each DescribeVpcPeeringConnections
// request named, in order.
func (c *actionCounter) describedIDs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.describe)
}

func (c *actionCounter) count(action string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[action]
}

// motoVPC creates a VPC with cidr in moto and returns its ID.
func motoVPC(t *testing.T, client *ec2.Client, cidr string) string {
	t.Helper()
	out, err := client.CreateVpc(testContext(t), &ec2.CreateVpcInput{CidrBlock: aws.String(cidr)})
	if err != nil {
		t.Fatalf("CreateVpc %s: %v", cidr, err)
	}
	return aws.ToString(out.Vpc.VpcId)
}

func TestWatcherDescribesOncePerAccountAndRegionMoto(t *testing.T) {
	ctx := testContext(t)
	astro, customer := mototest.NewAccount(t), mototest.NewAccount(t)
	const peerRegion = "us-west-2"
	peerVPC := motoVPC(t, ec2.NewFromConfig(mototest.Config(t, customer, peerRegion)), "172.16.0.0/16")

	var clusters []astrobot.Cluster
	var ids []string
	for i, region := range []string{"us-east-1", "eu-west-1"} {
		client := ec2.NewFromConfig(mototest.Config(t, astro, region))
		cl := astrobot.Cluster{ID: "clx-" + region, Name: "acme-" + region, Organization: "acme", Region: region, AccountID: astro,
			VPCID: motoVPC(t, client, fmt.Sprintf("10.%d.0.0/16", i+1)), CIDRs: []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/16", i+1))}}
		clusters = append(clusters, cl)
		// Four at a time: moto answers concurrent requests.
		made := make([]string, 100)
		errs := make([]error, 100)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for j := w; j < len(made); j += 4 {
					out, err := client.CreateVpcPeeringConnection(ctx, &ec2.CreateVpcPeeringConnectionInput{
						VpcId: aws.String(cl.VPCID), PeerOwnerId: aws.String(customer), PeerRegion: aws.String(peerRegion), PeerVpcId: aws.String(peerVPC),
					})
					if err != nil {
						errs[j] = err
						continue
					}
					made[j] = aws.ToString(out.VpcPeeringConnection.VpcPeeringConnectionId)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("CreateVpcPeeringConnection in %s: %v", region, err)
			}
		}
		ids = append(ids, made...)
	}

	counter := &actionCounter{n: make(map[string]int)}
	cfg := mototest.Config(t, astro, "us-east-1")
	cfg.HTTPClient = counter
	e := newWatchEnv(t, cloud.NewPeerings(cfg, cloud.PeeringOptions{}), clusters)
	// Requests 0-99 on the us-east-1 cluster, 100-199 on the eu-west-1 one;
	// each names a VPC of its own (the store refuses the same VPC twice per
	// cluster) while AWS peers them all with peerVPC: the watcher reads only
	// the peering IDs.
	for i, id := range ids {
		e.pending(t, clusters[i/100], i+1, id)
	}

	e.watch(t)

	if n := counter.count("DescribeVpcPeeringConnections"); n != 2 {
		t.Errorf("one Watch of 200 peerings in 2 regions made %d DescribeVpcPeeringConnections calls, want 2", n)
	}
	if diff := cmp.Diff([]int{100, 100}, counter.describedIDs()); diff != "" {
		t.Errorf("peering IDs per DescribeVpcPeeringConnections call (-want +got):\n%s", diff)
	}
	pending, err := e.db.RequestsByStatus(ctx, []astrobot.Status{astrobot.StatusPendingAcceptance}, 0)
	if err != nil {
		t.Fatalf("RequestsByStatus: %v", err)
	}
	if len(pending) != 200 {
		t.Errorf("%d requests pending acceptance after Watch, want all 200 (AWS reports them pending)", len(pending))
	}
	e.noLoudLogs(t)
}

// peeringsTagged returns the peering connections in the client's account and
// region tagged with the request's reference, ref.
func peeringsTagged(t *testing.T, client *ec2.Client, ref string) []string {
	t.Helper()
	out, err := client.DescribeVpcPeeringConnections(testContext(t), &ec2.DescribeVpcPeeringConnectionsInput{})
	if err != nil {
		t.Fatalf("DescribeVpcPeeringConnections: %v", err)
	}
	var found []string
	for _, c := range out.VpcPeeringConnections {
		for _, tag := range c.Tags {
			if aws.ToString(tag.Key) == "astrobot:request-id" && aws.ToString(tag.Value) == ref {
				found = append(found, aws.ToString(c.VpcPeeringConnectionId))
			}
		}
	}
	return found
}

func TestWatcherReusesPeeringCreatedBeforeCrashMoto(t *testing.T) {
	ctx := testContext(t)
	astro, customer := mototest.NewAccount(t), mototest.NewAccount(t)
	const region, peerRegion = "us-east-1", "eu-west-1"
	astroEC2 := ec2.NewFromConfig(mototest.Config(t, astro, region))
	customerEC2 := ec2.NewFromConfig(mototest.Config(t, customer, peerRegion))
	peerCIDRs := []netip.Prefix{netip.MustParsePrefix("172.20.0.0/16")}
	cl := astrobot.Cluster{ID: "clx-crash", Name: "acme-crash", Organization: "acme", Region: region, AccountID: astro,
		VPCID: motoVPC(t, astroEC2, "10.9.0.0/16"), CIDRs: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}
	peerVPC := motoVPC(t, customerEC2, peerCIDRs[0].String())

	peerings := cloud.NewPeerings(mototest.Config(t, astro, region), cloud.PeeringOptions{Now: func() time.Time { return testStart }})
	e := newWatchEnv(t, peerings, []astrobot.Cluster{cl})
	r, created, err := e.db.CreateRequest(ctx, astrobot.Request{
		Requester: astrobot.Requester{UserID: testUser, TeamID: testTeam, ChannelID: testChannel},
		ClusterID: cl.ID,
		Kind:      astrobot.KindPeering,
		Spec:      astrobot.PeeringSpec{AccountID: customer, Region: peerRegion, VPCID: peerVPC, CIDRs: peerCIDRs},
	}, "")
	if err != nil || !created {
		t.Fatalf("CreateRequest: created=%v err=%v", created, err)
	}
	r = e.apply(t, r.ID, astrobot.Change{Action: astrobot.ActApprove, Actor: testSupportUser, Role: astrobot.RoleSupport})

	// The bot created the peering, then crashed before storing its ID.
	first, err := peerings.Create(ctx, cl, r, r.Attempt+1)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}

	e.checkResumed(t, r, first.ID)
	if diff := cmp.Diff([]string{first.ID}, peeringsTagged(t, astroEC2, r.Ref())); diff != "" {
		t.Errorf("peering connections in AWS tagged %s (-want +got):\n%s", r.Ref(), diff)
	}

	// The customer accepts: the next watch adds the routes and the request
	// is active.
	if _, err := customerEC2.AcceptVpcPeeringConnection(ctx, &ec2.AcceptVpcPeeringConnectionInput{VpcPeeringConnectionId: aws.String(first.ID)}); err != nil {
		t.Fatalf("AcceptVpcPeeringConnection as the customer: %v", err)
	}
	e.watch(t)
	got, events := e.history(t, r.ID)
	if got.Status != astrobot.StatusActive {
		t.Fatalf("status after acceptance and Watch = %s, want active\nlogs:\n%s", got.Status, e.logs.dump())
	}
	if last := events[len(events)-1]; last.Action != astrobot.ActConfigured || last.Note != "" {
		t.Errorf("last event = %s %q, want configured with no note (the CIDRs agree)", last.Action, last.Note)
	}
	tables, err := astroEC2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{})
	if err != nil {
		t.Fatalf("DescribeRouteTables: %v", err)
	}
	routed := false
	for _, rt := range tables.RouteTables {
		for _, route := range rt.Routes {
			if aws.ToString(rt.VpcId) == cl.VPCID && aws.ToString(route.DestinationCidrBlock) == peerCIDRs[0].String() &&
				aws.ToString(route.VpcPeeringConnectionId) == first.ID {
				routed = true
			}
		}
	}
	if !routed {
		t.Errorf("no route to %s through %s in the cluster VPC %s", peerCIDRs[0], first.ID, cl.VPCID)
	}
	e.noLoudLogs(t)
}
