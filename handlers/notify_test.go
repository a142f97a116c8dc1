package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
	"github.com/astrobot-dev/astrobot/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// nextDelivery returns the one notification due in the outbox.
func (e *env) nextDelivery(t *testing.T) store.Entry {
	t.Helper()
	ds, err := e.db.Outbox().Due(testContext(t), e.clock.Now(), 0)
	if err != nil {
		t.Fatalf("Due: %v", err)
	}
	if len(ds) != 1 {
		t.Fatalf("%d deliveries due, want 1: %+v", len(ds), ds)
	}
	return ds[0]
}

// deliver delivers the notifications due, in outbox order, until one of kind
// want, acknowledging each as the outbox worker does, and returns the card
// reference Deliver returned for that one. Kinds the test does not follow
// (other than card, thread and requester) are delivered on the way and must
// succeed too.
func (e *env) deliver(t *testing.T, want astrobot.NotificationKind) *astrobot.MessageRef {
	t.Helper()
	followed := []astrobot.NotificationKind{astrobot.NotifyCard, astrobot.NotifyThread, astrobot.NotifyRequester}
	for {
		d := e.nextDelivery(t)
		kind := d.Notification().Kind
		if kind != want && slices.Contains(followed, kind) {
			t.Fatalf("next notification is %q, want %q", kind, want)
		}
		ref := e.deliverEntry(t, d)
		if kind == want {
			return ref
		}
	}
}

// deliverEntry delivers one outbox entry as the outbox worker does: the
// notification, the card's reference if it posted one, then the entry done.
func (e *env) deliverEntry(t *testing.T, d store.Entry) *astrobot.MessageRef {
	t.Helper()
	ctx := testContext(t)
	ref, err := e.h.Deliver(ctx, handlers.Delivery{Entry: d.Key, MaybeSent: d.Claimed, Notification: d.Notification(), Request: d.Request, Event: d.Event})
	if err != nil {
		t.Fatalf("Deliver(%s %s): %v", d.Kind, d.Request.Ref(), err)
	}
	if ref != nil {
		if err := e.db.RecordCard(ctx, d.Request.ID, *ref); err != nil {
			t.Fatalf("RecordCard: %v", err)
		}
	}
	if err := e.db.Outbox().Done(ctx, d.Key); err != nil {
		t.Fatalf("Done: %v", err)
	}
	return ref
}

// deliverRest delivers every notification still due.
func (e *env) deliverRest(t *testing.T) {
	t.Helper()
	for {
		ds, err := e.db.Outbox().Due(testContext(t), e.clock.Now(), 0)
		if err != nil {
			t.Fatalf("Due: %v", err)
		}
		if len(ds) == 0 {
			return
		}
		e.deliverEntry(t, ds[0])
	}
}

// lastCall returns the last call to method, failing when there is none.
func (e *env) lastCall(t *testing.T, method string, wantCount int) fakeslack.Call {
	t.Helper()
	calls := e.srv.CallsTo(method)
	if len(calls) != wantCount {
		t.Fatalf("%s calls = %d, want %d", method, len(calls), wantCount)
	}
	return calls[len(calls)-1]
}

// blocksText returns the text of the blocks parameter of a call, decoded.
func blocksText(t *testing.T, c fakeslack.Call) string {
	t.Helper()
	var blocks slack.Blocks
	if err := json.Unmarshal([]byte(c.Param("blocks")), &blocks); err != nil {
		t.Fatalf("%s blocks %q: %v", c.Method, c.Param("blocks"), err)
	}
	var parts []string
	for _, b := range blocks.BlockSet {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			parts = append(parts, b.Text.Text)
		case *slack.SectionBlock:
			if b.Text != nil {
				parts = append(parts, b.Text.Text)
			}
			for _, f := range b.Fields {
				parts = append(parts, f.Text)
			}
		}
	}
	return strings.Join(parts, "\n")
}

// TestDeliverLifecycle follows a request's notifications through the real
// outbox: the card is posted, then updated in place, thread lines go under
// it, and the requester hears through a direct message.
func TestDeliverLifecycle(t *testing.T) {
	e := newEnv(t)
	e.mustFile(t, alice, "V1", validForm())
	ctx := testContext(t)

	// 1. The support card is posted to the support channel.
	card := e.deliver(t, astrobot.NotifyCard)
	post := e.lastCall(t, "chat.postMessage", 1)
	if got := post.Param("channel"); got != chanSupport {
		t.Errorf("card posted to %q, want %q", got, chanSupport)
	}
	if post.Param("thread_ts") != "" {
		t.Errorf("card posted in thread %q, want at the top", post.Param("thread_ts"))
	}
	if card == nil || card.Channel != chanSupport || card.TS == "" {
		t.Fatalf("Deliver(card) = %+v, want the posted message's channel and ts", card)
	}
	checkText(t, post.Param("text"), []string{"PEER-0001", "submitted", acmeProd.ID}, nil)
	checkText(t, blocksText(t, post), []string{"PEER-0001", "<@" + userAlice + ">", acmeProd.ID, "123456789012", "us-east-1",
		validForm().vpc, "192.168.0.0/20", "_unclaimed_", peeringNext(astrobot.StatusSubmitted)}, nil)
	if r, err := e.db.Request(ctx, 1); err != nil || r.Card != *card {
		t.Fatalf("stored card = %+v, %v; want %+v", r.Card, err, *card)
	}

	// 2. The requester gets a receipt in a DM, opened first.
	before := len(e.srv.Calls())
	if ref := e.deliver(t, astrobot.NotifyRequester); ref != nil {
		t.Errorf("Deliver(requester) = %+v, want no card reference", ref)
	}
	calls := e.srv.Calls()[before:]
	if len(calls) != 2 || calls[0].Method != "conversations.open" || calls[1].Method != "chat.postMessage" {
		t.Fatalf("DM calls = %v, want conversations.open then chat.postMessage", methods(calls))
	}
	if got := calls[0].Param("users"); got != userAlice {
		t.Errorf("conversations.open users = %q, want %q", got, userAlice)
	}
	if got, want := calls[1].Param("channel"), "D"+userAlice; got != want {
		t.Errorf("DM posted to %q, want the channel conversations.open returned, %q", got, want)
	}
	receipt := append([]string{"PEER-0001", acmeProd.Name, peeringNext(astrobot.StatusSubmitted), handlers.CommandConnect + " status PEER-0001"},
		clusterFacts(acmeProd)[1:2]...) // the VPC ID
	for _, p := range acmeProd.CIDRs {
		receipt = append(receipt, p.String())
	}
	checkText(t, calls[1].Param("text"), receipt, nil)
	checkText(t, blocksText(t, calls[1]), receipt, nil)

	// 3. Support approves: the card is updated in place, a line goes in its thread.
	e.clock.Advance(time.Hour)
	if _, _, err := e.db.Apply(ctx, 1, astrobot.Change{Action: astrobot.ActApprove, Actor: userSupport, Role: astrobot.RoleSupport}); err != nil {
		t.Fatal(err)
	}
	if ref := e.deliver(t, astrobot.NotifyCard); ref != nil {
		t.Errorf("Deliver(card update) = %+v, want nil", ref)
	}
	upd := e.lastCall(t, "chat.update", 1)
	if upd.Param("channel") != card.Channel || upd.Param("ts") != card.TS {
		t.Errorf("chat.update of %s/%s, want the card %s/%s", upd.Param("channel"), upd.Param("ts"), card.Channel, card.TS)
	}
	checkText(t, blocksText(t, upd), []string{"PEER-0001 · VPC peering · approved", peeringNext(astrobot.StatusApproved)}, []string{"submitted"})
	e.deliver(t, astrobot.NotifyThread)
	line := e.lastCall(t, "chat.postMessage", 3)
	if line.Param("channel") != card.Channel || line.Param("thread_ts") != card.TS {
		t.Errorf("thread line in %s thread %q, want %s thread %q", line.Param("channel"), line.Param("thread_ts"), card.Channel, card.TS)
	}
	checkText(t, line.Param("text"), []string{"PEER-0001", "<@" + userSupport + ">", "approved the request (approved)"}, nil)

	// 4. The peering exists: the customer must act, so they hear about it.
	const pcx = "pcx-0123456789abcdef0"
	if _, _, err := e.db.Apply(ctx, 1, astrobot.Change{Action: astrobot.ActPeeringCreated, Actor: userSupport, Role: astrobot.RoleSupport,
		Resource: pcx, ExpiresAt: e.clock.Now().Add(7 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	e.deliver(t, astrobot.NotifyCard)
	checkText(t, blocksText(t, e.lastCall(t, "chat.update", 2)), []string{pcx, "pending acceptance"}, nil)
	e.deliver(t, astrobot.NotifyThread)
	e.deliver(t, astrobot.NotifyRequester)
	dm := e.lastCall(t, "chat.postMessage", 5)
	checkText(t, dm.Param("text"), []string{"*PEER-0001* is now *pending acceptance*", "Accept `" + pcx + "` in account 123456789012, region us-east-1"}, nil)
	e.deliverRest(t)
	if got := len(e.srv.CallsTo("conversations.open")); got != 2 {
		t.Errorf("conversations.open calls = %d, want 2", got)
	}
}

func methods(calls []fakeslack.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Method)
	}
	return out
}

// failingDirectory fails every look-up.
type failingDirectory struct{}

func (failingDirectory) Clusters(context.Context) ([]astrobot.Cluster, error) {
	return nil, errors.New("ec2: DescribeVpcs: connection refused")
}

func (failingDirectory) Cluster(context.Context, string) (astrobot.Cluster, error) {
	return astrobot.Cluster{}, errors.New("ec2: DescribeVpcs: connection refused")
}

func TestDeliverFailures(t *testing.T) {
	fresh := peeringRequest(7, astrobot.StatusSubmitted)
	posted := fresh
	posted.Card = astrobot.MessageRef{Channel: chanSupport, TS: "1700000000.000001"}
	submit := astrobot.Event{Seq: 0, Action: astrobot.ActSubmit, Actor: userAlice, To: astrobot.StatusSubmitted}
	tests := []struct {
		name      string
		dir       handlers.Directory
		method    string // fails once; "" for none
		failure   fakeslack.Failure
		kind      astrobot.NotificationKind
		req       astrobot.Request
		wantErr   []string
		wantCalls []string
	}{
		{name: "card cannot be posted", method: "chat.postMessage", failure: fakeslack.Failure{SlackError: "channel_not_found"},
			kind: astrobot.NotifyCard, req: fresh,
			wantErr: []string{"post support card", "channel_not_found"}, wantCalls: []string{"chat.postMessage"}},
		{name: "card cannot be updated", method: "chat.update", failure: fakeslack.Failure{SlackError: "message_not_found"},
			kind: astrobot.NotifyCard, req: posted,
			wantErr: []string{"update support card", "message_not_found"}, wantCalls: []string{"chat.update"}},
		{name: "thread line fails", method: "chat.postMessage", failure: fakeslack.Failure{Status: 500},
			kind: astrobot.NotifyThread, req: posted,
			wantErr: []string{"post thread line"}, wantCalls: []string{"chat.postMessage"}},
		{name: "DM cannot be opened", method: "conversations.open", failure: fakeslack.Failure{SlackError: "user_not_found"},
			kind: astrobot.NotifyRequester, req: fresh,
			wantErr: []string{"open DM with requester", "user_not_found"}, wantCalls: []string{"conversations.open"}},
		{name: "DM cannot be sent", method: "chat.postMessage", failure: fakeslack.Failure{SlackError: "is_archived"},
			kind: astrobot.NotifyRequester, req: fresh,
			wantErr: []string{"send DM to requester", "is_archived"}, wantCalls: []string{"conversations.open", "chat.postMessage"}},
		{name: "receipt without the directory", dir: failingDirectory{},
			kind: astrobot.NotifyRequester, req: fresh,
			wantErr: []string{"message for PEER-0007", "connection refused"}},
		{name: "unknown kind", kind: "carrier_pigeon", req: fresh,
			wantErr: []string{"carrier_pigeon"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []option
			if tt.dir != nil {
				opts = append(opts, withDirectory(tt.dir))
			}
			e := newEnv(t, opts...)
			if tt.method != "" {
				e.srv.FailNext(tt.method, 1, tt.failure)
			}
			ref, err := e.h.Deliver(testContext(t), handlers.Delivery{Notification: astrobot.Notification{RequestID: tt.req.ID, Kind: tt.kind}, Request: tt.req, Event: submit})
			if err == nil {
				t.Fatal("Deliver succeeded, want an error")
			}
			if ref != nil {
				t.Errorf("Deliver returned card %+v with its error", ref)
			}
			checkText(t, err.Error(), tt.wantErr, nil)
			if diff := cmp.Diff(tt.wantCalls, methods(e.srv.Calls())); diff != "" {
				t.Errorf("Slack calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDeliverRateLimited checks that a 429 reaches the caller as slack-go's
// *slack.RateLimitedError with its Retry-After, for the outbox worker to wait.
func TestDeliverRateLimited(t *testing.T) {
	e := newEnv(t)
	e.srv.FailNext("chat.postMessage", 1, fakeslack.Failure{Status: 429, RetryAfter: 3})
	r := peeringRequest(1, astrobot.StatusSubmitted)
	_, err := e.h.Deliver(testContext(t), handlers.Delivery{Notification: astrobot.Notification{RequestID: 1, Kind: astrobot.NotifyCard}, Request: r, Event: astrobot.Event{}})
	rl, ok := errors.AsType[*slack.RateLimitedError](err)
	if !ok || rl.RetryAfter != 3*time.Second {
		t.Errorf("Deliver error = %v, want a *slack.RateLimitedError with RetryAfter 3s", err)
	}
}

// TestDeliverThreadBeforeCard checks that a thread line whose card was never
// posted goes to the support channel rather than being lost.
func TestDeliverThreadBeforeCard(t *testing.T) {
	e := newEnv(t)
	r := peeringRequest(3, astrobot.StatusApproved)
	ev := astrobot.Event{Seq: 1, At: start, Actor: userSupport, Action: astrobot.ActApprove, From: astrobot.StatusSubmitted, To: astrobot.StatusApproved}
	if _, err := e.h.Deliver(testContext(t), handlers.Delivery{Notification: astrobot.Notification{RequestID: 3, Kind: astrobot.NotifyThread, Event: 1}, Request: r, Event: ev}); err != nil {
		t.Fatal(err)
	}
	c := e.lastCall(t, "chat.postMessage", 1)
	if c.Param("channel") != chanSupport || c.Param("thread_ts") != "" {
		t.Errorf("line posted to %s thread %q, want %s, no thread", c.Param("channel"), c.Param("thread_ts"), chanSupport)
	}
	checkText(t, c.Param("text"), []string{"PEER-0003", "approved the request"}, nil)
}

// goldenRequest is a request with every field the card shows.
func goldenRequest() astrobot.Request {
	return astrobot.Request{
		ID:        42,
		Kind:      astrobot.KindPeering,
		Status:    astrobot.StatusPendingAcceptance,
		Requester: astrobot.Requester{UserID: userAlice, TeamID: teamAcme, ChannelID: chanAcmeShared},
		ClusterID: acmeProd.ID,
		Spec: astrobot.PeeringSpec{AccountID: "123456789012", Region: "eu-central-1", VPCID: "vpc-0abc12345678def90",
			CIDRs: prefixes("192.168.0.0/20", "100.64.0.0/16")},
		Note:      "Peering for the reporting VPC, please.",
		Warnings:  []string{"100.64.0.0/16 is in the shared address space (RFC 6598); make sure nothing else on your side routes it."},
		Assignee:  userSupport,
		Resource:  "pcx-0123456789abcdef0",
		ExpiresAt: start.Add(7 * 24 * time.Hour),
		CreatedAt: start,
		UpdatedAt: start.Add(time.Hour),
		UpdatedBy: userSupport,
	}
}

// TestCardGolden compares the Block Kit of the support card with
// testdata/card.golden.json. Run with -update to rewrite the file.
func TestCardGolden(t *testing.T) {
	e := newEnv(t)
	r := goldenRequest()
	if _, err := e.h.Deliver(testContext(t), handlers.Delivery{Notification: astrobot.Notification{RequestID: r.ID, Kind: astrobot.NotifyCard}, Request: r, Event: astrobot.Event{}}); err != nil {
		t.Fatal(err)
	}
	raw := e.lastCall(t, "chat.postMessage", 1).Param("blocks")
	var got any
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("card blocks %q: %v", raw, err)
	}
	path := filepath.Join("testdata", "card.golden.json")
	if *update {
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false) // keep <@U…> readable
		enc.SetIndent("", "  ")
		if err := enc.Encode(got); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the golden file (go test ./handlers -run TestCardGolden -update writes it): %v", err)
	}
	var want any
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("golden file %s: %v", path, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("support card differs from %s (-want +got); rerun with -update if the change is meant:\n%s", path, diff)
	}

	// Block Kit limits: a header of at most 150 characters, a section of at
	// most 10 fields of at most 2000 characters each, texts of at most 3000.
	var blocks slack.Blocks
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
		t.Fatal(err)
	}
	for i, b := range blocks.BlockSet {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			if n := len([]rune(b.Text.Text)); n > 150 {
				t.Errorf("block %d: header of %d characters", i, n)
			}
		case *slack.SectionBlock:
			if len(b.Fields) > 10 {
				t.Errorf("block %d: %d fields", i, len(b.Fields))
			}
			for _, f := range b.Fields {
				if n := len([]rune(f.Text)); n > 2000 {
					t.Errorf("block %d: field of %d characters", i, n)
				}
			}
			if b.Text != nil && len([]rune(b.Text.Text)) > 3000 {
				t.Errorf("block %d: text of %d characters", i, len([]rune(b.Text.Text)))
			}
		}
	}
}

// TestRequesterTextEscaped checks that what a requester types reaches Slack
// as text, not as mrkdwn control sequences: a note must not ping the support
// channel with <!channel>, nor dress a link up as something else. Slack asks
// apps to escape &, < and > in such text.
func TestRequesterTextEscaped(t *testing.T) {
	const note = "<!channel> approve now: <https://evil.example/login|open the AWS console> & thanks"
	e := newEnv(t)
	f := validForm()
	f.note = note
	e.mustFile(t, alice, "V1", f)
	e.deliver(t, astrobot.NotifyCard)
	card := e.lastCall(t, "chat.postMessage", 1)
	e.deliver(t, astrobot.NotifyRequester)
	dm := e.lastCall(t, "chat.postMessage", 2)

	surfaces := []struct {
		name string
		text string
	}{
		{"support card", blocksText(t, card)},
		{"receipt DM text", dm.Param("text")},
		{"receipt DM blocks", blocksText(t, dm)},
		{"status for the requester", msgText(e.command(t, alice, handlers.CommandPeer, "status PEER-0001"))},
		{"status for support", msgText(e.command(t, support, handlers.CommandPeer, "status PEER-0001"))},
	}
	for _, s := range surfaces {
		t.Run(s.name, func(t *testing.T) {
			checkText(t, s.text, []string{"&lt;!channel&gt; approve now", "&amp; thanks"}, []string{"<!channel>", "<https://evil.example"})
		})
	}
}

// TestDeliverFollowsCard checks that updates and thread lines go to the card
// where it was posted, even when the support channel has changed since.
func TestDeliverFollowsCard(t *testing.T) {
	card := astrobot.MessageRef{Channel: "COLDSUPPORT", TS: "1700000000.000123"}
	r := peeringRequest(5, astrobot.StatusApproved)
	r.Card = card
	ev := astrobot.Event{Seq: 1, At: start, Actor: userSupport, Action: astrobot.ActApprove, From: astrobot.StatusSubmitted, To: astrobot.StatusApproved}
	tests := []struct {
		kind       astrobot.NotificationKind
		method     string
		wantThread string
	}{
		{kind: astrobot.NotifyCard, method: "chat.update"},
		{kind: astrobot.NotifyThread, method: "chat.postMessage", wantThread: card.TS},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			e := newEnv(t)
			ref, err := e.h.Deliver(testContext(t), handlers.Delivery{Notification: astrobot.Notification{RequestID: r.ID, Kind: tt.kind, Event: 1}, Request: r, Event: ev})
			if err != nil || ref != nil {
				t.Fatalf("Deliver = %+v, %v; want nil, nil", ref, err)
			}
			c := e.lastCall(t, tt.method, 1)
			if c.Param("channel") != card.Channel {
				t.Errorf("%s to %q, want the card's channel %q", tt.method, c.Param("channel"), card.Channel)
			}
			if tt.method == "chat.update" && c.Param("ts") != card.TS {
				t.Errorf("chat.update of ts %q, want %q", c.Param("ts"), card.TS)
			}
			if c.Param("thread_ts") != tt.wantThread {
				t.Errorf("thread_ts = %q, want %q", c.Param("thread_ts"), tt.wantThread)
			}
			if n := len(e.srv.Calls()); n != 1 {
				t.Errorf("%d Slack calls, want 1", n)
			}
		})
	}
}

// TestDeliverHome checks the App Home refresh the domain asks for when a
// request is filed or changes status: the requester's home tab is published
// with the request on it.
func TestDeliverHome(t *testing.T) {
	e := newEnv(t)
	e.mustFile(t, alice, "V1", validForm())
	r, events, err := e.db.History(testContext(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := e.h.Deliver(testContext(t), handlers.Delivery{Notification: astrobot.Notification{RequestID: 1, Kind: astrobot.NotifyHome}, Request: r, Event: events[0]})
	if err != nil || ref != nil {
		t.Fatalf("Deliver(home) = %+v, %v; want nil, nil", ref, err)
	}
	c := e.lastCall(t, "views.publish", 1)
	if got := c.Param("user_id"); got != userAlice {
		t.Errorf("views.publish for %q, want %q", got, userAlice)
	}
	checkText(t, string(c.Raw), []string{"PEER-0001", `"type":"home"`}, nil)
}
