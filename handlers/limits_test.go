package handlers_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
)

// hugeCluster is a cluster of acme with n external IPs and m CIDRs.
func hugeCluster(n, m int) astrobot.Cluster {
	cl := acmeProd
	cl.ID, cl.Name = "cl-acme-huge", "Huge-<&>-Cluster"
	cl.ExternalIPs, cl.CIDRs = nil, nil
	for i := range n {
		cl.ExternalIPs = append(cl.ExternalIPs, netip.AddrFrom4([4]byte{3, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	for i := range m {
		cl.CIDRs = append(cl.CIDRs, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(100 + i/256), byte(i), 0}), 24))
	}
	return cl
}

// TestLongInputsStayWithinSlackLimits drives data that grows past Slack's
// limits through every surface: the fake Slack of newEnv refuses (and fails
// the test on) any payload over a limit or with unescaped mrkdwn, and the acks
// are checked the same way. What is cut must be said.
func TestLongInputsStayWithinSlackLimits(t *testing.T) {
	huge := hugeCluster(2000, 300)
	e := newEnv(t, withClusters(append(testClusters(), huge)))
	ctx := testContext(t)

	t.Run("one cluster with 2,000 IPs and 300 CIDRs", func(t *testing.T) {
		msg := e.command(t, alice, handlers.CommandIP, huge.ID)
		text := msgText(msg)
		checkText(t, text, []string{"… and 1700 more IPs", "… and 250 more", "Huge-&lt;&amp;&gt;-Cluster"}, []string{"Huge-<&>-Cluster"})
		if size := jsonSize(t, msg); size >= 20000 {
			t.Errorf("reply is %d bytes, want under the 20,000 of a Socket Mode ack", size)
		}
	})
	t.Run("every cluster, one of them huge", func(t *testing.T) {
		msg := e.command(t, alice, handlers.CommandIP, "")
		checkText(t, msgText(msg), []string{"… and 1980 more IPs"}, nil)
		if size := jsonSize(t, msg); size >= 20000 {
			t.Errorf("reply is %d bytes, want under 20,000", size)
		}
	})

	// A request with the longest note, full of mrkdwn control characters,
	// through the card, its thread, the DMs, status, list and App Home.
	f := validForm()
	f.note = strings.Repeat("<b> & <@UEVIL> ", astrobot.MaxNoteLength/15+1)[:astrobot.MaxNoteLength]
	id := e.mustFile(t, alice, "V1", f)
	e.deliverRest(t)
	for i := range 120 { // a history longer than a section holds
		if _, _, err := e.db.Apply(ctx, id, astrobot.Change{Action: astrobot.ActNote, Actor: userSupport, Role: astrobot.RoleSupport,
			Note: fmt.Sprintf("note %d: %s", i, strings.Repeat("&<>", 30))}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []astrobot.Action{astrobot.ActApprove, astrobot.ActPeeringCreated, astrobot.ActAccepted, astrobot.ActConfigured} {
		c := astrobot.Change{Action: s, Actor: userSupport, Role: astrobot.RoleSupport}
		if s == astrobot.ActPeeringCreated {
			c.Resource = "pcx-0123456789abcdef0"
		}
		if _, _, err := e.db.Apply(ctx, id, c); err != nil {
			t.Fatal(err)
		}
	}
	e.deliverRest(t) // the card, 124 thread lines, the DMs with the remaining steps

	t.Run("status with a long history", func(t *testing.T) {
		msg := e.command(t, support, handlers.CommandConnect, "status PEER-0001")
		checkText(t, msgText(msg), []string{"earlier events left out", "note 119"}, []string{"<b>"})
		if size := jsonSize(t, msg); size >= 20000 {
			t.Errorf("status reply is %d bytes, want under 20,000", size)
		}
	})
	for i := range 30 { // more requests than a list shows
		f := validForm()
		f.vpc, f.cidrs, f.note = fmt.Sprintf("vpc-%08x", 0x1000+i), fmt.Sprintf("192.168.%d.0/24", 100+i), strings.Repeat("x", 300)
		e.mustFile(t, alice, fmt.Sprintf("VL%d", i), f)
	}
	t.Run("lists of many requests", func(t *testing.T) {
		for _, c := range []caller{alice, support} {
			msg := e.command(t, c, handlers.CommandConnect, "list")
			if n := strings.Count(msgText(msg), "PEER-"); n < 20 {
				t.Errorf("list for %s names %d requests, want at least the 20 it shows", c.user, n)
			}
		}
	})
	t.Run("App Home of a requester and of support", func(t *testing.T) {
		for _, c := range []caller{alice, support} {
			e.h.Event(ctx, homeOpened(t, c, "home"))
		}
		if n := len(e.srv.CallsTo("views.publish")); n < 2 {
			t.Errorf("views.publish calls = %d, want the two homes", n)
		}
	})
	t.Run("the step modals of a request with the longest note", func(t *testing.T) {
		e.h.Interaction(ctx, slack.InteractionCallback{
			Type: slack.InteractionTypeBlockActions, User: slack.User{ID: userSupport, TeamID: teamAstro}, TriggerID: "t1",
			Channel: slack.Channel{GroupConversation: slack.GroupConversation{Conversation: slack.Conversation{ID: chanSupport}}},
			ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{
				{ActionID: handlers.ActionButton(astrobot.ActNote), BlockID: handlers.BlockCardActions, Value: "PEER-0001"}}},
		})
		if n := len(e.srv.CallsTo("views.open")); n == 0 {
			t.Error("the note modal was not opened")
		}
	})
	if v := e.srv.Violations(); len(v) > 0 {
		t.Errorf("the fake Slack refused %d payloads: %v", len(v), v)
	}
}
