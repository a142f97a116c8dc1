package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/slack-go/slack"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/clocktest"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
	"github.com/astrobot-dev/astrobot/store"
)

// This file also holds the fixtures the package's other tests share: a
// settable clock, a log recorder, and testEnv, the real parts (fake Slack, the
// slack-go client, a bbolt store, handlers.Handler) wired as Run wires them.

// Slack identities of the tests.
const (
	testTeam           = "TACME"    // acme's workspace
	testUser           = "UALICE"   // files requests
	testSupportUser    = "USUPPORT" // the support team
	testChannel        = "CGENERAL" // where commands are run
	testSupportChannel = "CSUPPORT" // where support cards go
)

// testStart is where every test clock starts.
var testStart = time.Date(2025, 3, 4, 15, 4, 5, 0, time.UTC)

// testCluster is the one cluster of the tests, owned by acme.
var testCluster = astrobot.Cluster{ID: "clx123abc", Name: "acme-prod", Organization: "acme", Region: "us-east-1",
	AccountID: "111111111111", VPCID: "vpc-0abc12345678def90", CIDRs: []netip.Prefix{netip.MustParsePrefix("10.10.0.0/16")},
	ExternalIPs: []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11")}}

// testClock is the settable clock of these tests.
type testClock = clocktest.Clock

func newTestClock() *testClock { return clocktest.New(testStart) }

// supportTeam is a fixed set of support users.
type supportTeam map[string]bool

func (s supportTeam) IsSupport(_ context.Context, userID string) bool { return s[userID] }

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	return nil
}

// find returns the records at level or above whose message contains msg.
func (l *logRecorder) find(level slog.Level, msg string) []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []slog.Record
	for _, r := range l.records {
		if r.Level >= level && strings.Contains(r.Message, msg) {
			out = append(out, r)
		}
	}
	return out
}

// count returns the number of records at level or above.
func (l *logRecorder) count(level slog.Level) int { return len(l.find(level, "")) }

// dump returns every record as text, for failure messages.
func (l *logRecorder) dump() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, r := range l.records {
		fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			return true
		})
		b.WriteByte('\n')
	}
	return b.String()
}

// attr returns the value of attribute key of r, as text.
func attr(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// testEnv is the bot's real parts: the fake Slack, a bbolt store in a
// temporary directory and a handlers.Handler talking to the fake through the
// real slack-go client.
type testEnv struct {
	fake  *fakeslack.Server
	clock *testClock
	logs  *logRecorder
	log   *slog.Logger
	path  string
	db    *store.DB
	h     *handlers.Handler
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	fake := fakeslack.New(fakeslack.WithTest(t))
	t.Cleanup(fake.Close)
	logs := &logRecorder{}
	e := &testEnv{fake: fake, clock: newTestClock(), logs: logs, log: slog.New(logs),
		path: filepath.Join(t.TempDir(), "a.db")}
	e.open(t)
	t.Cleanup(func() { e.close(t) })
	return e
}

// open opens the store and builds the handler on it.
func (e *testEnv) open(t *testing.T) {
	t.Helper()
	db, err := store.Open(e.path, store.Options{Now: e.clock.Now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	e.db = db
	e.h = handlers.New(handlers.Config{
		Directory:      cloud.NewStatic([]astrobot.Cluster{testCluster}),
		Tenancy:        astrobot.NewTenancy([]astrobot.Organization{{ID: "acme", Name: "Acme", SlackTeams: []string{testTeam}}}),
		Requests:       db,
		Support:        supportTeam{testSupportUser: true},
		Slack:          slack.New("xoxb-test", slack.OptionAPIURL(e.fake.APIURL())),
		SupportChannel: testSupportChannel,
		Modes:          map[astrobot.Kind]astrobot.Mode{astrobot.KindPeering: astrobot.ModeManual},
		Now:            e.clock.Now,
		Logger:         e.log,
	})
}

// close closes the handler and the store, as a stopping bot does.
func (e *testEnv) close(t *testing.T) {
	t.Helper()
	if e.h != nil {
		e.h.Close()
		e.h = nil
	}
	if e.db != nil {
		if err := e.db.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
		e.db = nil
	}
}

// reopen closes the store and opens it again with a new handler: a restart.
func (e *testEnv) reopen(t *testing.T) {
	t.Helper()
	e.close(t)
	e.open(t)
}

// testContext returns a context that ends with the test, or after 10 seconds.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// file files request n (1, 2, …) of testUser for testCluster, each with its
// own VPC and CIDR, straight into the store.
func (e *testEnv) file(t *testing.T, n int) astrobot.RequestID {
	t.Helper()
	r, created, err := e.db.CreateRequest(testContext(t), astrobot.Request{
		Requester: astrobot.Requester{UserID: testUser, TeamID: testTeam, ChannelID: testChannel},
		ClusterID: testCluster.ID,
		Kind:      astrobot.KindPeering,
		Spec: astrobot.PeeringSpec{AccountID: "123456789012", Region: "us-east-1", VPCID: fmt.Sprintf("vpc-%08x", n),
			CIDRs: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(n), 0}), 24)}},
	}, "")
	if err != nil || !created {
		t.Fatalf("file request %d: created=%v err=%v", n, created, err)
	}
	return r.ID
}

// apply applies a change to request id and fails the test if it is refused.
func (e *testEnv) apply(t *testing.T, id astrobot.RequestID, c astrobot.Change) {
	t.Helper()
	if _, _, err := e.db.Apply(testContext(t), id, c); err != nil {
		t.Fatalf("apply %s to %d: %v", c.Action, id, err)
	}
}

// stats returns the outbox statistics.
func (e *testEnv) stats(t *testing.T) store.QueueStats {
	t.Helper()
	st, err := e.db.Outbox().Stats(testContext(t))
	if err != nil {
		t.Fatalf("Outbox().Stats: %v", err)
	}
	return st
}

// head returns the first waiting outbox entry of request id, deferred or not.
func (e *testEnv) head(t *testing.T, id astrobot.RequestID) store.Entry {
	t.Helper()
	ds, err := e.db.Outbox().Due(testContext(t), e.clock.Now().Add(24*365*time.Hour), 0)
	if err != nil {
		t.Fatalf("Outbox().Due: %v", err)
	}
	for _, d := range ds {
		if d.Request.ID == id {
			return d
		}
	}
	t.Fatalf("no outbox entry of %d; entries: %v", id, ds)
	return store.Entry{}
}

// request returns request id as stored.
func (e *testEnv) request(t *testing.T, id astrobot.RequestID) astrobot.Request {
	t.Helper()
	r, err := e.db.Request(testContext(t), id)
	if err != nil {
		t.Fatalf("Request(%d): %v", id, err)
	}
	return r
}

// worker returns an outbox worker on the current store and handler, wired
// as Run wires it.
func (e *testEnv) worker(m *Metrics) *QueueWorker {
	return NewQueueWorker(QueueConfig{Name: "outbox", Queue: e.db.Outbox(), Do: deliver(e.h, e.db), Retry: slackRetry,
		Outcomes: m.Deliveries, Done: "delivered"}, e.clock.Now, e.log)
}

// round runs one round of w and returns how many entries it handled.
func round(t *testing.T, w *QueueWorker) int {
	t.Helper()
	n, err := w.Round(testContext(t))
	if err != nil {
		t.Fatalf("%s round: %v", w.Name, err)
	}
	return n
}

// drain runs rounds of w until one finds nothing due, and returns how many
// entries each round handled.
func drain(t *testing.T, w *QueueWorker) []int {
	t.Helper()
	var per []int
	for range 50 {
		n := round(t, w)
		if n == 0 {
			return per
		}
		per = append(per, n)
	}
	t.Fatalf("the %s does not drain: rounds handled %v", w.Name, per)
	return nil
}

// slackTrace describes the calls the fake received that post or publish
// something, one line each, in arrival order.
func slackTrace(calls []fakeslack.Call) []string {
	var out []string
	for _, c := range calls {
		switch c.Method {
		case "chat.postMessage", "chat.update":
			line := c.Method + " " + c.Param("channel")
			if ts := c.Param("thread_ts"); ts != "" {
				line += " thread=" + ts
			}
			if ts := c.Param("ts"); ts != "" {
				line += " ts=" + ts
			}
			out = append(out, line)
		case "conversations.open":
			out = append(out, c.Method+" "+c.Param("users"))
		case "views.publish":
			out = append(out, c.Method+" "+c.Param("user_id"))
		}
	}
	return out
}

// deliveries returns the counter of outbox deliveries of kind with outcome.
func deliveries(m *Metrics, kind astrobot.NotificationKind, outcome string) float64 {
	return testutil.ToFloat64(m.Deliveries.WithLabelValues(string(kind), outcome))
}

func TestOutboxDeliversInOrder(t *testing.T) {
	e := newTestEnv(t)
	m := NewMetrics()
	w := e.worker(m)
	id := e.file(t, 1)

	// One entry per request per round: card, then DM.
	if diff := cmp.Diff([]int{1, 1}, drain(t, w)); diff != "" {
		t.Fatalf("entries handled per round (-want +got):\n%s", diff)
	}
	card := e.request(t, id).Card
	if card.Channel != testSupportChannel || card.TS == "" {
		t.Fatalf("request card = %+v, want a message in %s", card, testSupportChannel)
	}
	want := []string{
		"chat.postMessage " + testSupportChannel,
		"conversations.open " + testUser,
		"chat.postMessage D" + testUser,
	}
	if diff := cmp.Diff(want, slackTrace(e.fake.Calls())); diff != "" {
		t.Fatalf("Slack calls for a submission (-want +got):\n%s", diff)
	}

	// An approval updates the card in place, posts in its thread, then
	// refreshes the requester's App Home.
	e.clock.Advance(time.Minute)
	e.apply(t, id, astrobot.Change{Action: astrobot.ActApprove, Actor: testSupportUser, Role: astrobot.RoleSupport})
	drain(t, w)
	want = append(want, "chat.update "+card.Channel+" ts="+card.TS, "chat.postMessage "+card.Channel+" thread="+card.TS, "views.publish "+testUser)
	if diff := cmp.Diff(want, slackTrace(e.fake.Calls())); diff != "" {
		t.Fatalf("Slack calls after an approval (-want +got):\n%s", diff)
	}
	if st := e.stats(t); st.Depth != 0 || st.DeadLetters != 0 {
		t.Fatalf("outbox after delivery = %+v, want empty with no dead letters", st)
	}
	if got := e.request(t, id).Card; got != card {
		t.Errorf("card after the update = %+v, want it kept as %+v", got, card)
	}
	for _, c := range []struct {
		kind astrobot.NotificationKind
		want float64
	}{{astrobot.NotifyCard, 2}, {astrobot.NotifyThread, 1}, {astrobot.NotifyRequester, 1}, {astrobot.NotifyHome, 1}} {
		if got := deliveries(m, c.kind, "delivered"); got != c.want {
			t.Errorf("deliveries{kind=%s,outcome=delivered} = %v, want %v", c.kind, got, c.want)
		}
	}
	if n := e.logs.count(slog.LevelWarn); n != 0 {
		t.Errorf("%d warnings or errors logged on a clean delivery:\n%s", n, e.logs.dump())
	}
}

func TestOutboxRateLimitWaitsRetryAfter(t *testing.T) {
	e := newTestEnv(t)
	m := NewMetrics()
	w := e.worker(m)
	e.fake.FailNext("chat.postMessage", 1, fakeslack.Failure{Status: 429, RetryAfter: 7})
	id := e.file(t, 1)
	failedAt := e.clock.Now()

	if n := round(t, w); n != 1 {
		t.Fatalf("first round handled %d entries, want 1", n)
	}
	d := e.head(t, id)
	if d.Notification().Kind != astrobot.NotifyCard || d.Attempts != 1 || !d.NotBefore.Equal(failedAt.Add(7*time.Second)) {
		t.Fatalf("after a 429 the head entry is %s, attempts %d, not before %v; want the card, 1 attempt, not before %v",
			d.Kind, d.Attempts, d.NotBefore, failedAt.Add(7*time.Second))
	}
	if d.LastError == "" {
		t.Error("the deferred entry keeps no last error")
	}
	if st := e.stats(t); st.DeadLetters != 0 || st.Depth != 2 {
		t.Fatalf("outbox after a 429 = %+v, want 2 waiting, no dead letter", st)
	}
	if got := deliveries(m, astrobot.NotifyCard, "deferred"); got != 1 {
		t.Errorf("deliveries{card,deferred} = %v, want 1", got)
	}

	// Nothing goes before Retry-After has passed: not the card, not the DM
	// queued behind it.
	e.clock.Advance(6 * time.Second)
	if n := round(t, w); n != 0 {
		t.Fatalf("a round 6s after a 429 with Retry-After 7 handled %d entries, want 0", n)
	}
	if calls := len(e.fake.CallsTo("chat.postMessage")); calls != 1 {
		t.Fatalf("chat.postMessage called %d times before Retry-After passed, want 1", calls)
	}

	e.clock.Advance(time.Second)
	if n := round(t, w); n != 1 {
		t.Fatalf("the round at Retry-After handled %d entries, want 1", n)
	}
	if card := e.request(t, id).Card; card.TS == "" {
		t.Fatal("the card was not recorded once delivered")
	}
	drain(t, w)
	if st := e.stats(t); st.Depth != 0 || st.DeadLetters != 0 {
		t.Fatalf("outbox at the end = %+v, want empty with no dead letters", st)
	}
	if got := deliveries(m, astrobot.NotifyCard, "dead_letter"); got != 0 {
		t.Errorf("deliveries{card,dead_letter} = %v, want 0", got)
	}
}

func TestOutboxServerErrorBacksOff(t *testing.T) {
	e := newTestEnv(t)
	m := NewMetrics()
	w := e.worker(m)
	const failures = 4
	e.fake.FailNext("chat.postMessage", failures, fakeslack.Failure{Status: 500})
	id := e.file(t, 1)

	var last time.Duration
	for attempt := 1; attempt <= failures; attempt++ {
		at := e.clock.Now()
		if n := round(t, w); n != 1 {
			t.Fatalf("round %d handled %d entries, want 1", attempt, n)
		}
		d := e.head(t, id)
		delay := d.NotBefore.Sub(at)
		if d.Attempts != attempt || d.Notification().Kind != astrobot.NotifyCard {
			t.Fatalf("after failure %d: head is %s with %d attempts, want the card with %d", attempt, d.Kind, d.Attempts, attempt)
		}
		if delay <= last || (last > 0 && delay != 2*last) {
			t.Fatalf("after failure %d the entry waits %v (previous wait %v); want a wait that doubles", attempt, delay, last)
		}
		last = delay
		// Just before the wait ends nothing is due.
		e.clock.Advance(delay - time.Millisecond)
		if n := round(t, w); n != 0 {
			t.Fatalf("a round %v into a wait of %v handled %d entries", delay-time.Millisecond, delay, n)
		}
		e.clock.Advance(time.Millisecond)
	}
	if got := deliveries(m, astrobot.NotifyCard, "deferred"); got != failures {
		t.Errorf("deliveries{card,deferred} = %v, want %d", got, failures)
	}
	drain(t, w)
	if st := e.stats(t); st.Depth != 0 || st.DeadLetters != 0 {
		t.Fatalf("outbox at the end = %+v, want empty with no dead letters", st)
	}
	if calls := len(e.fake.CallsTo("chat.postMessage")); calls != failures+2 {
		t.Errorf("chat.postMessage called %d times, want %d failures, the card and the DM", calls, failures)
	}
}

func TestOutboxDeadLetter(t *testing.T) {
	e := newTestEnv(t)
	m := NewMetrics()
	w := e.worker(m)
	e.fake.FailNext("chat.postMessage", 1, fakeslack.Failure{SlackError: "channel_not_found"})
	id := e.file(t, 1)

	if n := round(t, w); n != 1 {
		t.Fatalf("first round handled %d entries, want 1", n)
	}
	if st := e.stats(t); st.DeadLetters != 1 || st.Depth != 1 {
		t.Fatalf("outbox after channel_not_found = %+v, want 1 dead letter and 1 waiting", st)
	}
	if got := deliveries(m, astrobot.NotifyCard, "dead_letter"); got != 1 {
		t.Errorf(`astrobot_outbox_deliveries_total{kind="card",outcome="dead_letter"} = %v, want 1`, got)
	}
	logged := e.logs.find(slog.LevelError, "dead-letter")
	if len(logged) != 1 {
		t.Fatalf("%d error logs about the dead letter, want 1; logs:\n%s", len(logged), e.logs.dump())
	}
	r := e.request(t, id)
	if want := r.Ref(); attr(logged[0], "request") != want {
		t.Errorf("the dead-letter log names request %q, want %q", attr(logged[0], "request"), want)
	}
	if got := attr(logged[0], "err"); !strings.Contains(got, "channel_not_found") {
		t.Errorf("the dead-letter log gives err %q, want Slack's channel_not_found", got)
	}

	// The rest of the request is not held up by its dead card.
	drain(t, w)
	if st := e.stats(t); st.Depth != 0 || st.DeadLetters != 1 {
		t.Fatalf("outbox at the end = %+v, want empty with the one dead letter", st)
	}
	if dms := e.fake.CallsTo("conversations.open"); len(dms) != 1 {
		t.Errorf("conversations.open called %d times, want the requester's DM once", len(dms))
	}
	if card := e.request(t, id).Card; card != (astrobot.MessageRef{}) {
		t.Errorf("request card = %+v, want none: it was never posted", card)
	}
}

func TestOutboxAuthErrorKeepsEntry(t *testing.T) {
	e := newTestEnv(t)
	m := NewMetrics()
	w := e.worker(m)
	e.fake.FailNext("chat.postMessage", 1, fakeslack.Failure{SlackError: "invalid_auth"})
	id := e.file(t, 1)
	at := e.clock.Now()

	if n := round(t, w); n != 1 {
		t.Fatalf("first round handled %d entries, want 1", n)
	}
	d := e.head(t, id)
	if d.Notification().Kind != astrobot.NotifyCard || d.Attempts != 1 || !d.NotBefore.After(at) {
		t.Fatalf("after invalid_auth the head is %s, attempts %d, not before %v; want the card deferred past %v",
			d.Kind, d.Attempts, d.NotBefore, at)
	}
	if !strings.Contains(d.LastError, "invalid_auth") {
		t.Errorf("last error %q does not say invalid_auth", d.LastError)
	}
	if st := e.stats(t); st.DeadLetters != 0 || st.Depth != 2 {
		t.Fatalf("outbox after invalid_auth = %+v, want 2 waiting and no dead letter", st)
	}
	if got := deliveries(m, astrobot.NotifyCard, "dead_letter"); got != 0 {
		t.Errorf("deliveries{card,dead_letter} = %v, want 0", got)
	}
	if got := deliveries(m, astrobot.NotifyCard, "deferred"); got != 1 {
		t.Errorf("deliveries{card,deferred} = %v, want 1", got)
	}

	// Once the token works again, everything goes out.
	e.clock.Advance(d.NotBefore.Sub(at))
	drain(t, w)
	if st := e.stats(t); st.Depth != 0 || st.DeadLetters != 0 {
		t.Fatalf("outbox once the token works = %+v, want empty", st)
	}
}

func TestOutboxDeferralBlocksOnlyItsRequest(t *testing.T) {
	e := newTestEnv(t)
	w := e.worker(NewMetrics())
	e.fake.FailNext("chat.postMessage", 1, fakeslack.Failure{Status: 429, RetryAfter: 60})
	held := e.file(t, 1)
	if n := round(t, w); n != 1 {
		t.Fatalf("first round handled %d entries, want 1", n)
	}

	free := e.file(t, 2)
	if diff := cmp.Diff([]int{1, 1}, drain(t, w)); diff != "" {
		t.Fatalf("entries handled per round while %d waits (-want +got):\n%s", held, diff)
	}
	if card := e.request(t, free).Card; card.TS == "" {
		t.Fatalf("%d has no card although only %d was rate limited", free, held)
	}
	if st := e.stats(t); st.Depth != 2 {
		t.Fatalf("outbox depth = %d, want the 2 entries of %d still waiting", st.Depth, held)
	}
	if d := e.head(t, held); d.Notification().Kind != astrobot.NotifyCard || d.Attempts != 1 {
		t.Fatalf("head of %d = %s with %d attempts, want its card with 1", held, d.Kind, d.Attempts)
	}

	e.clock.Advance(time.Minute)
	before := len(e.fake.Calls())
	drain(t, w)
	if st := e.stats(t); st.Depth != 0 || st.DeadLetters != 0 {
		t.Fatalf("outbox at the end = %+v, want empty", st)
	}
	want := []string{"chat.postMessage " + testSupportChannel, "conversations.open " + testUser,
		"chat.postMessage D" + testUser}
	if diff := cmp.Diff(want, slackTrace(e.fake.Calls()[before:])); diff != "" {
		t.Errorf("Slack calls for %d once Retry-After passed (-want +got):\n%s", held, diff)
	}
}

func TestOutboxSurvivesRestart(t *testing.T) {
	e := newTestEnv(t)
	e.fake.FailNext("chat.postMessage", 1, fakeslack.Failure{Status: 500})
	id := e.file(t, 1)
	if n := round(t, e.worker(NewMetrics())); n != 1 {
		t.Fatalf("first round handled %d entries, want 1", n)
	}
	before := e.head(t, id)

	// Restart: the deferral is remembered.
	e.reopen(t)
	after := e.head(t, id)
	if after.Key != before.Key || after.Attempts != 1 || !after.NotBefore.Equal(before.NotBefore) {
		t.Fatalf("after a restart the head is key %d, %d attempts, not before %v; want key %d, 1 attempt, not before %v",
			after.Key, after.Attempts, after.NotBefore, before.Key, before.NotBefore)
	}
	e.clock.Advance(after.NotBefore.Sub(e.clock.Now()))
	if n := round(t, e.worker(NewMetrics())); n != 1 {
		t.Fatalf("the round after the restart handled %d entries, want 1", n)
	}

	// Restart again between the card and the DM: nothing is lost or sent twice.
	e.reopen(t)
	if card := e.request(t, id).Card; card.TS == "" {
		t.Fatal("the card posted before the restart is not recorded")
	}
	drain(t, e.worker(NewMetrics()))
	if st := e.stats(t); st.Depth != 0 || st.DeadLetters != 0 {
		t.Fatalf("outbox at the end = %+v, want empty", st)
	}
	want := []string{
		"chat.postMessage " + testSupportChannel, // refused with a 500
		"chat.postMessage " + testSupportChannel,
		"conversations.open " + testUser,
		"chat.postMessage D" + testUser,
	}
	if diff := cmp.Diff(want, slackTrace(e.fake.Calls())); diff != "" {
		t.Errorf("Slack calls across the restarts (-want +got):\n%s", diff)
	}
}

func TestOutboxRunDeliversUntilCancelled(t *testing.T) {
	e := newTestEnv(t)
	id := e.file(t, 1)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	done := make(chan struct{})
	w := e.worker(NewMetrics())
	go func() {
		defer close(done)
		w.Run(ctx)
	}()

	if _, err := e.fake.WaitFor(testContext(t), "chat.postMessage", 2); err != nil {
		t.Fatalf("Run did not deliver the card and the receipt: %v", err)
	}
	cancel()
	select {
	case <-done:
	case <-testContext(t).Done():
		t.Fatal("Run did not return after its context was cancelled")
	}
	// Run finished the round in flight: the last delivery is acknowledged.
	if st := e.stats(t); st.Depth != 0 {
		t.Fatalf("outbox depth after Run returned = %d, want 0", st.Depth)
	}
	if card := e.request(t, id).Card; card.TS == "" {
		t.Error("Run did not record the card")
	}
}

func TestSlackRetry(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("post support card: %w", err) }
	tests := []struct {
		name     string
		err      error
		attempts int
		delay    time.Duration
		retry    bool
	}{
		{"rate limited", wrap(&slack.RateLimitedError{RetryAfter: 30 * time.Second}), 0, 30 * time.Second, true},
		{"rate limited without a delay", wrap(&slack.RateLimitedError{}), 3, minRetryAfter, true},
		{"channel gone", wrap(slack.SlackErrorResponse{Err: "channel_not_found"}), 0, 0, false},
		{"archived", wrap(slack.SlackErrorResponse{Err: "is_archived"}), 5, 0, false},
		{"bad token", wrap(slack.SlackErrorResponse{Err: "invalid_auth"}), 0, authErrorBackoff, true},
		{"revoked token", wrap(slack.SlackErrorResponse{Err: "token_revoked"}), 7, authErrorBackoff, true},
		{"unknown Slack error", wrap(slack.SlackErrorResponse{Err: "fatal_error"}), 0, time.Second, true},
		{"server error, first", wrap(slack.StatusCodeError{Code: 500, Status: "500"}), 0, time.Second, true},
		{"server error, third", wrap(slack.StatusCodeError{Code: 503, Status: "503"}), 2, 4 * time.Second, true},
		{"network error, capped", wrap(errors.New("connection reset")), 30, maxBackoff, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			delay, retry := slackRetry(tt.err, tt.attempts)
			if delay != tt.delay || retry != tt.retry {
				t.Fatalf("slackRetry(%v, %d) = %v, %v; want %v, %v", tt.err, tt.attempts, delay, retry, tt.delay, tt.retry)
			}
		})
	}
}
