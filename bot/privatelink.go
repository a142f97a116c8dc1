package bot

import (
	"context"
	"fmt"
	"strings"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
)

// PrivateLinkProvisioner does the Astro side of PrivateLink requests in AWS:
// it checks that the customer's endpoint service is visible to the cluster's
// account (waiting for the allow-list while it is not), creates the interface
// endpoint in the cluster VPC, follows every endpoint with one
// DescribeVpcEndpoints call per account and region each cycle, turns on
// private DNS once the connection is accepted when it was asked for and the
// service's name is verified, and moves requests as AWS reports: accepted →
// active; rejected, failed, expired, deleted.
type PrivateLinkProvisioner struct {
	aws      *cloud.PrivateLinks
	clusters ClusterSource
	rec      *Recorder
}

// NewPrivateLinkProvisioner returns the provisioner of PrivateLink endpoints
// made with aws.
func NewPrivateLinkProvisioner(aws *cloud.PrivateLinks, clusters ClusterSource, rec *Recorder) *PrivateLinkProvisioner {
	return &PrivateLinkProvisioner{aws: aws, clusters: clusters, rec: rec}
}

// Advance checks the endpoint service of every approved request and creates
// the endpoint of every request in creating. An endpoint tagged with the
// request and attempt is reused, so a crash between creating it and storing
// its ID never makes a second one.
func (p *PrivateLinkProvisioner) Advance(ctx context.Context, rs []astrobot.Request) {
	for _, r := range rs {
		if r.Status != astrobot.StatusApproved && r.Status != astrobot.StatusCreating {
			continue
		}
		cl, ok := p.rec.Cluster(ctx, p.clusters, r)
		if !ok {
			continue
		}
		chk, ok := p.check(ctx, cl, r)
		if !ok {
			continue
		}
		if r.Status == astrobot.StatusApproved {
			if !chk.Visible {
				p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActAwaitAllowlist})
				continue
			}
			if r, ok = p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActServiceVisible}); !ok {
				continue
			}
		} else if !chk.Visible {
			spec, _ := r.Spec.(astrobot.PrivateLinkSpec)
			p.rec.Alert(ctx, r, fmt.Sprintf(":rotating_light: The endpoint service %s is no longer visible to account %s (was the cluster's account removed from its allowed principals?), so astrobot cannot create the endpoint. The request stays creating; the bot retries every cycle.",
				spec.ServiceName, cl.AccountID))
			continue
		}
		p.create(ctx, cl, r, chk)
	}
}

// check looks up r's endpoint service. A service that cannot serve the
// cluster fails r; an AWS error is Trouble. It reports whether to go on.
func (p *PrivateLinkProvisioner) check(ctx context.Context, cl astrobot.Cluster, r astrobot.Request) (cloud.Check, bool) {
	chk, err := p.aws.Check(ctx, cl, r)
	switch astrobot.ErrorCodeOf(err) {
	case "":
		return chk, true
	case astrobot.EConflict:
		p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActFail, Note: astrobot.ErrorMessageOf(err)})
	default:
		p.rec.Trouble(ctx, r, err)
	}
	return chk, false
}

// create makes the endpoint of r, which is in creating, and records it.
func (p *PrivateLinkProvisioner) create(ctx context.Context, cl astrobot.Cluster, r astrobot.Request, chk cloud.Check) {
	ep, err := p.aws.Create(ctx, cl, r, r.Attempt+1, chk)
	if err != nil {
		p.rec.Trouble(ctx, r, err)
		return
	}
	acceptance := "required"
	if !chk.Service.AcceptanceRequired {
		acceptance = "automatic"
	}
	details := map[string]string{astrobot.DetailAcceptance: acceptance}
	if len(ep.DNSNames) > 0 {
		details[astrobot.DetailDNSNames] = strings.Join(ep.DNSNames, " ")
	}
	if _, ok := p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActEndpointCreated, Resource: ep.ID, Details: details}); !ok {
		// The request left creating while the endpoint was being made
		// (cancelled, most likely): nobody will follow this endpoint, so it
		// must not stay in AWS for the customer to accept.
		if err := p.aws.DeleteEndpoint(ctx, cl, ep.ID); err != nil {
			p.rec.log.Error("deleting an orphaned endpoint failed; delete it by hand", "request", r.Ref(), "endpoint", ep.ID, "err", err)
			return
		}
		if err := p.aws.DeleteGroup(ctx, cl, r); err != nil {
			p.rec.log.Warn("the security group of an orphaned endpoint is left; delete it once the endpoint is gone", "request", r.Ref(), "err", err)
		}
	}
}

// Watch looks again at the endpoint service of every request waiting for
// the allow-list, and reads the state of every endpoint followed, one
// describe call per account and region, and acts on it.
func (p *PrivateLinkProvisioner) Watch(ctx context.Context, rs []astrobot.Request) {
	var fs []Followed
	for _, r := range rs {
		followed := r.Status == astrobot.StatusPendingAcceptance || r.Status == astrobot.StatusActive
		if r.Status != astrobot.StatusWaitingAllowlist && !(followed && r.Resource != "") {
			continue // approved and creating are Advance's
		}
		cl, ok := p.rec.Cluster(ctx, p.clusters, r)
		if !ok {
			continue
		}
		if r.Status == astrobot.StatusWaitingAllowlist {
			if chk, ok := p.check(ctx, cl, r); ok && chk.Visible {
				p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActServiceVisible})
			}
			continue
		}
		fs = append(fs, Followed{r, cl})
	}
	DescribeEach(ctx, p.rec, "endpoints", fs, p.aws.Describe, func(f Followed, ep cloud.Endpoint) { p.follow(ctx, f.Cluster, f.Request, ep) })
}

// follow moves r as the state of its endpoint says.
func (p *PrivateLinkProvisioner) follow(ctx context.Context, cl astrobot.Cluster, r astrobot.Request, ep cloud.Endpoint) {
	apply := func(c astrobot.Change) { p.rec.Apply(ctx, r, c) }
	switch r.Status {
	case astrobot.StatusPendingAcceptance:
		switch ep.State {
		case cloud.EndpointAvailable:
			p.activate(ctx, cl, r, ep)
		case cloud.EndpointRejected:
			apply(astrobot.Change{Action: astrobot.ActDecline, Note: cloud.ExplainEndpoint(ep)})
		case cloud.EndpointExpired:
			apply(astrobot.Change{Action: astrobot.ActExpire, Note: cloud.ExplainEndpoint(ep)})
		case cloud.EndpointFailed:
			apply(astrobot.Change{Action: astrobot.ActFail, Note: cloud.ExplainEndpoint(ep)})
		case cloud.EndpointDeleted, cloud.EndpointDeleting:
			apply(astrobot.Change{Action: astrobot.ActFail, Note: "The endpoint " + ep.ID + " was deleted in AWS before its connection was accepted."})
		}
	case astrobot.StatusActive:
		if ep.State.Ended() {
			apply(astrobot.Change{Action: astrobot.ActDelete,
				Note: ":rotating_light: " + cloud.ExplainEndpoint(ep) + " Airflow on the cluster no longer reaches the service through it."})
		}
	}
}

// activate marks r active now that its endpoint is available, with the
// endpoint's DNS names, after turning on private DNS when the request asks
// for the service's verified private DNS name.
func (p *PrivateLinkProvisioner) activate(ctx context.Context, cl astrobot.Cluster, r astrobot.Request, ep cloud.Endpoint) {
	spec, _ := r.Spec.(astrobot.PrivateLinkSpec)
	details := map[string]string{}
	if len(ep.DNSNames) > 0 {
		details[astrobot.DetailDNSNames] = strings.Join(ep.DNSNames, " ")
	}
	if spec.DNSName != "" {
		chk, err := p.aws.Check(ctx, cl, r)
		if err != nil && astrobot.ErrorCodeOf(err) != astrobot.EConflict {
			p.rec.Trouble(ctx, r, err)
			return
		}
		svc := chk.Service
		switch {
		case !strings.EqualFold(svc.PrivateDNSName, spec.DNSName):
			details[astrobot.DetailPrivateDNSProblem] = privateDNSProblem(spec, svc)
		case !svc.PrivateDNSVerified():
			details[astrobot.DetailPrivateDNSProblem] = fmt.Sprintf("Private DNS is off: the name `%s` of your endpoint service is not verified (state %s), so it does not resolve to the endpoint yet. Use the endpoint's DNS names until then.",
				spec.DNSName, svc.PrivateDNSState)
		case !ep.PrivateDNS:
			if err := p.aws.EnablePrivateDNS(ctx, cl, ep.ID); err != nil {
				p.rec.Trouble(ctx, r, err)
				return
			}
			fallthrough
		default:
			details[astrobot.DetailPrivateDNS] = spec.DNSName
		}
	}
	p.rec.Apply(ctx, r, astrobot.Change{Action: astrobot.ActAccepted, Details: details})
}

// privateDNSProblem says why the private DNS name asked for cannot be turned
// on: the service has none, or another.
func privateDNSProblem(spec astrobot.PrivateLinkSpec, svc cloud.EndpointService) string {
	if svc.PrivateDNSName == "" {
		return fmt.Sprintf("Private DNS is off: your endpoint service has no private DNS name, so `%s` does not resolve to the endpoint. Use the endpoint's DNS names, or give the service that name and verify it.", spec.DNSName)
	}
	return fmt.Sprintf("Private DNS is off: the private DNS name of your endpoint service is `%s`, not `%s` as the request says. Use the endpoint's DNS names, or ask support.", svc.PrivateDNSName, spec.DNSName)
}

// Cleanup deletes the endpoint of a cancelled request and its security
// group. While the endpoint's network interfaces go away AWS refuses to
// delete the group: the error makes the jobs queue try again later.
func (p *PrivateLinkProvisioner) Cleanup(ctx context.Context, r astrobot.Request) error {
	cl, err := p.clusters.Cluster(ctx, r.ClusterID)
	if err != nil {
		return err
	}
	if err := p.aws.DeleteEndpoint(ctx, cl, r.Resource); err != nil {
		return err
	}
	return p.aws.DeleteGroup(ctx, cl, r)
}
