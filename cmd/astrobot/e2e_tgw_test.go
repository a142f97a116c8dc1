package main

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
)

// tgwPlaceholder is a placeholder of the instructions, escaped.
var tgwPlaceholder = regexp.MustCompile(`&lt;([^&]*)&gt;`)

// TestE2ETransitGatewayManualMode runs a transit gateway attachment through
// the built binary in manual mode, from the form to active, with support
// recording each step on the card. The form names the cluster's region and
// refuses a share of another region, another account's share, a CIDR routed
// by another kind's request and the same transit gateway twice; every DM
// carries the real IDs, its only placeholders are the customer's own
// resources, and nothing in it leaves < or > unescaped.
func TestE2ETransitGatewayManualMode(t *testing.T) {
	const (
		tgw    = "tgw-0123456789abcdef0"
		attach = "tgw-attach-0aaaabbbbccccdddd"
		arn    = "arn:aws:ec2:us-east-1:222222222222:transit-gateway/" + tgw
		ref    = "TGW-0002"
	)
	slack := fakeslack.New(fakeslack.WithTest(t))
	defer slack.Close()
	b := newWorkflow(t, slack, 30*time.Second)
	card := func(status string) { b.card(ref, "Transit gateway attachment", status) }
	// tgwForm is the transit gateway form of acme-prod, as filled in.
	tgwForm := func(viewID string, values map[string]string) []byte {
		values = maps.Clone(values)
		values[astrobot.FieldCluster] = "clx123abc"
		return requester.formSubmission(astrobot.KindTransitGateway, viewID, values)
	}

	// The kind's form opens from /astro-connect tgw and names the cluster's
	// region and account.
	b.send(command("/astro-connect", "tgw acme-prod", "U0001", "T0001", "C0001"))
	view := string(b.await("views.open", 1)[0].Raw)
	for _, want := range []string{"Cluster acme-prod is in us-east-1, in AWS account 111111111111: your transit gateway must be in us-east-1 too",
		handlers.FieldBlock(astrobot.FieldTGW), handlers.FieldBlock(astrobot.FieldShare), handlers.FieldBlock(astrobot.FieldCIDRs)} {
		if !strings.Contains(view, want) {
			t.Errorf("the transit gateway form lacks %q: %s", want, view)
		}
	}

	// A peering routes 172.16.0.0/16 to the cluster already.
	if reply := b.send(requester.formSubmission(astrobot.KindPeering, "V-peer", map[string]string{astrobot.FieldCluster: "clx123abc", astrobot.FieldAccount: "123456789012",
		astrobot.FieldRegion: "us-east-1", astrobot.FieldVPC: "vpc-0123456789abcdef0", astrobot.FieldCIDRs: "172.16.0.0/16"})); !strings.Contains(reply, `"response_action":"update"`) {
		t.Fatalf("file the peering: %s\n%s", reply, b.p.log())
	}
	b.dm("*PEER-0001*")

	// Refused on their fields: a malformed TGW ID, a share in another
	// region, a CIDR in the cluster VPC; then a share of another account
	// and a CIDR the peering routes.
	errs := b.refusal(tgwForm("V0", map[string]string{astrobot.FieldAccount: "222222222222",
		astrobot.FieldTGW: "tgw-123", astrobot.FieldShare: "arn:aws:ram:eu-west-1:222222222222:resource-share/0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b",
		astrobot.FieldCIDRs: "10.10.5.0/24"}))
	for field, want := range map[string]string{
		astrobot.FieldTGW:   "tgw- followed by 17 hex digits",
		astrobot.FieldShare: "This share is in eu-west-1, but cluster acme-prod is in us-east-1: a VPC attaches only to a transit gateway of its own region. Share a transit gateway in us-east-1; to reach your networks in eu-west-1, peer that transit gateway with one there (transit gateway peering).",
		astrobot.FieldCIDRs: "10.10.5.0/24 overlaps 10.10.0.0/16, the VPC of cluster acme-prod",
	} {
		if got := errs[handlers.FieldBlock(field)]; !strings.Contains(got, want) {
			t.Errorf("error on %s = %q, want %q", field, got, want)
		}
	}
	errs = b.refusal(tgwForm("V0b", map[string]string{astrobot.FieldAccount: "222222222222",
		astrobot.FieldTGW: tgw, astrobot.FieldShare: "arn:aws:ram:us-east-1:333333333333:resource-share/0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b",
		astrobot.FieldCIDRs: "192.168.10.0/24"}))
	if got := errs[handlers.FieldBlock(astrobot.FieldShare)]; !strings.Contains(got, "This share belongs to account 333333333333, but you gave 222222222222") {
		t.Errorf("another account's share: %v", errs)
	}
	errs = b.refusal(tgwForm("V0c", map[string]string{astrobot.FieldAccount: "222222222222",
		astrobot.FieldTGW: tgw, astrobot.FieldCIDRs: "192.168.10.0/24, 172.16.8.0/22"}))
	if got := errs[handlers.FieldBlock(astrobot.FieldCIDRs)]; !strings.Contains(got, "172.16.8.0/22 overlaps 172.16.0.0/16, already routed to this cluster by PEER-0001 (submitted)") {
		t.Errorf("a CIDR the peering routes: %v", errs)
	}

	// Filed; the same transit gateway again is refused on its field.
	good := map[string]string{astrobot.FieldAccount: "2222-2222-2222", astrobot.FieldTGW: tgw, astrobot.FieldCIDRs: "192.168.10.0/24, 172.17.0.0/16",
		astrobot.FieldNote: "Airflow → on-prem <dc1>"}
	if reply := b.send(tgwForm("V1", good)); !strings.Contains(reply, `"response_action":"update"`) {
		t.Fatalf("submit: %s\n%s", reply, b.p.log())
	}
	b.dm("We received your Transit gateway attachment request *"+ref+"*", tgw)
	good[astrobot.FieldCIDRs] = "192.168.20.0/24"
	errs = b.refusal(tgwForm("V2", good))
	if got := errs[handlers.FieldBlock(astrobot.FieldTGW)]; !strings.Contains(got, tgw+" in account 222222222222 is already requested in "+ref) {
		t.Errorf("the same transit gateway twice: %v", errs)
	}

	// Support approves and records each step; the requester is told what
	// to do with every value filled in.
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActApprove), ref))
	card("approved")
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActAwaitShare), ref))
	b.dm("*"+ref+"* is now *waiting share*",
		"aws ram create-resource-share --name astro-acme-prod --resource-arns "+arn+" --principals 111111111111 --allow-external-principals --region us-east-1",
		`resource "aws_ram_resource_share" "astro"`, `resource "aws_ram_resource_association" "astro"`, `resource_arn       = "`+arn+`"`,
		`resource "aws_ram_principal_association" "astro"`, `principal          = "111111111111"`)
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActShareAccepted), ref))
	card("attaching")
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActAttachmentCreated), ref))
	b.await("views.open", 2) // the attachment modal
	if errs := b.refusal(resourceSubmission(ref, "tgw-attach-0123abcd")); !strings.Contains(errs[handlers.BlockResource], "tgw-attach- followed by 17 hex digits") {
		t.Errorf("a short attachment ID is not refused: %v", errs)
	}
	b.send(resourceSubmission(ref, attach))
	b.dm("*"+ref+"* is now *pending acceptance*", "Accept `"+attach+"` on `"+tgw+"` in account 222222222222.",
		"aws ec2 accept-transit-gateway-vpc-attachment --transit-gateway-attachment-id "+attach+" --region us-east-1",
		`transit_gateway_attachment_id = "`+attach+`"`)
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActAccepted), ref))
	card("configuring")
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActConfigured), ref))
	b.dm("*"+ref+"* is now *active*", "attached to `"+tgw+"` through `"+attach+"`",
		"aws ec2 create-transit-gateway-route --destination-cidr-block 10.10.0.0/16 --transit-gateway-route-table-id &lt;your-tgw-route-table-id&gt; --transit-gateway-attachment-id "+attach+" --region us-east-1",
		"aws ec2 associate-transit-gateway-route-table --transit-gateway-route-table-id &lt;your-tgw-route-table-id&gt; --transit-gateway-attachment-id "+attach+" --region us-east-1",
		"aws ec2 create-route --route-table-id &lt;your-route-table-id&gt; --destination-cidr-block 10.10.0.0/16 --transit-gateway-id "+tgw+" --region us-east-1",
		"aws ec2 authorize-security-group-ingress --group-id &lt;your-sg-id&gt; --protocol tcp --port &lt;port&gt; --cidr 10.10.0.0/16 --region us-east-1")
	card("active")

	status := b.send(command("/astro-connect", "status "+ref, "U0001", "T0001", "C0001"))
	for _, want := range []string{"asked for the RAM share of the request (waiting share)", "attached the cluster VPC for the request (pending acceptance)",
		"finished the routes for the request (active)", attach} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q: %s", want, status)
		}
	}

	// Every DM: nothing unescaped but mentions, and no placeholder but the
	// customer's own resources.
	allowed := []string{"your-tgw-route-table-id", "your-route-table-id", "your-sg-id", "port"}
	for _, text := range b.dms() {
		if rest := mention.ReplaceAllString(text, ""); strings.ContainsAny(rest, "<>") {
			t.Errorf("a DM holds an unescaped < or >:\n%s", text)
		}
		if !strings.Contains(text, ref) {
			continue
		}
		for _, m := range tgwPlaceholder.FindAllStringSubmatch(text, -1) {
			if !slices.Contains(allowed, m[1]) && m[1] != "dc1" {
				t.Errorf("a DM of %s leaves the placeholder %q to fill in:\n%s", ref, m[1], text)
			}
		}
	}
	if !strings.Contains(b.dm(ref, "&lt;dc1&gt;").Param("text"), "Airflow → on-prem &lt;dc1&gt;") {
		t.Error("the note's < and > are not escaped in the receipt")
	}
	if err := b.p.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}
