package handlers_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
)

// openedView is the part of a views.open call the tests look at.
type openedView struct {
	TriggerID string `json:"trigger_id"`
	View      struct {
		Type            string `json:"type"`
		CallbackID      string `json:"callback_id"`
		PrivateMetadata string `json:"private_metadata"`
		Submit          *struct {
			Text string `json:"text"`
		} `json:"submit"`
		Blocks []struct {
			Type     string `json:"type"`
			BlockID  string `json:"block_id"`
			Optional bool   `json:"optional"`
			Element  struct {
				Type     string `json:"type"`
				ActionID string `json:"action_id"`
				Options  []struct {
					Value string `json:"value"`
				} `json:"options"`
				InitialOption *struct {
					Value string `json:"value"`
				} `json:"initial_option"`
				MinQueryLength *int `json:"min_query_length"`
			} `json:"element"`
		} `json:"blocks"`
	} `json:"view"`
}

func decodeOpenedView(t *testing.T, c fakeslack.Call) openedView {
	t.Helper()
	var v openedView
	if err := json.Unmarshal(c.Raw, &v); err != nil {
		t.Fatalf("views.open body %s: %v", c.Raw, err)
	}
	return v
}

// inputBlock returns the input block blockID of v.
func (v openedView) input(t *testing.T, blockID string) (elemType, actionID string, options []string, initial string) {
	t.Helper()
	for _, b := range v.View.Blocks {
		if b.Type == "input" && b.BlockID == blockID {
			for _, o := range b.Element.Options {
				options = append(options, o.Value)
			}
			if b.Element.InitialOption != nil {
				initial = b.Element.InitialOption.Value
			}
			return b.Element.Type, b.Element.ActionID, options, initial
		}
	}
	t.Fatalf("modal has no input block %q", blockID)
	return
}

func clusterIDs(cs []astrobot.Cluster) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

// visibleTo returns the IDs of the clusters c sees, as the modal lists them.
func visibleTo(c caller, clusters []astrobot.Cluster) []string {
	ac := astrobot.Caller{UserID: c.user, TeamID: c.team, ChannelID: c.channel, Support: c.user == userSupport}
	return clusterIDs(astrobot.NewTenancy(orgs()).Visible(ac, clusters))
}

func TestAstroPeerOpensModal(t *testing.T) {
	tests := []struct {
		name        string
		caller      caller
		text        string
		wantInitial string
	}{
		{name: "no cluster", caller: alice},
		{name: "cluster by name", caller: alice, text: strings.ToLower(acmeProd.Name), wantInitial: acmeProd.ID},
		{name: "cluster by ID", caller: alice, text: acmeDev.ID, wantInitial: acmeDev.ID},
		{name: "through a mapped channel", caller: guest, text: acmeProd.Name, wantInitial: acmeProd.ID},
		{name: "other organization", caller: gina},
		{name: "support", caller: support, text: globexProd.Name, wantInitial: globexProd.ID},
	}
	wantBlocks := []string{handlers.FieldBlock(astrobot.FieldCluster), handlers.FieldBlock(astrobot.FieldAccount), handlers.FieldBlock(astrobot.FieldRegion), handlers.FieldBlock(astrobot.FieldVPC),
		handlers.FieldBlock(astrobot.FieldCIDRs), handlers.FieldBlock(astrobot.FieldNote)}
	wantActions := map[string]string{
		handlers.FieldBlock(astrobot.FieldCluster): handlers.ActionCluster, handlers.FieldBlock(astrobot.FieldAccount): handlers.FieldAction(astrobot.FieldAccount),
		handlers.FieldBlock(astrobot.FieldRegion): handlers.FieldAction(astrobot.FieldRegion), handlers.FieldBlock(astrobot.FieldVPC): handlers.FieldAction(astrobot.FieldVPC),
		handlers.FieldBlock(astrobot.FieldCIDRs): handlers.FieldAction(astrobot.FieldCIDRs), handlers.FieldBlock(astrobot.FieldNote): handlers.FieldAction(astrobot.FieldNote),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if msg := e.command(t, tt.caller, handlers.CommandPeer, tt.text); msg != nil {
				t.Fatalf("reply %q, want an empty ack", msgText(msg))
			}
			calls := e.srv.CallsTo("views.open")
			if len(calls) != 1 {
				t.Fatalf("views.open calls = %d, want 1", len(calls))
			}
			v := decodeOpenedView(t, calls[0])
			if want := "trigger-" + tt.caller.user; v.TriggerID != want {
				t.Errorf("trigger_id = %q, want %q", v.TriggerID, want)
			}
			if v.View.Type != "modal" || v.View.CallbackID != handlers.CallbackRequest || v.View.Submit == nil {
				t.Errorf("view type %q, callback_id %q, submit %v; want a modal %q with a submit button",
					v.View.Type, v.View.CallbackID, v.View.Submit, handlers.CallbackRequest)
			}
			if v.View.PrivateMetadata == "" || !strings.Contains(v.View.PrivateMetadata, tt.caller.channel) {
				t.Errorf("private_metadata %q does not keep the channel %s", v.View.PrivateMetadata, tt.caller.channel)
			}
			var inputs []string
			for _, b := range v.View.Blocks {
				if b.Type == "input" {
					inputs = append(inputs, b.BlockID)
					if got, want := b.Element.ActionID, wantActions[b.BlockID]; got != want {
						t.Errorf("block %s: action_id %q, want %q", b.BlockID, got, want)
					}
					if got, want := b.Optional, b.BlockID == handlers.FieldBlock(astrobot.FieldNote); got != want {
						t.Errorf("block %s: optional = %v, want %v", b.BlockID, got, want)
					}
				}
			}
			if diff := cmp.Diff(wantBlocks, inputs); diff != "" {
				t.Errorf("input blocks (-want +got):\n%s", diff)
			}
			typ, _, options, initial := v.input(t, handlers.FieldBlock(astrobot.FieldCluster))
			if typ != "static_select" {
				t.Errorf("cluster select is %q, want static_select", typ)
			}
			if diff := cmp.Diff(visibleTo(tt.caller, testClusters()), options); diff != "" {
				t.Errorf("cluster options (-want +got):\n%s", diff)
			}
			if initial != tt.wantInitial {
				t.Errorf("initial cluster = %q, want %q", initial, tt.wantInitial)
			}
			typ, _, regions, _ := v.input(t, handlers.FieldBlock(astrobot.FieldRegion))
			if typ != "static_select" || !slices.Equal(regions, astrobot.Regions()) {
				t.Errorf("region select %q with %v, want static_select with astrobot.Regions()", typ, regions)
			}
		})
	}
}

func TestAstroPeerModalManyClusters(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		text     string
		wantType string
	}{
		{name: "100 clusters: static select", n: 100, wantType: "static_select"},
		{name: "101 clusters: external select", n: 101, wantType: "external_select"},
		{name: "101 clusters with one chosen", n: 101, text: "cl-acme-0100", wantType: "external_select"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clusters := append(manyClusters("acme", tt.n), globexProd)
			e := newEnv(t, withClusters(clusters))
			if msg := e.command(t, alice, handlers.CommandPeer, tt.text); msg != nil {
				t.Fatalf("reply %q, want an empty ack", msgText(msg))
			}
			calls := e.srv.CallsTo("views.open")
			if len(calls) != 1 {
				t.Fatalf("views.open calls = %d, want 1", len(calls))
			}
			v := decodeOpenedView(t, calls[0])
			typ, action, options, initial := v.input(t, handlers.FieldBlock(astrobot.FieldCluster))
			if typ != tt.wantType || action != handlers.ActionCluster {
				t.Errorf("cluster element %q %q, want %q %q", typ, action, tt.wantType, handlers.ActionCluster)
			}
			if len(options) > 100 {
				t.Errorf("cluster select has %d options, Slack allows 100", len(options))
			}
			if tt.wantType == "static_select" && len(options) != tt.n {
				t.Errorf("static select has %d options, want %d", len(options), tt.n)
			}
			if tt.wantType == "external_select" && len(options) != 0 {
				t.Errorf("external select carries %d options, want none", len(options))
			}
			if initial != tt.text {
				t.Errorf("initial option %q, want %q", initial, tt.text)
			}
		})
	}
}

// TestClusterSuggestions checks the type-ahead of the external cluster select:
// only visible clusters, filtered by the query, at most 100.
func TestClusterSuggestions(t *testing.T) {
	clusters := append(manyClusters("acme", 150), manyClusters("globex", 20)...)
	e := newEnv(t, withClusters(clusters))
	metaAlice := e.openModal(t, alice)
	metaGina := e.openModal(t, gina)
	tests := []struct {
		name   string
		caller caller
		meta   string
		query  string
	}{
		{name: "empty query", caller: alice, meta: metaAlice, query: ""},
		{name: "by ID part", caller: alice, meta: metaAlice, query: "-001"},
		{name: "by name part, any case", caller: alice, meta: metaAlice, query: "ANALYTICS-CLUSTER-014"},
		{name: "no match", caller: alice, meta: metaAlice, query: "nothing-like-it"},
		{name: "another organization's name", caller: gina, meta: metaGina, query: "acme"},
		{name: "own organization", caller: gina, meta: metaGina, query: "globex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.h.Interaction(testContext(t), slack.InteractionCallback{
				Type: slack.InteractionTypeBlockSuggestion, ActionID: handlers.ActionCluster, BlockID: handlers.FieldBlock(astrobot.FieldCluster),
				Value: tt.query, User: slack.User{ID: tt.caller.user, TeamID: tt.caller.team},
				View: slack.View{CallbackID: handlers.CallbackRequest, PrivateMetadata: tt.meta},
			})
			resp, ok := got.(*slack.OptionsResponse)
			if !ok {
				t.Fatalf("Interaction(block_suggestion) = %T, want *slack.OptionsResponse", got)
			}
			var want []string
			q := strings.ToLower(tt.query)
			for _, id := range visibleTo(tt.caller, clusters) {
				i := slices.IndexFunc(clusters, func(c astrobot.Cluster) bool { return c.ID == id })
				if strings.Contains(strings.ToLower(clusters[i].Name), q) || strings.Contains(id, q) {
					want = append(want, id)
				}
			}
			want = want[:min(len(want), 100)]
			var gotIDs []string
			for _, o := range resp.Options {
				gotIDs = append(gotIDs, o.Value)
			}
			if diff := cmp.Diff(want, gotIDs); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAstroPeerRefusals(t *testing.T) {
	tests := []struct {
		name    string
		caller  caller
		text    string
		fail    bool // views.open fails
		want    []string
		notWant []string
	}{
		{name: "cluster of another organization", caller: alice, text: globexProd.Name,
			want:    []string{fmt.Sprintf("No cluster %q is visible to you.", globexProd.Name), handlers.CommandPeer},
			notWant: clusterFacts(globexProd)[1:]},
		{name: "cluster that does not exist", caller: alice, text: "nope",
			want: []string{`No cluster "nope" is visible to you.`}},
		{name: "no visible cluster", caller: outside,
			want: []string{"You can see no clusters from here"}},
		{name: "help", caller: alice, text: "help",
			want: []string{handlers.CommandPeer + " list", handlers.CommandPeer + " status PEER-0042", handlers.CommandPeer + " cancel"}},
		{name: "views.open fails", caller: alice, fail: true,
			want: []string{"Sorry, something went wrong on our side", "ref "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.fail {
				e.srv.FailNext("views.open", 1, fakeslack.Failure{SlackError: "expired_trigger_id"})
			}
			msg := e.command(t, tt.caller, handlers.CommandPeer, tt.text)
			if msg == nil {
				t.Fatal("empty ack, want a refusal")
			}
			checkText(t, msgText(msg), tt.want, tt.notWant)
			opened := len(e.srv.CallsTo("views.open"))
			if want := map[bool]int{true: 1, false: 0}[tt.fail]; opened != want {
				t.Errorf("views.open calls = %d, want %d", opened, want)
			}
			if tt.fail {
				if logged := e.logs.messages(slog.LevelError); len(logged) != 1 {
					t.Errorf("error logs = %q, want one", logged)
				}
			}
		})
	}
}

func TestPeerSubmissionErrors(t *testing.T) {
	tests := []struct {
		name   string
		caller caller
		edit   func(*peerForm)
		want   map[string][]string // block ID → parts of its error
	}{
		{name: "account of 11 digits", edit: func(f *peerForm) { f.account = "12345678901" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldAccount): {"12 digits", "12345678901"}}},
		{name: "account with a letter", edit: func(f *peerForm) { f.account = "12345678901a" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldAccount): {"12 digits"}}},
		{name: "unknown region", edit: func(f *peerForm) { f.region = "mars-1" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldRegion): {`"mars-1" is not an AWS region`}}},
		{name: "no region", edit: func(f *peerForm) { f.region = "" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldRegion): {"not an AWS region"}}},
		{name: "bad VPC ID", edit: func(f *peerForm) { f.vpc = "vpc-xyz" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldVPC): {"vpc-xyz", "8 or 17 hex digits"}}},
		{name: "CIDR with host bits", edit: func(f *peerForm) { f.cidrs = "192.168.1.0/16" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldCIDRs): {"host bits", "192.168.0.0/16"}}},
		{name: "CIDR /8", edit: func(f *peerForm) { f.cidrs = "10.0.0.0/8" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldCIDRs): {"/8", "/16 to /28"}}},
		{name: "CIDR /29", edit: func(f *peerForm) { f.cidrs = "192.168.0.0/29" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldCIDRs): {"/29"}}},
		{name: "public range", edit: func(f *peerForm) { f.cidrs = "8.8.0.0/16" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldCIDRs): {"8.8.0.0/16", "not a private range"}}},
		{name: "not a CIDR", edit: func(f *peerForm) { f.cidrs = "10.20.0.0" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldCIDRs): {"not an IPv4 CIDR block"}}},
		{name: "IPv6", edit: func(f *peerForm) { f.cidrs = "fd00::/64" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldCIDRs): {"not an IPv4 CIDR block"}}},
		{name: "no CIDR", edit: func(f *peerForm) { f.cidrs = " \n" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldCIDRs): {"at least one"}}},
		{name: "six CIDRs", edit: func(f *peerForm) {
			f.cidrs = "192.168.0.0/24,192.168.1.0/24,192.168.2.0/24,192.168.3.0/24,192.168.4.0/24,192.168.5.0/24"
		}, want: map[string][]string{handlers.FieldBlock(astrobot.FieldCIDRs): {"at most 5"}}},
		{name: "own CIDRs overlap", edit: func(f *peerForm) { f.cidrs = "192.168.0.0/20\n192.168.8.0/21" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldCIDRs): {"192.168.8.0/21 overlaps 192.168.0.0/20"}}},
		{name: "overlaps the cluster's first CIDR", edit: func(f *peerForm) { f.cidrs = "10.0.128.0/17" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldCIDRs): {"10.0.128.0/17 overlaps 10.0.0.0/16", acmeProd.Name}}},
		{name: "overlaps the cluster's second CIDR", edit: func(f *peerForm) { f.cidrs = "192.168.0.0/20, 10.1.4.0/24" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldCIDRs): {"10.1.4.0/24 overlaps 10.1.0.0/16"}}},
		{name: "contains the cluster's CIDR", caller: support, edit: func(f *peerForm) { f.cluster = acmeDev.ID; f.cidrs = "10.2.0.0/16" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldCIDRs): {"10.2.0.0/16 overlaps 10.2.0.0/16", acmeDev.Name}}},
		{name: "cluster of another organization", edit: func(f *peerForm) { f.cluster = globexProd.ID; f.cidrs = "192.168.0.0/20" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldCluster): {fmt.Sprintf("No cluster %q is visible to you.", globexProd.ID)}}},
		{name: "cluster of another organization, through a channel", caller: guest, edit: func(f *peerForm) { f.cluster = globexProd.ID },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldCluster): {"is visible to you"}}},
		{name: "cluster that does not exist", edit: func(f *peerForm) { f.cluster = "cl-nope" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldCluster): {`No cluster "cl-nope"`}}},
		{name: "no cluster chosen", edit: func(f *peerForm) { f.cluster = "" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldCluster): {"Choose the Astro cluster"}}},
		{name: "note too long", edit: func(f *peerForm) { f.note = strings.Repeat("x", astrobot.MaxNoteLength+1) },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldNote): {fmt.Sprint(astrobot.MaxNoteLength)}}},
		{name: "several fields at once", edit: func(f *peerForm) { f.account = "1"; f.vpc = "vpc-xyz"; f.cidrs = "8.8.0.0/16" },
			want: map[string][]string{handlers.FieldBlock(astrobot.FieldAccount): {"12 digits"}, handlers.FieldBlock(astrobot.FieldVPC): {"vpc-xyz"}, handlers.FieldBlock(astrobot.FieldCIDRs): {"not a private range"}}},
	}
	e := newEnv(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.caller
			if c.user == "" {
				c = alice
			}
			f := validForm()
			tt.edit(&f)
			resp := e.submit(t, c, fmt.Sprintf("V%04d", i), f)
			if resp.ResponseAction != slack.RAErrors {
				t.Fatalf("response_action = %q, want errors", resp.ResponseAction)
			}
			if diff := cmp.Diff(slices.Sorted(maps.Keys(tt.want)), slices.Sorted(maps.Keys(resp.Errors))); diff != "" {
				t.Errorf("blocks with errors (-want +got):\n%s\nerrors: %v", diff, resp.Errors)
			}
			for block, parts := range tt.want {
				checkText(t, resp.Errors[block], parts, nil)
			}
			if n := e.requestCount(t); n != 0 {
				t.Errorf("store holds %d requests after a refused submission, want 0", n)
			}
			st, err := e.db.Outbox().Stats(testContext(t))
			if err != nil || st.Depth != 0 {
				t.Errorf("outbox = %+v, %v; want empty", st, err)
			}
		})
	}
}

// prefixComparer lets cmp compare netip values, which hide their fields.
var netipComparers = cmp.Options{
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
}

func TestPeerSubmissionFiles(t *testing.T) {
	tests := []struct {
		name         string
		form         func() peerForm
		wantPeer     astrobot.PeeringSpec
		wantNote     string
		wantWarnings int
	}{
		{
			name:     "valid",
			form:     validForm,
			wantPeer: astrobot.PeeringSpec{AccountID: "123456789012", Region: "us-east-1", VPCID: "vpc-0abc12345678def90", CIDRs: prefixes("192.168.0.0/20")},
		},
		{
			name: "spaces and capitals are tidied",
			form: func() peerForm {
				f := validForm()
				f.account, f.vpc, f.note = " 123456789012 ", " VPC-0ABC12345678DEF90\n", "  please hurry  "
				f.cidrs = "192.168.0.0/20,\n172.16.0.0/24; 10.50.0.0/16"
				return f
			},
			wantPeer: astrobot.PeeringSpec{AccountID: "123456789012", Region: "us-east-1", VPCID: "vpc-0abc12345678def90",
				CIDRs: prefixes("192.168.0.0/20", "172.16.0.0/24", "10.50.0.0/16")},
			wantNote: "please hurry",
		},
		{
			name: "RFC 6598 is accepted with a warning",
			form: func() peerForm {
				f := validForm()
				f.cidrs = "100.64.0.0/16 192.168.0.0/20"
				return f
			},
			wantPeer:     astrobot.PeeringSpec{AccountID: "123456789012", Region: "us-east-1", VPCID: "vpc-0abc12345678def90", CIDRs: prefixes("100.64.0.0/16", "192.168.0.0/20")},
			wantWarnings: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			resp := e.submit(t, alice, "V1", tt.form())
			if resp.ResponseAction != slack.RAUpdate || len(resp.Errors) != 0 {
				t.Fatalf("response_action %q, errors %v; want update", resp.ResponseAction, resp.Errors)
			}
			r, events, err := e.db.History(testContext(t), 1)
			if err != nil {
				t.Fatalf("History(PEER-0001): %v", err)
			}
			want := astrobot.Request{
				ID: 1, Kind: astrobot.KindPeering, Status: astrobot.StatusSubmitted,
				Requester: astrobot.Requester{UserID: alice.user, TeamID: alice.team, ChannelID: alice.channel},
				ClusterID: acmeProd.ID, Spec: tt.wantPeer, Note: tt.wantNote, Warnings: r.Warnings,
				CreatedAt: start, UpdatedAt: start, UpdatedBy: alice.user,
			}
			if diff := cmp.Diff(want, r, netipComparers); diff != "" {
				t.Errorf("stored request (-want +got):\n%s", diff)
			}
			if r.Ref() != "PEER-0001" {
				t.Errorf("ID = %s, want PEER-0001", r.Ref())
			}
			if len(r.Warnings) != tt.wantWarnings {
				t.Errorf("warnings = %q, want %d", r.Warnings, tt.wantWarnings)
			}
			if len(events) != 1 || events[0].Action != astrobot.ActSubmit || events[0].Actor != alice.user {
				t.Errorf("history = %+v, want one submission by %s", events, alice.user)
			}
			text := viewText(resp.View)
			wantText := []string{"PEER-0001", acmeProd.Name, tt.wantPeer.VPCID, tt.wantPeer.AccountID, r.Next()}
			for _, w := range r.Warnings {
				wantText = append(wantText, w)
				if !strings.Contains(w, "RFC 6598") {
					t.Errorf("warning %q does not name RFC 6598", w)
				}
			}
			checkText(t, text, wantText, nil)
			if resp.View == nil || resp.View.Type != slack.VTModal || resp.View.Submit != nil {
				t.Errorf("update view = %+v, want a modal without a submit button", resp.View)
			}
			if size := jsonSize(t, resp); size >= 20000 {
				t.Errorf("ack is %d bytes, want under 20000", size)
			}
		})
	}
}

func TestPeerSubmissionDuplicates(t *testing.T) {
	e := newEnv(t)
	meta := e.openModal(t, alice)
	first := submission(alice, "V1", meta, validForm())

	steps := []struct {
		name      string
		cb        slack.InteractionCallback
		wantBlock string   // the block with the error; "" when the submission is filed
		wantText  []string // in the error, or in the filed modal
		wantCount int      // requests in the store afterwards
	}{
		{name: "first submission", cb: first, wantText: []string{"PEER-0001"}, wantCount: 1},
		{name: "the same view again", cb: first, wantText: []string{"PEER-0001"}, wantCount: 1},
		{name: "another modal, same cluster, account and VPC",
			cb: submission(alice, "V2", meta, func() peerForm {
				f := validForm()
				f.cidrs = "172.16.0.0/16"
				return f
			}()),
			wantBlock: handlers.FieldBlock(astrobot.FieldVPC), wantText: []string{"PEER-0001", validForm().vpc}, wantCount: 1},
		{name: "the same VPC by a colleague",
			cb:        submission(bob, "V3", meta, validForm()),
			wantBlock: handlers.FieldBlock(astrobot.FieldVPC), wantText: []string{"PEER-0001"}, wantCount: 1},
		{name: "another VPC with an overlapping CIDR",
			cb: submission(alice, "V4", meta, func() peerForm {
				f := validForm()
				f.vpc, f.cidrs = "vpc-99998888", "172.16.0.0/16, 192.168.4.0/24"
				return f
			}()),
			wantBlock: handlers.FieldBlock(astrobot.FieldCIDRs), wantText: []string{"192.168.4.0/24", "192.168.0.0/20", "PEER-0001"}, wantCount: 1},
		{name: "another VPC with distinct CIDRs",
			cb: submission(alice, "V5", meta, func() peerForm {
				f := validForm()
				f.vpc, f.cidrs = "vpc-99998888", "192.168.16.0/20"
				return f
			}()),
			wantText: []string{"PEER-0002"}, wantCount: 2},
		{name: "the same VPC and CIDRs with another cluster",
			cb: submission(alice, "V6", meta, func() peerForm {
				f := validForm()
				f.cluster = acmeDev.ID
				return f
			}()),
			wantText: []string{"PEER-0003"}, wantCount: 3},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			resp := e.submitView(t, s.cb)
			if s.wantBlock == "" {
				if resp.ResponseAction != slack.RAUpdate {
					t.Fatalf("response_action %q, errors %v; want update", resp.ResponseAction, resp.Errors)
				}
				checkText(t, viewText(resp.View), s.wantText, nil)
			} else {
				if resp.ResponseAction != slack.RAErrors || len(resp.Errors) != 1 {
					t.Fatalf("response_action %q, errors %v; want one error on %s", resp.ResponseAction, resp.Errors, s.wantBlock)
				}
				checkText(t, resp.Errors[s.wantBlock], s.wantText, nil)
			}
			if n := e.requestCount(t); n != s.wantCount {
				t.Errorf("store holds %d requests, want %d", n, s.wantCount)
			}
		})
	}

	// Once PEER-0001 is cancelled its VPC and CIDRs are free again.
	checkText(t, msgText(e.command(t, alice, handlers.CommandPeer, "cancel PEER-0001")), []string{"PEER-0001 is cancelled"}, nil)
	resp := e.submitView(t, submission(alice, "V7", meta, validForm()))
	if resp.ResponseAction != slack.RAUpdate {
		t.Fatalf("after cancelling PEER-0001: response_action %q, errors %v; want update", resp.ResponseAction, resp.Errors)
	}
	checkText(t, viewText(resp.View), []string{"PEER-0004"}, nil)
}

// TestPeerSubmissionConcurrent checks that submissions racing each other
// file one request: Slack's retries of one view, and two modals for one VPC.
func TestPeerSubmissionConcurrent(t *testing.T) {
	e := newEnv(t)
	meta := e.openModal(t, alice)
	const n = 8
	resps := make([]*slack.ViewSubmissionResponse, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n {
		view := "VSAME"
		if i >= n {
			view = fmt.Sprintf("VOTHER%d", i)
		}
		cb := submission(alice, view, meta, validForm())
		wg.Go(func() {
			got := e.h.Interaction(t.Context(), cb)
			resps[i], _ = got.(*slack.ViewSubmissionResponse)
		})
	}
	wg.Wait()
	if got := e.requestCount(t); got != 1 {
		t.Fatalf("store holds %d requests, want 1", got)
	}
	// Either the retried view wins, and all its retries are told so, or one of
	// the other modals wins and every other submission names its request.
	var sameFiled, otherFiled int
	for i, r := range resps {
		switch {
		case r == nil:
			t.Errorf("submission %d got no view submission response", i)
		case r.ResponseAction == slack.RAUpdate:
			if i < n {
				sameFiled++
			} else {
				otherFiled++
			}
			checkText(t, viewText(r.View), []string{"PEER-0001"}, nil)
		case r.ResponseAction == slack.RAErrors:
			checkText(t, r.Errors[handlers.FieldBlock(astrobot.FieldVPC)], []string{"PEER-0001"}, nil)
		default:
			t.Errorf("submission %d: response_action %q", i, r.ResponseAction)
		}
	}
	if !(sameFiled == n && otherFiled == 0) && !(sameFiled == 0 && otherFiled == 1) {
		t.Errorf("filed answers: %d for the %d retries of one view, %d for %d other views; want %d and 0, or 0 and 1",
			sameFiled, n, otherFiled, n, n)
	}
}

func TestInteractionIgnored(t *testing.T) {
	tests := []struct {
		name    string
		cb      slack.InteractionCallback
		wantLog bool
	}{
		{name: "view closed", cb: slack.InteractionCallback{Type: slack.InteractionTypeViewClosed}},
		{name: "block action", cb: slack.InteractionCallback{Type: slack.InteractionTypeBlockActions}},
		{name: "another modal", cb: slack.InteractionCallback{Type: slack.InteractionTypeViewSubmission,
			View: slack.View{CallbackID: "someone_elses"}}, wantLog: true},
		{name: "another select", cb: slack.InteractionCallback{Type: slack.InteractionTypeBlockSuggestion, ActionID: "other"}, wantLog: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if got := e.h.Interaction(testContext(t), tt.cb); got != nil {
				t.Errorf("Interaction = %#v, want nil", got)
			}
			if logged := len(e.logs.messages(slog.LevelWarn)) > 0; logged != tt.wantLog {
				t.Errorf("warned = %v, want %v", logged, tt.wantLog)
			}
			if n := e.requestCount(t); n != 0 {
				t.Errorf("store holds %d requests, want 0", n)
			}
		})
	}
}
