package bot

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
)

// Peerer is the AWS side of a peering; cloud.Peerings implements it.
type Peerer interface {
	Create(ctx context.Context, cluster astrobot.Cluster, r astrobot.Request, attempt int) (cloud.Peering, error)
	Describe(ctx context.Context, account, region string, ids []string) (map[string]cloud.Peering, error)
	Configure(ctx context.Context, cluster astrobot.Cluster, r astrobot.Request) error
	Delete(ctx context.Context, cluster astrobot.Cluster, pcxID string) error
}

// PeeringStore is the store's side of the watcher.
type PeeringStore interface {
	RequestsByStatus(ctx context.Context, statuses []astrobot.Status, limit int) ([]astrobot.Request, error)
	Apply(ctx context.Context, id astrobot.RequestID, c astrobot.Change) (astrobot.Request, astrobot.Event, error)
}

// ClusterSource lists the clusters; the handlers' directory implements it.
type ClusterSource interface {
	Clusters(ctx context.Context) ([]astrobot.Cluster, error)
}

// createInterval is how often the watcher looks for approved requests to
// create peerings for: approval should feel immediate.
const createInterval = 2 * time.Second

// Watcher does the provider side of peerings in AWS: it creates the peering
// of each approved request, follows every watched peering with one
// DescribeVpcPeeringConnections call per account and region each cycle, and
// moves requests as AWS reports: accepted → routes and DNS → active; failed,
// rejected, expired, deleted. It is an actor like any other: every move is a
// transition with its event and notifications. It is safe to run with a
// single leader only.
type Watcher struct {
	store    PeeringStore
	aws      Peerer
	clusters ClusterSource
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger
}

// NewWatcher returns a watcher describing peerings every interval.
func NewWatcher(store PeeringStore, aws Peerer, clusters ClusterSource, interval time.Duration, now func() time.Time, log *slog.Logger) *Watcher {
	return &Watcher{store: store, aws: aws, clusters: clusters, interval: interval, now: now, log: log}
}

// Run creates and watches peerings until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	create := time.NewTicker(createInterval)
	defer create.Stop()
	watch := time.NewTicker(w.interval)
	defer watch.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-create.C:
			if err := w.CreateApproved(ctx); err != nil {
				w.log.Error("creating peerings failed", "err", err)
			}
		case <-watch.C:
			if err := w.Watch(ctx); err != nil {
				w.log.Error("watching peerings failed", "err", err)
			}
		}
	}
}

// clusterIndex maps cluster IDs to clusters.
func (w *Watcher) clusterIndex(ctx context.Context) (map[string]astrobot.Cluster, error) {
	cs, err := w.clusters.Clusters(ctx)
	if err != nil {
		return nil, fmt.Errorf("watcher: clusters: %w", err)
	}
	m := make(map[string]astrobot.Cluster, len(cs))
	for _, c := range cs {
		m[c.ID] = c
	}
	return m, nil
}

// CreateApproved creates the peering of every approved request. A peering
// tagged with the request and attempt is reused, so a crash between creating
// it and storing its ID never makes a second one.
func (w *Watcher) CreateApproved(ctx context.Context) error {
	rs, err := w.store.RequestsByStatus(ctx, []astrobot.Status{astrobot.StatusApproved}, 0)
	if err != nil || len(rs) == 0 {
		return err
	}
	clusters, err := w.clusterIndex(ctx)
	if err != nil {
		return err
	}
	for _, r := range rs {
		cl, ok := clusters[r.ClusterID]
		if !ok {
			w.alert(ctx, r, fmt.Sprintf("Cluster %s is not in the cluster directory, so its peering cannot be created.", r.ClusterID))
			continue
		}
		p, err := w.aws.Create(ctx, cl, r, r.Attempt+1)
		if err != nil {
			w.awsTrouble(ctx, r, err)
			continue
		}
		if _, ok := w.apply(ctx, r, astrobot.Change{Action: astrobot.ActPeeringCreated, PeeringID: p.ID, ExpiresAt: p.ExpiresAt}); !ok {
			// The request left approved while the peering was being made
			// (cancelled, most likely): nobody will follow this peering, so
			// it must not stay in AWS for the customer to accept.
			if err := w.aws.Delete(ctx, cl, p.ID); err != nil {
				w.log.Error("deleting an orphaned peering failed; delete it by hand", "request", r.ID.String(), "peering", p.ID, "err", err)
			}
		}
	}
	return nil
}

// Watch reads the state of every watched peering, one describe call per
// account and region, and acts on it.
func (w *Watcher) Watch(ctx context.Context) error {
	rs, err := w.store.RequestsByStatus(ctx, []astrobot.Status{astrobot.StatusPendingAcceptance, astrobot.StatusConfiguring, astrobot.StatusActive}, 0)
	if err != nil || len(rs) == 0 {
		return err
	}
	clusters, err := w.clusterIndex(ctx)
	if err != nil {
		return err
	}
	type group struct{ account, region string }
	groups := map[group][]astrobot.Request{}
	for _, r := range rs {
		cl, ok := clusters[r.ClusterID]
		if !ok || r.PeeringID == "" {
			continue
		}
		g := group{cl.AccountID, cl.Region}
		groups[g] = append(groups[g], r)
	}
	for g, members := range groups {
		ids := make([]string, len(members))
		for i, r := range members {
			ids[i] = r.PeeringID
		}
		states, err := w.aws.Describe(ctx, g.account, g.region, ids)
		if err != nil {
			w.log.Warn("describing peerings failed; retrying next cycle", "account", g.account, "region", g.region, "err", err)
			if cloud.IsPermission(err) {
				for _, r := range members {
					w.awsTrouble(ctx, r, err)
				}
			}
			continue
		}
		for _, r := range members {
			if p, ok := states[r.PeeringID]; ok {
				w.follow(ctx, clusters[r.ClusterID], r, p)
			}
		}
	}
	return nil
}

// follow moves r as the state p of its peering says.
func (w *Watcher) follow(ctx context.Context, cl astrobot.Cluster, r astrobot.Request, p cloud.Peering) {
	switch r.Status {
	case astrobot.StatusPendingAcceptance:
		switch p.Status {
		case cloud.PeeringActive:
			if r, ok := w.apply(ctx, r, astrobot.Change{Action: astrobot.ActAccepted}); ok {
				w.configure(ctx, cl, r, p)
			}
		case cloud.PeeringFailed:
			w.apply(ctx, r, astrobot.Change{Action: astrobot.ActFail, Note: cloud.Explain(p)})
		case cloud.PeeringRejected:
			w.apply(ctx, r, astrobot.Change{Action: astrobot.ActDecline, Note: cloud.Explain(p)})
		case cloud.PeeringExpired:
			w.apply(ctx, r, astrobot.Change{Action: astrobot.ActExpire, Note: cloud.Explain(p)})
		case cloud.PeeringDeleted, cloud.PeeringDeleting:
			w.apply(ctx, r, astrobot.Change{Action: astrobot.ActFail, Note: "The peering connection " + p.ID + " was deleted before it was accepted."})
		}
	case astrobot.StatusConfiguring:
		switch p.Status {
		case cloud.PeeringActive:
			w.configure(ctx, cl, r, p)
		case cloud.PeeringDeleted, cloud.PeeringDeleting, cloud.PeeringFailed:
			w.apply(ctx, r, astrobot.Change{Action: astrobot.ActFail, Note: cloud.Explain(p)})
		}
	case astrobot.StatusActive:
		if p.Status == cloud.PeeringDeleted || p.Status == cloud.PeeringDeleting {
			w.apply(ctx, r, astrobot.Change{Action: astrobot.ActDelete,
				Note: ":rotating_light: The peering connection " + p.ID + " was deleted in AWS; traffic between the VPCs has stopped."})
		}
	}
}

// configure adds the Astro side's routes and DNS option, then marks r active,
// flagging customer CIDRs AWS reports that differ from the request's.
func (w *Watcher) configure(ctx context.Context, cl astrobot.Cluster, r astrobot.Request, p cloud.Peering) {
	if err := w.aws.Configure(ctx, cl, r); err != nil {
		w.awsTrouble(ctx, r, err)
		return
	}
	w.apply(ctx, r, astrobot.Change{Action: astrobot.ActConfigured, Note: cidrMismatch(r.Peer.CIDRs, p.AccepterCIDRs)})
}

// cidrMismatch describes how the CIDRs AWS reports for the customer's VPC
// differ from those in the request, or returns "" when they agree (or AWS
// reported none).
func cidrMismatch(asked, seen []netip.Prefix) string {
	if len(seen) == 0 {
		return ""
	}
	var missing, extra []string
	for _, p := range asked {
		if !slices.Contains(seen, p) {
			missing = append(missing, p.String())
		}
	}
	for _, p := range seen {
		if !slices.Contains(asked, p) {
			extra = append(extra, p.String())
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	msg := ":warning: The customer VPC's CIDRs in AWS differ from the request."
	if len(extra) > 0 {
		msg += " Not in the request (no Astro route to them): " + strings.Join(extra, ", ") + "."
	}
	if len(missing) > 0 {
		msg += " In the request but not on the VPC: " + strings.Join(missing, ", ") + "."
	}
	return msg
}

// Cleanup deletes the pending peering of a cancelled request and records it.
// The outbox calls it, so a crash before it is done only delays it.
func (w *Watcher) Cleanup(ctx context.Context, r astrobot.Request) error {
	if r.PeeringID == "" || r.Status != astrobot.StatusCancelled {
		return nil
	}
	clusters, err := w.clusterIndex(ctx)
	if err != nil {
		return err
	}
	cl, ok := clusters[r.ClusterID]
	if !ok {
		return fmt.Errorf("cleanup of %s: cluster %s is not in the directory", r.ID, r.ClusterID)
	}
	if err := w.aws.Delete(ctx, cl, r.PeeringID); err != nil {
		return fmt.Errorf("cleanup of %s: %w", r.ID, err)
	}
	_, _, err = w.store.Apply(ctx, r.ID, astrobot.Change{Action: astrobot.ActCleanup, Actor: astrobot.ActorAWS, Role: astrobot.RoleBot,
		At: w.now(), Note: "deleted " + r.PeeringID})
	if astrobot.ErrorCodeOf(err) == astrobot.EConflict {
		return nil // already cleaned up
	}
	return err
}

// apply records a change observed in AWS. A conflict means someone moved the
// request meanwhile: nothing to do.
func (w *Watcher) apply(ctx context.Context, r astrobot.Request, c astrobot.Change) (astrobot.Request, bool) {
	if c.Actor == "" {
		c.Actor = astrobot.ActorAWS
	}
	c.Role, c.At = astrobot.RoleBot, w.now()
	got, _, err := w.store.Apply(ctx, r.ID, c)
	switch astrobot.ErrorCodeOf(err) {
	case "":
		w.log.Info("peering moved", "request", r.ID.String(), "action", c.Action, "status", got.Status, "peering", got.PeeringID)
		return got, true
	case astrobot.EConflict:
		w.log.Debug("request moved meanwhile", "request", r.ID.String(), "action", c.Action, "err", err)
	default:
		w.log.Error("recording a peering change failed", "request", r.ID.String(), "action", c.Action, "err", err)
	}
	return r, false
}

// awsTrouble handles an AWS error on r: throttling and timeouts are retried
// next cycle quietly; anything else (permissions first) leaves the request
// where it is and tells support in its thread, once per distinct message.
func (w *Watcher) awsTrouble(ctx context.Context, r astrobot.Request, err error) {
	if cloud.IsThrottle(err) || ctx.Err() != nil {
		w.log.Warn("AWS throttled or timed out; retrying next cycle", "request", r.ID.String(), "err", err)
		return
	}
	w.alert(ctx, r, ":rotating_light: "+astrobot.ErrorMessageOf(err)+" The request stays "+strings.ReplaceAll(string(r.Status), "_", " ")+"; the bot retries every cycle.")
}

// alert tells support about r in its thread, unless the same alert was the
// last one raised.
func (w *Watcher) alert(ctx context.Context, r astrobot.Request, msg string) {
	if r.LastAlert == msg {
		return
	}
	w.apply(ctx, r, astrobot.Change{Action: astrobot.ActAlert, Actor: astrobot.ActorBot, Note: msg})
}
