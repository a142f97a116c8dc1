package bot

import (
	"context"
	"fmt"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
)

// HostedZoneProvisioner does the Astro side of private hosted zone
// associations in AWS: it checks that the cluster VPC resolves private zones
// (DNS support and DNS hostnames on; support is alerted when not: that is
// Astro's side), associates the customer's zone with the cluster VPC once its
// account has authorized it (waiting for the authorization while Route 53
// says it is missing), follows the change until Route 53 has applied it, and
// watches every associated zone with one ListHostedZonesByVPC call per
// cluster each cycle. Cleanup disassociates the zone of a cancelled request.
type HostedZoneProvisioner struct {
	aws      *cloud.Zones
	clusters ClusterSource
	rec      *Recorder
}

// NewHostedZoneProvisioner returns the provisioner of private hosted zone
// associations made with aws.
func NewHostedZoneProvisioner(aws *cloud.Zones, clusters ClusterSource, rec *Recorder) *HostedZoneProvisioner {
	return &HostedZoneProvisioner{aws: aws, clusters: clusters, rec: rec}
}

// Advance associates the zone of every newly approved request, and follows
// the change of every request associating until Route 53 has applied it. An
// approved request that raised an alert (the VPC's DNS attributes are off, or
// AWS refused a call) is retried by Watch, once per cycle.
func (p *HostedZoneProvisioner) Advance(ctx context.Context, rs []astrobot.Request) {
	dns := dnsChecks{}
	for _, r := range rs {
		switch {
		case r.Status == astrobot.StatusApproved && r.LastAlert == "":
			p.associate(ctx, r, dns)
		case r.Status == astrobot.StatusAssociating:
			p.follow(ctx, r, dns)
		}
	}
}

// Watch tries again the association of every request waiting for its
// authorization or held by an alert, and checks that every associated zone is
// still associated, with one ListHostedZonesByVPC call per cluster.
func (p *HostedZoneProvisioner) Watch(ctx context.Context, rs []astrobot.Request) {
	dns := dnsChecks{}
	active := map[string][]astrobot.Request{}
	for _, r := range rs {
		switch {
		case r.Status == astrobot.StatusWaitingAuthorization, r.Status == astrobot.StatusApproved && r.LastAlert != "":
			p.associate(ctx, r, dns)
		case r.Status == astrobot.StatusActive:
			active[r.ClusterID] = append(active[r.ClusterID], r)
		}
	}
	for _, members := range active {
		cl, ok := p.rec.Cluster(ctx, p.clusters, members[0])
		if !ok {
			continue
		}
		zones, err := p.aws.Associated(ctx, cl)
		if err != nil {
			p.rec.log.Warn("listing the zones of a cluster VPC failed; retrying next cycle", "cluster", cl.ID, "err", err)
			if cloud.IsPermission(err) {
				for _, r := range members {
					p.rec.Trouble(ctx, r, err)
				}
			}
			continue
		}
		for _, r := range members {
			spec, _ := r.Spec.(astrobot.HostedZoneSpec)
			if _, ok := zones[spec.ZoneID]; !ok {
				p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActDelete, Note: fmt.Sprintf(
					":rotating_light: The hosted zone %s was disassociated from the cluster VPC %s outside astrobot: the cluster no longer resolves %s.",
					spec.ZoneID, cl.VPCID, spec.Domain)})
			}
		}
	}
}

// dnsChecks keeps, for one pass, whether the VPC of each cluster resolves
// private zones, so that a cluster's attributes are read once per pass.
type dnsChecks map[string]cloud.VPCDNS

// dnsReady reports whether the VPC of cl, r's cluster, resolves private
// zones; when it does not, support is alerted on r.
func (p *HostedZoneProvisioner) dnsReady(ctx context.Context, cl astrobot.Cluster, r astrobot.Request, checks dnsChecks) bool {
	dns, ok := checks[cl.ID]
	if !ok {
		var err error
		if dns, err = p.aws.DNSSettings(ctx, cl); err != nil {
			p.rec.Trouble(ctx, r, err)
			return false
		}
		checks[cl.ID] = dns
	}
	if dns.OK() {
		return true
	}
	p.rec.Alert(ctx, r, fmt.Sprintf(":rotating_light: The VPC %s of cluster %s (account %s, %s) has %s off, so no private hosted zone resolves in it: turn it on (aws ec2 modify-vpc-attribute --vpc-id %s --enable-dns-hostnames Value=true, and --enable-dns-support). The request stays %s; the bot checks again every cycle.",
		cl.VPCID, cl.ID, cl.AccountID, cl.Region, dns.Missing(), cl.VPCID, r.Status.Label()))
	return false
}

// associate associates the zone of r, approved or waiting for the
// authorization, with its cluster's VPC.
func (p *HostedZoneProvisioner) associate(ctx context.Context, r astrobot.Request, checks dnsChecks) {
	cl, ok := p.rec.Cluster(ctx, p.clusters, r)
	if !ok || !p.dnsReady(ctx, cl, r, checks) {
		return
	}
	a, ok := p.tryAssociate(ctx, cl, r)
	if !ok {
		return
	}
	if !a.Authorized {
		if r.Status == astrobot.StatusApproved {
			p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActAwaitAuthorization})
		}
		return // the reminders tell the customer again once per SLA window
	}
	var details map[string]string
	if a.ChangeID != "" {
		details = map[string]string{astrobot.DetailChange: a.ChangeID}
	}
	got, ok := p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActAuthorized, Details: details})
	if !ok {
		// The request moved while the zone was being associated (cancelled,
		// most likely): nobody will follow this association, so it must not
		// stay.
		spec, _ := r.Spec.(astrobot.HostedZoneSpec)
		if err := p.aws.Disassociate(ctx, cl, spec.ZoneID); err != nil {
			p.rec.log.Error("disassociating an orphaned zone failed; disassociate it by hand", "request", r.Ref(), "zone", spec.ZoneID, "err", err)
		}
		return
	}
	if a.InSync {
		p.associated(ctx, cl, got)
	}
}

// tryAssociate calls Associate for r: a refusal that retrying cannot cure
// fails r, any other error is Trouble. It reports whether to go on.
func (p *HostedZoneProvisioner) tryAssociate(ctx context.Context, cl astrobot.Cluster, r astrobot.Request) (cloud.Association, bool) {
	a, err := p.aws.Associate(ctx, cl, r)
	switch astrobot.ErrorCodeOf(err) {
	case "":
		return a, true
	case astrobot.EConflict:
		p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActFail, Note: astrobot.ErrorMessageOf(err)})
	default:
		p.rec.Trouble(ctx, r, err)
	}
	return a, false
}

// follow moves r, associating, to active once Route 53 has applied its
// change. A request associating without a change (support recorded the
// authorization by hand) is associated first.
func (p *HostedZoneProvisioner) follow(ctx context.Context, r astrobot.Request, checks dnsChecks) {
	cl, ok := p.rec.Cluster(ctx, p.clusters, r)
	if !ok {
		return
	}
	change := r.Details[astrobot.DetailChange]
	if change == "" {
		if !p.dnsReady(ctx, cl, r, checks) {
			return
		}
		a, ok := p.tryAssociate(ctx, cl, r)
		switch {
		case !ok:
		case !a.Authorized:
			spec, _ := r.Spec.(astrobot.HostedZoneSpec)
			p.rec.Alert(ctx, r, fmt.Sprintf(":rotating_light: Route 53 says account %s has not authorized the association of %s with the VPC %s, so astrobot cannot associate it. The request stays associating; the bot retries every few seconds.",
				spec.AccountID, spec.ZoneID, cl.VPCID))
		case a.InSync:
			p.associated(ctx, cl, r)
		}
		return // a new association is found associated on the next pass
	}
	done, err := p.aws.Change(ctx, cl, r, change)
	switch {
	case astrobot.ErrorCodeOf(err) == astrobot.EConflict:
		p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActFail, Note: astrobot.ErrorMessageOf(err)})
	case err != nil:
		p.rec.Trouble(ctx, r, err)
	case done:
		p.associated(ctx, cl, r)
	}
}

// associated records that the zone of r is associated with the VPC of cl
// and applied, after checking that the VPC lists it, under its name.
func (p *HostedZoneProvisioner) associated(ctx context.Context, cl astrobot.Cluster, r astrobot.Request) {
	spec, _ := r.Spec.(astrobot.HostedZoneSpec)
	zones, err := p.aws.Associated(ctx, cl)
	if err != nil {
		p.rec.Trouble(ctx, r, err)
		return
	}
	zone, ok := zones[spec.ZoneID]
	if !ok {
		p.rec.Alert(ctx, r, fmt.Sprintf(":rotating_light: Route 53 has applied the association of %s, but does not list the zone on the VPC %s. The request stays %s; the bot looks again every few seconds.",
			spec.ZoneID, cl.VPCID, r.Status.Label()))
		return
	}
	note := ""
	if zone.Name != spec.Domain {
		note = fmt.Sprintf(":warning: The zone %s is named %s in Route 53, not %s as the request says: the cluster resolves the names of %s.", spec.ZoneID, zone.Name, spec.Domain, zone.Name)
	}
	p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActAssociated, Resource: spec.ZoneID, Note: note})
}

// Cleanup disassociates the zone of a cancelled request from its cluster's
// VPC.
func (p *HostedZoneProvisioner) Cleanup(ctx context.Context, r astrobot.Request) error {
	cl, err := p.clusters.Cluster(ctx, r.ClusterID)
	if err != nil {
		return err
	}
	return p.aws.Disassociate(ctx, cl, r.Resource)
}
