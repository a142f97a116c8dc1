package bot

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
	"github.com/astrobot-dev/astrobot/store"
	"github.com/slack-go/slack"
)

// drainBacklog files requests owing entries notifications, stops, and starts
// again as a restart does: a new store on the same file, a new outbox worker,
// against a fake Slack that enforces a rate limit of burst messages per
// conversation, then one every interval (with 429 and Retry-After over it).
// The worker paces itself with the same figures. It returns how long the
// backlog took to drain and how many 429s Slack answered.
func drainBacklog(t testing.TB, entries, burst int, every time.Duration) (time.Duration, int) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "astrobot.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cluster := astrobot.Cluster{ID: "cl1", Name: "one", Organization: "acme", Region: "us-east-1", AccountID: "111111111111",
		VPCID: "vpc-0123456789abcdef0", CIDRs: []netip.Prefix{netip.MustParsePrefix("172.16.0.0/16")}}
	// Each submission owes a card and a DM: two entries.
	for i := range entries / 2 {
		r := astrobot.Request{Kind: astrobot.KindPeering, ClusterID: fmt.Sprintf("cl%d", 1+i%100),
			Requester: astrobot.Requester{UserID: fmt.Sprintf("U%05d", i), TeamID: "T0001"},
			Spec: astrobot.PeeringSpec{AccountID: "123456789012", Region: "us-east-1", VPCID: fmt.Sprintf("vpc-%08x", i),
				CIDRs: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)}}}
		if _, _, err := db.CreateRequest(ctx, r, ""); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := db.Outbox().Stats(ctx); err != nil || st.Depth != entries {
		t.Fatalf("backlog of %d entries, %v; want %d", st.Depth, err, entries)
	}
	if err := db.Close(); err != nil { // the crash: nothing was delivered
		t.Fatal(err)
	}

	db, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv := fakeslack.New(fakeslack.WithTest(t), fakeslack.WithRateLimit(burst, every))
	defer srv.Close()
	var clusters []astrobot.Cluster
	for i := range 100 {
		c := cluster
		c.ID, c.Name = fmt.Sprintf("cl%d", 1+i), fmt.Sprintf("cluster-%d", 1+i)
		clusters = append(clusters, c)
	}
	log := slog.New(slog.DiscardHandler)
	h := handlers.New(handlers.Config{
		Directory: cloud.NewStatic(clusters), Tenancy: astrobot.NewTenancy(nil), Requests: db,
		Support: handlers.NewSupportTeam([]string{"USUPPORT"}, "", nil, time.Minute, time.Now, log),
		Slack:   slack.New("xoxb-test", slack.OptionAPIURL(srv.APIURL())), SupportChannel: "CSUPPORT", Now: time.Now, Logger: log,
	})
	defer h.Close()
	m := NewMetrics()
	w := NewQueueWorker(QueueConfig{Name: "outbox", Queue: db.Outbox(), Do: deliver(h, db), Retry: slackRetry, NotDone: slackRefused, Outcomes: m.Deliveries,
		Done: "delivered", Pace: NewPacer(burst, every), Conversation: conversation(h)}, time.Now, log)

	start := time.Now()
	for {
		if _, err := w.Round(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := db.Outbox().Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.DeadLetters > 0 {
			t.Fatalf("%d entries dead-lettered", st.DeadLetters)
		}
		if st.Depth == 0 {
			break
		}
		if limit := time.Duration(entries) * every * 2; time.Since(start) > limit+time.Minute {
			t.Fatalf("%d entries left after %v", st.Depth, time.Since(start).Round(time.Second))
		}
		time.Sleep(queuePoll / 10)
	}
	elapsed := time.Since(start)
	if posts := len(srv.CallsTo("chat.postMessage")) - srv.RateLimited(); posts != entries {
		t.Errorf("Slack took %d messages, want the %d of the backlog, once each", posts, entries)
	}
	if n := len(srv.CallsTo("conversations.history")) + len(srv.CallsTo("conversations.replies")); n != 0 {
		t.Errorf("a backlog never handed out made %d look-ups, want none", n)
	}
	return elapsed, srv.RateLimited()
}

// TestBacklogAtSlackPace drains a backlog of 1,000 entries after a restart
// at Slack's pace, scaled a hundredfold (one message per 10 ms per
// conversation after a burst of 3, instead of one a second) so that the test
// stays short: every entry is delivered once, without a storm of 429s.
// BenchmarkBacklogAtSlackPace runs it at Slack's real pace.
func TestBacklogAtSlackPace(t *testing.T) {
	elapsed, limited := drainBacklog(t, 1000, 3, 10*time.Millisecond)
	t.Logf("1,000 entries after a restart at 100 messages/s per conversation: drained in %v, %d 429s", elapsed.Round(time.Millisecond), limited)
	// A storm would be one 429 per message over the limit, hundreds; a
	// loaded machine may bunch a few paced messages.
	if limited > 50 {
		t.Errorf("Slack answered %d 429s to 1,000 messages, want a few at most: the worker paces itself", limited)
	}
}

// BenchmarkBacklogAtSlackPace is TestBacklogAtSlackPace at Slack's real pace
// (one message a second per conversation after a burst of 3): with 500 cards
// in the support channel it takes about eight minutes. Run it with
// go test -run '^$' -bench BacklogAtSlackPace -benchtime 1x ./bot.
func BenchmarkBacklogAtSlackPace(b *testing.B) {
	for b.Loop() {
		elapsed, limited := drainBacklog(b, 1000, 3, time.Second)
		b.ReportMetric(elapsed.Seconds(), "drain-s")
		b.ReportMetric(float64(limited), "429s")
	}
}

// TestPacer checks the pace of one conversation: a burst, then one message
// per interval; a hold stops it until its time; conversations are apart, and
// "" is not paced.
func TestPacer(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	p := NewPacer(3, time.Second)
	steps := []struct {
		at           time.Duration
		conversation string
		want         bool
	}{
		{0, "C1", true}, {0, "C1", true}, {0, "C1", true}, // the burst
		{0, "C1", false},
		{0, "D1", true}, // another conversation
		{0, "", true}, {0, "", true}, {0, "", true}, {0, "", true},
		{999 * time.Millisecond, "C1", false},
		{time.Second, "C1", true}, // one more each second
		{time.Second, "C1", false},
		{5 * time.Second, "C1", true}, {5 * time.Second, "C1", true}, {5 * time.Second, "C1", true},
		{5 * time.Second, "C1", false}, // the bucket holds no more than the burst
	}
	for i, s := range steps {
		if got := p.Allow(s.conversation, t0.Add(s.at)); got != s.want {
			t.Errorf("step %d: Allow(%q, +%v) = %v, want %v", i, s.conversation, s.at, got, s.want)
		}
	}
	p.Hold("D1", t0.Add(30*time.Second)) // a 429 with Retry-After 30
	if p.Allow("D1", t0.Add(29*time.Second)) {
		t.Error("a held conversation took a message before the hold ended")
	}
	if !p.Allow("D1", t0.Add(30*time.Second)) {
		t.Error("a held conversation took no message when the hold ended")
	}
}
