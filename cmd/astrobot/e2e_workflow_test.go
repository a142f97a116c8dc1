package main

import (
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
)

// file files a peering of vpc and cidr through the form and checks that the
// bot answers with the filed view.
func (w *workflow) file(vpc, cidr string) {
	w.t.Helper()
	a, err := w.ack(submission(peerForm{viewID: "V-" + vpc, cluster: "clx123abc", account: "123456789012", region: "us-east-1", vpc: vpc, cidrs: cidr}, "U0001", "T0001", "C0001"))
	if err != nil || a.ResponseAction != "update" {
		w.t.Fatalf("submit: %+v (%v)", a, err)
	}
}

func TestE2EWorkflowManualMode(t *testing.T) {
	slack := fakeslack.New(fakeslack.WithTest(t))
	defer slack.Close()
	w := newWorkflow(t, slack, 30*time.Second, "ASTROBOT_SUPPORT_USERS=USUPPORT,USUPPORT2")

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
	bad, _ := w.ack(resourceSubmission("PEER-0001", "pcx-nothex"))
	if bad.ResponseAction != "errors" || !strings.Contains(bad.Errors[handlers.BlockResource], "pcx-") {
		t.Fatalf("a bad pcx ID is not refused on its field: %+v", bad)
	}
	step(resourceSubmission("PEER-0001", "pcx-0123456789abcdef0"), "pending acceptance", true)
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

	status := w.send(command("/astro-peer", "status PEER-0002", "USUPPORT", "T0001", "CSUPPORT"))
	if n := strings.Count(status, "approved the request"); n != 1 {
		t.Errorf("PEER-0002 history has %d approvals, want 1: %s", n, status)
	}

	// Reject needs a reason, which the requester reads.
	w.file("vpc-0123456789abcdef2", "172.29.0.0/16")
	bad, _ = w.ack(stepSubmission("USUPPORT", handlers.CallbackReject, "PEER-0003", handlers.BlockReason, handlers.ActionReason, ""))
	if bad.ResponseAction != "errors" {
		t.Errorf("a reject without a reason is accepted: %+v", bad)
	}
	w.send(stepSubmission("USUPPORT", handlers.CallbackReject, "PEER-0003", handlers.BlockReason, handlers.ActionReason, "Your CIDR is reserved on our side"))
	// The requester cancels their own request from the command.
	w.file("vpc-0123456789abcdef3", "172.28.0.0/16")
	reply := w.send(command("/astro-peer", "cancel PEER-0004", "U0001", "T0001", "C0001"))
	if !strings.Contains(reply, "PEER-0004 is cancelled") {
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
			t.Fatalf("requester DMs: rejected %v (with reason), cancelled %v\n%s", rejected, cancelled, w.p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := w.p.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}
