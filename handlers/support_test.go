package handlers_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
)

const (
	supportGroup = "S0SUPPORT"
	groupTTL     = 10 * time.Minute
)

// supportEnv is a SupportTeam reading its group from the fake Slack through
// the real slack-go client, on a clock the test moves.
type supportEnv struct {
	srv   *fakeslack.Server
	clock *clock
	logs  *logRecorder
	team  *handlers.SupportTeam
}

func newSupportEnv(t *testing.T, users []string, group string) *supportEnv {
	t.Helper()
	srv := fakeslack.New(fakeslack.WithTest(t))
	t.Cleanup(srv.Close)
	clk := newClock()
	logs := newLogRecorder()
	api := slack.New("xoxb-test", slack.OptionAPIURL(srv.APIURL()))
	return &supportEnv{srv: srv, clock: clk, logs: logs,
		team: handlers.NewSupportTeam(users, group, api, groupTTL, clk.Now, slog.New(logs))}
}

func (s *supportEnv) reads() int { return len(s.srv.CallsTo("usergroups.users.list")) }

// check asserts IsSupport for each user and the number of group reads so far.
func (s *supportEnv) check(t *testing.T, want map[string]bool, wantReads int) {
	t.Helper()
	for user, w := range want {
		if got := s.team.IsSupport(testContext(t), user); got != w {
			t.Errorf("IsSupport(%s) = %v, want %v", user, got, w)
		}
	}
	if got := s.reads(); got != wantReads {
		t.Errorf("usergroups.users.list calls = %d, want %d", got, wantReads)
	}
}

// noMoreReads checks that no background read of the group starts: it gives
// one 50ms to arrive. Correct code never makes it, so the wait cannot fail a
// correct SupportTeam, only let a wrong one pass when its read is slower.
func (s *supportEnv) noMoreReads(t *testing.T, reads int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if calls, err := s.srv.WaitFor(ctx, "usergroups.users.list", reads+1); err == nil {
		t.Errorf("usergroups.users.list calls = %d, want %d: the group was read again within its TTL", len(calls), reads)
	}
}

// waitUntil calls IsSupport(user) until it answers want. Each call answers
// from the cache while a background refresh runs, and starts no other one.
func (s *supportEnv) waitUntil(t *testing.T, user string, want bool) {
	t.Helper()
	ctx := testContext(t)
	for s.team.IsSupport(ctx, user) != want {
		select {
		case <-ctx.Done():
			t.Fatalf("IsSupport(%s) never became %v", user, want)
		case <-time.After(time.Millisecond):
		}
	}
}

func TestSupportTeamFixedUsers(t *testing.T) {
	tests := []struct {
		name      string
		group     string
		members   []string
		want      map[string]bool
		wantReads int
	}{
		{name: "no group", want: map[string]bool{"UFIXED": true, "UOTHER": false, "": false}},
		{name: "fixed users need no group read", group: supportGroup, members: []string{"UMEMBER"},
			want: map[string]bool{"UFIXED": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSupportEnv(t, []string{"UFIXED"}, tt.group)
			s.srv.SetUserGroup(supportGroup, tt.members)
			s.check(t, tt.want, tt.wantReads)
		})
	}
}

func TestSupportTeamGroupCached(t *testing.T) {
	s := newSupportEnv(t, []string{"UFIXED"}, supportGroup)
	s.srv.SetUserGroup(supportGroup, []string{"UA", "UB"})
	s.check(t, map[string]bool{"UA": true}, 1)
	if got := s.srv.CallsTo("usergroups.users.list")[0].Param("usergroup"); got != supportGroup {
		t.Errorf("read group %q, want %q", got, supportGroup)
	}
	for range 10 {
		s.check(t, map[string]bool{"UA": true, "UB": true, "UC": false, "UFIXED": true}, 1)
	}
	s.noMoreReads(t, 1)

	// Within the TTL a change in Slack is not seen.
	s.srv.SetUserGroup(supportGroup, []string{"UB", "UC"})
	s.clock.Advance(groupTTL)
	s.check(t, map[string]bool{"UA": true, "UC": false}, 1)
	s.noMoreReads(t, 1)

	// Past it, the next question is answered from the cache and starts a
	// refresh in the background; its result answers the following ones.
	s.clock.Advance(time.Second)
	if s.team.IsSupport(testContext(t), "UC") {
		t.Error("IsSupport(UC) = true at once, want the cached answer while the refresh runs")
	}
	if _, err := s.srv.WaitFor(testContext(t), "usergroups.users.list", 2); err != nil {
		t.Fatal(err)
	}
	s.waitUntil(t, "UC", true)
	s.check(t, map[string]bool{"UA": false, "UB": true, "UC": true, "UFIXED": true}, 2)
	s.noMoreReads(t, 2)
}

func TestSupportTeamReadFailure(t *testing.T) {
	s := newSupportEnv(t, nil, supportGroup)
	s.srv.SetUserGroup(supportGroup, []string{"UA"})
	s.check(t, map[string]bool{"UA": true}, 1)

	// A failed refresh keeps the members last read.
	s.srv.SetUserGroup(supportGroup, []string{"UB"})
	s.srv.FailNext("usergroups.users.list", 1, fakeslack.Failure{Status: 500})
	s.clock.Advance(groupTTL + time.Second)
	if !s.team.IsSupport(testContext(t), "UA") {
		t.Error("IsSupport(UA) = false while the cache is stale, want the members last read")
	}
	s.logs.waitFor(t, slog.LevelWarn, "keeping the members last read")
	if got := s.reads(); got != 2 {
		t.Errorf("usergroups.users.list calls = %d, want 2", got)
	}

	// The next question tries again, and succeeds.
	s.waitUntil(t, "UB", true)
	s.check(t, map[string]bool{"UA": false, "UB": true}, 3)
}

func TestSupportTeamFailsClosed(t *testing.T) {
	tests := []struct {
		name    string
		failure fakeslack.Failure
		group   string // read instead of supportGroup
	}{
		{name: "server error", failure: fakeslack.Failure{Status: 500}},
		{name: "rate limited", failure: fakeslack.Failure{Status: 429, RetryAfter: 30}},
		{name: "slack error", failure: fakeslack.Failure{SlackError: "missing_scope"}},
		{name: "unknown group", group: "S0UNKNOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			group := supportGroup
			if tt.group != "" {
				group = tt.group
			}
			s := newSupportEnv(t, []string{"UFIXED"}, group)
			s.srv.SetUserGroup(supportGroup, []string{"UA"})
			if tt.group == "" {
				s.srv.FailNext("usergroups.users.list", 1, tt.failure)
			}
			s.check(t, map[string]bool{"UA": false, "UFIXED": true}, 1)
			if logged := s.logs.messages(slog.LevelWarn); len(logged) != 1 {
				t.Errorf("warnings = %q, want one", logged)
			}
			if tt.group == "" {
				// Never read yet: the next question reads the group again.
				s.check(t, map[string]bool{"UA": true}, 2)
			}
		})
	}
}
