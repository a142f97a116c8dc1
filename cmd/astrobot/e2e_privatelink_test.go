package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
)

// TestE2EPrivateLinkManualMode runs a PrivateLink request through the built
// binary in manual mode, from the form to active, with support recording
// each step on the card; the DMs carry the real IDs and escape < and >.
func TestE2EPrivateLinkManualMode(t *testing.T) {
	const (
		service = "com.amazonaws.vpce.eu-west-1.vpce-svc-0123456789abcdef0"
		vpce    = "vpce-0aaaabbbbccccdddd"
	)
	slack := fakeslack.New(fakeslack.WithTest(t))
	defer slack.Close()
	b := newWorkflow(t, slack, 30*time.Second)
	card := func(status string) { b.card("PL-0001", "PrivateLink endpoint", status) }

	// The kind's form opens from /astro-connect and names the cluster's region.
	b.send(command("/astro-connect", "privatelink acme-prod", "U0001", "T0001", "C0001"))
	opens := b.await("views.open", 1)
	if view := string(opens[0].Raw); !strings.Contains(view, "Cluster acme-prod is in us-east-1") || !strings.Contains(view, handlers.FieldBlock(astrobot.FieldService)) {
		t.Errorf("the PrivateLink form does not name the cluster's region or lacks the service field: %s", view)
	}

	// A malformed name, port and DNS name are refused on their fields.
	bad := map[string]string{astrobot.FieldCluster: "clx123abc", astrobot.FieldAccount: "222222222222", astrobot.FieldService: "vpce-svc-0123456789abcdef0",
		astrobot.FieldPorts: "70000", astrobot.FieldDNSName: "not a name"}
	errs := b.refusal(requester.formSubmission(astrobot.KindPrivateLink, "V0", bad))
	for _, f := range []string{astrobot.FieldService, astrobot.FieldPorts, astrobot.FieldDNSName} {
		if errs[handlers.FieldBlock(f)] == "" {
			t.Errorf("no error on %s: %v", f, errs)
		}
	}

	// Filed: a service in eu-west-1 for a cluster in us-east-1 is
	// cross-region PrivateLink, which the receipt says.
	good := map[string]string{astrobot.FieldCluster: "clx123abc", astrobot.FieldAccount: "2222-2222-2222", astrobot.FieldService: service,
		astrobot.FieldPorts: "443, 5432", astrobot.FieldDNSName: "api.example.com", astrobot.FieldNote: "Airflow → our API <prod>"}
	if reply := b.send(requester.formSubmission(astrobot.KindPrivateLink, "V1", good)); !strings.Contains(reply, `"response_action":"update"`) {
		t.Fatalf("submit: %s\n%s", reply, b.p.log())
	}
	b.dm("We received your PrivateLink endpoint request *PL-0001*", "cross-region PrivateLink", service)
	if again, err := b.ack(requester.formSubmission(astrobot.KindPrivateLink, "V2", good)); err != nil || !strings.Contains(again.Errors[handlers.FieldBlock(astrobot.FieldService)], service+" is already requested in PL-0001") {
		t.Errorf("the same service twice is not refused on its field: %+v %v", again, err)
	}

	// Support approves and records each step; the requester is told what
	// to do with every value filled in.
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActApprove), "PL-0001"))
	card("approved")
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActAwaitAllowlist), "PL-0001"))
	b.dm("*PL-0001* is now *waiting allowlist*",
		"aws ec2 modify-vpc-endpoint-service-permissions --service-id vpce-svc-0123456789abcdef0 --add-allowed-principals arn:aws:iam::111111111111:root --region eu-west-1",
		"aws ec2 modify-vpc-endpoint-service-configuration --service-id vpce-svc-0123456789abcdef0 --add-supported-regions us-east-1 --region eu-west-1",
		`resource "aws_vpc_endpoint_service_allowed_principal" "astro"`)
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActServiceVisible), "PL-0001"))
	card("creating")
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActEndpointCreated), "PL-0001"))
	b.await("views.open", 2) // the endpoint modal
	if short, err := b.ack(resourceSubmission("PL-0001", "vpce-0123abcd")); err != nil || !strings.Contains(short.Errors[handlers.BlockResource], "17 hex digits") {
		t.Errorf("a short endpoint ID is not refused: %+v %v", short, err)
	}
	b.send(resourceSubmission("PL-0001", vpce))
	b.dm("*PL-0001* is now *pending acceptance*",
		"aws ec2 accept-vpc-endpoint-connections --service-id vpce-svc-0123456789abcdef0 --vpc-endpoint-ids "+vpce+" --region eu-west-1",
		`vpc_endpoint_id         = "`+vpce+`"`)
	b.send(press("USUPPORT", handlers.ActionButton(astrobot.ActAccepted), "PL-0001"))
	active := b.dm("*PL-0001* is now *active*", "The endpoint `"+vpce+"` is available",
		"aws ec2 describe-vpc-endpoint-connections --filters Name=vpc-endpoint-id,Values="+vpce+" --region eu-west-1").Param("text")
	card("active")
	if !strings.Contains(active, "port 443, 5432") {
		t.Errorf("the final DM does not name the ports:\n%s", active)
	}

	status := b.send(command("/astro-connect", "status PL-0001", "U0001", "T0001", "C0001"))
	for _, want := range []string{"asked for the allow-list of the request (waiting allowlist)", "created the endpoint for the request (pending acceptance)", vpce} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q: %s", want, status)
		}
	}
	for _, text := range b.dms() {
		if rest := mention.ReplaceAllString(text, ""); strings.ContainsAny(rest, "<>") {
			t.Errorf("a DM holds an unescaped < or >:\n%s", text)
		}
	}
	if !strings.Contains(b.dm("PL-0001", "&lt;prod&gt;").Param("text"), "&lt;prod&gt;") {
		t.Error("the note's < and > are not escaped in the receipt")
	}
	if err := b.p.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}
