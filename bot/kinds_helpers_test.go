package bot

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/internal/fakeaws"
)

// What the watcher tests of every kind share, on watchEnv: wiring a kind's
// provisioner, filing its requests, and the checks that are the same for
// every provisioner (a call denied, a crash between creating a resource and
// storing its ID, a request cancelled while its resource is made, one call
// per account and region, an empty jobs queue).

// provision makes p, the provisioner of kind, the only one of e's watcher
// and of the jobs worker its tests make.
func (e *watchEnv) provision(kind astrobot.Kind, p Provisioner) {
	e.provisioners = map[astrobot.Kind]Provisioner{kind: p}
	e.w = NewWatcher(e.db, e.provisioners, time.Minute, e.log)
}

// fileApproved files a request of testUser for spec on cl, straight into the
// store, and approves it as support.
func (e *watchEnv) fileApproved(t *testing.T, cl astrobot.Cluster, spec astrobot.Spec) astrobot.Request {
	t.Helper()
	r, created, err := e.db.CreateRequest(testContext(t), astrobot.Request{
		Requester: astrobot.Requester{UserID: testUser, TeamID: testTeam, ChannelID: testChannel},
		ClusterID: cl.ID,
		Kind:      spec.Kind(),
		Spec:      spec,
	}, "")
	if err != nil || !created {
		t.Fatalf("file a %s request for %s: created=%v err=%v", spec.Kind(), cl.ID, created, err)
	}
	return e.apply(t, r.ID, astrobot.Change{Action: astrobot.ActApprove, Actor: testSupportUser, Role: astrobot.RoleSupport})
}

// actionsSince returns the actions of id's events after the first n.
func (e *watchEnv) actionsSince(t *testing.T, id astrobot.RequestID, n int) []astrobot.Action {
	t.Helper()
	return actionsOf(e.since(t, id, n))
}

// checkDenied makes aws refuse action with denied for three cycles of
// Advance and Watch and checks that request r stays in stays with one alert
// naming grants, the error's code and the account and region, and that the
// call was tried every cycle; then, once aws answers again, that r moves on
// to after.
func (e *watchEnv) checkDenied(t *testing.T, aws *fakeaws.Server, r astrobot.Request, action string, denied fakeaws.Failure, stays astrobot.Status, grants []string, after astrobot.Status) {
	t.Helper()
	aws.Fail(action, denied)
	for range 3 {
		e.clock.Advance(time.Minute)
		e.advance(t)
		e.watch(t)
	}
	if got, _ := e.history(t, r.ID); got.Status != stays {
		t.Fatalf("status with %s denied = %s, want %s\nlogs:\n%s", action, got.Status, stays, e.logs.dump())
	}
	alerts := e.alerts(t, r.ID)
	if len(alerts) != 1 {
		t.Fatalf("%d alerts over three cycles, want 1: %+v", len(alerts), alerts)
	}
	for _, s := range append(slices.Clone(grants), denied.Code, "account "+watchAccount+", us-east-1") {
		if !strings.Contains(alerts[0].Note, s) {
			t.Errorf("alert %q lacks %q", alerts[0].Note, s)
		}
	}
	if n := aws.Count(action); n < 3 {
		t.Errorf("%s was tried %d times in three cycles, want every cycle", action, n)
	}
	aws.Heal(action)
	e.watch(t)
	e.advance(t)
	if got, _ := e.history(t, r.ID); got.Status != after {
		t.Errorf("once granted: %s, want %s", got.Status, after)
	}
}

// checkResumed runs the round of Advance after a crash between the creation
// of first, the resource of request r, and the storing of its ID, and checks
// that r is pending acceptance with first: found again, not made twice.
func (e *watchEnv) checkResumed(t *testing.T, r astrobot.Request, first string) {
	t.Helper()
	e.advance(t)
	if got, _ := e.history(t, r.ID); got.Status != astrobot.StatusPendingAcceptance || got.Resource != first {
		t.Errorf("after Advance: %s with %q, want pending_acceptance with %s made before the crash", got.Status, got.Resource, first)
	}
}

// checkCancelledMeanwhile runs a round of Advance in which request r is
// cancelled while its resource is made, and checks that r ends cancelled
// without a resource and owes no cleanup, so that the provisioner alone
// must delete what it made.
func (e *watchEnv) checkCancelledMeanwhile(t *testing.T, r astrobot.Request) {
	t.Helper()
	e.advance(t)
	if got, _ := e.history(t, r.ID); got.Status != astrobot.StatusCancelled || got.Resource != "" {
		t.Fatalf("request: %s with %q, want cancelled without a resource", got.Status, got.Resource)
	}
	if js := e.dueJobs(t); len(js) != 0 {
		t.Fatalf("jobs %+v: this test assumes the cancellation owes none", js)
	}
}

// watchRegions runs one Watch and returns the regions, sorted, of the calls
// to action that aws answered meanwhile.
func (e *watchEnv) watchRegions(t *testing.T, aws *fakeaws.Server, action string) []string {
	t.Helper()
	before := len(aws.Regions(action))
	e.watch(t)
	got := aws.Regions(action)[before:]
	slices.Sort(got)
	return got
}

// checkJobsDone fails the test unless the jobs queue is empty, with no dead
// letter.
func (e *watchEnv) checkJobsDone(t *testing.T) {
	t.Helper()
	if st := e.jobStats(t); st.Depth != 0 || st.DeadLetters != 0 {
		t.Errorf("jobs queue = %+v, want empty with no dead letters", st)
	}
}

// watchTo runs one Watch and checks that request r is then in want, its last
// event's note containing note; it returns r and its events.
func (e *watchEnv) watchTo(t *testing.T, r astrobot.Request, want astrobot.Status, note string) (astrobot.Request, []astrobot.Event) {
	t.Helper()
	e.watch(t)
	got, events := e.history(t, r.ID)
	if got.Status != want {
		t.Fatalf("status %s, want %s\nlogs:\n%s", got.Status, want, e.logs.dump())
	}
	if last := events[len(events)-1]; !strings.Contains(last.Note, note) {
		t.Errorf("last event %s note %q, want it to contain %q", last.Action, last.Note, note)
	}
	return got, events
}

// checkSettled runs a second Watch and checks that it adds nothing to the
// n events of request r, and that the watcher logged nothing loud.
func (e *watchEnv) checkSettled(t *testing.T, r astrobot.Request, n int) {
	t.Helper()
	e.watch(t)
	if _, again := e.history(t, r.ID); len(again) != n {
		t.Errorf("a second watch added %v", actionsOf(again[n:]))
	}
	e.noLoudLogs(t)
}

// checkThrottled runs three cycles of Advance and Watch while AWS throttles
// and checks that they add no event to any of rs and log no error.
func (e *watchEnv) checkThrottled(t *testing.T, rs ...astrobot.Request) {
	t.Helper()
	before := map[astrobot.RequestID]int{}
	for _, r := range rs {
		before[r.ID] = len(e.since(t, r.ID, 0))
	}
	for range 3 {
		e.clock.Advance(time.Minute)
		e.advance(t)
		e.watch(t)
	}
	for _, r := range rs {
		if added := e.since(t, r.ID, before[r.ID]); len(added) != 0 {
			t.Errorf("%s: throttling added %v", r.Ref(), actionsOf(added))
		}
	}
	if n := e.logs.count(slog.LevelError); n != 0 {
		t.Errorf("throttling logged %d errors, want warnings only:\n%s", n, e.logs.dump())
	}
}
