package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
)

// The harness of the end-to-end tests of every kind: the Slack payloads a
// user sends (forms, buttons, step modals) and workflow, a running bot with
// the fake Slack it talks to.

// interaction is the form body Slack posts for an interaction payload.
func interaction(payload map[string]any) []byte {
	raw, _ := json.Marshal(payload)
	return []byte(url.Values{"payload": {string(raw)}}.Encode())
}

// press is the block_actions payload of user pressing a workflow button of
// the card of requestID in the support channel.
func press(user, actionID, requestID string) []byte {
	return interaction(map[string]any{
		"type":       "block_actions",
		"user":       map[string]any{"id": user, "team_id": "T0001"},
		"team":       map[string]any{"id": "T0001"},
		"channel":    map[string]any{"id": "CSUPPORT"},
		"trigger_id": "trig-" + actionID,
		"actions":    []map[string]any{{"type": "button", "action_id": actionID, "block_id": handlers.BlockCardActions, "value": requestID}},
	})
}

// stepSubmission is the view_submission of a step modal of requestID (reject
// reason, note, the resource's ID) with value typed into its one input.
func stepSubmission(user, callbackID, requestID, block, action, value string) []byte {
	return interaction(map[string]any{
		"type": "view_submission",
		"user": map[string]any{"id": user, "team_id": "T0001"},
		"team": map[string]any{"id": "T0001"},
		"view": map[string]any{
			"id": "V-" + callbackID, "type": "modal", "callback_id": callbackID, "private_metadata": requestID,
			"state": map[string]any{"values": map[string]any{block: map[string]any{action: map[string]any{"type": "plain_text_input", "value": value}}}},
		},
	})
}

// resourceSubmission is support recording id as the resource of requestID
// in the modal of the card's resource step.
func resourceSubmission(requestID, id string) []byte {
	return stepSubmission("USUPPORT", handlers.CallbackResource, requestID, handlers.BlockResource, handlers.ActionResource, id)
}

// filer is who submits a request form: user of team, in the form the bot
// opened in channel. meta, when set, is the form's private_metadata as the
// bot wrote it, which Slack sends back; when empty it is the one of a form
// of the submitted kind opened in channel.
type filer struct{ user, team, channel, meta string }

// requester is U0001 of acme (team T0001), filing from C0001.
var requester = filer{user: "U0001", team: "T0001", channel: "C0001"}

// formSubmission is the view_submission Slack sends when f submits the
// request form of kind opened as viewID, with values by field name: the
// cluster and the region are static selects (nothing chosen when the value
// is empty), every other field a plain_text_input. A field not in values is
// not in the submission.
func (f filer) formSubmission(kind astrobot.Kind, viewID string, values map[string]string) []byte {
	state := map[string]any{}
	for name, v := range values {
		el := map[string]any{"type": "plain_text_input", "value": v}
		if name == astrobot.FieldCluster || name == astrobot.FieldRegion {
			el = map[string]any{"type": "static_select"}
			if v != "" {
				el["selected_option"] = map[string]any{"value": v}
			}
		}
		state[handlers.FieldBlock(name)] = map[string]any{handlers.FieldAction(name): el}
	}
	meta := f.meta
	if meta == "" {
		raw, _ := json.Marshal(map[string]string{"c": f.channel, "k": string(kind)})
		meta = string(raw)
	}
	return interaction(map[string]any{
		"type": "view_submission",
		"team": map[string]any{"id": f.team},
		"user": map[string]any{"id": f.user, "team_id": f.team},
		"view": map[string]any{
			"id": viewID, "type": "modal", "callback_id": handlers.CallbackRequest, "private_metadata": meta,
			"state": map[string]any{"values": state},
		},
	})
}

// mention is a Slack mention, the one place mrkdwn keeps < and >.
var mention = regexp.MustCompile(`<@[UW][A-Z0-9]+>`)

// workflow drives one bot through Slack requests and watches the fake Slack;
// every wait ends, failing the test, with ctx.
type workflow struct {
	t     *testing.T
	p     *proc
	slack *fakeslack.Server
	ctx   context.Context
}

// send posts a signed Slack request, fails the test unless it is answered
// 200, and returns the acknowledgement.
func (w *workflow) send(body []byte) string {
	w.t.Helper()
	code, reply := post(w.t, w.p.httpURL, form, body, time.Now(), testSecret)
	if code != http.StatusOK {
		w.t.Fatalf("status %d: %s", code, reply)
	}
	return string(reply)
}

// ack sends a view submission and decodes the acknowledgement; err says why
// it is not JSON.
func (w *workflow) ack(body []byte) (viewAck, error) {
	w.t.Helper()
	var a viewAck
	err := json.Unmarshal([]byte(w.send(body)), &a)
	return a, err
}

// refusal sends a view submission that must be refused and returns the
// errors by block; any other answer fails the test.
func (w *workflow) refusal(body []byte) map[string]string {
	w.t.Helper()
	reply := w.send(body)
	var a viewAck
	if err := json.Unmarshal([]byte(reply), &a); err != nil || a.ResponseAction != "errors" {
		w.t.Fatalf("the form was not refused: %s (%v)", reply, err)
	}
	return a.Errors
}

// await waits until method was called n times in all and returns every call
// to it.
func (w *workflow) await(method string, n int) []fakeslack.Call {
	w.t.Helper()
	calls, err := w.slack.WaitFor(w.ctx, method, n)
	if err != nil {
		w.t.Fatalf("waiting for %d %s: %v\n%s", n, method, err, w.p.log())
	}
	return calls
}

// poll calls found every 50ms until it holds, and reports whether it did
// before the context ended.
func (w *workflow) poll(found func() bool) bool {
	for !found() {
		if w.ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// dms returns the text of every DM to the requester U0001 so far.
func (w *workflow) dms() []string {
	var out []string
	for _, c := range w.slack.CallsTo("chat.postMessage") {
		if c.Param("channel") == "DU0001" {
			out = append(out, c.Param("text"))
		}
	}
	return out
}

// dm waits for the requester's DM whose text contains every one of want,
// and returns it.
func (w *workflow) dm(want ...string) fakeslack.Call {
	w.t.Helper()
	var dm fakeslack.Call
	if !w.poll(func() bool {
		for _, c := range w.slack.CallsTo("chat.postMessage") {
			if c.Param("channel") == "DU0001" && !slices.ContainsFunc(want, func(s string) bool { return !strings.Contains(c.Param("text"), s) }) {
				dm = c
				return true
			}
		}
		return false
	}) {
		w.t.Fatalf("no DM to the requester containing %q; the DMs:\n%s\n%s", want, strings.Join(w.dms(), "\n---\n"), w.p.log())
	}
	return dm
}

// card waits for an update of the support card of ref, a request of the
// kind titled title, to show status, and returns its blocks.
func (w *workflow) card(ref, title, status string) string {
	w.t.Helper()
	var blocks string
	if !w.poll(func() bool {
		for _, c := range w.slack.CallsTo("chat.update") {
			if strings.Contains(c.Param("blocks"), ref+" · "+title+" · "+status) {
				blocks = c.Param("blocks")
				return true
			}
		}
		return false
	}) {
		w.t.Fatalf("the card of %s never showed %q\n%s", ref, status, w.p.log())
	}
	return blocks
}

// newWorkflow starts a bot in manual mode, on a new store, against slack,
// with the extra settings env; its waits end after timeout.
func newWorkflow(t *testing.T, slack *fakeslack.Server, timeout time.Duration, env ...string) *workflow {
	t.Helper()
	p := start(t, botEnv(t, slack, filepath.Join(t.TempDir(), "a.db"), env...))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return &workflow{t: t, p: p, slack: slack, ctx: ctx}
}
