package cloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/astrobot-dev/astrobot"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"
)

// ZoneOptions configure Zones.
type ZoneOptions struct {
	// Roles maps the AWS account ID of a cluster to the ARN of the role to
	// assume to act in that account.
	Roles map[string]string
	// Logger receives one entry per failed AWS call and one per change made.
	// Default: discard.
	Logger *slog.Logger
}

// Zones associates the Route 53 private hosted zones of customers with
// cluster VPCs, acting as the VPC's owner: the cluster's account. The zone's
// owner authorizes each association beforehand. It is safe for concurrent
// use.
type Zones struct {
	clients *Clients
	failer  Failer
	logger  *slog.Logger

	mu  sync.Mutex
	r53 map[string]*route53.Client // by account: Route 53 is a global service
}

// NewZones returns Zones that act with cfg, built by the caller (usually with
// config.LoadDefaultConfig, which honours AWS_ENDPOINT_URL).
func NewZones(cfg aws.Config, opts ZoneOptions) *Zones {
	z := &Zones{clients: NewClients(cfg, opts.Roles), logger: opts.Logger, r53: map[string]*route53.Client{}}
	if z.logger == nil {
		z.logger = slog.New(slog.DiscardHandler)
	}
	z.failer = Failer{Clients: z.clients, Logger: z.logger, Prefix: "dns"}
	return z
}

// route53Client returns the Route 53 client acting in the account of cl.
func (z *Zones) route53Client(cl astrobot.Cluster) *route53.Client {
	z.mu.Lock()
	defer z.mu.Unlock()
	c, ok := z.r53[cl.AccountID]
	if !ok {
		c = route53.NewFromConfig(z.clients.Config(cl.AccountID, cl.Region))
		z.r53[cl.AccountID] = c
	}
	return c
}

// fail reports a failed call of the attempt to do what for cluster cl.
func (z *Zones) fail(ctx context.Context, cl astrobot.Cluster, what string, err error, attrs ...any) error {
	return z.failer.Fail(ctx, cl.AccountID, cl.Region, what, err, append([]any{"cluster", cl.ID, "vpc", cl.VPCID}, attrs...)...)
}

// VPCDNS is what AWS says of the DNS attributes of a cluster VPC. A private
// hosted zone resolves in a VPC only with both on.
type VPCDNS struct {
	Support   bool // enableDnsSupport: the Amazon DNS server answers in the VPC
	Hostnames bool // enableDnsHostnames
}

// OK reports whether both attributes are on.
func (v VPCDNS) OK() bool { return v.Support && v.Hostnames }

// Missing names the attributes that are off, for a message: "enableDnsHostnames".
func (v VPCDNS) Missing() string {
	var off []string
	if !v.Support {
		off = append(off, string(ec2types.VpcAttributeNameEnableDnsSupport))
	}
	if !v.Hostnames {
		off = append(off, string(ec2types.VpcAttributeNameEnableDnsHostnames))
	}
	return strings.Join(off, " and ")
}

// DNSSettings reads the DNS attributes of the VPC of cl.
func (z *Zones) DNSSettings(ctx context.Context, cl astrobot.Cluster) (VPCDNS, error) {
	client := z.clients.EC2(cl.AccountID, cl.Region)
	var out VPCDNS
	for _, a := range []ec2types.VpcAttributeName{ec2types.VpcAttributeNameEnableDnsSupport, ec2types.VpcAttributeNameEnableDnsHostnames} {
		got, err := client.DescribeVpcAttribute(ctx, &ec2.DescribeVpcAttributeInput{VpcId: aws.String(cl.VPCID), Attribute: a})
		if err != nil {
			return VPCDNS{}, z.fail(ctx, cl, "read the DNS attributes of the cluster VPC", fmt.Errorf("describe VPC attribute %s: %w", a, err))
		}
		switch a {
		case ec2types.VpcAttributeNameEnableDnsSupport:
			out.Support = got.EnableDnsSupport != nil && aws.ToBool(got.EnableDnsSupport.Value)
		default:
			out.Hostnames = got.EnableDnsHostnames != nil && aws.ToBool(got.EnableDnsHostnames.Value)
		}
	}
	return out, nil
}

// Zone is a private hosted zone associated with a VPC, as
// ListHostedZonesByVPC reports it.
type Zone struct {
	ID    string // without the /hostedzone/ prefix
	Name  string // without the final dot, in lower case
	Owner string // the owning account, or the owning AWS service
}

// Associated returns the private hosted zones associated with the VPC of cl,
// by zone ID.
func (z *Zones) Associated(ctx context.Context, cl astrobot.Cluster) (map[string]Zone, error) {
	zones, err := z.list(ctx, cl)
	if err != nil {
		return nil, z.fail(ctx, cl, "list the hosted zones of the cluster VPC", err)
	}
	return zones, nil
}

func (z *Zones) list(ctx context.Context, cl astrobot.Cluster) (map[string]Zone, error) {
	client := z.route53Client(cl)
	out := map[string]Zone{}
	in := &route53.ListHostedZonesByVPCInput{VPCId: aws.String(cl.VPCID), VPCRegion: types.VPCRegion(cl.Region)}
	for {
		page, err := client.ListHostedZonesByVPC(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list hosted zones by VPC: %w", err)
		}
		for _, s := range page.HostedZoneSummaries {
			zone := Zone{ID: astrobot.NormalizeZoneID(aws.ToString(s.HostedZoneId)), Name: zoneName(aws.ToString(s.Name))}
			if s.Owner != nil {
				zone.Owner = aws.ToString(s.Owner.OwningAccount)
				if zone.Owner == "" {
					zone.Owner = aws.ToString(s.Owner.OwningService)
				}
			}
			out[zone.ID] = zone
		}
		if aws.ToString(page.NextToken) == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

// lastPart is a Route 53 ID without the prefix of the API's answers:
// C0123 for /change/C0123.
func lastPart(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }

// zoneName is a zone name as the domain keeps it: lower case, no final dot.
func zoneName(s string) string { return strings.TrimSuffix(strings.ToLower(s), ".") }

// Association is what Associate did.
type Association struct {
	// Authorized is false when the zone's account has not authorized the
	// association yet (Route 53's NotAuthorizedException): nothing was done.
	Authorized bool
	// ChangeID is the Route 53 change that associates the zone, to follow
	// with Change; "" when the zone was associated already.
	ChangeID string
	// InSync reports whether Route 53 has applied the association.
	InSync bool
}

// Associate associates the hosted zone of r with the VPC of cl. It is
// idempotent: a zone associated already (by an earlier call that crashed
// before its answer was stored) is not associated again. It returns an
// EConflict *astrobot.Error, in words for the customer, when the association
// can never succeed as asked: the VPC has another zone of the same domain
// name (ConflictingDomainExists), the zone does not exist or is public.
// Failed AWS calls come back as EInternal errors from Failer.
func (z *Zones) Associate(ctx context.Context, cl astrobot.Cluster, r astrobot.Request) (Association, error) {
	spec, _ := r.Spec.(astrobot.HostedZoneSpec)
	log := []any{"request", r.Ref(), "zone", spec.ZoneID}
	zones, err := z.list(ctx, cl)
	if err != nil {
		return Association{}, z.fail(ctx, cl, "list the hosted zones of the cluster VPC", err, log...)
	}
	if _, ok := zones[spec.ZoneID]; ok {
		z.logger.InfoContext(ctx, "dns: the zone is associated already", append(log, "cluster", cl.ID, "vpc", cl.VPCID)...)
		return Association{Authorized: true, InSync: true}, nil
	}
	if err := sameName(cl, spec, zones, ""); err != nil {
		return Association{}, err
	}
	out, err := z.route53Client(cl).AssociateVPCWithHostedZone(ctx, &route53.AssociateVPCWithHostedZoneInput{
		HostedZoneId: aws.String(spec.ZoneID),
		VPC:          &types.VPC{VPCId: aws.String(cl.VPCID), VPCRegion: types.VPCRegion(cl.Region)},
		Comment:      aws.String("astrobot " + r.Ref()),
	})
	switch {
	case err == nil:
		a := Association{Authorized: true}
		if out.ChangeInfo != nil {
			a.ChangeID = lastPart(aws.ToString(out.ChangeInfo.Id))
			a.InSync = out.ChangeInfo.Status == types.ChangeStatusInsync
		}
		z.logger.InfoContext(ctx, "dns: associated a zone", append(log, "cluster", cl.ID, "vpc", cl.VPCID, "change", a.ChangeID, "in_sync", a.InSync)...)
		return a, nil
	case isCode(err, "NotAuthorizedException"):
		z.logger.InfoContext(ctx, "dns: the association is not authorized yet", append(log, "cluster", cl.ID, "vpc", cl.VPCID)...)
		return Association{}, nil
	case isCode(err, "ConflictingDomainExists"):
		// The VPC has a zone of that name: this one, associated meanwhile,
		// or another.
		apiErr, _ := errors.AsType[smithy.APIError](err)
		again, lerr := z.list(ctx, cl)
		if lerr != nil {
			return Association{}, z.fail(ctx, cl, "list the hosted zones of the cluster VPC", lerr, log...)
		}
		if _, ok := again[spec.ZoneID]; ok {
			return Association{Authorized: true, InSync: true}, nil
		}
		if err := sameName(cl, spec, again, apiErr.ErrorMessage()); err != nil {
			return Association{}, err
		}
		return Association{}, astrobot.Errorf(astrobot.EConflict,
			"The cluster VPC %s already resolves %s, or a name of that domain, through another private hosted zone: a VPC can be associated with only one zone per domain name (Route 53 says: %s). Tell support which zone the cluster should use.",
			cl.VPCID, spec.Domain, strings.TrimSuffix(apiErr.ErrorMessage(), "."))
	case isCode(err, "NoSuchHostedZone"):
		return Association{}, astrobot.Errorf(astrobot.EConflict,
			"Route 53 knows no hosted zone %s: check the zone ID in account %s (Route 53 → Hosted zones → your private zone), then ask support to retry.", spec.ZoneID, spec.AccountID)
	case isCode(err, "PublicZoneVPCAssociation"):
		return Association{}, astrobot.Errorf(astrobot.EConflict,
			"The hosted zone %s is a public zone: only a private hosted zone can be associated with the cluster VPC. Give the ID of the private zone for %s.", spec.ZoneID, spec.Domain)
	}
	return Association{}, z.fail(ctx, cl, "associate hosted zones with the cluster VPC", err, log...)
}

// sameName returns the EConflict error of another zone of the domain of spec
// associated with the VPC of cl, or nil when there is none.
func sameName(cl astrobot.Cluster, spec astrobot.HostedZoneSpec, zones map[string]Zone, said string) error {
	for _, other := range zones {
		if other.ID == spec.ZoneID || other.Name != spec.Domain {
			continue
		}
		msg := fmt.Sprintf("The cluster VPC %s already resolves %s through another private hosted zone, %s (owned by %s): a VPC can be associated with only one zone per domain name.",
			cl.VPCID, spec.Domain, other.ID, other.Owner)
		if said != "" {
			msg += fmt.Sprintf(" Route 53 says: %s.", strings.TrimSuffix(said, "."))
		}
		return astrobot.Errorf(astrobot.EConflict, "%s Tell support which of the two zones the cluster should use.", msg)
	}
	return nil
}

// Change reports whether Route 53 has applied the change changeID that
// associates the zone of r with the VPC of cl. A change Route 53 no longer
// knows (it forgets them after a while) counts as applied when the zone is
// associated; otherwise Change returns an EConflict error saying so.
func (z *Zones) Change(ctx context.Context, cl astrobot.Cluster, r astrobot.Request, changeID string) (bool, error) {
	spec, _ := r.Spec.(astrobot.HostedZoneSpec)
	log := []any{"request", r.Ref(), "zone", spec.ZoneID, "change", changeID}
	out, err := z.route53Client(cl).GetChange(ctx, &route53.GetChangeInput{Id: aws.String(changeID)})
	if err == nil {
		return out.ChangeInfo != nil && out.ChangeInfo.Status == types.ChangeStatusInsync, nil
	}
	if !isCode(err, "NoSuchChange") {
		return false, z.fail(ctx, cl, "follow the association of hosted zones", err, log...)
	}
	zones, err := z.list(ctx, cl)
	if err != nil {
		return false, z.fail(ctx, cl, "list the hosted zones of the cluster VPC", err, log...)
	}
	if _, ok := zones[spec.ZoneID]; ok {
		return true, nil
	}
	return false, astrobot.Errorf(astrobot.EConflict, "The association of the hosted zone %s with the cluster VPC %s is gone: Route 53 no longer knows its change %s and does not list the zone on the VPC.",
		spec.ZoneID, cl.VPCID, changeID)
}

// Disassociate disassociates the hosted zone zoneID from the VPC of cl. A
// zone that is not associated (any more), or no longer exists, counts as
// disassociated.
func (z *Zones) Disassociate(ctx context.Context, cl astrobot.Cluster, zoneID string) error {
	zoneID = astrobot.NormalizeZoneID(zoneID)
	log := []any{"zone", zoneID}
	zones, err := z.list(ctx, cl)
	if err != nil {
		return z.fail(ctx, cl, "list the hosted zones of the cluster VPC", err, log...)
	}
	if _, ok := zones[zoneID]; !ok {
		return nil
	}
	_, err = z.route53Client(cl).DisassociateVPCFromHostedZone(ctx, &route53.DisassociateVPCFromHostedZoneInput{
		HostedZoneId: aws.String(zoneID),
		VPC:          &types.VPC{VPCId: aws.String(cl.VPCID), VPCRegion: types.VPCRegion(cl.Region)},
		Comment:      aws.String("astrobot"),
	})
	switch {
	case err == nil:
		z.logger.InfoContext(ctx, "dns: disassociated a zone", append(log, "cluster", cl.ID, "vpc", cl.VPCID)...)
		return nil
	case isCode(err, "VPCAssociationNotFound"), isCode(err, "NoSuchHostedZone"):
		return nil
	case isCode(err, "LastVPCAssociation"):
		return astrobot.Errorf(astrobot.EConflict, "Route 53 will not disassociate the hosted zone %s from the cluster VPC %s: it is the zone's last VPC, and a private zone keeps at least one. The zone's owner must associate another VPC with it, or delete the zone.",
			zoneID, cl.VPCID)
	}
	return z.fail(ctx, cl, "disassociate hosted zones from the cluster VPC", err, log...)
}
