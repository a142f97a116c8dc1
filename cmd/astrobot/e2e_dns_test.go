package main

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
)

// TestE2EHostedZoneManualMode runs the built binary in manual mode: a
// peering taken to active offers, on its final DM, the follow-up button that
// opens the private DNS zone form with the peering's cluster chosen; the
// zone request filed from it answers at once with the cluster VPC and the
// exact authorization to run; support records each step with the card's
// buttons to active, where the requester is told the authorization may go,
// then disassociates it behind a confirmation.
func TestE2EHostedZoneManualMode(t *testing.T) {
	const (
		cluster = "clx123abc" // acme-prod, us-east-1, vpc-0abc12345678def90
		vpc     = "vpc-0abc12345678def90"
		zone    = "Z0123456789ABCDEFGHIJ"
	)
	slack := fakeslack.New(fakeslack.WithTest(t))
	defer slack.Close()
	b := newWorkflow(t, slack, 45*time.Second)

	// A peering, filed and recorded by support to active.
	if reply := b.send(requester.formSubmission(astrobot.KindPeering, "V-peer", map[string]string{astrobot.FieldAccount: "123456789012",
		astrobot.FieldVPC: "vpc-0123456789abcdef0", astrobot.FieldCIDRs: "172.31.0.0/16", astrobot.FieldCluster: cluster, astrobot.FieldRegion: "us-east-1"})); !strings.Contains(reply, `"response_action":"update"`) {
		t.Fatalf("file the peering: %s\n%s", reply, b.p.log())
	}
	b.dm("We received your VPC peering request *PEER-0001*")
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActApprove), "PEER-0001"))
	b.card("PEER-0001", "VPC peering", "approved")
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActPeeringCreated), "PEER-0001"))
	b.await("views.open", 1)
	b.send(resourceSubmission("PEER-0001", "pcx-0abc12345678def90"))
	b.dm("*PEER-0001* is now *pending acceptance*")
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActAccepted), "PEER-0001"))
	b.card("PEER-0001", "VPC peering", "configuring")
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActConfigured), "PEER-0001"))
	active := b.dm("*PEER-0001* is now *active*")

	// Its DM offers the follow-up, which opens the zone form for the
	// peering's cluster.
	dnsKind, _ := astrobot.KindOf(astrobot.KindHostedZone)
	followUp := handlers.FollowUpAction(dnsKind)
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(active.Param("blocks")), &blocks); err != nil {
		t.Fatalf("the DM's blocks: %v", err)
	}
	var button map[string]any
	for _, bl := range blocks {
		if bl["type"] != "actions" || bl["block_id"] != handlers.BlockFollowUps+"PEER-0001" {
			continue
		}
		els, _ := bl["elements"].([]any)
		for _, el := range els {
			if m, _ := el.(map[string]any); m["action_id"] == followUp {
				button = m
			}
		}
	}
	if button == nil || button["value"] != cluster || !strings.Contains(active.Param("blocks"), "Share a private DNS zone") {
		t.Fatalf("the active peering's DM has no Share a private DNS zone button for %s: %s", cluster, active.Param("blocks"))
	}
	b.send(interaction(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": "U0001", "team_id": "T0001"}, "team": map[string]any{"id": "T0001"},
		"channel": map[string]any{"id": "DU0001"}, "trigger_id": "trig-follow-up",
		"actions": []map[string]any{{"type": "button", "action_id": followUp, "block_id": handlers.BlockFollowUps + "PEER-0001", "value": cluster}},
	}))
	opened := b.await("views.open", 2)[1].JSON
	view, _ := opened["view"].(map[string]any)
	meta, _ := view["private_metadata"].(string)
	raw, _ := json.Marshal(view)
	if opened["trigger_id"] != "trig-follow-up" || view["callback_id"] != handlers.CallbackRequest || !strings.Contains(meta, `"k":"`+string(astrobot.KindHostedZone)+`"`) {
		t.Fatalf("the follow-up opened %s with trigger %v, want the zone form with the press's trigger", raw, opened["trigger_id"])
	}
	for _, want := range []string{`"initial_option":{"text":{"emoji":false,"text":"acme-prod (clx123abc, us-east-1)","type":"plain_text"},"value":"clx123abc"}`,
		"Cluster acme-prod: VPC " + vpc + " in us-east-1", handlers.FieldBlock(astrobot.FieldZone), handlers.FieldBlock(astrobot.FieldDomain)} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the zone form lacks %s: %s", want, raw)
		}
	}

	// Filed from that form: the receipt carries the cluster VPC and the
	// exact authorization.
	zoneForm := func(viewID, zoneID string) []byte {
		return filer{user: "U0001", team: "T0001", meta: meta}.formSubmission(astrobot.KindHostedZone, viewID, map[string]string{astrobot.FieldAccount: "2222-2222-2222",
			astrobot.FieldZone: zoneID, astrobot.FieldDomain: "Corp.Example.com.", astrobot.FieldNote: "Airflow → our DBs <prod>", astrobot.FieldCluster: cluster})
	}
	if refused, err := b.ack(zoneForm("V-bad", "vpc-0123")); err != nil || !strings.Contains(refused.Errors[handlers.FieldBlock(astrobot.FieldZone)], "Z followed by up to 32") {
		t.Errorf("a zone ID that is none is not refused on its field: %+v %v", refused, err)
	}
	if reply := b.send(zoneForm("V-zone", strings.ToLower(zone))); !strings.Contains(reply, `"response_action":"update"`) {
		t.Fatalf("file the zone: %s\n%s", reply, b.p.log())
	}
	authorize := "aws route53 create-vpc-association-authorization --hosted-zone-id " + zone + " --vpc VPCRegion=us-east-1,VPCId=" + vpc
	b.dm("We received your Private DNS zone request *DNS-0002*", "VPC `"+vpc+"`", authorize,
		`resource "aws_route53_vpc_association_authorization" "astro"`, `zone_id    = "`+zone+`"`, "&lt;prod&gt;")
	if refused, err := b.ack(zoneForm("V-again", zone)); err != nil ||
		!strings.Contains(refused.Errors[handlers.FieldBlock(astrobot.FieldZone)], "hosted zone "+zone+" is already requested in DNS-0002") {
		t.Errorf("the same zone twice is not refused on its field: %+v %v", refused, err)
	}

	// Support records each step; the requester hears at each of theirs.
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActApprove), "DNS-0002"))
	b.card("DNS-0002", "Private DNS zone", "approved")
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActAwaitAuthorization), "DNS-0002"))
	b.dm("*DNS-0002* is now *waiting authorization*", "Authorize it in account 222222222222 for the zone `"+zone+"`", authorize)
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActAuthorized), "DNS-0002"))
	card := b.card("DNS-0002", "Private DNS zone", "associating")
	if strings.Contains(card, handlers.ActionButton(astrobot.ActCancel)) || !strings.Contains(card, handlers.ActionButton(astrobot.ActAssociated)) {
		t.Errorf("the associating card should offer Associated and no cancel: %s", card)
	}
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActAssociated), "DNS-0002"))
	b.await("views.open", 3)
	if refused, err := b.ack(resourceSubmission("DNS-0002", "vpc-0abc12345678def90")); err != nil || !strings.Contains(refused.Errors[handlers.BlockResource], "hosted zone ID") {
		t.Errorf("a VPC ID for the zone is not refused: %+v %v", refused, err)
	}
	b.send(resourceSubmission("DNS-0002", zone))
	done := b.dm("*DNS-0002* is now *active*", "The zone `"+zone+"` (corp.example.com) is associated",
		"aws route53 delete-vpc-association-authorization --hosted-zone-id "+zone+" --vpc VPCRegion=us-east-1,VPCId="+vpc)
	if strings.Contains(done.Param("blocks"), followUp) {
		t.Errorf("the zone's own DM offers to share a zone: %s", done.Param("blocks"))
	}
	card = b.card("DNS-0002", "Private DNS zone", "active")
	if !strings.Contains(card, handlers.ActionButton(astrobot.ActDisassociate)) || !strings.Contains(card, "Yes, disassociate zone") {
		t.Errorf("the active card lacks Disassociate zone with its confirmation: %s", card)
	}

	// The requester cannot disassociate; support can.
	if reply := b.send(command("/astro-connect", "cancel DNS-0002", "U0001", "T0001", "C0001")); !strings.Contains(reply, "cannot be cancelled now") {
		t.Errorf("the requester's cancel of an associated zone: %s", reply)
	}
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActDisassociate), "DNS-0002"))
	b.dm("*DNS-0002* is now *cancelled*")
	status := b.send(command("/astro-connect", "status DNS-0002", "U0001", "T0001", "C0001"))
	for _, want := range []string{"asked for the authorization of the request (waiting authorization)", "associated the zone of the request (active)",
		"disassociated the zone of the request (cancelled)"} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q: %s", want, status)
		}
	}
	for _, text := range b.dms() {
		if strings.ContainsAny(mention.ReplaceAllString(text, ""), "<>") {
			t.Errorf("a DM holds an unescaped < or >:\n%s", text)
		}
	}
	if err := b.p.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}
