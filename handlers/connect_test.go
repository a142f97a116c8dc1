package handlers_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
)

// lastOpened returns the view of the last views.open call.
func (e *env) lastOpened(t *testing.T) openedView {
	t.Helper()
	calls := e.srv.CallsTo("views.open")
	if len(calls) == 0 {
		t.Fatal("no views.open call")
	}
	return decodeOpenedView(t, calls[len(calls)-1])
}

// pick submits the picker opened with private metadata meta, choosing slug.
func (e *env) pick(t *testing.T, c caller, meta, slug string) *slack.ViewSubmissionResponse {
	t.Helper()
	return e.submitView(t, slack.InteractionCallback{
		Type: slack.InteractionTypeViewSubmission,
		User: slack.User{ID: c.user, TeamID: c.team},
		View: slack.View{ID: "VPICK", CallbackID: handlers.CallbackPick, PrivateMetadata: meta,
			State: &slack.ViewState{Values: map[string]map[string]slack.BlockAction{
				handlers.BlockKind: {handlers.ActionKind: {Type: "radio_buttons", SelectedOption: slack.OptionBlockObject{Value: slug}}}}}},
	})
}

// TestAstroConnectPicker follows /astro-connect: the picker offers every
// registered kind, and choosing one answers with that kind's form in the same
// modal, with the cluster given to the command chosen.
func TestAstroConnectPicker(t *testing.T) {
	for _, tt := range []struct {
		name, text, wantCluster string
	}{
		{name: "no cluster", text: ""},
		{name: "a cluster", text: acmeProd.Name, wantCluster: acmeProd.ID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if msg := e.command(t, alice, handlers.CommandConnect, tt.text); msg != nil {
				t.Fatalf("reply %q, want the picker", msgText(msg))
			}
			v := e.lastOpened(t)
			if v.View.CallbackID != handlers.CallbackPick || v.View.Submit == nil {
				t.Fatalf("opened %q, want the picker %q with a submit button", v.View.CallbackID, handlers.CallbackPick)
			}
			typ, action, options, _ := v.input(t, handlers.BlockKind)
			if typ != "radio_buttons" || action != handlers.ActionKind {
				t.Errorf("kind input %q %q, want radio_buttons %q", typ, action, handlers.ActionKind)
			}
			var slugs []string
			for _, d := range astrobot.Kinds() {
				slugs = append(slugs, d.Slug())
			}
			if strings.Join(options, ",") != strings.Join(slugs, ",") {
				t.Errorf("picker offers %v, want every registered kind %v", options, slugs)
			}
			raw := string(e.srv.CallsTo("views.open")[0].Raw)
			for _, d := range astrobot.Kinds() {
				if !strings.Contains(raw, d.Title()) || !strings.Contains(raw, d.Choose()) {
					t.Errorf("picker lacks %q with its line on when to choose it", d.Title())
				}
			}

			resp := e.pick(t, alice, v.View.PrivateMetadata, "peering")
			if resp.ResponseAction != slack.RAUpdate || resp.View == nil || resp.View.CallbackID != handlers.CallbackRequest {
				t.Fatalf("pick = %+v, want the peering form in the same modal", resp)
			}
			var meta struct{ C, K string }
			if err := json.Unmarshal([]byte(resp.View.PrivateMetadata), &meta); err != nil || meta.K != string(astrobot.KindPeering) || meta.C != alice.channel {
				t.Errorf("form metadata %q, want the peering kind and the channel %s", resp.View.PrivateMetadata, alice.channel)
			}
			var initial string
			for _, b := range resp.View.Blocks.BlockSet {
				if in, ok := b.(*slack.InputBlock); ok && in.BlockID == handlers.FieldBlock(astrobot.FieldCluster) {
					if sel, ok := in.Element.(*slack.SelectBlockElement); ok && sel.InitialOption != nil {
						initial = sel.InitialOption.Value
					}
				}
			}
			if initial != tt.wantCluster {
				t.Errorf("form's chosen cluster %q, want %q", initial, tt.wantCluster)
			}

			// The form filed from there is a request like any other.
			resp = e.submitView(t, submission(alice, "VFORM", resp.View.PrivateMetadata, validForm()))
			if resp.ResponseAction != slack.RAUpdate || !strings.Contains(viewText(resp.View), "PEER-0001") {
				t.Fatalf("submission = %+v, want PEER-0001 filed", resp)
			}
		})
	}
}

// TestAstroConnectCommands checks the other forms of /astro-connect: a
// kind's form directly, the shared verbs, and clear refusals.
func TestAstroConnectCommands(t *testing.T) {
	e := newEnv(t)
	if msg := e.command(t, alice, handlers.CommandConnect, "peering "+acmeDev.ID); msg != nil {
		t.Fatalf("/astro-connect peering answered %q, want the form", msgText(msg))
	}
	v := e.lastOpened(t)
	if _, _, _, initial := v.input(t, handlers.FieldBlock(astrobot.FieldCluster)); v.View.CallbackID != handlers.CallbackRequest || initial != acmeDev.ID {
		t.Errorf("opened %q with cluster %q, want the request form with %s", v.View.CallbackID, initial, acmeDev.ID)
	}
	e.mustFile(t, alice, "V1", validForm())

	tests := []struct {
		name, text    string
		want, notWant []string
	}{
		{"help", "help", []string{"/astro-connect peering [cluster]", "VPC peering", "/astro-connect status PEER-0042", "/astro-ip"}, nil},
		{"list", "list", []string{"PEER-0001", "VPC peering", "submitted"}, nil},
		{"status", "status PEER-0001", []string{"PEER-0001", "History", "submitted the request"}, nil},
		{"status by number", "status 1", []string{"PEER-0001", "History"}, nil},
		{"a word that is neither a kind nor a cluster", "satellite", []string{`"satellite"`, "peering", "/astro-connect help"}, nil},
		{"a kind with a cluster nobody sees", "peering " + globexProd.Name, []string{"No cluster", "is visible to you"}, []string{globexProd.VPCID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkText(t, msgText(e.command(t, alice, handlers.CommandConnect, tt.text)), tt.want, tt.notWant)
		})
	}
}

// TestBadInputChangesNothing sends what astrobot never made: an unknown kind
// in the picker, a form whose private_metadata was tampered with or names an
// unknown kind, request IDs with an unknown prefix. Each gets a clear message
// and nothing is stored or changed.
func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t)
	id := e.mustFile(t, alice, "V1", validForm())
	before, beforeEvents, err := e.db.History(testContext(t), id)
	if err != nil {
		t.Fatal(err)
	}
	meta := e.openModal(t, alice)
	clusterBlock := handlers.FieldBlock(astrobot.FieldCluster)

	t.Run("unknown kind in the picker", func(t *testing.T) {
		resp := e.pick(t, alice, `{"c":"`+alice.channel+`"}`, "carrier_pigeon")
		if resp.ResponseAction != slack.RAErrors || !strings.Contains(resp.Errors[handlers.BlockKind], "Choose one of the kinds") {
			t.Errorf("pick = %+v, want an error on the kind", resp)
		}
	})
	for _, m := range []struct{ name, meta string }{
		{"metadata that is not JSON", "{tampered"},
		{"metadata naming an unknown kind", `{"c":"` + alice.channel + `","k":"carrier_pigeon"}`},
		{"metadata without a kind", `{"c":"` + alice.channel + `"}`},
	} {
		t.Run(m.name, func(t *testing.T) {
			f := validForm()
			f.vpc, f.cidrs = "vpc-0123456789abcdef0", "172.31.0.0/16" // would be filed, were the form ours
			resp := e.submitView(t, submission(alice, "V-"+m.name, m.meta, f))
			if resp.ResponseAction != slack.RAErrors || !strings.Contains(resp.Errors[clusterBlock], "damaged or from another version") ||
				!strings.Contains(resp.Errors[clusterBlock], handlers.CommandConnect) {
				t.Errorf("submission = %+v, want an error on the cluster saying the form is damaged and how to start again", resp)
			}
		})
	}
	t.Run("a good form still files", func(t *testing.T) {
		f := validForm()
		f.vpc, f.cidrs = "vpc-0123456789abcdef0", "172.31.0.0/16"
		if resp := e.submitView(t, submission(alice, "VGOOD", meta, f)); resp.ResponseAction != slack.RAUpdate {
			t.Errorf("a good submission: %+v", resp)
		}
	})
	for _, ref := range []string{"TGX-0001", "XYZ-1", "-1"} {
		t.Run("unknown prefix "+ref, func(t *testing.T) {
			for _, verb := range []string{"status", "cancel"} {
				text := msgText(e.command(t, alice, handlers.CommandConnect, verb+" "+ref))
				checkText(t, text, []string{"is not a request ID", "PEER-"}, []string{"is cancelled"})
			}
		})
	}
	after, afterEvents, err := e.db.History(testContext(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != before.Status || len(afterEvents) != len(beforeEvents) {
		t.Errorf("bad input changed %s: %s with %d events, was %s with %d", before.Ref(), after.Status, len(afterEvents), before.Status, len(beforeEvents))
	}
	if n := e.requestCount(t); n != 2 {
		t.Errorf("store holds %d requests, want the 2 good ones", n)
	}
}

// TestHomeNewRequest checks App Home's New request button: it is there for
// requesters and support, and opens the picker.
func TestHomeNewRequest(t *testing.T) {
	e := newEnv(t)
	for _, c := range []caller{alice, support} {
		e.h.Event(testContext(t), homeOpened(t, c, "home"))
		raw := string(e.lastCall(t, "views.publish", len(e.srv.CallsTo("views.publish"))).Raw)
		if !strings.Contains(raw, handlers.ActionNewRequest) || !strings.Contains(raw, "New request") {
			t.Errorf("App Home of %s has no New request button", c.user)
		}
	}
	e.h.Interaction(testContext(t), slack.InteractionCallback{
		Type: slack.InteractionTypeBlockActions, User: slack.User{ID: alice.user, TeamID: alice.team}, TriggerID: "trigger-home",
		ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{ActionID: handlers.ActionNewRequest, BlockID: handlers.BlockHomeNew}}},
	})
	if v := e.lastOpened(t); v.View.CallbackID != handlers.CallbackPick || v.TriggerID != "trigger-home" {
		t.Errorf("New request opened %q with trigger %q, want the picker", v.View.CallbackID, v.TriggerID)
	}
}
