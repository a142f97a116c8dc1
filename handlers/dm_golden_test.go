package handlers_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
)

// TestDMGolden renders the requester's DM, as the fake Slack receives it
// (the posted text), for every kind in every status it declares and in
// submitted, rejected and cancelled, and compares each with
// testdata/dm/<slug>-<status>.golden.txt. Run
// `go test ./handlers -run TestDMGolden -update` to rewrite them, then read
// them as a customer would. Each DM, its text and its blocks, must also
// leave no <, > or & unescaped outside mentions, dates and links.
func TestDMGolden(t *testing.T) {
	dir := filepath.Join("testdata", "dm")
	if *update {
		old, _ := filepath.Glob(filepath.Join(dir, "*.golden.txt"))
		for _, f := range old { // kinds and statuses gone leave no stale files
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range astrobot.Kinds() {
		for _, s := range dmStatuses(d) {
			name := d.Slug() + "-" + string(s)
			t.Run(name, func(t *testing.T) {
				got, blocks := renderDM(t, dmRequest(t, d, s))
				for _, p := range unescapedMrkdwn(got) {
					t.Errorf("the DM's text leaves %s unescaped; DM:\n%s", p, got)
				}
				for _, p := range unescapedMrkdwn(blocks) {
					t.Errorf("the DM's blocks leave %s unescaped; blocks:\n%s", p, blocks)
				}
				path := filepath.Join(dir, name+".golden.txt")
				if *update {
					if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("read the golden file (go test ./handlers -run TestDMGolden -update writes it): %v", err)
				}
				if diff := cmp.Diff(string(want), got+"\n"); diff != "" {
					t.Errorf("the DM differs from %s (-want +got); rerun with -update if the change is meant, and read it:\n%s", path, diff)
				}
			})
		}
	}
}

// TestUnescapedMrkdwn proves the check of TestDMGolden finds raw control
// characters and lets mentions, dates, links and escapes through.
func TestUnescapedMrkdwn(t *testing.T) {
	for _, tt := range []struct {
		text string
		bad  bool
	}{
		{"ok <@UALICE> at <!date^1741100645^{date_short_pretty} {time}|2025-03-04 15:04 UTC>, &lt;your-sg-id&gt; &amp; <https://example.com|docs>", false},
		{"--group-id <your-sg-id>", true},
		{"a > b", true},
		{"this & that", true},
		{"<!channel>", true},
	} {
		if got := unescapedMrkdwn(tt.text); (len(got) > 0) != tt.bad {
			t.Errorf("unescapedMrkdwn(%q) = %q, want a problem: %v", tt.text, got, tt.bad)
		}
	}
}

// dmStatuses returns the statuses of kind d a DM is rendered for.
func dmStatuses(d astrobot.KindDef) []astrobot.Status {
	out := []astrobot.Status{astrobot.StatusSubmitted}
	for _, st := range d.States() {
		out = append(out, st.Status)
	}
	return append(out, astrobot.StatusRejected, astrobot.StatusCancelled)
}

// dmRequest is the fixed request of the golden DMs: PREFIX-0042 of alice on
// acmeProd (two CIDRs), its form's placeholders typed in, in status s, with
// the kind's example resource.
func dmRequest(t *testing.T, d astrobot.KindDef, s astrobot.Status) astrobot.Request {
	t.Helper()
	in := astrobot.Input{}
	for _, f := range d.Fields() {
		in[f.Name] = f.Placeholder
	}
	cl := acmeProd
	spec, warnings, err := d.Parse(in, &cl)
	if err != nil {
		t.Fatalf("%s: the form's placeholders do not parse for %s: %v", d.Slug(), cl.Name, err)
	}
	r := astrobot.Request{ID: 42, Kind: d.Kind(), Status: s, ClusterID: acmeProd.ID, Spec: spec, Warnings: warnings,
		Requester: astrobot.Requester{UserID: userAlice, TeamID: teamAcme, ChannelID: chanAcmeShared},
		Note:      "For the reporting team, please.",
		CreatedAt: start, UpdatedAt: start.Add(time.Hour), UpdatedBy: userSupport}
	if s != astrobot.StatusSubmitted {
		r.Assignee = userSupport
	}
	if afterResource(d)[s] {
		r.Resource = d.Resource().Example
		r.ExpiresAt = start.Add(7 * 24 * time.Hour)
	}
	return r
}

// afterResource returns the statuses of kind d in which its Resource exists:
// those its steps reach from the step that records it.
func afterResource(d astrobot.KindDef) map[astrobot.Status]bool {
	seen := map[astrobot.Status]bool{}
	var todo []astrobot.Status
	for _, rule := range d.Steps() {
		if rule.Resource {
			todo = append(todo, rule.To)
		}
	}
	for len(todo) > 0 {
		s := todo[0]
		todo = todo[1:]
		if seen[s] {
			continue
		}
		seen[s] = true
		for _, rule := range d.Steps() {
			if slices.Contains(rule.From, s) {
				todo = append(todo, rule.To)
			}
		}
	}
	return seen
}

// dmEvent is the event whose DM is rendered: the submission, or a step into
// r's status.
func dmEvent(t *testing.T, r astrobot.Request) astrobot.Event {
	t.Helper()
	at := start.Add(time.Hour)
	switch r.Status {
	case astrobot.StatusSubmitted:
		return astrobot.Event{Seq: 0, At: start, Actor: userAlice, Action: astrobot.ActSubmit, To: r.Status}
	case astrobot.StatusRejected:
		return astrobot.Event{Seq: 1, At: at, Actor: userSupport, Action: astrobot.ActReject, From: astrobot.StatusSubmitted, To: r.Status,
			Note: "This VPC is peered with the cluster already (PEER-0007)."}
	case astrobot.StatusCancelled:
		return astrobot.Event{Seq: 1, At: at, Actor: userAlice, Action: astrobot.ActCancel, From: astrobot.StatusSubmitted, To: r.Status}
	}
	for _, rule := range astrobot.Rules(r.Def()) {
		if rule.To != r.Status || slices.Contains(rule.From, r.Status) || len(rule.From) == 0 {
			continue
		}
		actor := userSupport
		if !slices.Contains(rule.Who, astrobot.RoleSupport) {
			actor = astrobot.ActorBot
		}
		return astrobot.Event{Seq: 3, At: at, Actor: actor, Action: rule.Action, From: rule.From[0], To: r.Status}
	}
	t.Fatalf("%s: no rule leads to %s", r.Def().Slug(), r.Status)
	return astrobot.Event{}
}

// renderDM delivers the requester's DM about r and returns the text posted
// and the text of its blocks.
func renderDM(t *testing.T, r astrobot.Request) (string, string) {
	t.Helper()
	e := newEnv(t)
	if _, err := e.h.Deliver(testContext(t), handlers.Delivery{Entry: 1,
		Notification: astrobot.Notification{RequestID: r.ID, Kind: astrobot.NotifyRequester}, Request: r, Event: dmEvent(t, r)}); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	call := e.lastCall(t, "chat.postMessage", 1)
	return call.Param("text"), blocksText(t, call)
}

// allowedMrkdwn are what may stand in <…> or after & in mrkdwn astrobot
// sends: mentions, dates, links, and the three escapes.
var allowedMrkdwn = regexp.MustCompile(`<@[UW][A-Z0-9]+>|<!date\^[0-9]+\^[^|<>]*\|[^<>]*>|<https://[^<>|\s]+(\|[^<>]*)?>|&(amp|lt|gt);`)

// unescapedMrkdwn returns each <, > or & of text that is not part of a
// mention, a date, a link or an escape.
func unescapedMrkdwn(text string) []string {
	rest := allowedMrkdwn.ReplaceAllString(text, "")
	var out []string
	for i, line := range strings.Split(rest, "\n") {
		if strings.ContainsAny(line, "<>&") {
			out = append(out, fmt.Sprintf("%q (line %d, with mentions, dates, links and escapes taken out)", line, i+1))
		}
	}
	return out
}
