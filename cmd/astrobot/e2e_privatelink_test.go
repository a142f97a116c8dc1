package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
)

// plForm is what the requester types into the PrivateLink form.
type plForm struct {
	viewID, cluster, account, service, ports, dns, note string
}

// plSubmission is the view_submission of the PrivateLink form.
func plSubmission(f plForm) []byte {
	text := func(v string) map[string]any { return map[string]any{"type": "plain_text_input", "value": v} }
	field := func(name, v string) (string, map[string]any) {
		return handlers.FieldBlock(name), map[string]any{handlers.FieldAction(name): text(v)}
	}
	values := map[string]any{
		handlers.FieldBlock(astrobot.FieldCluster): map[string]any{handlers.FieldAction(astrobot.FieldCluster): map[string]any{
			"type": "static_select", "selected_option": map[string]any{"value": f.cluster}}},
	}
	for name, v := range map[string]string{astrobot.FieldAccount: f.account, astrobot.FieldService: f.service, astrobot.FieldPorts: f.ports,
		astrobot.FieldDNSName: f.dns, astrobot.FieldNote: f.note} {
		k, el := field(name, v)
		values[k] = el
	}
	meta, _ := json.Marshal(map[string]string{"c": "C0001", "k": string(astrobot.KindPrivateLink)})
	payload, _ := json.Marshal(map[string]any{
		"type": "view_submission",
		"team": map[string]any{"id": "T0001"},
		"user": map[string]any{"id": "U0001", "team_id": "T0001"},
		"view": map[string]any{"id": f.viewID, "type": "modal", "callback_id": handlers.CallbackRequest, "private_metadata": string(meta),
			"state": map[string]any{"values": values}},
	})
	return []byte(url.Values{"payload": {string(payload)}}.Encode())
}

// plPress is the block_actions payload of support pressing a card button.
func plPress(actionID, ref string) []byte {
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": "USUPPORT", "team_id": "T0001"}, "team": map[string]any{"id": "T0001"},
		"channel": map[string]any{"id": "CSUPPORT"}, "trigger_id": "trig-" + actionID,
		"actions": []map[string]any{{"type": "button", "action_id": actionID, "block_id": handlers.BlockCardActions, "value": ref}},
	})
	return []byte(url.Values{"payload": {string(payload)}}.Encode())
}

// plResource is the view_submission of the modal that records the endpoint ID.
func plResource(ref, id string) []byte {
	payload, _ := json.Marshal(map[string]any{
		"type": "view_submission", "user": map[string]any{"id": "USUPPORT", "team_id": "T0001"}, "team": map[string]any{"id": "T0001"},
		"view": map[string]any{"id": "V-res", "type": "modal", "callback_id": handlers.CallbackResource, "private_metadata": ref,
			"state": map[string]any{"values": map[string]any{handlers.BlockResource: map[string]any{handlers.ActionResource: map[string]any{"type": "plain_text_input", "value": id}}}}},
	})
	return []byte(url.Values{"payload": {string(payload)}}.Encode())
}

// plBot is a running bot and the fake Slack it talks to.
type plBot struct {
	t     *testing.T
	p     *proc
	slack *fakeslack.Server
	ctx   context.Context
}

func (b *plBot) send(body []byte) string {
	b.t.Helper()
	code, reply := post(b.t, b.p.httpURL, form, body, time.Now(), testSecret)
	if code != http.StatusOK {
		b.t.Fatalf("status %d: %s", code, reply)
	}
	return string(reply)
}

// dm waits for the requester's DM that contains every one of want.
func (b *plBot) dm(want ...string) string {
	b.t.Helper()
	for {
		for _, c := range b.slack.CallsTo("chat.postMessage") {
			text := c.Param("text")
			if c.Param("channel") != "DU0001" {
				continue
			}
			all := true
			for _, w := range want {
				all = all && strings.Contains(text, w)
			}
			if all {
				return text
			}
		}
		if b.ctx.Err() != nil {
			b.t.Fatalf("no DM to the requester containing %q\n%s", want, b.p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// card waits for the support card to show status.
func (b *plBot) card(status string) {
	b.t.Helper()
	for {
		for _, c := range b.slack.CallsTo("chat.update") {
			if strings.Contains(c.Param("blocks"), "PL-0001 · PrivateLink endpoint · "+status) {
				return
			}
		}
		if b.ctx.Err() != nil {
			b.t.Fatalf("the card never showed %q\n%s", status, b.p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mention is a Slack mention, the one place mrkdwn keeps < and >.
var mention = regexp.MustCompile(`<@[UW][A-Z0-9]+>`)

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
	p := start(t, botEnv(t, slack, filepath.Join(t.TempDir(), "a.db")))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := &plBot{t: t, p: p, slack: slack, ctx: ctx}

	// The kind's form opens from /astro-connect and names the cluster's region.
	b.send(command("/astro-connect", "privatelink acme-prod", "U0001", "T0001", "C0001"))
	opens, err := slack.WaitFor(ctx, "views.open", 1)
	if err != nil {
		t.Fatalf("views.open: %v\n%s", err, p.log())
	}
	if view := string(opens[0].Raw); !strings.Contains(view, "Cluster acme-prod is in us-east-1") || !strings.Contains(view, handlers.FieldBlock(astrobot.FieldService)) {
		t.Errorf("the PrivateLink form does not name the cluster's region or lacks the service field: %s", view)
	}

	// A malformed name, port and DNS name are refused on their fields.
	var refused struct {
		ResponseAction string            `json:"response_action"`
		Errors         map[string]string `json:"errors"`
	}
	bad := plForm{viewID: "V0", cluster: "clx123abc", account: "222222222222", service: "vpce-svc-0123456789abcdef0", ports: "70000", dns: "not a name"}
	if err := json.Unmarshal([]byte(b.send(plSubmission(bad))), &refused); err != nil || refused.ResponseAction != "errors" {
		t.Fatalf("a malformed form was not refused: %+v %v", refused, err)
	}
	for _, f := range []string{astrobot.FieldService, astrobot.FieldPorts, astrobot.FieldDNSName} {
		if refused.Errors[handlers.FieldBlock(f)] == "" {
			t.Errorf("no error on %s: %v", f, refused.Errors)
		}
	}

	// Filed: a service in eu-west-1 for a cluster in us-east-1 is
	// cross-region PrivateLink, which the receipt says.
	good := plForm{viewID: "V1", cluster: "clx123abc", account: "2222-2222-2222", service: service, ports: "443, 5432", dns: "api.example.com", note: "Airflow → our API <prod>"}
	if reply := b.send(plSubmission(good)); !strings.Contains(reply, `"response_action":"update"`) {
		t.Fatalf("submit: %s\n%s", reply, p.log())
	}
	b.dm("We received your PrivateLink endpoint request *PL-0001*", "cross-region PrivateLink", service)
	good.viewID = "V2"
	if err := json.Unmarshal([]byte(b.send(plSubmission(good))), &refused); err != nil || !strings.Contains(refused.Errors[handlers.FieldBlock(astrobot.FieldService)], service+" is already requested in PL-0001") {
		t.Errorf("the same service twice is not refused on its field: %+v %v", refused, err)
	}

	// Support approves and records each step; the requester is told what
	// to do with every value filled in.
	b.send(plPress(handlers.ActionButton(astrobot.ActApprove), "PL-0001"))
	b.card("approved")
	b.send(plPress(handlers.ActionButton(astrobot.ActAwaitAllowlist), "PL-0001"))
	b.dm("*PL-0001* is now *waiting allowlist*",
		"aws ec2 modify-vpc-endpoint-service-permissions --service-id vpce-svc-0123456789abcdef0 --add-allowed-principals arn:aws:iam::111111111111:root --region eu-west-1",
		"aws ec2 modify-vpc-endpoint-service-configuration --service-id vpce-svc-0123456789abcdef0 --add-supported-regions us-east-1 --region eu-west-1",
		`resource "aws_vpc_endpoint_service_allowed_principal" "astro"`)
	b.send(plPress(handlers.ActionButton(astrobot.ActServiceVisible), "PL-0001"))
	b.card("creating")
	b.send(plPress(handlers.ActionButton(astrobot.ActEndpointCreated), "PL-0001"))
	if _, err := slack.WaitFor(ctx, "views.open", 2); err != nil {
		t.Fatalf("the endpoint modal did not open: %v", err)
	}
	if err := json.Unmarshal([]byte(b.send(plResource("PL-0001", "vpce-0123abcd"))), &refused); err != nil || !strings.Contains(refused.Errors[handlers.BlockResource], "17 hex digits") {
		t.Errorf("a short endpoint ID is not refused: %+v %v", refused, err)
	}
	b.send(plResource("PL-0001", vpce))
	b.dm("*PL-0001* is now *pending acceptance*",
		"aws ec2 accept-vpc-endpoint-connections --service-id vpce-svc-0123456789abcdef0 --vpc-endpoint-ids "+vpce+" --region eu-west-1",
		`vpc_endpoint_id         = "`+vpce+`"`)
	b.send(plPress(handlers.ActionButton(astrobot.ActAccepted), "PL-0001"))
	active := b.dm("*PL-0001* is now *active*", "The endpoint `"+vpce+"` is available",
		"aws ec2 describe-vpc-endpoint-connections --filters Name=vpc-endpoint-id,Values="+vpce+" --region eu-west-1")
	b.card("active")
	if !strings.Contains(active, "port 443, 5432") {
		t.Errorf("the final DM does not name the ports:\n%s", active)
	}

	status := b.send(command("/astro-connect", "status PL-0001", "U0001", "T0001", "C0001"))
	for _, want := range []string{"asked for the allow-list of the request (waiting allowlist)", "created the endpoint for the request (pending acceptance)", vpce} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q: %s", want, status)
		}
	}
	for _, c := range slack.CallsTo("chat.postMessage") {
		if c.Param("channel") != "DU0001" {
			continue
		}
		if text := mention.ReplaceAllString(c.Param("text"), ""); strings.ContainsAny(text, "<>") {
			t.Errorf("a DM holds an unescaped < or >:\n%s", c.Param("text"))
		}
	}
	if !strings.Contains(b.dm("PL-0001", "&lt;prod&gt;"), "&lt;prod&gt;") {
		t.Error("the note's < and > are not escaped in the receipt")
	}
	if err := p.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}
