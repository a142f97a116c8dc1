package bot

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
)

// socketRun is runSocket running against the fake Slack.
type socketRun struct {
	d         *dispatcher
	m         *Metrics
	cancel    context.CancelFunc
	done      chan error    // runSocket's result
	connected chan struct{} // one value per connection
}

// startSocket runs a dispatcher of h over Socket Mode until the test ends.
func startSocket(t *testing.T, e *testEnv, h SlackHandler) *socketRun {
	t.Helper()
	m := NewMetrics()
	r := &socketRun{d: newDispatcher(h, m, e.log, e.clock.Now), m: m, done: make(chan error, 1), connected: make(chan struct{}, 10)}
	api := slack.New("xoxb-x", slack.OptionAPIURL(e.fake.APIURL()), slack.OptionAppLevelToken("xapp-x"))
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.d.runSocket(ctx, socketmode.New(api), func() { r.connected <- struct{}{} }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("runSocket did not return within 10s of its context ending")
		}
		r.d.running.Wait()
	})
	return r
}

// send delivers an envelope and returns the ack's payload.
func send(t *testing.T, e *testEnv, envType string, payload any) json.RawMessage {
	t.Helper()
	ack, err := e.fake.SendEnvelope(testContext(t), envType, payload)
	if err != nil {
		t.Fatalf("send %s envelope: %v", envType, err)
	}
	return ack
}

// sameJSON fails the test unless got and want encode the same JSON value.
func sameJSON(t *testing.T, got json.RawMessage, want any) {
	t.Helper()
	wantRaw, err := json.Marshal(want)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("the ack payload is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal(wantRaw, &w); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("ack payload (-want +got):\n%s", diff)
	}
}

func TestSocketSlashCommand(t *testing.T) {
	e := newTestEnv(t)
	run := startSocket(t, e, e.h)
	cmd := slack.SlashCommand{Command: handlers.CommandIP, Text: testCluster.ID, TeamID: testTeam, UserID: testUser, ChannelID: testChannel,
		ResponseURL: e.fake.ResponseURL("r1"), TriggerID: "trigger-1"}

	ack := send(t, e, "slash_commands", cmd)
	// The ack is what the handler answers, as the HTTP transport would send it.
	sameJSON(t, ack, e.h.SlashCommand(testContext(t), cmd))
	if !strings.Contains(string(ack), testCluster.VPCID) {
		t.Errorf("the ack lacks the cluster's VPC %s: %s", testCluster.VPCID, ack)
	}
	select {
	case <-run.connected:
	default:
		t.Error("the connected callback was not called")
	}
	if n := testutil.ToFloat64(run.m.Requests.WithLabelValues("command", handlers.CommandIP, "ok")); n != 1 {
		t.Errorf("astrobot_slack_requests_total{command,/astro-ip,ok} = %v, want 1", n)
	}
}

func TestSocketViewSubmissionErrors(t *testing.T) {
	e := newTestEnv(t)
	startSocket(t, e, e.h)
	field := func(name string, a slack.BlockAction) (string, map[string]slack.BlockAction) {
		return handlers.FieldBlock(name), map[string]slack.BlockAction{handlers.FieldAction(name): a}
	}
	values := map[string]map[string]slack.BlockAction{}
	for _, f := range []struct {
		name string
		a    slack.BlockAction
	}{
		{astrobot.FieldCluster, slack.BlockAction{Type: "static_select", SelectedOption: slack.OptionBlockObject{Value: testCluster.ID}}},
		{astrobot.FieldAccount, slack.BlockAction{Type: "plain_text_input", Value: "12345"}},
		{astrobot.FieldRegion, slack.BlockAction{Type: "static_select", SelectedOption: slack.OptionBlockObject{Value: "us-east-1"}}},
		{astrobot.FieldVPC, slack.BlockAction{Type: "plain_text_input", Value: "vpc-nothex!"}},
		{astrobot.FieldCIDRs, slack.BlockAction{Type: "plain_text_input", Value: "192.168.0.0/20"}},
	} {
		block, v := field(f.name, f.a)
		values[block] = v
	}
	cb := slack.InteractionCallback{
		Type: slack.InteractionTypeViewSubmission,
		User: slack.User{ID: testUser, TeamID: testTeam},
		Team: slack.Team{ID: testTeam},
		View: slack.View{ID: "V0FORM", Type: slack.VTModal, CallbackID: handlers.CallbackRequest,
			PrivateMetadata: `{"c":"` + testChannel + `","k":"` + string(astrobot.KindPeering) + `"}`, State: &slack.ViewState{Values: values}},
	}

	var got slack.ViewSubmissionResponse
	ack := send(t, e, "interactive", cb)
	if err := json.Unmarshal(ack, &got); err != nil {
		t.Fatalf("the ack is not a view submission response: %v: %s", err, ack)
	}
	if got.ResponseAction != slack.RAErrors {
		t.Fatalf("response_action = %q, want errors; ack %s", got.ResponseAction, ack)
	}
	want := slices.Sorted(slices.Values([]string{handlers.FieldBlock(astrobot.FieldAccount), handlers.FieldBlock(astrobot.FieldVPC)}))
	if diff := cmp.Diff(want, slices.Sorted(maps.Keys(got.Errors))); diff != "" {
		t.Errorf("blocks with errors (-want +got):\n%s", diff)
	}
	counts, err := e.db.RequestCounts(testContext(t))
	if err != nil {
		t.Fatalf("RequestCounts: %v", err)
	}
	for s, n := range counts {
		if n != 0 {
			t.Errorf("%d requests %s filed from an invalid form", n, s)
		}
	}
}

func TestSocketAppHomeOpened(t *testing.T) {
	e := newTestEnv(t)
	run := startSocket(t, e, e.h)
	event := json.RawMessage(appHomeOpened("Ev0HOME", testUser))

	if ack := send(t, e, "events_api", event); ack != nil {
		t.Errorf("an event was acked with payload %s, want none", ack)
	}
	calls, err := e.fake.WaitFor(testContext(t), "views.publish", 1)
	if err != nil {
		t.Fatalf("App Home was not published: %v", err)
	}
	if user := calls[0].Param("user_id"); user != testUser {
		t.Errorf("views.publish for %q, want %q", user, testUser)
	}

	// Slack's retry of the same event is acked and dropped.
	send(t, e, "events_api", event)
	run.d.running.Wait()
	if n := len(e.fake.CallsTo("views.publish")); n != 1 {
		t.Errorf("views.publish called %d times for one event and its retry, want 1", n)
	}
	if n := testutil.ToFloat64(run.m.Requests.WithLabelValues("event", "app_home_opened", "duplicate")); n != 1 {
		t.Errorf("duplicate events counted = %v, want 1", n)
	}
}

// gatedHandler holds slash commands until released, to keep envelopes in
// flight.
type gatedHandler struct {
	SlackHandler
	entered chan struct{}
	release chan struct{}
}

func (g *gatedHandler) SlashCommand(ctx context.Context, cmd slack.SlashCommand) *slack.Msg {
	g.entered <- struct{}{}
	<-g.release
	return g.SlackHandler.SlashCommand(ctx, cmd)
}

func TestSocketShutdownAcksInFlight(t *testing.T) {
	e := newTestEnv(t)
	const inflight = 16
	gate := &gatedHandler{SlackHandler: e.h, entered: make(chan struct{}, inflight), release: make(chan struct{})}
	run := startSocket(t, e, gate)
	var once sync.Once
	release := func() { once.Do(func() { close(gate.release) }) }
	t.Cleanup(release) // before runSocket is stopped, whatever happens
	cmd := slack.SlashCommand{Command: handlers.CommandIP, Text: testCluster.ID, TeamID: testTeam, UserID: testUser, ChannelID: testChannel}

	type result struct {
		ack json.RawMessage
		err error
	}
	results := make(chan result, inflight)
	var wg sync.WaitGroup
	for range inflight {
		wg.Go(func() {
			ack, err := e.fake.SendEnvelope(testContext(t), "slash_commands", cmd)
			results <- result{ack, err}
		})
	}
	ctx := testContext(t)
	for i := range inflight {
		select {
		case <-gate.entered:
		case <-ctx.Done():
			t.Fatalf("only %d of %d envelopes reached the handler", i, inflight)
		}
	}

	run.cancel()
	select {
	case err := <-run.done:
		run.done <- err // for the cleanup
		t.Fatalf("runSocket returned (%v) with %d envelopes in flight", err, inflight)
	default:
	}
	release()
	wg.Wait()
	close(results)
	want := e.h.SlashCommand(testContext(t), cmd)
	for r := range results {
		if r.err != nil {
			t.Errorf("an envelope in flight at shutdown was not acked: %v", r.err)
			continue
		}
		sameJSON(t, r.ack, want)
	}
	select {
	case err := <-run.done:
		if err != nil {
			t.Errorf("runSocket = %v, want nil after its context ended", err)
		}
		run.done <- err // for the cleanup
	case <-ctx.Done():
		t.Fatal("runSocket did not return once the envelopes in flight were acked")
	}
}

func TestSocketRefusedToken(t *testing.T) {
	e := newTestEnv(t)
	e.fake.FailNext("apps.connections.open", 1, fakeslack.Failure{SlackError: "invalid_auth"})
	run := startSocket(t, e, e.h)
	select {
	case err := <-run.done:
		if err == nil || !strings.Contains(err.Error(), "invalid_auth") || !strings.HasPrefix(err.Error(), "socket mode") {
			t.Errorf("runSocket = %v, want a socket mode error saying invalid_auth", err)
		}
		run.done <- err // for the cleanup
	case <-testContext(t).Done():
		t.Fatal("runSocket kept running with a refused app token")
	}
	select {
	case <-run.connected:
		t.Error("the connected callback was called although no connection was made")
	default:
	}
}
