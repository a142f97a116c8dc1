package bot

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/store"
)

// Provisioner does the Astro side of one kind of request in AWS. Each kind
// in AWS mode has one, in a file of its own (peering.go); Run registers them.
type Provisioner interface {
	// Advance acts at once on requests waiting on the bot, in a status the
	// bot owns (approved, and the kind's own): it creates or configures in
	// AWS and records each change with the Recorder. It is called every few
	// seconds.
	Advance(ctx context.Context, rs []astrobot.Request)
	// Watch reads what AWS says of every request the bot follows (any
	// status after approval but the ends) and records what changed. It is
	// called every watch interval.
	Watch(ctx context.Context, rs []astrobot.Request)
	// Cleanup deletes the AWS resource of a cancelled request; the jobs
	// queue calls it, so a crash before it is done only delays it.
	Cleanup(ctx context.Context, r astrobot.Request) error
}

// WatchStore is the store's side of the watcher and the provisioners.
type WatchStore interface {
	RequestsByStatus(ctx context.Context, statuses []astrobot.Status, limit int) ([]astrobot.Request, error)
	Apply(ctx context.Context, id astrobot.RequestID, c astrobot.Change) (astrobot.Request, astrobot.Event, error)
}

// ClusterSource finds clusters; the handlers' directory implements it.
type ClusterSource interface {
	Cluster(ctx context.Context, id string) (astrobot.Cluster, error)
}

// advanceInterval is how often the watcher acts on requests waiting on the
// bot: approval should feel immediate.
const advanceInterval = 2 * time.Second

// Watcher runs the provisioners of the kinds astrobot does in AWS: every few
// seconds on the requests waiting on the bot, every interval on all it
// follows. It is safe to run with a single leader only.
type Watcher struct {
	store        WatchStore
	provisioners map[astrobot.Kind]Provisioner
	interval     time.Duration
	log          *slog.Logger
}

// NewWatcher returns a watcher of the kinds of provisioners.
func NewWatcher(store WatchStore, provisioners map[astrobot.Kind]Provisioner, interval time.Duration, log *slog.Logger) *Watcher {
	return &Watcher{store: store, provisioners: provisioners, interval: interval, log: log}
}

// Run advances and watches until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	advance := time.NewTicker(advanceInterval)
	defer advance.Stop()
	watch := time.NewTicker(w.interval)
	defer watch.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-advance.C:
			if err := w.Advance(ctx); err != nil {
				w.log.Error("advancing requests failed", "err", err)
			}
		case <-watch.C:
			if err := w.Watch(ctx); err != nil {
				w.log.Error("watching requests failed", "err", err)
			}
		}
	}
}

// Advance hands every provisioner the requests of its kind waiting on the bot.
func (w *Watcher) Advance(ctx context.Context) error {
	return w.each(ctx, func(d astrobot.KindDef, st astrobot.State) bool { return st.Owner == astrobot.OwnerBot },
		Provisioner.Advance)
}

// Watch hands every provisioner the requests of its kind it follows.
func (w *Watcher) Watch(ctx context.Context) error {
	return w.each(ctx, func(d astrobot.KindDef, st astrobot.State) bool {
		return !st.Status.Terminal() && st.Owner != astrobot.OwnerSupport
	}, Provisioner.Watch)
}

// each reads the requests in the statuses of every provisioned kind for
// which in is true, with one query, and hands each provisioner its own.
func (w *Watcher) each(ctx context.Context, in func(astrobot.KindDef, astrobot.State) bool, do func(Provisioner, context.Context, []astrobot.Request)) error {
	var statuses []astrobot.Status
	for kind := range w.provisioners {
		d, ok := astrobot.KindOf(kind)
		if !ok {
			return fmt.Errorf("watcher: no kind %q", kind)
		}
		for _, st := range d.States() {
			if in(d, st) && !slices.Contains(statuses, st.Status) {
				statuses = append(statuses, st.Status)
			}
		}
	}
	if len(statuses) == 0 {
		return nil
	}
	rs, err := w.store.RequestsByStatus(ctx, statuses, 0)
	if err != nil {
		return fmt.Errorf("watcher: %w", err)
	}
	byKind := map[astrobot.Kind][]astrobot.Request{}
	for _, r := range rs {
		if st, ok := r.State(); ok && in(r.Def(), st) {
			byKind[r.Kind] = append(byKind[r.Kind], r)
		}
	}
	for kind, group := range byKind {
		if p, ok := w.provisioners[kind]; ok {
			do(p, ctx, group)
		}
	}
	return nil
}

// runJob is the jobs queue's DoFunc: it runs the job with the provisioner of
// the request's kind and records it. A kind without one (manual mode) owes
// nothing: support deletes the resource by hand, as the card says.
func runJob(provisioners map[astrobot.Kind]Provisioner, rec *Recorder) DoFunc {
	return func(ctx context.Context, e store.Entry) error {
		j := e.Job()
		if j.Kind != astrobot.JobCleanup {
			return fmt.Errorf("job %d: unknown kind %q", e.Key, j.Kind)
		}
		p, ok := provisioners[e.Request.Kind]
		r := e.Request
		if !ok || r.Resource == "" || r.Status != astrobot.StatusCancelled {
			return nil
		}
		if err := p.Cleanup(ctx, r); err != nil {
			return fmt.Errorf("cleanup of %s: %w", r.Ref(), err)
		}
		_, _, err := rec.store.Apply(ctx, r.ID, astrobot.Change{Action: astrobot.ActCleanup, Actor: astrobot.ActorAWS, Role: astrobot.RoleBot,
			At: rec.now(), Note: "deleted " + r.Resource})
		if astrobot.ErrorCodeOf(err) == astrobot.EConflict {
			return nil // done already
		}
		return err
	}
}

// awsRetry is the jobs queue's RetryFunc: work in AWS is always tried again,
// backing off; a permission error waits for the operator.
func awsRetry(err error, attempts int) (time.Duration, bool) {
	if cloud.IsPermission(err) {
		return max(authErrorBackoff, backoff(attempts)), true
	}
	return backoff(attempts), true
}

// Recorder records what the provisioners see in AWS as changes of their
// requests, and raises alerts for support. The bot is an actor like any
// other: every move is a transition with its event and notifications.
type Recorder struct {
	store WatchStore
	now   func() time.Time
	log   *slog.Logger
}

// NewRecorder returns a Recorder writing to store.
func NewRecorder(store WatchStore, now func() time.Time, log *slog.Logger) *Recorder {
	return &Recorder{store: store, now: now, log: log}
}

// Apply records a change observed in AWS (Actor AWS unless set) and reports
// whether it was applied. A conflict means someone moved the request
// meanwhile: nothing to do.
func (rec *Recorder) Apply(ctx context.Context, r astrobot.Request, c astrobot.Change) (astrobot.Request, bool) {
	if c.Actor == "" {
		c.Actor = astrobot.ActorAWS
	}
	c.Role, c.At = astrobot.RoleBot, rec.now()
	got, _, err := rec.store.Apply(ctx, r.ID, c)
	switch astrobot.ErrorCodeOf(err) {
	case "":
		rec.log.Info("request moved", "request", r.Ref(), "action", c.Action, "status", got.Status, "resource", got.Resource)
		return got, true
	case astrobot.EConflict:
		rec.log.Debug("request moved meanwhile", "request", r.Ref(), "action", c.Action, "err", err)
	default:
		rec.log.Error("recording a change failed", "request", r.Ref(), "action", c.Action, "err", err)
	}
	return r, false
}

// Trouble handles an AWS error on r: throttling and timeouts are retried
// next cycle quietly; anything else (permissions first) leaves the request
// where it is and tells support in its thread, once per distinct message.
func (rec *Recorder) Trouble(ctx context.Context, r astrobot.Request, err error) {
	if cloud.IsThrottle(err) || ctx.Err() != nil {
		rec.log.Warn("AWS throttled or timed out; retrying next cycle", "request", r.Ref(), "err", err)
		return
	}
	rec.Alert(ctx, r, ":rotating_light: "+astrobot.ErrorMessageOf(err)+" The request stays "+r.Status.Label()+"; the bot retries every cycle.")
}

// Alert tells support about r in its thread, unless the same alert was the
// last one raised.
func (rec *Recorder) Alert(ctx context.Context, r astrobot.Request, msg string) {
	if r.LastAlert == msg {
		return
	}
	rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActAlert, Actor: astrobot.ActorBot, Note: msg})
}

// Cluster returns r's cluster, or alerts support and reports false when the
// directory does not know it.
func (rec *Recorder) Cluster(ctx context.Context, clusters ClusterSource, r astrobot.Request) (astrobot.Cluster, bool) {
	cl, err := clusters.Cluster(ctx, r.ClusterID)
	if err == nil {
		return cl, true
	}
	if astrobot.ErrorCodeOf(err) == astrobot.ENotFound {
		rec.Alert(ctx, r, fmt.Sprintf("Cluster %s is not in the cluster directory, so astrobot cannot act on %s in AWS.", r.ClusterID, r.Ref()))
	} else {
		rec.log.Warn("looking up a cluster failed; retrying next cycle", "request", r.Ref(), "cluster", r.ClusterID, "err", err)
	}
	return astrobot.Cluster{}, false
}

// Followed is a request the watcher follows in AWS, with its cluster.
type Followed struct {
	Request astrobot.Request
	Cluster astrobot.Cluster
}

// DescribeEach reads the state in AWS of the resource of every request of
// fs with describe, one call per account and region of their clusters (AWS
// answers for many IDs at once), and hands each request with the state of
// its resource to follow. what names the resources in logs ("peerings"). A
// permission error is told in the thread of every request of the group, once
// (Trouble); any other error is logged and retried next cycle.
func DescribeEach[S any](ctx context.Context, rec *Recorder, what string, fs []Followed,
	describe func(ctx context.Context, account, region string, ids []string) (map[string]S, error),
	follow func(f Followed, state S)) {
	type group struct{ account, region string }
	groups := map[group][]Followed{}
	for _, f := range fs {
		g := group{f.Cluster.AccountID, f.Cluster.Region}
		groups[g] = append(groups[g], f)
	}
	for g, members := range groups {
		ids := make([]string, len(members))
		for i, f := range members {
			ids[i] = f.Request.Resource
		}
		states, err := describe(ctx, g.account, g.region, ids)
		if err != nil {
			rec.log.Warn("describing "+what+" failed; retrying next cycle", "account", g.account, "region", g.region, "err", err)
			if cloud.IsPermission(err) {
				for _, f := range members {
					rec.Trouble(ctx, f.Request, err)
				}
			}
			continue
		}
		for _, f := range members {
			if st, ok := states[f.Request.Resource]; ok {
				follow(f, st)
			}
		}
	}
}
