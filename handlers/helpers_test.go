package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/clocktest"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
	"github.com/astrobot-dev/astrobot/store"
)

// Slack identities of the tests. User IDs start with U so that the fake Slack
// treats them as users.
const (
	teamAcme   = "TACME"
	teamGlobex = "TGLOBEX"
	teamAstro  = "TASTRO"
	teamGuest  = "TGUEST"

	chanAcmeShared = "CACMESHARED" // a Slack Connect channel mapped to acme
	chanGeneral    = "CGENERAL"    // mapped to nobody
	chanSupport    = "CSUPPORT"    // where support cards go

	userAlice   = "UALICE"   // acme, files requests
	userBob     = "UBOB"     // acme, a colleague of Alice
	userGina    = "UGINA"    // globex
	userGuest   = "UGUEST"   // another workspace, in acme's shared channel
	userSupport = "USUPPORT" // the support team
)

// caller is who runs a command, and from where.
type caller struct{ user, team, channel string }

var (
	alice   = caller{userAlice, teamAcme, chanGeneral}
	bob     = caller{userBob, teamAcme, chanGeneral}
	gina    = caller{userGina, teamGlobex, chanGeneral}
	guest   = caller{userGuest, teamGuest, chanAcmeShared}
	outside = caller{userGuest, teamGuest, chanGeneral}
	support = caller{userSupport, teamAstro, chanSupport}
)

// start is the time of the fixed clock every test starts from.
var start = time.Date(2025, 3, 4, 15, 4, 5, 0, time.UTC)

// clock is the settable clock of these tests.
type clock = clocktest.Clock

func newClock() *clock { return clocktest.New(start) }

// fakeSupport is the support team: a fixed set of users.
type fakeSupport map[string]bool

func (s fakeSupport) IsSupport(ctx context.Context, userID string) bool { return s[userID] }

func orgs() []astrobot.Organization {
	return []astrobot.Organization{
		{ID: "acme", Name: "Acme", SlackTeams: []string{teamAcme}, SlackChannels: []string{chanAcmeShared}},
		{ID: "globex", Name: "Globex", SlackTeams: []string{teamGlobex}},
	}
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// Clusters of the tests: two of acme, one of globex.
var (
	acmeProd = astrobot.Cluster{ID: "cl-acme-prod", Name: "Prod-East", Organization: "acme", Region: "us-east-1",
		AccountID: "111111111111", VPCID: "vpc-0a1b2c3d4e5f60718", CIDRs: prefixes("10.0.0.0/16", "10.1.0.0/16"),
		ExternalIPs: addrs("3.3.3.3", "3.3.3.4", "54.1.2.3")}
	acmeDev = astrobot.Cluster{ID: "cl-acme-dev", Name: "dev-west", Organization: "acme", Region: "us-west-2",
		AccountID: "111111111111", VPCID: "vpc-11112222", CIDRs: prefixes("10.2.0.0/16"),
		ExternalIPs: addrs("44.0.0.1")}
	globexProd = astrobot.Cluster{ID: "cl-globex-prod", Name: "Globex-Main", Organization: "globex", Region: "eu-west-1",
		AccountID: "222222222222", VPCID: "vpc-33334444", CIDRs: prefixes("172.20.0.0/16"),
		ExternalIPs: addrs("52.0.0.1", "52.0.0.2")}
)

func testClusters() []astrobot.Cluster {
	return []astrobot.Cluster{acmeProd, acmeDev, globexProd}
}

// env is a Handler wired to real parts: the slack-go client talking to the
// fake Slack, a bbolt store in a temporary directory, the static directory.
type env struct {
	srv   *fakeslack.Server
	db    *store.DB
	clock *clock
	logs  *logRecorder
	h     *handlers.Handler
}

// options adjusts the Config of a test Handler.
type option func(*handlers.Config)

func withDirectory(d handlers.Directory) option {
	return func(c *handlers.Config) { c.Directory = d }
}

func withClusters(cs []astrobot.Cluster) option {
	return withDirectory(cloud.NewStatic(cs))
}

func withLookupTimeout(d time.Duration) option {
	return func(c *handlers.Config) { c.LookupTimeout = d }
}

func newEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	return newEnvWith(t, nil, opts...)
}

// newEnvWith is newEnv with a fake Slack made with slackOpts too.
func newEnvWith(t *testing.T, slackOpts []fakeslack.Option, opts ...option) *env {
	t.Helper()
	srv := fakeslack.New(append([]fakeslack.Option{fakeslack.WithTest(t)}, slackOpts...)...)
	t.Cleanup(srv.Close)
	clk := newClock()
	db, err := store.Open(filepath.Join(t.TempDir(), "a.db"), store.Options{Now: clk.Now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	logs := newLogRecorder()
	cfg := handlers.Config{
		Directory:      cloud.NewStatic(testClusters()),
		Tenancy:        astrobot.NewTenancy(orgs()),
		Requests:       db,
		Support:        fakeSupport{userSupport: true},
		Slack:          slack.New("xoxb-test", slack.OptionAPIURL(srv.APIURL())),
		SupportChannel: chanSupport,
		Now:            clk.Now,
		Logger:         slog.New(logs),
	}
	for _, o := range opts {
		o(&cfg)
	}
	h := handlers.New(cfg)
	t.Cleanup(h.Close)
	return &env{srv: srv, db: db, clock: clk, logs: logs, h: h}
}

// testContext returns a context that ends with the test, or after 10 seconds.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// command runs a slash command as c.
func (e *env) command(t *testing.T, c caller, command, text string) *slack.Msg {
	t.Helper()
	msg := e.h.SlashCommand(testContext(t), slack.SlashCommand{
		Command: command, Text: text, UserID: c.user, TeamID: c.team, ChannelID: c.channel,
		TriggerID: "trigger-" + c.user,
	})
	checkAck(t, fakeslack.CheckCommandAck, msg)
	return msg
}

// checkAck fails t when the ack payload v breaks Slack's rules, as check
// (one of fakeslack's Check*Ack) finds them.
func checkAck(t *testing.T, check func([]byte) []fakeslack.Violation, v any) {
	t.Helper()
	body := []byte("{}")
	if v != nil && !reflect.ValueOf(v).IsNil() {
		body = []byte(mustJSON(t, v))
	}
	for _, p := range check(body) {
		t.Errorf("the ack breaks Slack's rules: %s", p)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return string(b)
}

// msgText returns the text of a message: its fallback text and the text of
// every section block, one per line.
func msgText(m *slack.Msg) string {
	if m == nil {
		return ""
	}
	parts := []string{m.Text}
	for _, b := range m.Blocks.BlockSet {
		if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil {
			parts = append(parts, s.Text.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// checkText reports each of want missing from got and each of notWant in it.
func checkText(t *testing.T, got string, want, notWant []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("reply lacks %q; reply:\n%s", w, got)
		}
	}
	for _, w := range notWant {
		if strings.Contains(got, w) {
			t.Errorf("reply contains %q; reply:\n%s", w, got)
		}
	}
}

// clusterFacts returns every IP, the VPC ID and every CIDR of cl as text.
func clusterFacts(cl astrobot.Cluster) []string {
	facts := []string{cl.ID, cl.VPCID}
	for _, ip := range cl.ExternalIPs {
		facts = append(facts, ip.String())
	}
	for _, p := range cl.CIDRs {
		facts = append(facts, p.String())
	}
	return facts
}

// peerForm is what a user typed into the peering modal.
type peerForm struct {
	cluster, account, region, vpc, cidrs, note string
}

func validForm() peerForm {
	return peerForm{cluster: acmeProd.ID, account: "123456789012", region: "us-east-1",
		vpc: "vpc-0abc12345678def90", cidrs: "192.168.0.0/20"}
}

// openModal runs /astro-peer as c and returns the private metadata of the
// modal the handler opened: the peering form.
func (e *env) openModal(t *testing.T, c caller) string {
	t.Helper()
	before := len(e.srv.CallsTo("views.open"))
	if msg := e.command(t, c, handlers.CommandPeer, ""); msg != nil {
		t.Fatalf("/astro-peer as %s answered %q, want the modal", c.user, msgText(msg))
	}
	calls := e.srv.CallsTo("views.open")
	if len(calls) != before+1 {
		t.Fatalf("views.open calls = %d, want %d", len(calls), before+1)
	}
	view, _ := calls[len(calls)-1].JSON["view"].(map[string]any)
	meta, _ := view["private_metadata"].(string)
	return meta
}

// submission builds the view_submission Slack sends when c submits the
// peering modal viewID, opened with private metadata meta.
func submission(c caller, viewID, meta string, f peerForm) slack.InteractionCallback {
	values := map[string]map[string]slack.BlockAction{}
	selected := func(name, v string) {
		values[handlers.FieldBlock(name)] = map[string]slack.BlockAction{
			handlers.FieldAction(name): {Type: "static_select", SelectedOption: slack.OptionBlockObject{Value: v}}}
	}
	input := func(name, v string) {
		values[handlers.FieldBlock(name)] = map[string]slack.BlockAction{handlers.FieldAction(name): {Type: "plain_text_input", Value: v}}
	}
	selected(astrobot.FieldCluster, f.cluster)
	input(astrobot.FieldAccount, f.account)
	selected(astrobot.FieldRegion, f.region)
	input(astrobot.FieldVPC, f.vpc)
	input(astrobot.FieldCIDRs, f.cidrs)
	input(astrobot.FieldNote, f.note)
	return slack.InteractionCallback{
		Type: slack.InteractionTypeViewSubmission,
		User: slack.User{ID: c.user, TeamID: c.team},
		Team: slack.Team{ID: c.team},
		View: slack.View{ID: viewID, Type: slack.VTModal, CallbackID: handlers.CallbackRequest,
			PrivateMetadata: meta, State: &slack.ViewState{Values: values}},
	}
}

// submit opens the modal as c and submits f from view viewID.
func (e *env) submit(t *testing.T, c caller, viewID string, f peerForm) *slack.ViewSubmissionResponse {
	t.Helper()
	meta := e.openModal(t, c)
	return e.submitView(t, submission(c, viewID, meta, f))
}

// submitView sends a view_submission to the handler.
func (e *env) submitView(t *testing.T, cb slack.InteractionCallback) *slack.ViewSubmissionResponse {
	t.Helper()
	got := e.h.Interaction(testContext(t), cb)
	resp, ok := got.(*slack.ViewSubmissionResponse)
	if !ok {
		t.Fatalf("Interaction(view_submission) = %T %v, want *slack.ViewSubmissionResponse", got, got)
	}
	checkAck(t, fakeslack.CheckViewSubmissionAck, resp)
	return resp
}

// mustFile submits f as c and fails the test unless a request is filed.
func (e *env) mustFile(t *testing.T, c caller, viewID string, f peerForm) astrobot.RequestID {
	t.Helper()
	resp := e.submit(t, c, viewID, f)
	if resp.ResponseAction != slack.RAUpdate {
		t.Fatalf("submission from %s: response_action %q, errors %v; want update", viewID, resp.ResponseAction, resp.Errors)
	}
	rs, err := e.db.RequestsByRequester(testContext(t), c.user, 1)
	if err != nil || len(rs) == 0 {
		t.Fatalf("RequestsByRequester(%s) = %v, %v; want the new request", c.user, rs, err)
	}
	return rs[0].ID
}

// requestCount returns the number of requests in the store, in any status.
func (e *env) requestCount(t *testing.T) int {
	t.Helper()
	counts, err := e.db.RequestCounts(testContext(t))
	if err != nil {
		t.Fatalf("RequestCounts: %v", err)
	}
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// viewText returns the text of every section of a modal.
func viewText(v *slack.ModalViewRequest) string {
	if v == nil {
		return ""
	}
	var parts []string
	for _, b := range v.Blocks.BlockSet {
		if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil {
			parts = append(parts, s.Text.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// logRecorder is a slog.Handler that keeps every record and signals each one.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
	signal  chan slog.Record
}

func newLogRecorder() *logRecorder {
	return &logRecorder{signal: make(chan slog.Record, 100)}
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	select {
	case l.signal <- r.Clone():
	default:
	}
	return nil
}

// messages returns the messages logged at level or above.
func (l *logRecorder) messages(level slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.records {
		if r.Level >= level {
			out = append(out, r.Message)
		}
	}
	return out
}

// waitFor waits for a record at level whose message contains msg.
func (l *logRecorder) waitFor(t *testing.T, level slog.Level, msg string) {
	t.Helper()
	ctx := testContext(t)
	for {
		select {
		case r := <-l.signal:
			if r.Level >= level && strings.Contains(r.Message, msg) {
				return
			}
		case <-ctx.Done():
			t.Fatalf("no %s log %q within the deadline; logged: %v", level, msg, l.messages(slog.LevelDebug))
		}
	}
}

// jsonSize returns the length of v encoded as JSON.
func jsonSize(t *testing.T, v any) int {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return len(b)
}

// manyClusters returns n clusters of org, each with two IPs and one CIDR.
func manyClusters(org string, n int) []astrobot.Cluster {
	out := make([]astrobot.Cluster, n)
	for i := range n {
		out[i] = astrobot.Cluster{
			ID:           fmt.Sprintf("cl-%s-%04d", org, i),
			Name:         fmt.Sprintf("%s-analytics-cluster-%04d", org, i),
			Organization: org,
			Region:       "us-east-1",
			AccountID:    "111111111111",
			VPCID:        fmt.Sprintf("vpc-%08x", i),
			CIDRs:        []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)},
			ExternalIPs:  []netip.Addr{netip.AddrFrom4([4]byte{3, 1, byte(i >> 8), byte(i)}), netip.AddrFrom4([4]byte{3, 2, byte(i >> 8), byte(i)})},
		}
	}
	return out
}

// peeringNext is the next-step sentence of status s of a peering.
func peeringNext(s astrobot.Status) string {
	d, _ := astrobot.KindOf(astrobot.KindPeering)
	return astrobot.NextOf(d, s)
}

// peeringRequest is request id of alice, a peering of acmeProd in status s.
func peeringRequest(id astrobot.RequestID, s astrobot.Status) astrobot.Request {
	return astrobot.Request{ID: id, Kind: astrobot.KindPeering, Status: s, ClusterID: acmeProd.ID,
		Requester: astrobot.Requester{UserID: userAlice, TeamID: teamAcme},
		Spec:      astrobot.PeeringSpec{AccountID: "123456789012", Region: "us-east-1", VPCID: "vpc-12345678", CIDRs: prefixes("192.168.0.0/20")}}
}
