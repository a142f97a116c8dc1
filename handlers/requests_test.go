package handlers_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
)

// ginaForm is a valid request of Gina for the globex cluster.
func ginaForm() peerForm {
	return peerForm{cluster: globexProd.ID, account: "333333333333", region: "eu-west-1",
		vpc: "vpc-0fedcba9876543210", cidrs: "172.31.0.0/16", note: "for the data lake"}
}

// twoRequests files PEER-0001 for Alice (acme) and PEER-0002 for Gina
// (globex), an hour apart.
func twoRequests(t *testing.T, e *env) {
	t.Helper()
	if id := e.mustFile(t, alice, "VA", validForm()); id != 1 {
		t.Fatalf("Alice's request is %d, want PEER-0001", id)
	}
	e.clock.Advance(time.Hour)
	if id := e.mustFile(t, gina, "VG", ginaForm()); id != 2 {
		t.Fatalf("Gina's request is %d, want PEER-0002", id)
	}
	e.clock.Advance(2 * time.Hour)
}

func TestListRequests(t *testing.T) {
	e := newEnv(t)
	twoRequests(t, e)
	alicePeer, ginaPeer := validForm().vpc, ginaForm().vpc
	tests := []struct {
		name    string
		caller  caller
		want    []string
		notWant []string
	}{
		{name: "requester sees her own", caller: alice,
			want:    []string{"Your requests", "PEER-0001", acmeProd.ID, alicePeer, "submitted", "3h ago"},
			notWant: []string{"PEER-0002", ginaPeer, globexProd.ID}},
		{name: "the other organization sees its own", caller: gina,
			want:    []string{"Your requests", "PEER-0002", ginaPeer, "2h ago"},
			notWant: []string{"PEER-0001", alicePeer, acmeProd.ID}},
		{name: "a colleague sees only his own", caller: bob,
			want:    []string{"You have no requests"},
			notWant: []string{"PEER-0001", alicePeer}},
		{name: "support sees the open queue, oldest first", caller: support,
			want: []string{"Open requests", "PEER-0001", "PEER-0002", alicePeer, ginaPeer}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := msgText(e.command(t, tt.caller, handlers.CommandPeer, "list"))
			checkText(t, text, tt.want, tt.notWant)
			if tt.caller == support && strings.Index(text, "PEER-0001") > strings.Index(text, "PEER-0002") {
				t.Errorf("queue is not oldest first:\n%s", text)
			}
		})
	}

	// A cancelled request leaves the queue but stays in its requester's list.
	checkText(t, msgText(e.command(t, gina, handlers.CommandPeer, "cancel PEER-0002")), []string{"PEER-0002 is cancelled"}, nil)
	checkText(t, msgText(e.command(t, support, handlers.CommandPeer, "list")), []string{"PEER-0001"}, []string{"PEER-0002"})
	checkText(t, msgText(e.command(t, gina, handlers.CommandPeer, "list")), []string{"PEER-0002", "cancelled"}, nil)
	checkText(t, msgText(e.command(t, alice, handlers.CommandPeer, "cancel PEER-0001")), []string{"PEER-0001 is cancelled"}, nil)
	checkText(t, msgText(e.command(t, support, handlers.CommandPeer, "list")), []string{"The queue is empty"}, []string{"PEER-000"})
}

func TestRequestStatus(t *testing.T) {
	e := newEnv(t)
	twoRequests(t, e)
	r1, err := e.db.Request(testContext(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	// PEER-0001's data: none of it may reach someone who cannot see it.
	secrets := []string{r1.Spec.(astrobot.PeeringSpec).VPCID, r1.Spec.(astrobot.PeeringSpec).AccountID, r1.ClusterID, r1.Spec.Routes()[0].String(), "<@" + userAlice + ">"}
	notVisible := "No request PEER-0001 is visible to you."
	tests := []struct {
		name    string
		caller  caller
		ref     string
		want    []string
		notWant []string
	}{
		{name: "requester", caller: alice, ref: "PEER-0001",
			want: append([]string{"PEER-0001", "submitted", peeringNext(astrobot.StatusSubmitted), "submitted the request", start.Format("2006-01-02 15:04 UTC")}, secrets...)},
		{name: "lower case and short form", caller: alice, ref: "peer-1", want: []string{"PEER-0001", r1.Spec.(astrobot.PeeringSpec).VPCID}},
		{name: "a colleague of the same organization", caller: bob, ref: "1", want: secrets},
		{name: "through the organization's channel", caller: guest, ref: "PEER-0001", want: secrets},
		{name: "support", caller: support, ref: "PEER-0001", want: secrets},
		{name: "another organization", caller: gina, ref: "PEER-0001", want: []string{notVisible}, notWant: secrets},
		{name: "nobody's workspace", caller: outside, ref: "PEER-0001", want: []string{notVisible}, notWant: secrets},
		{name: "a request that does not exist", caller: alice, ref: "PEER-0099", want: []string{"No request PEER-0099 is visible to you."}},
		{name: "not a request ID", caller: alice, ref: "vpc-123", want: []string{`"vpc-123" is not a request ID`}},
		{name: "no request ID", caller: alice, ref: "", want: []string{"Name the request", handlers.CommandConnect + " list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := msgText(e.command(t, tt.caller, handlers.CommandPeer, strings.TrimSpace("status "+tt.ref)))
			checkText(t, text, tt.want, tt.notWant)
		})
	}

	// Hidden and missing requests get the same answer, but for the ID.
	hidden := msgText(e.command(t, gina, handlers.CommandPeer, "status PEER-0001"))
	missing := msgText(e.command(t, gina, handlers.CommandPeer, "status PEER-0099"))
	if diff := cmp.Diff(strings.ReplaceAll(missing, "PEER-0099", "PEER-X"), strings.ReplaceAll(hidden, "PEER-0001", "PEER-X")); diff != "" {
		t.Errorf("a hidden request is answered unlike a missing one (-missing +hidden):\n%s", diff)
	}
}

// TestStatusHidesInternalNotes checks that support's notes stay with support,
// while the requester's own note and every status change are shown to all
// who may see the request.
func TestStatusHidesInternalNotes(t *testing.T) {
	e := newEnv(t)
	f := validForm()
	f.note = "our firewall team is waiting"
	e.mustFile(t, alice, "VA", f)
	ctx := testContext(t)
	const internal = "customer is on the legacy contract, check with sales"
	if _, _, err := e.db.Apply(ctx, 1, astrobot.Change{Action: astrobot.ActNote, Actor: userSupport, Role: astrobot.RoleSupport, Note: internal}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.db.Apply(ctx, 1, astrobot.Change{Action: astrobot.ActApprove, Actor: userSupport, Role: astrobot.RoleSupport, Note: "looks good"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		caller  caller
		want    []string
		notWant []string
	}{
		{caller: alice, want: []string{f.note, "approved the request (approved)", "looks good"}, notWant: []string{internal, "added a note"}},
		{caller: bob, want: []string{f.note, "approved the request"}, notWant: []string{internal, "added a note"}},
		{caller: support, want: []string{f.note, internal, "added a note to the request", "approved the request"}},
	}
	for _, tt := range tests {
		t.Run(tt.caller.user, func(t *testing.T) {
			checkText(t, msgText(e.command(t, tt.caller, handlers.CommandPeer, "status PEER-0001")), tt.want, tt.notWant)
		})
	}
}

func TestCancelRequest(t *testing.T) {
	e := newEnv(t)
	twoRequests(t, e)
	ctx := testContext(t)
	history := func(id astrobot.RequestID) (astrobot.Request, []astrobot.Event) {
		t.Helper()
		r, events, err := e.db.History(ctx, id)
		if err != nil {
			t.Fatalf("History(%d): %v", id, err)
		}
		return r, events
	}
	steps := []struct {
		name       string
		caller     caller
		ref        string
		want       []string
		notWant    []string
		wantStatus astrobot.Status // of ref afterwards
		wantEvents int             // of ref afterwards
	}{
		{name: "a colleague may not", caller: bob, ref: "PEER-0001",
			want:       []string{"Only <@" + userAlice + ">", "nothing was changed"},
			notWant:    []string{"is cancelled"},
			wantStatus: astrobot.StatusSubmitted, wantEvents: 1},
		{name: "another organization sees nothing to cancel", caller: gina, ref: "PEER-0001",
			want:       []string{"No request PEER-0001 is visible to you."},
			notWant:    []string{validForm().vpc, "<@" + userAlice + ">"},
			wantStatus: astrobot.StatusSubmitted, wantEvents: 1},
		{name: "a request that does not exist", caller: alice, ref: "PEER-0042",
			want: []string{"No request PEER-0042 is visible to you."}},
		{name: "the requester may", caller: alice, ref: "PEER-0001",
			want:       []string{"PEER-0001 is cancelled"},
			wantStatus: astrobot.StatusCancelled, wantEvents: 2},
		{name: "not twice", caller: alice, ref: "PEER-0001",
			want:       []string{"PEER-0001 is cancelled", "cannot be cancelled now"},
			wantStatus: astrobot.StatusCancelled, wantEvents: 2},
		{name: "support may cancel any", caller: support, ref: "PEER-0002",
			want:       []string{"PEER-0002 is cancelled"},
			wantStatus: astrobot.StatusCancelled, wantEvents: 2},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			e.clock.Advance(time.Minute)
			checkText(t, msgText(e.command(t, s.caller, handlers.CommandPeer, "cancel "+s.ref)), s.want, s.notWant)
			if s.wantStatus == "" {
				return
			}
			id, _ := astrobot.ParseRequestID(s.ref)
			r, events := history(id)
			if r.Status != s.wantStatus || len(events) != s.wantEvents {
				t.Errorf("%d is %s with %d events, want %s with %d", id, r.Status, len(events), s.wantStatus, s.wantEvents)
			}
		})
	}

	// The cancellation is recorded with who did it and when.
	for _, tc := range []struct {
		id    astrobot.RequestID
		actor string
		at    time.Time
	}{
		{1, userAlice, start.Add(3*time.Hour + 4*time.Minute)},
		{2, userSupport, start.Add(3*time.Hour + 6*time.Minute)},
	} {
		r, events := history(tc.id)
		want := astrobot.Event{Seq: 1, At: tc.at, Actor: tc.actor, Action: astrobot.ActCancel,
			From: astrobot.StatusSubmitted, To: astrobot.StatusCancelled}
		if diff := cmp.Diff(want, events[len(events)-1]); diff != "" {
			t.Errorf("%d: cancel event (-want +got):\n%s", tc.id, diff)
		}
		if r.UpdatedBy != tc.actor || !r.UpdatedAt.Equal(tc.at) {
			t.Errorf("%d updated by %s at %v, want %s at %v", tc.id, r.UpdatedBy, r.UpdatedAt, tc.actor, tc.at)
		}
	}
	text := msgText(e.command(t, alice, handlers.CommandPeer, "status PEER-0001"))
	checkText(t, text, []string{"cancelled the request (cancelled)", peeringNext(astrobot.StatusCancelled)}, nil)
}

// gateDirectory answers at once until it is shut; then every look-up waits
// for its context to end, like a directory whose backend hangs.
type gateDirectory struct {
	clusters []astrobot.Cluster
	shut     atomic.Bool
}

func (d *gateDirectory) Clusters(ctx context.Context) ([]astrobot.Cluster, error) {
	if d.shut.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return d.clusters, nil
}

func (d *gateDirectory) Cluster(ctx context.Context, id string) (astrobot.Cluster, error) {
	return clusterOf(ctx, d, id)
}

// TestRequestLookupBounded checks that status and cancel by a member of the
// requester's organization, which read the directory to check visibility,
// give up after the look-up timeout like every other command. The bot passes
// a context without a deadline (Socket Mode), so an unbounded look-up never
// acknowledges the command.
func TestRequestLookupBounded(t *testing.T) {
	for _, verb := range []string{"status", "cancel"} {
		t.Run(verb, func(t *testing.T) {
			dir := &gateDirectory{clusters: testClusters()}
			e := newEnv(t, withDirectory(dir), withLookupTimeout(20*time.Millisecond))
			e.mustFile(t, alice, "VA", validForm())
			dir.shut.Store(true)
			done := make(chan *slack.Msg, 1)
			go func() {
				done <- e.h.SlashCommand(t.Context(), slack.SlashCommand{
					Command: handlers.CommandPeer, Text: verb + " PEER-0001", UserID: bob.user, TeamID: bob.team, ChannelID: bob.channel})
			}()
			select {
			case msg := <-done:
				checkText(t, msgText(msg), []string{"ref "}, []string{validForm().vpc})
			case <-time.After(5 * time.Second):
				t.Fatalf("/astro-peer %s by a colleague still waits for the directory after 5s; the look-up timeout is 20ms", verb)
			}
			r, err := e.db.Request(testContext(t), 1)
			if err != nil || r.Status != astrobot.StatusSubmitted {
				t.Errorf("PEER-0001 = %s, %v; want it unchanged", r.Status, err)
			}
		})
	}
}

// TestStatusReplyFitsAck checks that a status reply stays within what Slack
// accepts however long the history: a Socket Mode ack under 20 KB, sections
// under 3,000 characters.
func TestStatusReplyFitsAck(t *testing.T) {
	e := newEnv(t)
	e.mustFile(t, alice, "VA", validForm())
	ctx := testContext(t)
	note := strings.Repeat("checked the route tables again, ", 10)
	for i := range 60 {
		e.clock.Advance(time.Minute)
		if _, _, err := e.db.Apply(ctx, 1, astrobot.Change{Action: astrobot.ActNote, Actor: userSupport, Role: astrobot.RoleSupport,
			Note: fmt.Sprintf("%d: %s", i, note)}); err != nil {
			t.Fatal(err)
		}
	}
	msg := e.command(t, support, handlers.CommandPeer, "status PEER-0001")
	if size := jsonSize(t, msg); size >= 20000 {
		t.Errorf("status reply is %d bytes of JSON, want under 20000 (slack-go refuses larger Socket Mode acks)", size)
	}
	for i, b := range msg.Blocks.BlockSet {
		if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil && len([]rune(s.Text.Text)) > 3000 {
			t.Errorf("section %d holds %d characters, want at most 3000", i, len([]rune(s.Text.Text)))
		}
	}
	checkText(t, msgText(msg), []string{"PEER-0001", peeringNext(astrobot.StatusSubmitted)}, nil)
}
