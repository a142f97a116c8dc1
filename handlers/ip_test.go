package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
)

func TestAstroIP(t *testing.T) {
	notVisible := func(ref string) string { return fmt.Sprintf("No cluster %q is visible to you.", ref) }
	tests := []struct {
		name    string
		caller  caller
		text    string
		want    []string
		notWant []string
	}{
		{
			name:    "by ID",
			caller:  alice,
			text:    acmeProd.ID,
			want:    clusterFacts(acmeProd),
			notWant: append(clusterFacts(globexProd), acmeDev.VPCID),
		},
		{
			name:    "by name, case-insensitive",
			caller:  alice,
			text:    strings.ToUpper(acmeProd.Name),
			want:    append(clusterFacts(acmeProd), acmeProd.Name),
			notWant: clusterFacts(globexProd),
		},
		{
			name:    "padded by spaces",
			caller:  alice,
			text:    "  " + acmeDev.ID + " ",
			want:    clusterFacts(acmeDev),
			notWant: []string{acmeProd.VPCID},
		},
		{
			name:   "no argument lists the visible clusters with their IPs",
			caller: alice,
			text:   "",
			want: []string{"Clusters visible to you (2)", acmeProd.Name, acmeProd.ID, acmeDev.Name, acmeDev.ID,
				acmeProd.ExternalIPs[0].String(), acmeProd.ExternalIPs[2].String(), acmeDev.ExternalIPs[0].String()},
			notWant: clusterFacts(globexProd),
		},
		{
			name:    "help",
			caller:  alice,
			text:    "help",
			want:    []string{handlers.CommandIP + " &lt;cluster ID or name&gt;", "Allow-list"},
			notWant: clusterFacts(acmeProd),
		},
		{
			name:    "HELP in capitals",
			caller:  gina,
			text:    "HELP",
			want:    []string{handlers.CommandIP + " help"},
			notWant: clusterFacts(globexProd),
		},
		{
			name:    "a cluster of another organization is not visible",
			caller:  alice,
			text:    globexProd.Name,
			want:    []string{notVisible(globexProd.Name), "Clusters visible to you (2)", acmeProd.Name, acmeDev.Name},
			notWant: clusterFacts(globexProd),
		},
		{
			name:    "a cluster of another organization by ID",
			caller:  alice,
			text:    globexProd.ID,
			want:    []string{notVisible(globexProd.ID), acmeProd.Name},
			notWant: append(clusterFacts(globexProd)[1:], globexProd.Name),
		},
		{
			name:    "a cluster that does not exist",
			caller:  alice,
			text:    "no-such-cluster",
			want:    []string{notVisible("no-such-cluster"), "Clusters visible to you (2)"},
			notWant: clusterFacts(globexProd),
		},
		{
			name:    "the other organization sees its own",
			caller:  gina,
			text:    "",
			want:    []string{"Clusters visible to you (1)", globexProd.Name, globexProd.ExternalIPs[1].String()},
			notWant: []string{acmeProd.Name, acmeDev.Name, acmeProd.ExternalIPs[0].String()},
		},
		{
			name:    "visible through a channel mapped to the organization",
			caller:  guest,
			text:    acmeProd.Name,
			want:    clusterFacts(acmeProd),
			notWant: clusterFacts(globexProd),
		},
		{
			name:    "the same user outside the mapped channel sees nothing",
			caller:  outside,
			text:    "",
			want:    []string{"You can see no clusters from here"},
			notWant: append(clusterFacts(acmeProd), clusterFacts(globexProd)...),
		},
		{
			name:    "the same user outside the mapped channel cannot name one",
			caller:  outside,
			text:    acmeProd.ID,
			want:    []string{notVisible(acmeProd.ID), "You can see no clusters from here"},
			notWant: clusterFacts(acmeProd)[1:],
		},
		{
			name:    "support sees every cluster",
			caller:  support,
			text:    "",
			want:    []string{"Clusters visible to you (3)", acmeProd.Name, acmeDev.Name, globexProd.Name},
			notWant: []string{"No cluster"},
		},
		{
			name:    "support looks up any cluster",
			caller:  support,
			text:    globexProd.ID,
			want:    clusterFacts(globexProd),
			notWant: []string{acmeProd.VPCID},
		},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := e.command(t, tt.caller, handlers.CommandIP, tt.text)
			if msg == nil {
				t.Fatal("no reply")
			}
			if msg.ResponseType != slack.ResponseTypeEphemeral {
				t.Errorf("response_type = %q, want %q", msg.ResponseType, slack.ResponseTypeEphemeral)
			}
			checkText(t, msgText(msg), tt.want, tt.notWant)
		})
	}
	if calls := e.srv.Calls(); len(calls) != 0 {
		t.Errorf("/astro-ip called Slack %d times, want none: %+v", len(calls), calls)
	}
}

// TestAstroIPHidesOtherOrganizations checks that a cluster of another
// organization gets exactly the answer it would get if it did not exist.
func TestAstroIPHidesOtherOrganizations(t *testing.T) {
	withGlobex := newEnv(t)
	withoutGlobex := newEnv(t, withClusters([]astrobot.Cluster{acmeProd, acmeDev}))
	for _, ref := range []string{globexProd.ID, globexProd.Name, strings.ToUpper(globexProd.Name)} {
		t.Run(ref, func(t *testing.T) {
			exists := withGlobex.command(t, alice, handlers.CommandIP, ref)
			missing := withoutGlobex.command(t, alice, handlers.CommandIP, ref)
			if diff := cmp.Diff(msgJSON(t, missing), msgJSON(t, exists)); diff != "" {
				t.Errorf("answer about another organization's cluster differs from a missing one (-missing +exists):\n%s", diff)
			}
		})
	}
}

// msgJSON returns m as Slack receives it, decoded.
func msgJSON(t *testing.T, m any) any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return v
}

// TestAstroIPManyClusters checks that the list stays within Slack's limits
// with 500 clusters: the whole reply under 20,000 bytes (a Socket Mode ack
// over 20 KiB is refused), every section under 3,000 characters, and what is
// left out is counted.
func TestAstroIPManyClusters(t *testing.T) {
	const n = 500
	clusters := manyClusters("acme", n)
	e := newEnv(t, withClusters(clusters))
	msg := e.command(t, alice, handlers.CommandIP, "")
	if size := jsonSize(t, msg); size >= 20000 {
		t.Errorf("reply is %d bytes of JSON, want under 20000", size)
	}
	listed := 0
	for i, b := range msg.Blocks.BlockSet {
		s, ok := b.(*slack.SectionBlock)
		if !ok || s.Text == nil {
			t.Fatalf("block %d is %T, want a section with text", i, b)
		}
		if l := len([]rune(s.Text.Text)); l > 3000 || l == 0 {
			t.Errorf("section %d holds %d characters, want 1 to 3000", i, l)
		}
		listed += strings.Count(s.Text.Text, "(`cl-acme-")
	}
	text := msgText(msg)
	if !strings.Contains(text, fmt.Sprintf("Clusters visible to you (%d)", n)) {
		t.Errorf("reply does not count %d clusters:\n%.300s", n, text)
	}
	m := regexp.MustCompile(`… and (\d+) more`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("reply lists %d of %d clusters and does not say how many more there are", listed, n)
	}
	more, _ := strconv.Atoi(m[1])
	if listed == 0 || listed+more != n {
		t.Errorf("reply lists %d clusters and says %d more, want a total of %d", listed, more, n)
	}
	t.Logf("%d clusters: reply of %d bytes of JSON, %d sections, %d clusters listed, %d counted as more",
		n, jsonSize(t, msg), len(msg.Blocks.BlockSet), listed, more)
	for _, cl := range clusters[:listed] { // sorted by name, as generated
		for _, ip := range cl.ExternalIPs {
			if !strings.Contains(text, ip.String()) {
				t.Fatalf("listed cluster %s is missing its IP %s", cl.Name, ip)
			}
		}
	}
}

// slowDirectory answers Clusters only once release is closed, or fails when
// its context ends first.
type slowDirectory struct {
	clusters []astrobot.Cluster
	release  chan struct{}
	calls    atomic.Int32
}

func (d *slowDirectory) Clusters(ctx context.Context) ([]astrobot.Cluster, error) {
	d.calls.Add(1)
	select {
	case <-d.release:
		return d.clusters, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (d *slowDirectory) Cluster(ctx context.Context, id string) (astrobot.Cluster, error) {
	return clusterOf(ctx, d, id)
}

// clusterOf is Directory.Cluster for a test directory: the cluster of its
// Clusters with the ID.
func clusterOf(ctx context.Context, d handlers.Directory, id string) (astrobot.Cluster, error) {
	cs, err := d.Clusters(ctx)
	if err != nil {
		return astrobot.Cluster{}, err
	}
	for _, c := range cs {
		if c.ID == id {
			return c, nil
		}
	}
	return astrobot.Cluster{}, astrobot.Errorf(astrobot.ENotFound, "no cluster %s", id)
}

// TestAstroIPFollowUp checks that a look-up slower than the ack is answered
// with "Looking it up" at once and followed up through the response URL.
func TestAstroIPFollowUp(t *testing.T) {
	dir := &slowDirectory{clusters: testClusters(), release: make(chan struct{})}
	e := newEnv(t, withDirectory(dir), withLookupTimeout(20*time.Millisecond))
	ctx := testContext(t)
	msg := e.h.SlashCommand(ctx, slack.SlashCommand{Command: handlers.CommandIP, Text: acmeProd.Name,
		UserID: alice.user, TeamID: alice.team, ChannelID: alice.channel, ResponseURL: e.srv.ResponseURL("x")})
	checkText(t, msgText(msg), []string{"Looking it up"}, clusterFacts(acmeProd))
	if calls := e.srv.CallsTo("response_url"); len(calls) != 0 {
		t.Fatalf("response_url posted before the directory answered: %+v", calls)
	}

	close(dir.release)
	calls, err := e.srv.WaitFor(ctx, "response_url", 1)
	if err != nil {
		t.Fatal(err)
	}
	e.h.Close()
	if got := len(e.srv.CallsTo("response_url")); got != 1 {
		t.Errorf("response_url posts = %d, want 1", got)
	}
	c := calls[0]
	if c.Path != "/response/x" {
		t.Errorf("follow-up posted to %s, want /response/x", c.Path)
	}
	var body struct {
		Text            string       `json:"text"`
		ResponseType    string       `json:"response_type"`
		ReplaceOriginal bool         `json:"replace_original"`
		Blocks          slack.Blocks `json:"blocks"`
	}
	if err := json.Unmarshal(c.Raw, &body); err != nil {
		t.Fatalf("response_url body %s: %v", c.Raw, err)
	}
	if body.ResponseType != slack.ResponseTypeEphemeral || !body.ReplaceOriginal {
		t.Errorf("follow-up response_type %q, replace_original %v; want ephemeral, true", body.ResponseType, body.ReplaceOriginal)
	}
	followUp := &slack.Msg{Text: body.Text, Blocks: body.Blocks}
	checkText(t, msgText(followUp), clusterFacts(acmeProd), clusterFacts(globexProd))
	if got := dir.calls.Load(); got != 2 {
		t.Errorf("directory read %d times, want 2 (the ack's and the follow-up's)", got)
	}
}

// TestAstroIPFollowUpKeepsVisibility checks that the follow-up answers for
// the caller of the command: a cluster of another organization stays hidden.
func TestAstroIPFollowUpKeepsVisibility(t *testing.T) {
	dir := &slowDirectory{clusters: testClusters(), release: make(chan struct{})}
	e := newEnv(t, withDirectory(dir), withLookupTimeout(20*time.Millisecond))
	ctx := testContext(t)
	e.h.SlashCommand(ctx, slack.SlashCommand{Command: handlers.CommandIP, Text: globexProd.ID,
		UserID: alice.user, TeamID: alice.team, ChannelID: alice.channel, ResponseURL: e.srv.ResponseURL("y")})
	close(dir.release)
	calls, err := e.srv.WaitFor(ctx, "response_url", 1)
	if err != nil {
		t.Fatal(err)
	}
	body := string(calls[0].Raw)
	checkText(t, body, []string{"is visible to you", acmeProd.Name}, clusterFacts(globexProd)[1:])
}

// TestAstroIPSlowWithoutResponseURL checks that a slow look-up without a
// response URL ends in an apology with a reference, logged once.
func TestAstroIPSlowWithoutResponseURL(t *testing.T) {
	dir := &slowDirectory{release: make(chan struct{})}
	e := newEnv(t, withDirectory(dir), withLookupTimeout(20*time.Millisecond))
	msg := e.command(t, alice, handlers.CommandIP, acmeProd.ID)
	checkText(t, msgText(msg), []string{"Sorry, something went wrong on our side", "ref "}, []string{"deadline"})
	if got := e.logs.messages(slog.LevelError); len(got) != 1 {
		t.Errorf("error logs = %q, want one", got)
	}
}

// TestCloseStopsFollowUp checks that Close ends a follow-up still waiting for
// the directory, without posting to the response URL.
func TestCloseStopsFollowUp(t *testing.T) {
	dir := &slowDirectory{release: make(chan struct{})} // never released
	e := newEnv(t, withDirectory(dir), withLookupTimeout(20*time.Millisecond))
	e.h.SlashCommand(testContext(t), slack.SlashCommand{Command: handlers.CommandIP, Text: acmeProd.ID,
		UserID: alice.user, TeamID: alice.team, ResponseURL: e.srv.ResponseURL("z")})
	closed := make(chan struct{})
	go func() {
		e.h.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return within 5s while a follow-up waited for the directory")
	}
	if calls := e.srv.CallsTo("response_url"); len(calls) != 0 {
		t.Errorf("response_url posts after Close = %d, want 0", len(calls))
	}
}

func TestUnknownCommand(t *testing.T) {
	e := newEnv(t)
	msg := e.command(t, alice, "/astro-nope", "")
	checkText(t, msgText(msg), []string{"/astro-nope", handlers.CommandIP + " help", handlers.CommandConnect + " help"}, nil)
}
