package bot

import (
	"context"
	"net/netip"
	"slices"
	"strings"

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

// PeeringProvisioner does the Astro side of VPC peering in AWS: it creates
// the peering connection of each approved request, follows every watched one
// with one DescribeVpcPeeringConnections call per account and region each
// cycle, and moves requests as AWS reports: accepted → routes and DNS →
// active; failed, rejected, expired, deleted.
type PeeringProvisioner struct {
	aws      Peerer
	clusters ClusterSource
	rec      *Recorder
}

// NewPeeringProvisioner returns the provisioner of peerings made with aws.
func NewPeeringProvisioner(aws Peerer, clusters ClusterSource, rec *Recorder) *PeeringProvisioner {
	return &PeeringProvisioner{aws: aws, clusters: clusters, rec: rec}
}

// Advance creates the peering of every approved request. A peering tagged
// with the request and attempt is reused, so a crash between creating it and
// storing its ID never makes a second one.
func (p *PeeringProvisioner) Advance(ctx context.Context, rs []astrobot.Request) {
	for _, r := range rs {
		if r.Status != astrobot.StatusApproved {
			continue // configuring is retried by Watch, once per cycle
		}
		cl, ok := p.rec.Cluster(ctx, p.clusters, r)
		if !ok {
			continue
		}
		pc, err := p.aws.Create(ctx, cl, r, r.Attempt+1)
		if err != nil {
			p.rec.Trouble(ctx, r, err)
			continue
		}
		if _, ok := p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActPeeringCreated, Resource: pc.ID, ExpiresAt: pc.ExpiresAt}); !ok {
			// The request left approved while the peering was being made
			// (cancelled, most likely): nobody will follow this peering, so
			// it must not stay in AWS for the customer to accept.
			if err := p.aws.Delete(ctx, cl, pc.ID); err != nil {
				p.rec.log.Error("deleting an orphaned peering failed; delete it by hand", "request", r.Ref(), "peering", pc.ID, "err", err)
			}
		}
	}
}

// Watch reads the state of every watched peering, one describe call per
// account and region, and acts on it.
func (p *PeeringProvisioner) Watch(ctx context.Context, rs []astrobot.Request) {
	var fs []Followed
	for _, r := range rs {
		if r.Resource == "" {
			continue
		}
		if cl, ok := p.rec.Cluster(ctx, p.clusters, r); ok {
			fs = append(fs, Followed{r, cl})
		}
	}
	DescribeEach(ctx, p.rec, "peerings", fs, p.aws.Describe, func(f Followed, pc cloud.Peering) { p.follow(ctx, f.Cluster, f.Request, pc) })
}

// follow moves r as the state pc of its peering says.
func (p *PeeringProvisioner) follow(ctx context.Context, cl astrobot.Cluster, r astrobot.Request, pc cloud.Peering) {
	apply := func(c astrobot.Change) (astrobot.Request, bool) { return p.rec.Apply(ctx, r, c) }
	switch r.Status {
	case astrobot.StatusPendingAcceptance:
		switch pc.Status {
		case cloud.PeeringActive:
			if r, ok := apply(astrobot.Change{Action: astrobot.ActAccepted}); ok {
				p.configure(ctx, cl, r, pc)
			}
		case cloud.PeeringFailed:
			apply(astrobot.Change{Action: astrobot.ActFail, Note: cloud.Explain(pc)})
		case cloud.PeeringRejected:
			apply(astrobot.Change{Action: astrobot.ActDecline, Note: cloud.Explain(pc)})
		case cloud.PeeringExpired:
			apply(astrobot.Change{Action: astrobot.ActExpire, Note: cloud.Explain(pc)})
		case cloud.PeeringDeleted, cloud.PeeringDeleting:
			apply(astrobot.Change{Action: astrobot.ActFail, Note: "The peering connection " + pc.ID + " was deleted before it was accepted."})
		}
	case astrobot.StatusConfiguring:
		switch pc.Status {
		case cloud.PeeringActive:
			p.configure(ctx, cl, r, pc)
		case cloud.PeeringDeleted, cloud.PeeringDeleting, cloud.PeeringFailed:
			apply(astrobot.Change{Action: astrobot.ActFail, Note: cloud.Explain(pc)})
		}
	case astrobot.StatusActive:
		if pc.Status == cloud.PeeringDeleted || pc.Status == cloud.PeeringDeleting {
			apply(astrobot.Change{Action: astrobot.ActDelete,
				Note: ":rotating_light: The peering connection " + pc.ID + " was deleted in AWS; traffic between the VPCs has stopped."})
		}
	}
}

// configure adds the Astro side's routes and DNS option, then marks r active,
// flagging customer CIDRs AWS reports that differ from the request's.
func (p *PeeringProvisioner) configure(ctx context.Context, cl astrobot.Cluster, r astrobot.Request, pc cloud.Peering) {
	if err := p.aws.Configure(ctx, cl, r); err != nil {
		p.rec.Trouble(ctx, r, err)
		return
	}
	p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActConfigured, Note: cidrMismatch(r.Spec.Routes(), pc.AccepterCIDRs)})
}

// Cleanup deletes the pending peering of a cancelled request.
func (p *PeeringProvisioner) Cleanup(ctx context.Context, r astrobot.Request) error {
	cl, err := p.clusters.Cluster(ctx, r.ClusterID)
	if err != nil {
		return err
	}
	return p.aws.Delete(ctx, cl, r.Resource)
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
