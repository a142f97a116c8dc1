package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/bot"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
	"github.com/astrobot-dev/astrobot/store"
)

// The crash test's load and kill points.
const (
	crashRounds     = 15 // every third a SIGTERM: 10 kills
	crashMinWorkers = 8
	crashMaxWorkers = 16
	crashClickers   = 2 // of the workers, those that press Claim on requests filed before
	crashMinKill    = 50 * time.Millisecond
	crashMaxKill    = 400 * time.Millisecond
	crashUsers      = 8                     // requesters U1 … U8
	crashMaxSubs    = 4096                  // the /24s of 172.16.0.0/12
	crashDeliver    = 2 * time.Minute       // for the backlog the kills leave
	crashLatency    = 20 * time.Millisecond // a slow Slack: deliveries are in flight when the bot dies
	crashPace       = "1000/1ms"            // the fake Slack has no rate limit: the bot need not pace itself
	crashAccount    = "123456789012"
	crashRegion     = "us-east-1"
	crashTeam       = "T0001"
	crashChannel    = "C0001"
	crashSupport    = "CSUPPORT"
)

// crashClusterCount is how many clusters the load spreads over: AWS allows
// at most 125 peerings per VPC, and the load may file thousands.
const crashClusterCount = 64

// crashClusterID names cluster i of the crash test's clusters file.
func crashClusterID(i int) string { return fmt.Sprintf("crash%02d", i) }

// writeCrashClusters writes a clusters file of crashClusterCount clusters of
// one organization, seen by team T0001; their CIDRs, 10.i.0.0/16, overlap no
// 172.16.0.0/12 range of the load.
func writeCrashClusters(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("organizations: [{id: acme, name: Acme, slack_teams: [" + crashTeam + "]}]\nclusters:\n")
	for i := range crashClusterCount {
		fmt.Fprintf(&b, "  - {id: %s, name: %s, organization: acme, region: us-east-1, account_id: \"111111111111\", vpc_id: vpc-%08x, cidrs: [10.%d.0.0/16], external_ips: [203.0.113.%d]}\n",
			crashClusterID(i), crashClusterID(i), i+1, i, i+1)
	}
	path := filepath.Join(t.TempDir(), "clusters.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// peerIDs finds the request IDs a Slack text or payload names.
var peerIDs = regexp.MustCompile(`PEER-(\d+)`)

// peerRef is the reference users see for peering request id: PEER-0042.
func peerRef(id astrobot.RequestID) string {
	d, _ := astrobot.KindOf(astrobot.KindPeering)
	return astrobot.FormatID(d, id)
}

// peeringVPC is the customer VPC a peering request asks for ("" for a
// request of another kind).
func peeringVPC(r astrobot.Request) string {
	p, _ := r.Spec.(astrobot.PeeringSpec)
	return p.VPCID
}

// crashSub is one submission of the load and what became of it.
type crashSub struct {
	n       int // global number: the view, VPC and CIDR derive from it
	round   int
	viewID  string
	user    string
	cluster string
	vpc     string
	cidr    netip.Prefix
	acked   bool               // HTTP 200 with response_action update
	peer    astrobot.RequestID // the ID the acknowledgement named
	err     error              // why it was not acknowledged
	odd     string             // an answer that is neither an acknowledgement nor a lost connection
}

// newCrashSub returns submission n: a valid, distinct request with its own
// view, VPC and /24 of 172.16.0.0/12.
func newCrashSub(n, round int) crashSub {
	return crashSub{
		n:       n,
		round:   round,
		viewID:  fmt.Sprintf("VCRASH%05d", n),
		user:    fmt.Sprintf("U%d", n%crashUsers+1),
		cluster: crashClusterID(n % crashClusterCount),
		vpc:     fmt.Sprintf("vpc-%017x", 0xc0ffee00000+n),
		cidr:    netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(16 + n>>8), byte(n), 0}), 24),
	}
}

// send posts s to the bot at u and records the outcome in s. A connection
// that fails, resets or closes before the whole answer arrived leaves s
// unacknowledged.
func (s *crashSub) send(client *http.Client, u string) {
	body := submission(peerForm{viewID: s.viewID, cluster: s.cluster, account: crashAccount, region: crashRegion,
		vpc: s.vpc, cidrs: s.cidr.String()}, s.user, crashTeam, crashChannel)
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		s.odd = err.Error()
		return
	}
	for k, v := range bot.Sign(testSecret, time.Now(), body) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", form)
	resp, err := client.Do(req)
	if err != nil {
		s.err = err
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.err = err
		return
	}
	var a viewAck
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &a) != nil || a.ResponseAction != "update" {
		s.odd = fmt.Sprintf("status %d: %s", resp.StatusCode, b)
		return
	}
	m := peerIDs.FindSubmatch(a.View)
	if m == nil {
		s.odd = fmt.Sprintf("the filed view names no request: %s", a.View)
		return
	}
	id, err := strconv.ParseUint(string(m[1]), 10, 64)
	if err != nil {
		s.odd = fmt.Sprintf("the filed view names %s: %v", m[0], err)
		return
	}
	s.acked, s.peer = true, astrobot.RequestID(id)
}

// crashStore is what inspectStore found in the database.
type crashStore struct {
	byID   map[astrobot.RequestID]astrobot.Request
	byVPC  map[string]astrobot.Request
	outbox store.QueueStats
}

// inspectStore opens the database of a stopped bot and checks it against
// every submission sent so far: each acknowledged submission is stored once
// under the ID its acknowledgement named; each stored request is a complete
// submission (its record, event 0 and its index entries), of a submission that
// was sent; the IDs run 1…N without gaps, since bbolt's bucket sequence only
// moves in a committed transaction and a batch of submissions commits whole
// or not at all.
func inspectStore(t *testing.T, dbPath string, subs []crashSub) crashStore {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(dbPath, store.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open the database of the stopped bot: %v", err)
	}
	defer db.Close()
	sent := make(map[string]crashSub, len(subs))
	for _, s := range subs {
		sent[s.vpc] = s
	}
	st := crashStore{byID: make(map[astrobot.RequestID]astrobot.Request), byVPC: make(map[string]astrobot.Request)}

	// Every record, found by ID rather than through an index. There cannot be
	// more requests than submissions: look one past.
	for id := astrobot.RequestID(1); id <= astrobot.RequestID(len(subs)+1); id++ {
		r, err := db.Request(ctx, id)
		if astrobot.ErrorCodeOf(err) == astrobot.ENotFound {
			continue
		}
		if err != nil {
			t.Fatalf("read %d: %v", id, err)
		}
		st.byID[id] = r
		vpc := peeringVPC(r)
		s, ok := sent[vpc]
		switch {
		case !ok:
			t.Errorf("%s is stored for VPC %s, which no submission asked for: %+v", r.Ref(), vpc, r)
			continue
		case st.byVPC[vpc].ID != 0:
			t.Errorf("VPC %s (view %s) is stored twice: %s and %s", s.vpc, s.viewID, peerRef(st.byVPC[vpc].ID), r.Ref())
			continue
		}
		st.byVPC[vpc] = r
		want := astrobot.PeeringSpec{AccountID: crashAccount, Region: crashRegion, VPCID: s.vpc, CIDRs: []netip.Prefix{s.cidr}}
		if diff := cmp.Diff(astrobot.Spec(want), r.Spec, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
			t.Errorf("%s (view %s): peering spec differs from the submission (-sent +stored):\n%s", r.Ref(), s.viewID, diff)
		}
		if r.Kind != astrobot.KindPeering || r.Requester.UserID != s.user || r.ClusterID != s.cluster || r.Status != astrobot.StatusSubmitted {
			t.Errorf("%s (view %s): kind %s, requester %s, cluster %s, status %s; sent by %s for %s, want kind %s, status submitted",
				r.Ref(), s.viewID, r.Kind, r.Requester.UserID, r.ClusterID, r.Status, s.user, s.cluster, astrobot.KindPeering)
		}
		_, events, err := db.History(ctx, id)
		if err != nil {
			t.Fatalf("history of %s: %v", r.Ref(), err)
		}
		if len(events) == 0 || events[0].Seq != 0 || events[0].Action != astrobot.ActSubmit ||
			events[0].To != astrobot.StatusSubmitted || events[0].Actor != s.user {
			t.Errorf("%s (view %s) is half-stored: events %+v, want its submission event 0 by %s first", r.Ref(), s.viewID, events, s.user)
		}
		for i, e := range events[min(1, len(events)):] {
			if e.Seq != i+1 || e.Action != astrobot.ActClaim || e.To != astrobot.StatusSubmitted || (e.Actor != "USUPPORT" && e.Actor != "USUPPORT2") {
				t.Errorf("%s: event %+v, want only support's claims after the submission", r.Ref(), e)
			}
		}
	}
	if last := slices.Max(append(slices.Collect(maps.Keys(st.byID)), 0)); int(last) != len(st.byID) {
		ids := slices.Sorted(maps.Keys(st.byID))
		t.Errorf("request IDs are not 1…%d without gaps: %v", len(st.byID), ids)
	}

	// Every acknowledged submission is stored, under the ID it was told.
	for _, s := range subs {
		if !s.acked {
			continue
		}
		r, ok := st.byVPC[s.vpc]
		switch {
		case !ok:
			t.Errorf("LOST: view %s (VPC %s, round %d) was acknowledged as %s but is not stored", s.viewID, s.vpc, s.round, peerRef(s.peer))
		case r.ID != s.peer:
			t.Errorf("view %s (VPC %s, round %d) was acknowledged as %s but is stored as %s", s.viewID, s.vpc, s.round, peerRef(s.peer), r.Ref())
		}
	}

	// The indexes hold every stored request and nothing else.
	wantMine := make(map[string][]astrobot.RequestID)
	wantCluster := make(map[string][]astrobot.RequestID)
	for id, r := range st.byID {
		wantMine[r.Requester.UserID] = append(wantMine[r.Requester.UserID], id)
		wantCluster[r.ClusterID] = append(wantCluster[r.ClusterID], id)
	}
	ids := func(rs []astrobot.Request) []astrobot.RequestID {
		out := make([]astrobot.RequestID, len(rs))
		for i, r := range rs {
			out[i] = r.ID
		}
		slices.Sort(out)
		return out
	}
	for u := 1; u <= crashUsers; u++ {
		user := fmt.Sprintf("U%d", u)
		mine, err := db.RequestsByRequester(ctx, user, 0)
		if err != nil {
			t.Fatalf("requests of %s: %v", user, err)
		}
		want := wantMine[user]
		slices.Sort(want)
		if diff := cmp.Diff(want, ids(mine), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("the requester index of %s differs from the stored requests (-stored +index):\n%s", user, diff)
		}
	}
	for i := range crashClusterCount {
		cl := crashClusterID(i)
		rs, err := db.RequestsByCluster(ctx, cl, 0)
		if err != nil {
			t.Fatalf("requests of %s: %v", cl, err)
		}
		want := wantCluster[cl]
		slices.Sort(want)
		if diff := cmp.Diff(want, ids(rs), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("the cluster index of %s differs from the stored requests (-stored +index):\n%s", cl, diff)
		}
	}
	counts, err := db.RequestCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for s, n := range counts {
		want := 0
		if s == astrobot.StatusSubmitted {
			want = len(st.byID)
		}
		if n != want {
			t.Errorf("the status index counts %d %s requests, want %d", n, s, want)
		}
	}
	if st.outbox, err = db.Outbox().Stats(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// deliveries indexes the support cards and receipts the fake Slack recorded,
// by the request they name.
type deliveries struct {
	cards    map[astrobot.RequestID]int
	receipts map[astrobot.RequestID]int
}

// recordedDeliveries reads the chat.postMessage calls of slack: a card is a
// post to the support channel whose blocks name the request and its VPC, a
// receipt a post to the requester's DM whose text names the request.
func recordedDeliveries(slack *fakeslack.Server, st crashStore) deliveries {
	d := deliveries{cards: make(map[astrobot.RequestID]int), receipts: make(map[astrobot.RequestID]int)}
	for _, c := range slack.CallsTo("chat.postMessage") {
		channel, blocks, text := c.Param("channel"), c.Param("blocks"), c.Param("text")
		named := func(s string) []astrobot.RequestID {
			var out []astrobot.RequestID
			for _, m := range peerIDs.FindAllStringSubmatch(s, -1) {
				if n, err := strconv.ParseUint(m[1], 10, 64); err == nil {
					out = append(out, astrobot.RequestID(n))
				}
			}
			return slices.Compact(out)
		}
		if channel == crashSupport {
			for _, id := range named(blocks) {
				if r, ok := st.byID[id]; ok && strings.Contains(blocks, peeringVPC(r)) {
					d.cards[id]++
				}
			}
			continue
		}
		for _, id := range named(text) {
			if r, ok := st.byID[id]; ok && channel == "D"+r.Requester.UserID {
				d.receipts[id]++
			}
		}
	}
	return d
}

// missing returns the stored requests without a card or a receipt.
func (d deliveries) missing(st crashStore) (cards, receipts []astrobot.RequestID) {
	for id := range st.byID {
		if d.cards[id] == 0 {
			cards = append(cards, id)
		}
		if d.receipts[id] == 0 {
			receipts = append(receipts, id)
		}
	}
	slices.Sort(cards)
	slices.Sort(receipts)
	return cards, receipts
}

// deliveryCalls counts the Slack calls that deliver one outbox entry each.
func deliveryCalls(calls []fakeslack.Call) int {
	n := 0
	for _, c := range calls {
		switch c.Method {
		case "chat.postMessage", "chat.update", "views.publish":
			n++
		}
	}
	return n
}

// gauge reads one series of the bot's /metrics, such as
// astrobot_outbox_depth or astrobot_requests{status="submitted"}.
func gauge(opsURL, series string) (float64, error) {
	resp, err := http.Get(opsURL + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("/metrics has no series %s", series)
}

// TestE2ECrashUnderLoad kills the bot with SIGKILL (every third round: stops it
// with SIGTERM) while concurrent users file peering requests, several times
// over one database, then restarts it: every
// acknowledged submission is stored exactly once, nothing is half-stored, and
// every stored request's notifications reach Slack after the restart.
//
// ASTROBOT_CRASH_SEED replays the kill points of a logged run.
func TestE2ECrashUnderLoad(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("ASTROBOT_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("ASTROBOT_CRASH_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (replay with ASTROBOT_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	slack := fakeslack.New(fakeslack.WithTest(t), fakeslack.WithLatency(crashLatency))
	defer slack.Close()
	dbPath := filepath.Join(t.TempDir(), "crash.db")
	env := botEnv(t, slack, dbPath, "ASTROBOT_CLUSTERS="+writeCrashClusters(t),
		"ASTROBOT_SUPPORT_USERS=USUPPORT,USUPPORT2", "ASTROBOT_SLACK_PACE="+crashPace)

	var (
		subs   []crashSub
		next   atomic.Int64
		st     crashStore
		clicks atomic.Int64
	)
	for round := 1; round <= crashRounds; round++ {
		workers := crashMinWorkers + rng.IntN(crashMaxWorkers-crashMinWorkers+1)
		killAfter := crashMinKill + time.Duration(rng.Int64N(int64(crashMaxKill-crashMinKill)+1))
		p := start(t, env)

		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
		stop := make(chan struct{})
		sent := make([][]crashSub, workers)
		var exhausted atomic.Bool
		var wg sync.WaitGroup
		began := time.Now()
		filed := acked(subs)
		for c := range crashClickers {
			// Support presses Claim on the requests filed in earlier
			// rounds: each claim updates a card and posts a thread line.
			wg.Go(func() {
				for i := c; len(filed) > 0; i += crashClickers {
					select {
					case <-stop:
						return
					default:
					}
					who := []string{"USUPPORT", "USUPPORT2"}[i/len(filed)%2]
					body := press(who, handlers.ActionButton(astrobot.ActClaim), peerRef(filed[i%len(filed)]))
					req, err := http.NewRequest(http.MethodPost, p.httpURL, bytes.NewReader(body))
					if err != nil {
						return
					}
					for k, v := range bot.Sign(testSecret, time.Now(), body) {
						req.Header[k] = v
					}
					req.Header.Set("Content-Type", form)
					resp, err := client.Do(req)
					if err != nil {
						if errors.Is(err, syscall.ECONNREFUSED) {
							return
						}
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					clicks.Add(1)
				}
			})
		}
		for w := range workers {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					n := int(next.Add(1) - 1)
					if n >= crashMaxSubs {
						exhausted.Store(true)
						return
					}
					s := newCrashSub(n, round)
					s.send(client, p.httpURL)
					sent[w] = append(sent[w], s)
					if errors.Is(s.err, syscall.ECONNREFUSED) {
						return // the bot is down: nothing more to send this round
					}
				}
			})
		}
		time.Sleep(killAfter)
		// Every third round is a graceful restart instead: SIGTERM under
		// load must finish the requests in flight and exit 0; the checks
		// below are the same.
		sig := syscall.SIGKILL
		if round%3 == 0 {
			sig = syscall.SIGTERM
		}
		if err := p.stop(sig); sig == syscall.SIGTERM && err != nil {
			t.Errorf("round %d: SIGTERM under load: exit %v, want 0\n%s", round, err, p.log())
		}
		killedAt := time.Since(began)
		close(stop)
		wg.Wait()
		client.CloseIdleConnections()
		if exhausted.Load() {
			t.Fatalf("round %d: the load used up the %d distinct CIDRs before the kill", round, crashMaxSubs)
		}

		var acked, failed, refused int
		for _, ws := range sent {
			for _, s := range ws {
				switch {
				case s.odd != "":
					t.Errorf("round %d: view %s (valid and distinct) got neither an acknowledgement nor a lost connection: %s", round, s.viewID, s.odd)
				case s.acked:
					acked++
				default:
					failed++
					if errors.Is(s.err, syscall.ECONNREFUSED) {
						refused++ // a new connection after the kill
					}
				}
				subs = append(subs, s)
			}
		}
		slices.SortFunc(subs, func(a, b crashSub) int { return a.n - b.n })
		if failed == 0 {
			t.Errorf("round %d: no submission was cut off by the kill at %v: the load was not running", round, killedAt)
		}

		outboxBefore := st.outbox.Depth
		st = inspectStore(t, dbPath, subs)
		var stored, storedUnacked int
		for _, s := range subs {
			if s.round != round {
				continue
			}
			if _, ok := st.byVPC[s.vpc]; ok {
				stored++
				if !s.acked {
					storedUnacked++
				}
			}
		}
		t.Logf("round %d: %d workers, %v %v after the load began (drawn %v); sent %d, acknowledged %d, cut off %d (%d on an open connection, %d refused); stored %d (%d of them cut off after commit); outbox %d → %d entries, %d dead letters; %d requests in all",
			round, workers, sig, killedAt.Round(time.Millisecond), killAfter.Round(time.Millisecond), acked+failed, acked, failed, failed-refused, refused,
			stored, storedUnacked, outboxBefore, st.outbox.Depth, st.outbox.DeadLetters, len(st.byID))
		if t.Failed() {
			t.FailNow()
		}
	}

	// Restart with no load: whatever the kills left in the outbox goes out.
	// The bot holds the database while it runs; its /metrics reads the
	// outbox depth from it, and the fake Slack shows what arrived.
	pending := st.outbox.Depth
	allowed := crashDeliver
	callsBefore := len(slack.Calls())
	restarted := time.Now()
	p := start(t, env)
	ready := time.Since(restarted)
	deadline := time.Now().Add(allowed)
	var (
		d                 deliveries
		noCard, noReceipt []astrobot.RequestID
		depth             = -1.0
		scrapeErr         error
	)
	for {
		d = recordedDeliveries(slack, st)
		noCard, noReceipt = d.missing(st)
		if len(noCard) == 0 && len(noReceipt) == 0 {
			if depth, scrapeErr = gauge(p.opsURL, "astrobot_outbox_depth"); scrapeErr == nil && depth == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("%v after the restart: outbox depth %v (%v) of %d left by the kills; no card for %v; no receipt for %v\n%s",
				allowed, depth, scrapeErr, pending, noCard, noReceipt, p.log())
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(restarted)
	if n, err := gauge(p.opsURL, `astrobot_requests{status="submitted"}`); err != nil || int(n) != len(st.byID) {
		t.Errorf("the restarted bot counts %v submitted requests (%v), want the %d stored", n, err, len(st.byID))
	}
	sinceRestart := deliveryCalls(slack.Calls()[callsBefore:])
	if err := p.stop(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM after the restart: exit %v, want 0\n%s", err, p.log())
	}
	lookups := len(slack.CallsTo("conversations.history")) + len(slack.CallsTo("conversations.replies"))
	lookupsAfter := 0
	for _, c := range slack.Calls()[callsBefore:] {
		if c.Method == "conversations.history" || c.Method == "conversations.replies" {
			lookupsAfter++
		}
	}
	t.Logf("restart: ready in %v; the %d outbox entries left by the kills delivered %v after the restart, in %d card, thread, receipt and App Home calls; look-ups of deliveries that may have happened: %d after the restart, %d in all",
		ready.Round(time.Millisecond), pending, took.Round(time.Millisecond), sinceRestart, lookupsAfter, lookups)

	final := inspectStore(t, dbPath, subs)
	if final.outbox.Depth != 0 || final.outbox.DeadLetters != 0 {
		t.Errorf("after delivery and SIGTERM the outbox holds %d entries (oldest %v) and %d dead letters, want none",
			final.outbox.Depth, final.outbox.Oldest, final.outbox.DeadLetters)
	}
	var noRef []astrobot.RequestID
	for id, r := range final.byID {
		if r.Card.Channel != crashSupport || r.Card.TS == "" {
			noRef = append(noRef, id)
		}
	}
	slices.Sort(noRef)
	if len(noRef) > 0 {
		t.Errorf("requests whose posted card is not recorded on them: %v", noRef)
	}
	d = recordedDeliveries(slack, final)
	var acked, cards, receipts, cardTwice, receiptTwice int
	for _, s := range subs {
		if s.acked {
			acked++
		}
	}
	for id := range final.byID {
		cards += min(d.cards[id], 1)
		receipts += min(d.receipts[id], 1)
		if d.cards[id] > 1 {
			cardTwice++
		}
		if d.receipts[id] > 1 {
			receiptTwice++
		}
	}
	entryTwice := postedTwice(slack)
	t.Logf("in all: %d rounds (%d kills), %d submissions sent, %d acknowledged, %d stored (IDs 1…%d), %d claims pressed; %d with a card and %d with a receipt; "+
		"posted more than once: %d cards, %d receipts, %d outbox entries of any kind",
		crashRounds, crashRounds-crashRounds/3, len(subs), acked, len(final.byID), len(final.byID), clicks.Load(), cards, receipts, cardTwice, receiptTwice, len(entryTwice))
	if cardTwice > 0 || receiptTwice > 0 || len(entryTwice) > 0 {
		t.Errorf("posted twice: %d cards, %d receipts; outbox entries posted more than once (entry: times): %v", cardTwice, receiptTwice, entryTwice)
	}
}

// acked returns the IDs of the acknowledged submissions among subs.
func acked(subs []crashSub) []astrobot.RequestID {
	var out []astrobot.RequestID
	for _, s := range subs {
		if s.acked {
			out = append(out, s.peer)
		}
	}
	return out
}

// postedTwice returns the outbox entries whose message the fake Slack holds
// more than once, with how many times, from the metadata every message the
// bot posts carries: cards and receipts, thread lines too.
func postedTwice(slack *fakeslack.Server) map[string]int {
	seen := map[string]int{}
	channels := map[string]bool{crashSupport: true}
	for u := 1; u <= crashUsers; u++ {
		channels[fmt.Sprintf("DU%d", u)] = true
	}
	for ch := range channels {
		for _, m := range slack.Messages(ch) {
			var meta struct {
				EventType    string            `json:"event_type"`
				EventPayload map[string]string `json:"event_payload"`
			}
			if json.Unmarshal(m.Metadata, &meta) == nil && meta.EventType == handlers.DeliveryEventType {
				seen[meta.EventPayload["entry"]]++
			}
		}
	}
	for k, n := range seen {
		if n < 2 {
			delete(seen, k)
		}
	}
	return seen
}
