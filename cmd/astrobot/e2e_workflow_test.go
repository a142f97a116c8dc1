package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
)

// press is the block_actions payload of user pressing a workflow button.
func press(user, actionID, requestID string) []byte {
	payload, _ := json.Marshal(map[string]any{
		"type":       "block_actions",
		"user":       map[string]any{"id": user, "team_id": "T0001"},
		"team":       map[string]any{"id": "T0001"},
		"channel":    map[string]any{"id": "CSUPPORT"},
		"trigger_id": "trig-" + actionID,
		"actions":    []map[string]any{{"type": "button", "action_id": actionID, "block_id": handlers.BlockCardActions, "value": requestID}},
	})
	return []byte(url.Values{"payload": {string(payload)}}.Encode())
}

// stepSubmission is the view_submission of a step modal (reject reason, note,
// peering ID).
func stepSubmission(user, callbackID, requestID, block, action, value string) []byte {
	payload, _ := json.Marshal(map[string]any{
		"type": "view_submission",
		"user": map[string]any{"id": user, "team_id": "T0001"},
		"team": map[string]any{"id": "T0001"},
		"view": map[string]any{
			"id": "V-" + callbackID, "type": "modal", "callback_id": callbackID, "private_metadata": requestID,
			"state": map[string]any{"values": map[string]any{block: map[string]any{action: map[string]any{"type": "plain_text_input", "value": value}}}},
		},
	})
	return []byte(url.Values{"payload": {string(payload)}}.Encode())
}

// workflow drives one bot through Slack requests and watches the fake Slack.
type workflow struct {
	t     *testing.T
	p     *proc
	slack *fakeslack.Server
	ctx   context.Context
}

func (w *workflow) send(body []byte) []byte {
	w.t.Helper()
	code, reply := post(w.t, w.p.httpURL, form, body, time.Now(), testSecret)
	if code != http.StatusOK {
		w.t.Fatalf("status %d: %s", code, reply)
	}
	return reply
}

// await waits until method was called n times in all and returns the calls
// from the mark on.
func (w *workflow) await(method string, n int) []fakeslack.Call {
	w.t.Helper()
	calls, err := w.slack.WaitFor(w.ctx, method, n)
	if err != nil {
		w.t.Fatalf("waiting for %d %s: %v\n%s", n, method, err, w.p.log())
	}
	return calls
}

func (w *workflow) file(vpc, cidr string) {
	w.t.Helper()
	var a viewAck
	reply := w.send(submission(peerForm{viewID: "V-" + vpc, cluster: "clx123abc", account: "123456789012", region: "us-east-1", vpc: vpc, cidrs: cidr}, "U0001", "T0001", "C0001"))
	if err := json.Unmarshal(reply, &a); err != nil || a.ResponseAction != "update" {
		w.t.Fatalf("submit: %s", reply)
	}
}

func TestE2EWorkflowManualMode(t *testing.T) {
	slack := fakeslack.New(fakeslack.WithTest(t))
	defer slack.Close()
	p := start(t, botEnv(t, slack, filepath.Join(t.TempDir(), "a.db"), "ASTROBOT_SUPPORT_USERS=USUPPORT,USUPPORT2"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := &workflow{t: t, p: p, slack: slack, ctx: ctx}

	w.file("vpc-0123456789abcdef0", "172.31.0.0/16")
	posts := w.await("chat.postMessage", 2) // card, receipt
	if !strings.Contains(posts[0].Param("blocks"), handlers.ActionButton(astrobot.ActApprove)) || strings.Contains(posts[0].Param("blocks"), handlers.ActionButton(astrobot.ActAccepted)) {
		t.Fatalf("a submitted card should offer Approve and not Customer accepted: %s", posts[0].Param("blocks"))
	}

	// A non-support user's press changes nothing and gets a refusal.
	w.send(press("U0001", handlers.ActionButton(astrobot.ActApprove), "PEER-0001"))
	eph := w.await("chat.postEphemeral", 1)
	if eph[0].Param("user") != "U0001" || !strings.Contains(eph[0].Param("text"), "Only support") {
		t.Errorf("refusal: user %s text %s", eph[0].Param("user"), eph[0].Param("text"))
	}

	updates, threads, dms := 0, 0, 0
	// step presses a button (or submits a step modal) and checks the card
	// update, the thread line and, when the requester must act or it ended,
	// the DM that follow.
	step := func(body []byte, wantStatus string, wantDM bool) {
		t.Helper()
		w.send(body)
		updates++
		ups := w.await("chat.update", updates)
		last := ups[len(ups)-1]
		if !strings.Contains(last.Param("blocks"), wantStatus) {
			t.Errorf("card not updated to %q: %s", wantStatus, last.Param("blocks"))
		}
		threads++
		var lines []fakeslack.Call
		for _, c := range w.await("chat.postMessage", 2+threads+dms) {
			if c.Param("thread_ts") != "" {
				lines = append(lines, c)
			}
		}
		if len(lines) < threads {
			t.Fatalf("thread lines: %d, want %d", len(lines), threads)
		}
		if wantDM {
			dms++
			all := w.await("chat.postMessage", 2+threads+dms)
			var got bool
			for _, c := range all {
				if c.Param("channel") == "DU0001" && strings.Contains(c.Param("text"), wantStatus) {
					got = true
				}
			}
			if !got {
				t.Errorf("no DM to the requester saying %q", wantStatus)
			}
		}
	}
	step(press("USUPPORT", handlers.ActionButton(astrobot.ActClaim), "PEER-0001"), "submitted", false)
	step(press("USUPPORT", handlers.ActionButton(astrobot.ActApprove), "PEER-0001"), "approved", false)

	// Peering requested: the button opens a modal asking for the pcx ID,
	// which is validated.
	w.send(press("USUPPORT", handlers.ActionButton(astrobot.ActPeeringCreated), "PEER-0001"))
	opens := w.await("views.open", 1)
	if !strings.Contains(string(opens[0].Raw), handlers.CallbackResource) {
		t.Fatalf("peering modal not opened: %s", opens[0].Raw)
	}
	var bad viewAck
	json.Unmarshal(w.send(stepSubmission("USUPPORT", handlers.CallbackResource, "PEER-0001", handlers.BlockResource, handlers.ActionResource, "pcx-nothex")), &bad)
	if bad.ResponseAction != "errors" || !strings.Contains(bad.Errors[handlers.BlockResource], "pcx-") {
		t.Fatalf("a bad pcx ID is not refused on its field: %+v", bad)
	}
	step(stepSubmission("USUPPORT", handlers.CallbackResource, "PEER-0001", handlers.BlockResource, handlers.ActionResource, "pcx-0123456789abcdef0"), "pending acceptance", true)
	step(press("USUPPORT", handlers.ActionButton(astrobot.ActAccepted), "PEER-0001"), "configuring", false)
	step(press("USUPPORT", handlers.ActionButton(astrobot.ActConfigured), "PEER-0001"), "active", true)

	// Twenty support engineers approve one request at once: one transition,
	// nineteen refusals naming who did it.
	w.file("vpc-0123456789abcdef1", "172.30.0.0/16")
	w.await("chat.postMessage", 2+threads+dms+2)
	before := len(slack.CallsTo("chat.postEphemeral"))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			w.send(press([]string{"USUPPORT", "USUPPORT2"}[i%2], handlers.ActionButton(astrobot.ActApprove), "PEER-0002"))
		})
	}
	wg.Wait()
	refusals := w.await("chat.postEphemeral", before+19)[before:]
	for _, r := range refusals {
		if !strings.Contains(r.Param("text"), "PEER-0002 is approved: <@USUPPORT") {
			t.Errorf("refusal does not say who approved it: %s", r.Param("text"))
		}
	}

	status := string(w.send(command("/astro-peer", "status PEER-0002", "USUPPORT", "T0001", "CSUPPORT")))
	if n := strings.Count(status, "approved the request"); n != 1 {
		t.Errorf("PEER-0002 history has %d approvals, want 1: %s", n, status)
	}

	// Reject needs a reason, which the requester reads.
	w.file("vpc-0123456789abcdef2", "172.29.0.0/16")
	json.Unmarshal(w.send(stepSubmission("USUPPORT", handlers.CallbackReject, "PEER-0003", handlers.BlockReason, handlers.ActionReason, "")), &bad)
	if bad.ResponseAction != "errors" {
		t.Errorf("a reject without a reason is accepted: %+v", bad)
	}
	w.send(stepSubmission("USUPPORT", handlers.CallbackReject, "PEER-0003", handlers.BlockReason, handlers.ActionReason, "Your CIDR is reserved on our side"))
	// The requester cancels their own request from the command.
	w.file("vpc-0123456789abcdef3", "172.28.0.0/16")
	reply := w.send(command("/astro-peer", "cancel PEER-0004", "U0001", "T0001", "C0001"))
	if !strings.Contains(string(reply), "PEER-0004 is cancelled") {
		t.Errorf("cancel: %s", reply)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rejected, cancelled bool
		for _, c := range slack.CallsTo("chat.postMessage") {
			if c.Param("channel") == "DU0001" && strings.Contains(c.Param("text"), "PEER-0003* is now *rejected") && strings.Contains(c.Param("text"), "Your CIDR is reserved") {
				rejected = true
			}
			if c.Param("channel") == "DU0001" && strings.Contains(c.Param("text"), "PEER-0004* is now *cancelled") {
				cancelled = true
			}
		}
		if rejected && cancelled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("requester DMs: rejected %v (with reason), cancelled %v\n%s", rejected, cancelled, p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := p.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}
