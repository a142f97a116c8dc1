package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
	"github.com/astrobot-dev/astrobot/store"
)

// peerForm is what a user typed into the peering modal.
type peerForm struct {
	viewID, cluster, account, region, vpc, cidrs, note string
}

// field is the input block of form field name.
func field(name string) string { return handlers.FieldBlock(name) }

// submission is the view_submission payload Slack sends for f, submitted by
// user of team in the form opened in channel.
func submission(f peerForm, user, team, channel string) []byte {
	return filer{user: user, team: team, channel: channel}.formSubmission(astrobot.KindPeering, f.viewID, map[string]string{
		astrobot.FieldCluster: f.cluster, astrobot.FieldAccount: f.account, astrobot.FieldRegion: f.region,
		astrobot.FieldVPC: f.vpc, astrobot.FieldCIDRs: f.cidrs, astrobot.FieldNote: f.note,
	})
}

// viewAck is the bot's acknowledgement of a view submission.
type viewAck struct {
	ResponseAction string            `json:"response_action"`
	Errors         map[string]string `json:"errors"`
	View           json.RawMessage   `json:"view"`
}

func submit(t *testing.T, p *proc, f peerForm) viewAck {
	t.Helper()
	code, body := post(t, p.httpURL, form, submission(f, "U0001", "T0001", "C0001"), time.Now(), testSecret)
	if code != http.StatusOK {
		t.Fatalf("submit: status %d: %s", code, body)
	}
	var a viewAck
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("submit: ack is not JSON: %v: %q", err, body)
	}
	return a
}

func TestE2EPeerIntake(t *testing.T) {
	slack := fakeslack.New(fakeslack.WithTest(t))
	defer slack.Close()
	dbPath := filepath.Join(t.TempDir(), "a.db")
	p := start(t, botEnv(t, slack, dbPath))

	// /astro-peer opens the modal at once.
	code, body := post(t, p.httpURL, form, command("/astro-peer", "", "U0001", "T0001", "C0001"), time.Now(), testSecret)
	if code != http.StatusOK {
		t.Fatalf("/astro-peer: status %d: %s", code, body)
	}
	opens := slack.CallsTo("views.open")
	if len(opens) != 1 || opens[0].Param("trigger_id") != "trig-U0001" {
		t.Fatalf("views.open calls: %+v", opens)
	}
	if !strings.Contains(string(opens[0].Raw), handlers.CallbackRequest) {
		t.Errorf("the modal lacks its callback ID: %s", opens[0].Raw)
	}

	// An invalid submission: an error on each bad field, nothing stored.
	bad := submit(t, p, peerForm{viewID: "V1", cluster: "clx123abc", account: "12345", region: "mars-1", vpc: "vpc-xyz", cidrs: "8.8.8.0/24"})
	if bad.ResponseAction != "errors" {
		t.Fatalf("invalid submit: response_action %q, want errors", bad.ResponseAction)
	}
	for _, b := range []string{field(astrobot.FieldAccount), field(astrobot.FieldRegion), field(astrobot.FieldVPC), field(astrobot.FieldCIDRs)} {
		if bad.Errors[b] == "" {
			t.Errorf("invalid submit: no error on %s: %v", b, bad.Errors)
		}
	}
	if bad.Errors[field(astrobot.FieldCluster)] != "" {
		t.Errorf("invalid submit: error on the valid cluster field: %v", bad.Errors)
	}

	// A valid submission is stored and answered with the filed view.
	good := peerForm{viewID: "V2", cluster: "clx123abc", account: "123456789012", region: "us-east-1", vpc: "vpc-0123456789abcdef0", cidrs: "172.31.0.0/16"}
	ok := submit(t, p, good)
	if ok.ResponseAction != "update" || !strings.Contains(string(ok.View), "PEER-0001") {
		t.Fatalf("valid submit: %+v %s", ok, ok.View)
	}
	// Slack delivering the same submission twice creates one request.
	if again := submit(t, p, good); again.ResponseAction != "update" || !strings.Contains(string(again.View), "PEER-0001") {
		t.Fatalf("redelivered submit: %+v %s", again, again.View)
	}
	// A second, identical request from a new modal is refused with the first ID.
	good.viewID = "V3"
	dup := submit(t, p, good)
	if dup.ResponseAction != "errors" || !strings.Contains(dup.Errors[field(astrobot.FieldVPC)], "PEER-0001") {
		t.Fatalf("duplicate submit: %+v", dup)
	}

	// The card reaches the support channel, then the receipt reaches the
	// requester, in that order.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := slack.WaitFor(ctx, "chat.postMessage", 2); err != nil {
		t.Fatalf("%v\n%s", err, p.log())
	}
	posts := slack.CallsTo("chat.postMessage")
	if len(posts) != 2 {
		t.Fatalf("chat.postMessage calls: %d, want 2 (card and receipt)", len(posts))
	}
	card, receipt := posts[0], posts[1]
	if card.Param("channel") != "CSUPPORT" || !strings.Contains(card.Param("blocks"), "PEER-0001") || !strings.Contains(card.Param("blocks"), "vpc-0123456789abcdef0") {
		t.Errorf("first post is not the support card: channel %s blocks %s", card.Param("channel"), card.Param("blocks"))
	}
	if receipt.Param("channel") != "DU0001" || !strings.Contains(receipt.Param("text"), "PEER-0001") ||
		!strings.Contains(receipt.Param("text"), "vpc-0abc12345678def90") || !strings.Contains(receipt.Param("text"), "10.10.0.0/16") {
		t.Errorf("second post is not the receipt with the Astro side: channel %s text %s", receipt.Param("channel"), receipt.Param("text"))
	}
	// Opening App Home publishes it with the request. Slack's retry of the
	// same event is dropped.
	home := []byte(`{"type":"event_callback","team_id":"T0001","event_id":"Ev1","event":{"type":"app_home_opened","user":"U0001","channel":"DU0001","tab":"home"}}`)
	for range 2 {
		if code, body := post(t, p.httpURL, "application/json", home, time.Now(), testSecret); code != http.StatusOK {
			t.Fatalf("app_home_opened: status %d: %s", code, body)
		}
	}
	pubs, err := slack.WaitFor(ctx, "views.publish", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, pub := range pubs {
		if !strings.Contains(string(pub.Raw), "PEER-0001") || pub.Param("user_id") != "U0001" {
			t.Errorf("App Home does not list PEER-0001 for U0001: %s", pub.Raw)
		}
	}
	if err := p.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if n := len(slack.CallsTo("views.publish")); n != 1 {
		t.Errorf("views.publish calls: %d, want 1 (the retried event is a duplicate)", n)
	}

	// Exactly one request is stored, with its first event.
	db, err := store.Open(dbPath, store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mine, err := db.RequestsByRequester(context.Background(), "U0001", 10)
	if err != nil || len(mine) != 1 {
		t.Fatalf("stored requests of U0001: %d, %v", len(mine), err)
	}
	r, events, err := db.History(context.Background(), mine[0].ID)
	if err != nil || r.Status != astrobot.StatusSubmitted || len(events) != 1 || r.Card.TS == "" {
		t.Fatalf("stored request: %+v, events %+v, err %v", r, events, err)
	}
}

func TestE2EPeerNotificationsSurviveSIGKILL(t *testing.T) {
	slack := fakeslack.New(fakeslack.WithTest(t))
	defer slack.Close()
	dbPath := filepath.Join(t.TempDir(), "a.db")
	p := start(t, botEnv(t, slack, dbPath))

	// Slack is down: every chat.postMessage fails, so nothing can be delivered.
	slack.FailNext("chat.postMessage", 1000, fakeslack.Failure{Status: http.StatusServiceUnavailable})
	ok := submit(t, p, peerForm{viewID: "V1", cluster: "acme-prod", account: "123456789012", region: "eu-west-1", vpc: "vpc-0123456789abcdef0", cidrs: "192.168.0.0/20"})
	if ok.ResponseAction != "update" {
		t.Fatalf("submit: %+v", ok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := slack.WaitFor(ctx, "chat.postMessage", 1); err != nil {
		t.Fatal(err)
	}
	_ = p.stop(syscall.SIGKILL) // between commit and delivery
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	slack.ClearFailures()
	before := len(slack.CallsTo("chat.postMessage"))
	p2 := start(t, botEnv(t, slack, dbPath))
	calls, err := slack.WaitFor(ctx, "chat.postMessage", before+2)
	if err != nil {
		t.Fatalf("after restart: %v\n%s", err, p2.log())
	}
	delivered := calls[before:]
	if delivered[0].Param("channel") != "CSUPPORT" || delivered[1].Param("channel") != "DU0001" {
		t.Errorf("after restart: posts went to %s then %s, want the card then the receipt", delivered[0].Param("channel"), delivered[1].Param("channel"))
	}
	if err := p2.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}
