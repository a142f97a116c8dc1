package handlers_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
)

// zoneKind returns the definition of the private DNS zone kind, the one kind
// offered as a follow-up.
func zoneKind(t *testing.T) astrobot.KindDef {
	t.Helper()
	d, ok := astrobot.KindOf(astrobot.KindHostedZone)
	if !ok {
		t.Fatal("no hosted zone kind")
	}
	return d
}

// actionButtons returns the buttons of the actions blocks of blocks, by
// block ID, as "action_id=value label".
func actionButtons(t *testing.T, blocks []slack.Block) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, b := range blocks {
		a, ok := b.(*slack.ActionBlock)
		if !ok {
			continue
		}
		for _, el := range a.Elements.ElementSet {
			if btn, ok := el.(*slack.ButtonBlockElement); ok {
				out[a.BlockID] = append(out[a.BlockID], btn.ActionID+"="+btn.Value+" "+btn.Text.Text)
			}
		}
	}
	return out
}

// postedBlocks decodes the blocks of a chat.postMessage call.
func postedBlocks(t *testing.T, c fakeslack.Call) []slack.Block {
	t.Helper()
	var blocks slack.Blocks
	if err := json.Unmarshal([]byte(c.Param("blocks")), &blocks); err != nil {
		t.Fatalf("blocks %q: %v", c.Param("blocks"), err)
	}
	return blocks.BlockSet
}

// TestFollowUpOnDM checks the follow-up button on the requester's DM: the
// DM of an active request of a kind whose connection routes CIDRs (a peering,
// a transit gateway attachment) offers the private DNS zone form for its
// cluster; a request not active yet, or one that routes nothing, offers
// nothing.
func TestFollowUpOnDM(t *testing.T) {
	dns := zoneKind(t)
	button := handlers.FollowUpAction(dns) + "=" + acmeProd.ID + " Share a private DNS zone"
	tgw := astrobot.Request{ID: 9, Kind: astrobot.KindTransitGateway, ClusterID: acmeProd.ID,
		Requester: astrobot.Requester{UserID: userAlice, TeamID: teamAcme},
		Spec:      astrobot.TransitGatewaySpec{AccountID: "123456789012", TGWID: "tgw-0123456789abcdef0", CIDRs: prefixes("192.168.0.0/20")}}
	tests := []struct {
		name   string
		r      astrobot.Request
		status astrobot.Status
		want   bool
	}{
		{"active peering", peeringRequest(7, astrobot.StatusActive), astrobot.StatusActive, true},
		{"peering pending acceptance", peeringRequest(7, astrobot.StatusPendingAcceptance), astrobot.StatusPendingAcceptance, false},
		{"active transit gateway attachment", tgw, astrobot.StatusActive, true},
		{"active PrivateLink endpoint", astrobot.Request{ID: 8, Kind: astrobot.KindPrivateLink, ClusterID: acmeProd.ID,
			Requester: astrobot.Requester{UserID: userAlice, TeamID: teamAcme},
			Spec:      astrobot.PrivateLinkSpec{AccountID: "123456789012", ServiceName: "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0", Region: "us-east-1", Ports: []int{443}}},
			astrobot.StatusActive, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r := tt.r
			r.Status = tt.status
			if r.Status == astrobot.StatusActive || r.Status == astrobot.StatusPendingAcceptance {
				r.Resource = r.Def().Resource().Example
			}
			ev := astrobot.Event{Seq: 4, At: start, Actor: astrobot.ActorAWS, Action: astrobot.ActNudgeCustomer, From: r.Status, To: r.Status}
			if _, err := e.h.Deliver(testContext(t), handlers.Delivery{Entry: 1,
				Notification: astrobot.Notification{RequestID: r.ID, Kind: astrobot.NotifyRequester}, Request: r, Event: ev}); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			got := actionButtons(t, postedBlocks(t, e.lastCall(t, "chat.postMessage", 1)))[handlers.BlockFollowUps+r.Ref()]
			if tt.want && (len(got) != 1 || got[0] != button) {
				t.Errorf("follow-up buttons %q, want %q", got, button)
			}
			if !tt.want && len(got) != 0 {
				t.Errorf("follow-up buttons %q, want none", got)
			}
		})
	}
}

// TestFollowUpDMStaysWithinBlocks checks that a DM whose text fills every
// block Slack allows still has room for its follow-up button.
func TestFollowUpDMStaysWithinBlocks(t *testing.T) {
	huge := hugeCluster(400, 400)
	e := newEnv(t, withClusters([]astrobot.Cluster{huge}))
	r := peeringRequest(7, astrobot.StatusActive)
	r.ClusterID, r.Resource = huge.ID, "pcx-0abc12345678def90"
	ev := astrobot.Event{Seq: 4, At: start, Actor: astrobot.ActorAWS, Action: astrobot.ActConfigured, From: astrobot.StatusConfiguring, To: astrobot.StatusActive}
	if _, err := e.h.Deliver(testContext(t), handlers.Delivery{Entry: 1,
		Notification: astrobot.Notification{RequestID: r.ID, Kind: astrobot.NotifyRequester}, Request: r, Event: ev}); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	blocks := postedBlocks(t, e.lastCall(t, "chat.postMessage", 1))
	if len(blocks) != 50 || len(actionButtons(t, blocks)[handlers.BlockFollowUps+r.Ref()]) != 1 {
		t.Errorf("%d blocks, follow-ups %v; want 50 (the text fills them), the follow-up among them", len(blocks), actionButtons(t, blocks))
	}
}

// activePeering files a peering for alice on acmeProd and takes it to
// active as support does in manual mode.
func (e *env) activePeering(t *testing.T) astrobot.RequestID {
	t.Helper()
	id := e.mustFile(t, alice, "VFOLLOW", validForm())
	for _, c := range []astrobot.Change{
		{Action: astrobot.ActApprove},
		{Action: astrobot.ActPeeringCreated, Resource: "pcx-0abc12345678def90"},
		{Action: astrobot.ActAccepted},
		{Action: astrobot.ActConfigured},
	} {
		c.Actor, c.Role, c.At = userSupport, astrobot.RoleSupport, e.clock.Now()
		if _, _, err := e.db.Apply(testContext(t), id, c); err != nil {
			t.Fatalf("%s: %v", c.Action, err)
		}
	}
	return id
}

// TestFollowUpOnAppHome checks the follow-up button on the requester's App
// Home entry of an active peering, and that pressing it opens the private
// DNS zone form with the peering's cluster chosen, through views.open with
// the press's trigger.
func TestFollowUpOnAppHome(t *testing.T) {
	e := newEnv(t)
	e.activePeering(t)
	e.mustFile(t, alice, "VOTHER", peerForm{cluster: acmeDev.ID, account: "123456789012", region: "us-west-2", vpc: "vpc-0def12345678abc90", cidrs: "192.168.32.0/20"})

	e.h.Event(testContext(t), homeOpened(t, alice, "home"))
	var req struct {
		View slack.View `json:"view"`
	}
	if err := json.Unmarshal(e.lastCall(t, "views.publish", len(e.srv.CallsTo("views.publish"))).Raw, &req); err != nil {
		t.Fatal(err)
	}
	buttons := actionButtons(t, req.View.Blocks.BlockSet)
	want := handlers.FollowUpAction(zoneKind(t)) + "=" + acmeProd.ID + " Share a private DNS zone"
	if got := buttons[handlers.BlockFollowUps+"PEER-0001"]; len(got) != 1 || got[0] != want {
		t.Errorf("App Home follow-ups of the active peering %q, want %q; all buttons %v", got, want, buttons)
	}
	if got := buttons[handlers.BlockFollowUps+"PEER-0002"]; len(got) != 0 {
		t.Errorf("the submitted peering offers %q, want nothing", got)
	}

	// Pressed: the zone form, with the peering's cluster chosen.
	opens := len(e.srv.CallsTo("views.open"))
	ack := e.h.Interaction(testContext(t), slack.InteractionCallback{
		Type: slack.InteractionTypeBlockActions, User: slack.User{ID: alice.user, TeamID: alice.team}, TriggerID: "trigger-follow-up",
		ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{ActionID: handlers.FollowUpAction(zoneKind(t)),
			BlockID: handlers.BlockFollowUps + "PEER-0001", Value: acmeProd.ID}}},
	})
	if ack != nil {
		t.Errorf("the press was acknowledged with %v, want an empty ack", ack)
	}
	calls := e.srv.CallsTo("views.open")
	if len(calls) != opens+1 {
		t.Fatalf("views.open calls = %d, want 1", len(calls)-opens)
	}
	var opened struct {
		TriggerID string                 `json:"trigger_id"`
		View      slack.ModalViewRequest `json:"view"`
	}
	if err := json.Unmarshal(calls[len(calls)-1].Raw, &opened); err != nil {
		t.Fatal(err)
	}
	if opened.TriggerID != "trigger-follow-up" || opened.View.CallbackID != handlers.CallbackRequest ||
		!strings.Contains(opened.View.PrivateMetadata, `"k":"`+string(astrobot.KindHostedZone)+`"`) {
		t.Errorf("opened %q with trigger %q and metadata %q, want the request form of the zone kind", opened.View.CallbackID, opened.TriggerID, opened.View.PrivateMetadata)
	}
	raw := string(calls[len(calls)-1].Raw)
	checkText(t, raw, []string{"Cluster Prod-East: VPC " + acmeProd.VPCID + " in us-east-1", handlers.FieldBlock(astrobot.FieldZone), handlers.FieldBlock(astrobot.FieldDomain)}, nil)
	initial := ""
	for _, b := range opened.View.Blocks.BlockSet {
		if in, ok := b.(*slack.InputBlock); ok && in.BlockID == handlers.FieldBlock(astrobot.FieldCluster) {
			if sel, ok := in.Element.(*slack.SelectBlockElement); ok && sel.InitialOption != nil {
				initial = sel.InitialOption.Value
			}
		}
	}
	if initial != acmeProd.ID {
		t.Errorf("the cluster chosen in the form is %q, want %s", initial, acmeProd.ID)
	}
}

// TestFollowUpRefusals checks presses that open nothing: a cluster the
// presser cannot see is refused in words only they read, like a forged one.
func TestFollowUpRefusals(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name, cluster string
	}{
		{"another organization's cluster", acmeProd.ID},
		{"no such cluster", "cl-nowhere"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opens, posts := len(e.srv.CallsTo("views.open")), len(e.srv.CallsTo("chat.postMessage"))
			e.h.Interaction(testContext(t), slack.InteractionCallback{
				Type: slack.InteractionTypeBlockActions, User: slack.User{ID: gina.user, TeamID: gina.team}, TriggerID: "trigger-gina",
				ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{ActionID: handlers.FollowUpAction(zoneKind(t)), Value: tt.cluster}}},
			})
			if n := len(e.srv.CallsTo("views.open")) - opens; n != 0 {
				t.Errorf("views.open called %d times for a cluster gina cannot see", n)
			}
			dms := e.srv.CallsTo("chat.postMessage")[posts:]
			if len(dms) != 1 || !strings.Contains(dms[0].Param("text"), "is visible to you") {
				t.Errorf("gina was told %v, want one message saying the cluster is not visible", dms)
			}
		})
	}
}

// TestFollowUpKnownIDs checks which follow-up action IDs the transports
// count as astrobot's: the zone kind's, exactly spelled.
func TestFollowUpKnownIDs(t *testing.T) {
	peering, _ := astrobot.KindOf(astrobot.KindPeering)
	for id, want := range map[string]bool{
		handlers.FollowUpAction(zoneKind(t)): true,
		"follow_up_DNS":                      false,
		handlers.FollowUpAction(peering):     false, // peering is no follow-up
		"follow_up_":                         false,
	} {
		if got := handlers.KnownID(id); got != want {
			t.Errorf("KnownID(%q) = %v, want %v", id, got, want)
		}
	}
}

// TestSupportOnlyStepInAWSMode checks the button of a step only support
// takes, the disassociation of an active zone: shown on the card in AWS mode
// too, where the bot's steps are not, and asking to confirm.
func TestSupportOnlyStepInAWSMode(t *testing.T) {
	aws := func(c *handlers.Config) {
		c.Modes = map[astrobot.Kind]astrobot.Mode{astrobot.KindHostedZone: astrobot.ModeAWS}
	}
	for _, mode := range []string{"aws", "manual"} {
		t.Run(mode, func(t *testing.T) {
			var e *env
			if mode == "aws" {
				e = newEnv(t, aws)
			} else {
				e = newEnv(t)
			}
			for _, s := range []astrobot.Status{astrobot.StatusAssociating, astrobot.StatusActive} {
				r := astrobot.Request{ID: 5, Kind: astrobot.KindHostedZone, Status: s, ClusterID: acmeProd.ID,
					Requester: astrobot.Requester{UserID: userAlice, TeamID: teamAcme},
					Spec:      astrobot.HostedZoneSpec{AccountID: "123456789012", ZoneID: "Z0123456789ABCDEFGHIJ", Domain: "corp.example.com"}}
				if s == astrobot.StatusActive {
					r.Resource = r.Spec.(astrobot.HostedZoneSpec).ZoneID
				}
				if _, err := e.h.Deliver(testContext(t), handlers.Delivery{Entry: 1,
					Notification: astrobot.Notification{RequestID: r.ID, Kind: astrobot.NotifyCard}, Request: r,
					Event: astrobot.Event{Seq: 3, At: start, Actor: userSupport, Action: astrobot.ActNote, From: s, To: s}}); err != nil {
					t.Fatalf("Deliver: %v", err)
				}
				calls := e.srv.CallsTo("chat.postMessage")
				blocks := postedBlocks(t, calls[len(calls)-1])
				card := strings.Join(actionButtons(t, blocks)[handlers.BlockCardActions], "\n")
				disassociate := handlers.ActionButton(astrobot.ActDisassociate)
				associated := handlers.ActionButton(astrobot.ActAssociated)
				switch s {
				case astrobot.StatusActive:
					if !strings.Contains(card, disassociate+"=DNS-0005 Disassociate zone") {
						t.Errorf("%s, %s: the card lacks Disassociate zone: %s", mode, s, card)
					}
					if strings.Contains(card, handlers.ActionButton(astrobot.ActCancel)) {
						t.Errorf("%s, %s: the card offers the generic cancel on an associated zone: %s", mode, s, card)
					}
					raw := calls[len(calls)-1].Param("blocks")
					if !strings.Contains(raw, `"confirm"`) || !strings.Contains(raw, "Yes, disassociate zone") {
						t.Errorf("%s: Disassociate zone does not ask to confirm: %s", mode, raw)
					}
				case astrobot.StatusAssociating:
					if got := strings.Contains(card, associated); got != (mode == "manual") {
						t.Errorf("%s, %s: the card offers Associated: %v; want it in manual mode only: %s", mode, s, got, card)
					}
				}
			}
		})
	}
}
