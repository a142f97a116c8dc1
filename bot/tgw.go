package bot

import (
	"context"
	"errors"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
)

// tgwShareGrace is how long after a RAM share is accepted the transit
// gateway may take to show up in the cluster's account before the request
// fails: AWS shows it within seconds, usually.
const tgwShareGrace = 15 * time.Minute

// TransitGatewayProvisioner does the Astro side of transit gateway
// attachments in AWS: it looks for the customer's transit gateway from the
// cluster's account and accepts its RAM share invitation (waiting for the
// share while there is none), attaches the cluster VPC, follows every
// attachment with one DescribeTransitGatewayVpcAttachments call per account
// and region each cycle, routes the customer's CIDRs to the transit gateway
// once the attachment is available, and moves requests as AWS reports:
// accepted → routes → active; invitation rejected or expired; attachment
// rejected, failed, deleted.
type TransitGatewayProvisioner struct {
	aws      *cloud.TransitGateways
	clusters ClusterSource
	rec      *Recorder
}

// NewTransitGatewayProvisioner returns the provisioner of transit gateway
// attachments made with aws.
func NewTransitGatewayProvisioner(aws *cloud.TransitGateways, clusters ClusterSource, rec *Recorder) *TransitGatewayProvisioner {
	return &TransitGatewayProvisioner{aws: aws, clusters: clusters, rec: rec}
}

// Advance looks for the transit gateway of every approved request and
// attaches the cluster VPC of every request in attaching. An attachment
// tagged with the request and attempt is reused, so a crash between creating
// it and storing its ID never makes a second one.
func (p *TransitGatewayProvisioner) Advance(ctx context.Context, rs []astrobot.Request) {
	for _, r := range rs {
		if r.Status != astrobot.StatusApproved && r.Status != astrobot.StatusAttaching {
			continue // configuring is retried by Watch, once per cycle
		}
		cl, ok := p.rec.Cluster(ctx, p.clusters, r)
		if !ok {
			continue
		}
		sh, ok := p.share(ctx, cl, r)
		if !ok {
			continue
		}
		if r.Status == astrobot.StatusApproved {
			if r, ok = p.shared(ctx, cl, r, sh, true); !ok {
				continue
			}
		}
		p.attach(ctx, cl, r, sh)
	}
}

// share looks for r's transit gateway and share. A transit gateway that
// cannot serve the request fails it; an AWS error is Trouble. It reports
// whether to go on.
func (p *TransitGatewayProvisioner) share(ctx context.Context, cl astrobot.Cluster, r astrobot.Request) (cloud.Share, bool) {
	sh, err := p.aws.Share(ctx, cl, r)
	switch astrobot.ErrorCodeOf(err) {
	case "":
		return sh, true
	case astrobot.EConflict:
		p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActFail, Note: astrobot.ErrorMessageOf(err)})
	default:
		p.rec.Trouble(ctx, r, err)
	}
	return sh, false
}

// shared moves r, approved or waiting for the share, as sh says: on to
// attaching when the transit gateway is visible or its share was just
// accepted; failed or expired with a rejected or expired invitation;
// otherwise, from approved only, to waiting for the share. It returns r as
// it is then, and whether it is attaching.
func (p *TransitGatewayProvisioner) shared(ctx context.Context, cl astrobot.Cluster, r astrobot.Request, sh cloud.Share, fromApproved bool) (astrobot.Request, bool) {
	spec, _ := r.Spec.(astrobot.TransitGatewaySpec)
	switch {
	case sh.Accepted:
		return p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActShareAccepted,
			Note: "astrobot accepted the invitation to the RAM share " + shareName(*sh.Invitation) + " from account " + sh.Invitation.Sender + "."})
	case sh.TGW != nil:
		return p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActShareAccepted,
			Note: "The transit gateway " + spec.TGWID + " is visible to the cluster's account " + cl.AccountID + " already (one AWS Organization): no invitation to accept."})
	case sh.Invitation != nil && sh.Invitation.Status == cloud.InvitationRejected:
		p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActFail, Note: cloud.ExplainInvitation(*sh.Invitation, cl)})
	case sh.Invitation != nil && sh.Invitation.Status == cloud.InvitationExpired:
		p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActExpire, Note: cloud.ExplainInvitation(*sh.Invitation, cl)})
	case fromApproved:
		p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActAwaitShare})
	}
	return r, false
}

func shareName(inv cloud.Invitation) string {
	if inv.ShareName != "" {
		return inv.ShareName + " (" + inv.ShareARN + ")"
	}
	return inv.ShareARN
}

// attach attaches the cluster VPC of r, which is in attaching, to the
// transit gateway sh found, and records the attachment. A transit gateway
// still invisible is waited for a while after the share was accepted, then
// fails the request with the reason.
func (p *TransitGatewayProvisioner) attach(ctx context.Context, cl astrobot.Cluster, r astrobot.Request, sh cloud.Share) {
	spec, _ := r.Spec.(astrobot.TransitGatewaySpec)
	if sh.TGW == nil {
		if p.rec.now().Sub(r.UpdatedAt) < tgwShareGrace {
			p.rec.log.Debug("the transit gateway does not show up yet after its share was accepted", "request", r.Ref(), "tgw", spec.TGWID)
			return
		}
		p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActFail, Note: cloud.ExplainMissingTGW(spec, cl)})
		return
	}
	a, err := p.aws.Create(ctx, cl, r, r.Attempt+1, *sh.TGW)
	if detaching, ok := errors.AsType[*cloud.DetachingError](err); ok {
		p.rec.log.Info("waiting for an earlier attachment to go away", "request", r.Ref(), "attachment", detaching.ID, "state", detaching.State)
		return
	}
	if err != nil {
		p.rec.Trouble(ctx, r, err)
		return
	}
	acceptance := "required"
	if sh.TGW.AutoAccept || sh.TGW.Owner == cl.AccountID || a.State == cloud.AttachmentPending || a.State == cloud.AttachmentAvailable {
		acceptance = "automatic"
	}
	if _, ok := p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActAttachmentCreated, Resource: a.ID,
		Details: map[string]string{astrobot.DetailAcceptance: acceptance}}); !ok {
		// The request left attaching while the attachment was being made
		// (cancelled, most likely): nobody will follow this attachment, so
		// it must not stay in AWS for the customer to accept.
		if err := p.aws.DeleteAttachment(ctx, cl, a.ID); err != nil {
			p.rec.log.Error("deleting an orphaned attachment failed; delete it by hand", "request", r.Ref(), "attachment", a.ID, "err", err)
		}
	}
}

// Watch looks again for the transit gateway of every request waiting for
// the share, and reads the state of every attachment followed, one describe
// call per account and region, and acts on it.
func (p *TransitGatewayProvisioner) Watch(ctx context.Context, rs []astrobot.Request) {
	type group struct{ account, region string }
	groups := map[group][]astrobot.Request{}
	clusters := map[string]astrobot.Cluster{}
	for _, r := range rs {
		followed := r.Status == astrobot.StatusPendingAcceptance || r.Status == astrobot.StatusConfiguring || r.Status == astrobot.StatusActive
		if r.Status != astrobot.StatusWaitingShare && !(followed && r.Resource != "") {
			continue // approved and attaching are Advance's
		}
		cl, ok := p.rec.Cluster(ctx, p.clusters, r)
		if !ok {
			continue
		}
		if r.Status == astrobot.StatusWaitingShare {
			if sh, ok := p.share(ctx, cl, r); ok {
				p.shared(ctx, cl, r, sh, false) // Advance attaches next
			}
			continue
		}
		clusters[r.ClusterID] = cl
		g := group{cl.AccountID, cl.Region}
		groups[g] = append(groups[g], r)
	}
	for g, members := range groups {
		ids := make([]string, len(members))
		for i, r := range members {
			ids[i] = r.Resource
		}
		states, err := p.aws.Describe(ctx, g.account, g.region, ids)
		if err != nil {
			p.rec.log.Warn("describing transit gateway attachments failed; retrying next cycle", "account", g.account, "region", g.region, "err", err)
			if cloud.IsPermission(err) {
				for _, r := range members {
					p.rec.Trouble(ctx, r, err)
				}
			}
			continue
		}
		for _, r := range members {
			if a, ok := states[r.Resource]; ok {
				p.follow(ctx, clusters[r.ClusterID], r, a)
			}
		}
	}
}

// follow moves r as the state of its attachment says.
func (p *TransitGatewayProvisioner) follow(ctx context.Context, cl astrobot.Cluster, r astrobot.Request, a cloud.Attachment) {
	apply := func(c astrobot.Change) (astrobot.Request, bool) { return p.rec.Apply(ctx, r, c) }
	switch r.Status {
	case astrobot.StatusPendingAcceptance:
		switch a.State {
		case cloud.AttachmentAvailable:
			if r, ok := apply(astrobot.Change{Action: astrobot.ActAccepted}); ok {
				p.configure(ctx, cl, r)
			}
		case cloud.AttachmentRejecting, cloud.AttachmentRejected:
			apply(astrobot.Change{Action: astrobot.ActDecline, Note: cloud.ExplainAttachment(a)})
		case cloud.AttachmentFailing, cloud.AttachmentFailed, cloud.AttachmentRollingBack:
			apply(astrobot.Change{Action: astrobot.ActFail, Note: cloud.ExplainAttachment(a)})
		case cloud.AttachmentDeleting, cloud.AttachmentDeleted:
			apply(astrobot.Change{Action: astrobot.ActFail, Note: "The attachment " + a.ID + " was deleted in AWS before it was accepted. Support can retry the request, which makes a new attachment."})
		}
	case astrobot.StatusConfiguring:
		switch {
		case a.State == cloud.AttachmentAvailable || a.State == cloud.AttachmentModifying:
			p.configure(ctx, cl, r)
		case a.State.Ended():
			apply(astrobot.Change{Action: astrobot.ActFail, Note: cloud.ExplainAttachment(a)})
		}
	case astrobot.StatusActive:
		if a.State.Ended() {
			apply(astrobot.Change{Action: astrobot.ActDelete,
				Note: ":rotating_light: " + cloud.ExplainAttachment(a) + " The cluster no longer reaches the networks behind the transit gateway."})
		}
	}
}

// configure adds the Astro side's routes, then marks r active.
func (p *TransitGatewayProvisioner) configure(ctx context.Context, cl astrobot.Cluster, r astrobot.Request) {
	if err := p.aws.Configure(ctx, cl, r); err != nil {
		p.rec.Trouble(ctx, r, err)
		return
	}
	p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActConfigured})
}

// Cleanup takes down the routes and the attachment of a cancelled request.
func (p *TransitGatewayProvisioner) Cleanup(ctx context.Context, r astrobot.Request) error {
	cl, err := p.clusters.Cluster(ctx, r.ClusterID)
	if err != nil {
		return err
	}
	return p.aws.Cleanup(ctx, cl, r)
}
