package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/store"
)

// fuzzSlack is the Slack Web API of the fuzz targets: every call succeeds and
// what it would show someone is kept until the next reset, so a fuzz run
// neither touches the network nor grows without bound.
type fuzzSlack struct {
	mu    sync.Mutex
	calls int
	shown []any // modals opened and published, and the form values of messages posted
}

func (s *fuzzSlack) record(v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.shown = append(s.shown, v)
}

func (s *fuzzSlack) recordMsg(channel string, options []slack.MsgOption) error {
	_, values, err := slack.UnsafeApplyMsgOptions("xoxb-fuzz", channel, "https://slack.invalid/api/", options...)
	if err != nil {
		return err
	}
	s.record(values)
	return nil
}

// reset forgets what was shown and returns it.
func (s *fuzzSlack) reset() []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	shown := s.shown
	s.shown = nil
	return shown
}

func (s *fuzzSlack) OpenViewContext(_ context.Context, _ string, view slack.ModalViewRequest) (*slack.ViewResponse, error) {
	s.record(view)
	return &slack.ViewResponse{}, nil
}

func (s *fuzzSlack) PostMessageContext(_ context.Context, channel string, options ...slack.MsgOption) (string, string, error) {
	return channel, "1700000000.000100", s.recordMsg(channel, options)
}

func (s *fuzzSlack) UpdateMessageContext(_ context.Context, channel, ts string, options ...slack.MsgOption) (string, string, string, error) {
	return channel, ts, "", s.recordMsg(channel, options)
}

func (s *fuzzSlack) PostEphemeralContext(_ context.Context, channel, _ string, options ...slack.MsgOption) (string, error) {
	return "1700000000.000200", s.recordMsg(channel, options)
}

func (s *fuzzSlack) OpenConversationContext(_ context.Context, params *slack.OpenConversationParameters) (*slack.Channel, bool, bool, error) {
	s.record(params)
	ch := &slack.Channel{}
	ch.ID = "DFUZZ"
	return ch, false, false, nil
}

func (s *fuzzSlack) PublishViewContext(_ context.Context, req slack.PublishViewContextRequest) (*slack.ViewResponse, error) {
	s.record(req.View)
	return &slack.ViewResponse{}, nil
}

func (s *fuzzSlack) GetConversationHistoryContext(context.Context, *slack.GetConversationHistoryParameters) (*slack.GetConversationHistoryResponse, error) {
	return &slack.GetConversationHistoryResponse{}, nil
}

func (s *fuzzSlack) GetConversationRepliesContext(context.Context, *slack.GetConversationRepliesParameters) ([]slack.Message, bool, string, error) {
	return nil, false, "", nil
}

// fuzzNoSupport is a support team nobody belongs to.
type fuzzNoSupport struct{}

func (fuzzNoSupport) IsSupport(context.Context, string) bool { return false }

// fuzzNoNetwork fails every HTTP request a handler would make (response URLs).
type fuzzNoNetwork struct{}

func (fuzzNoNetwork) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, errors.New("fuzz: no network: " + r.URL.Redacted())
}

// Slack identities of the fuzz targets. Team T9999 and channel C9999 are
// mapped to no organization.
const (
	fuzzTeamAcme   = "TACME"
	fuzzTeamGlobex = "TGLOBEX"
	fuzzOwner      = "UFUZZOWNER" // acme; filed the one request in the store
	fuzzMember     = "UFUZZMEMBER"
	fuzzOutsider   = "U9999"
)

func fuzzPrefix(s string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(s)} }

func fuzzAddrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// fuzzClusters returns two clusters of acme and one of globex.
func fuzzClusters() []astrobot.Cluster {
	return []astrobot.Cluster{
		{ID: "cl-acme-prod", Name: "Prod-East", Organization: "acme", Region: "us-east-1", AccountID: "111111111111",
			VPCID: "vpc-0a1b2c3d4e5f60718", CIDRs: fuzzPrefix("10.0.0.0/16"), ExternalIPs: fuzzAddrs("3.3.3.3", "54.1.2.3")},
		{ID: "cl-acme-dev", Name: "dev-west", Organization: "acme", Region: "us-west-2", AccountID: "111111111111",
			VPCID: "vpc-11112222", CIDRs: fuzzPrefix("10.2.0.0/16"), ExternalIPs: fuzzAddrs("44.0.0.1")},
		{ID: "cl-globex-prod", Name: "Globex-Main", Organization: "globex", Region: "eu-west-1", AccountID: "222222222222",
			VPCID: "vpc-33334444", CIDRs: fuzzPrefix("172.20.0.0/16"), ExternalIPs: fuzzAddrs("52.0.0.1", "52.0.0.2")},
	}
}

func fuzzOrgs() []astrobot.Organization {
	return []astrobot.Organization{
		{ID: "acme", Name: "Acme", SlackTeams: []string{fuzzTeamAcme}},
		{ID: "globex", Name: "Globex", SlackTeams: []string{fuzzTeamGlobex}},
	}
}

// fuzzFiled is the request in the store of FuzzSlashCommandText: acme's owner
// peers Prod-East with their VPC.
var fuzzFiled = astrobot.Request{
	Kind:      astrobot.KindPeering,
	Requester: astrobot.Requester{UserID: fuzzOwner, TeamID: fuzzTeamAcme, ChannelID: "CACME"},
	ClusterID: "cl-acme-prod",
	Spec: astrobot.PeeringSpec{AccountID: "999988887777", Region: "us-east-1", VPCID: "vpc-0fedcba9876543210",
		CIDRs: fuzzPrefix("192.168.64.0/20")},
	Note: "please hurry",
}

// secrets returns the facts of clusters a caller must not see: VPC IDs and
// external IPs.
func secrets(clusters ...astrobot.Cluster) []string {
	var out []string
	for _, cl := range clusters {
		out = append(out, cl.VPCID)
		for _, ip := range cl.ExternalIPs {
			out = append(out, ip.String())
		}
	}
	return out
}

// jsonStrings appends every string of a decoded JSON value to out.
func jsonStrings(v any, out []string) []string {
	switch v := v.(type) {
	case string:
		out = append(out, v)
	case []any:
		for _, x := range v {
			out = jsonStrings(x, out)
		}
	case map[string]any:
		for k, x := range v {
			out = jsonStrings(x, append(out, k))
		}
	}
	return out
}

// leaks returns the secrets that appear in texts, leaving out those the user
// typed (replies may echo the input, quoted or not).
func leaks(texts, secrets []string, typed ...string) []string {
	var found []string
	for _, s := range secrets {
		echoed := false
		for _, in := range typed {
			echoed = echoed || strings.Contains(in, s) || strings.Contains(strconv.Quote(in), s)
		}
		if echoed {
			continue
		}
		for _, text := range texts {
			if strings.Contains(text, s) {
				found = append(found, s)
				break
			}
		}
	}
	return found
}

// Slack's limits: slack-go refuses Socket Mode acks of 20,480 bytes or more,
// and Block Kit refuses a section whose text is longer than 3,000 characters.
const (
	maxAck     = 20000
	maxSection = 3000
)

// longSections returns the rune counts of the sections of blocks whose text is
// over maxSection.
func longSections(blocks slack.Blocks) []int {
	var long []int
	for _, b := range blocks.BlockSet {
		if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil {
			if n := utf8.RuneCountInString(s.Text.Text); n > maxSection {
				long = append(long, n)
			}
		}
	}
	return long
}

// short quotes s for a failure message, cut to its first 100 bytes.
func short(s string) string {
	if len(s) > 100 {
		return fmt.Sprintf("%q… (%d bytes)", s[:100], len(s))
	}
	return strconv.Quote(s)
}

func FuzzSlashCommandText(f *testing.F) {
	for _, seed := range [][2]string{
		{handlers.CommandIP, ""},
		{handlers.CommandIP, "help"},
		{handlers.CommandIP, "cl-acme-prod"},
		{handlers.CommandIP, "  PROD-EAST "},
		{handlers.CommandIP, "Globex-Main"},
		{handlers.CommandIP, "cl-globex-prod\n"},
		{handlers.CommandIP, "<!channel> *bold* `code` <https://evil.example|click>"},
		{handlers.CommandIP, "\"\\\x00\xff\u2028"},
		{handlers.CommandPeer, ""},
		{handlers.CommandPeer, "help"},
		{handlers.CommandPeer, "dev-west"},
		{handlers.CommandPeer, "cl-globex-prod"},
		{handlers.CommandPeer, "list"},
		{handlers.CommandPeer, "LIST extra"},
		{handlers.CommandPeer, "status PEER-0001"},
		{handlers.CommandPeer, "status 1"},
		{handlers.CommandPeer, "status"},
		{handlers.CommandPeer, "status PEER-18446744073709551615"},
		{handlers.CommandPeer, "status 18446744073709551616"},
		{handlers.CommandPeer, "cancel peer-1"},
		{handlers.CommandPeer, "cancel  \t PEER-0001  "},
		{handlers.CommandPeer, "cancel PEER-0002"},
		{"/astro-unknown", "cl-acme-prod"},
		{"", ""},
	} {
		f.Add(seed[0], seed[1])
	}

	now := func() time.Time { return time.Date(2025, 3, 4, 15, 4, 5, 0, time.UTC) }
	ctx := context.Background()
	db, err := store.Open(filepath.Join(f.TempDir(), "fuzz.db"), store.Options{Now: now})
	if err != nil {
		f.Fatalf("open store: %v", err)
	}
	f.Cleanup(func() { _ = db.Close() })
	filed, _, err := db.CreateRequest(ctx, fuzzFiled, "VFUZZ")
	if err != nil {
		f.Fatalf("file the request: %v", err)
	}
	api := &fuzzSlack{}
	clusters := fuzzClusters()
	h := handlers.New(handlers.Config{
		Directory:      cloud.NewStatic(clusters),
		Tenancy:        astrobot.NewTenancy(fuzzOrgs()),
		Requests:       db,
		Support:        fuzzNoSupport{},
		Slack:          api,
		SupportChannel: "CSUPPORT",
		HTTPClient:     &http.Client{Transport: fuzzNoNetwork{}},
		Now:            now,
		Logger:         slog.New(slog.DiscardHandler),
	})
	f.Cleanup(h.Close)

	type caller struct {
		user, team, channel string
		secrets             []string // what this caller must never see
	}
	callers := []caller{
		// Nobody maps team T9999: no cluster and no request is theirs.
		{fuzzOutsider, "T9999", "C9999", append(secrets(clusters...),
			fuzzFiled.Spec.(astrobot.PeeringSpec).VPCID, fuzzFiled.Spec.(astrobot.PeeringSpec).AccountID, fuzzFiled.Note)},
		// An acme colleague of the owner: acme's clusters, never globex's.
		{fuzzMember, fuzzTeamAcme, "C9999", secrets(clusters[2])},
	}

	f.Fuzz(func(t *testing.T, cmd, text string) {
		commands := []string{handlers.CommandIP, handlers.CommandPeer}
		if cmd != handlers.CommandIP && cmd != handlers.CommandPeer && len(cmd) <= 32 {
			commands = append(commands, cmd) // Slack command names have at most 32 characters
		}
		for _, command := range commands {
			for _, c := range callers {
				api.reset()
				msg := h.SlashCommand(ctx, slack.SlashCommand{
					Command: command, Text: text, UserID: c.user, TeamID: c.team, ChannelID: c.channel,
					TriggerID: "1234.5678.fuzz",
				})
				var texts []string
				if msg != nil {
					b, err := json.Marshal(msg)
					if err != nil {
						t.Fatalf("%s %s as %s: reply does not marshal: %v", command, short(text), c.user, err)
					}
					if len(b) >= maxAck {
						t.Errorf("%s %s as %s: reply is %d bytes of JSON, want under %d", command, short(text), c.user, len(b), maxAck)
					}
					if long := longSections(msg.Blocks); len(long) > 0 {
						t.Errorf("%s %s as %s: reply has sections of %v characters, Slack takes at most %d", command, short(text), c.user, long, maxSection)
					}
					if msg.ResponseType != slack.ResponseTypeEphemeral {
						t.Errorf("%s %s as %s: response_type %q, want ephemeral", command, short(text), c.user, msg.ResponseType)
					}
					var v any
					if err := json.Unmarshal(b, &v); err != nil {
						t.Fatalf("%s %s as %s: reply JSON does not decode: %v", command, short(text), c.user, err)
					}
					texts = jsonStrings(v, texts)
				}
				for _, shown := range api.reset() {
					if v, ok := shown.(slack.ModalViewRequest); ok {
						if long := longSections(v.Blocks); len(long) > 0 {
							t.Errorf("%s %s as %s: modal has sections of %v characters, Slack takes at most %d", command, short(text), c.user, long, maxSection)
						}
					}
					b, err := json.Marshal(shown)
					if err != nil {
						t.Fatalf("%s %s as %s: %T sent to Slack does not marshal: %v", command, short(text), c.user, shown, err)
					}
					var v any
					if err := json.Unmarshal(b, &v); err != nil {
						t.Fatalf("%s %s as %s: %T JSON does not decode: %v", command, short(text), c.user, shown, err)
					}
					texts = jsonStrings(v, texts)
				}
				if l := leaks(texts, c.secrets, text, command); len(l) > 0 {
					t.Errorf("%s %s as %s of %s showed %q; it said:\n%s", command, short(text), c.user, c.team, l, strings.Join(texts, "\n"))
				}
			}
		}
		got, events, err := db.History(ctx, filed.ID)
		if err != nil || got.Status != astrobot.StatusSubmitted || len(events) != 1 {
			t.Fatalf("%s %s changed %d: status %q, %d events, err %v; only its owner or support may", cmd, short(text), filed.ID, got.Status, len(events), err)
		}
	})
}
