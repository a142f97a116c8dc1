package cloud

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/astrobot-dev/astrobot"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// EndpointState is the state of a VPC endpoint, spelled as AWS sends it
// ("pendingAcceptance"). The SDK's enum spells it otherwise
// (types.StatePendingAcceptance is "PendingAcceptance"), so states are
// compared ignoring case.
type EndpointState string

// The states of a VPC endpoint.
const (
	EndpointPendingAcceptance EndpointState = "pendingAcceptance"
	EndpointPending           EndpointState = "pending"
	EndpointAvailable         EndpointState = "available"
	EndpointDeleting          EndpointState = "deleting"
	EndpointDeleted           EndpointState = "deleted"
	EndpointRejected          EndpointState = "rejected"
	EndpointFailed            EndpointState = "failed"
	EndpointExpired           EndpointState = "expired"
	EndpointPartial           EndpointState = "partial"
)

// endpointState returns the state AWS reported, as one of the constants
// whatever its case, or as AWS spelled it when it is none of them.
func endpointState(s string) EndpointState {
	for _, known := range []EndpointState{EndpointPendingAcceptance, EndpointPending, EndpointAvailable, EndpointDeleting,
		EndpointDeleted, EndpointRejected, EndpointFailed, EndpointExpired, EndpointPartial} {
		if strings.EqualFold(s, string(known)) {
			return known
		}
	}
	return EndpointState(s)
}

// Ended reports whether an endpoint in state s is over: deleting, deleted,
// rejected, failed or expired. It carries no traffic and never will.
func (s EndpointState) Ended() bool {
	switch s {
	case EndpointDeleting, EndpointDeleted, EndpointRejected, EndpointFailed, EndpointExpired:
		return true
	}
	return false
}

// PrivateLinkOptions configure PrivateLinks.
type PrivateLinkOptions struct {
	// Roles maps the AWS account ID of a cluster to the ARN of the role to
	// assume to act in that account.
	Roles map[string]string
	// Logger receives one entry per failed AWS call and one per change made.
	// Default: discard.
	Logger *slog.Logger
}

// PrivateLinks makes and tends interface endpoints in cluster VPCs to the
// endpoint services of customers. It is safe for concurrent use.
type PrivateLinks struct {
	clients *Clients
	failer  Failer
	logger  *slog.Logger
}

// NewPrivateLinks returns PrivateLinks that act with cfg, built by the caller
// (usually with config.LoadDefaultConfig, which honours AWS_ENDPOINT_URL).
func NewPrivateLinks(cfg aws.Config, opts PrivateLinkOptions) *PrivateLinks {
	p := &PrivateLinks{clients: NewClients(cfg, opts.Roles), logger: opts.Logger}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	p.failer = Failer{Clients: p.clients, Logger: p.logger, Prefix: "privatelink"}
	return p
}

// EndpointService is a customer's endpoint service as the cluster's account
// sees it.
type EndpointService struct {
	Name               string
	ID                 string // vpce-svc-…
	Owner              string // the AWS account that owns it
	ZoneIDs            []string
	AcceptanceRequired bool
	PrivateDNSName     string
	PrivateDNSState    string // verified, pendingVerification, failed; "" without a name
}

// PrivateDNSVerified reports whether the service's private DNS name is
// verified, so that an endpoint may turn on private DNS for it.
func (s EndpointService) PrivateDNSVerified() bool {
	return s.PrivateDNSName != "" && strings.EqualFold(s.PrivateDNSState, string(types.DnsNameStateVerified))
}

// Check is what Check found: whether the cluster's account sees the endpoint
// service, and where in the cluster VPC an endpoint to it goes.
type Check struct {
	Visible bool
	Service EndpointService
	Zones   []string // the zone IDs the endpoint uses
	Subnets []string // one subnet of the cluster VPC per zone of Zones
}

// Endpoint is an interface endpoint as AWS reports it.
type Endpoint struct {
	ID         string // vpce-…
	State      EndpointState
	Message    string // why it failed, when AWS says
	DNSNames   []string
	PrivateDNS bool
	Subnets    []string
	Groups     []string
}

// Check looks up the endpoint service of r from the cluster's account. A
// service the account cannot see (not allow-listed yet, or no such service)
// comes back with Visible false and no error. A visible service is checked
// against the cluster: it must be owned by the account the request names and,
// unless it is in another region, share an availability zone (by zone ID)
// with the subnets of the cluster VPC; otherwise Check returns an EConflict
// *astrobot.Error that says so in plain words. Failed AWS calls come back as
// EInternal errors from Failer.
func (p *PrivateLinks) Check(ctx context.Context, cl astrobot.Cluster, r astrobot.Request) (Check, error) {
	spec, _ := r.Spec.(astrobot.PrivateLinkSpec)
	tg := p.clients.target(cl.AccountID, cl.Region)
	log := []any{"request", r.Ref(), "cluster", cl.ID, "service", spec.ServiceName}
	in := &ec2.DescribeVpcEndpointServicesInput{ServiceNames: []string{spec.ServiceName}}
	if spec.CrossRegion(cl) {
		in.ServiceRegions = []string{spec.Region}
	}
	out, err := tg.client.DescribeVpcEndpointServices(ctx, in)
	if isCode(err, "InvalidServiceName") {
		return Check{}, nil
	}
	if err != nil {
		return Check{}, p.fail(ctx, tg, "look up endpoint services", err, log...)
	}
	i := slices.IndexFunc(out.ServiceDetails, func(d types.ServiceDetail) bool {
		return strings.EqualFold(aws.ToString(d.ServiceName), spec.ServiceName)
	})
	if i < 0 {
		return Check{}, nil
	}
	chk := Check{Visible: true, Service: service(out.ServiceDetails[i])}
	svc := chk.Service
	if svc.Owner != "" && svc.Owner != spec.AccountID {
		return chk, astrobot.Errorf(astrobot.EConflict, "The endpoint service %s belongs to account %s, not to %s as the request says: check the service name and the account, and file a new request.",
			spec.ServiceName, svc.Owner, spec.AccountID)
	}
	subnets, err := p.subnets(ctx, tg, cl)
	if err != nil {
		return chk, p.fail(ctx, tg, "look up subnets", err, log...)
	}
	if len(subnets) == 0 {
		return chk, astrobot.Errorf(astrobot.EConflict, "AWS lists no subnet in VPC %s of cluster %s (account %s, %s), so no endpoint can be made there: check the cluster's VPC ID.",
			cl.VPCID, cl.ID, cl.AccountID, cl.Region)
	}
	if len(svc.ZoneIDs) == 0 && !spec.CrossRegion(cl) {
		// AWS gives the zones of a service by name in the caller's account
		// (moto gives only names): the cluster account's own names, which
		// DescribeAvailabilityZones maps to zone IDs.
		ids, err := p.zoneIDs(ctx, tg, out.ServiceDetails[i].AvailabilityZones)
		if err != nil {
			return chk, p.fail(ctx, tg, "look up availability zones", err, log...)
		}
		svc.ZoneIDs, chk.Service.ZoneIDs = ids, ids
	}
	for _, zone := range slices.Sorted(maps.Keys(subnets)) {
		if spec.CrossRegion(cl) || slices.Contains(svc.ZoneIDs, zone) {
			chk.Zones = append(chk.Zones, zone)
			chk.Subnets = append(chk.Subnets, subnets[zone])
		}
	}
	if len(chk.Zones) == 0 {
		return chk, astrobot.Errorf(astrobot.EConflict, "The endpoint service %s is in the availability zones %s and cluster %s has subnets only in %s (zone IDs): an endpoint needs a zone in common. Enable the service's load balancer in one of the cluster's zones, then ask support to retry.",
			spec.ServiceName, zoneList(svc.ZoneIDs), cl.Name, zoneList(slices.Sorted(maps.Keys(subnets))))
	}
	return chk, nil
}

func zoneList(zones []string) string {
	if len(zones) == 0 {
		return "(none)"
	}
	return strings.Join(zones, ", ")
}

// service converts what AWS says about an endpoint service.
func service(d types.ServiceDetail) EndpointService {
	s := EndpointService{Name: aws.ToString(d.ServiceName), ID: aws.ToString(d.ServiceId), Owner: aws.ToString(d.Owner),
		ZoneIDs: slices.Sorted(slices.Values(d.AvailabilityZoneIds)), AcceptanceRequired: aws.ToBool(d.AcceptanceRequired),
		PrivateDNSName: strings.TrimSuffix(strings.ToLower(aws.ToString(d.PrivateDnsName)), ".")}
	if s.PrivateDNSName != "" {
		s.PrivateDNSState = string(d.PrivateDnsNameVerificationState)
	}
	return s
}

// subnets returns one subnet of the cluster VPC per zone ID: of a zone's
// subnets, those that give no public IPs first, then the lowest ID.
func (p *PrivateLinks) subnets(ctx context.Context, tg target, cl astrobot.Cluster) (map[string]string, error) {
	pages := ec2.NewDescribeSubnetsPaginator(tg.client, &ec2.DescribeSubnetsInput{
		Filters:    []types.Filter{{Name: aws.String("vpc-id"), Values: []string{cl.VPCID}}},
		MaxResults: aws.Int32(pageSize),
	})
	var all []types.Subnet
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe subnets: %w", err)
		}
		all = append(all, page.Subnets...)
	}
	all = slices.DeleteFunc(all, func(s types.Subnet) bool {
		return aws.ToString(s.VpcId) != cl.VPCID || aws.ToString(s.AvailabilityZoneId) == ""
	})
	slices.SortFunc(all, func(a, b types.Subnet) int {
		return cmp.Or(cmp.Compare(boolInt(aws.ToBool(a.MapPublicIpOnLaunch)), boolInt(aws.ToBool(b.MapPublicIpOnLaunch))),
			cmp.Compare(aws.ToString(a.SubnetId), aws.ToString(b.SubnetId)))
	})
	out := map[string]string{}
	for _, s := range all {
		if zone := aws.ToString(s.AvailabilityZoneId); out[zone] == "" {
			out[zone] = aws.ToString(s.SubnetId)
		}
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// zoneIDs maps zone names of the account of tg to zone IDs.
func (p *PrivateLinks) zoneIDs(ctx context.Context, tg target, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	out, err := tg.client.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{ZoneNames: names})
	if err != nil {
		return nil, fmt.Errorf("describe availability zones: %w", err)
	}
	var ids []string
	for _, z := range out.AvailabilityZones {
		if slices.Contains(names, aws.ToString(z.ZoneName)) && aws.ToString(z.ZoneId) != "" {
			ids = append(ids, aws.ToString(z.ZoneId))
		}
	}
	return slices.Sorted(slices.Values(ids)), nil
}

// Create makes the interface endpoint of r to its endpoint service in the
// subnets chk chose, with the request's security group, tagged with the
// request and the attempt. It is idempotent: an endpoint of the same request
// and attempt in the cluster VPC that has not ended is returned instead of a
// new one (and the call carries a client token naming them), so a crash
// between Create and storing its answer never leaves two. Endpoints of the
// request's earlier attempts are deleted: nobody follows them any more.
func (p *PrivateLinks) Create(ctx context.Context, cl astrobot.Cluster, r astrobot.Request, attempt int, chk Check) (Endpoint, error) {
	spec, _ := r.Spec.(astrobot.PrivateLinkSpec)
	tg := p.clients.target(cl.AccountID, cl.Region)
	log := []any{"request", r.Ref(), "cluster", cl.ID, "service", spec.ServiceName}
	current, stale, err := p.findCreated(ctx, tg, cl, r, attempt)
	if err != nil {
		return Endpoint{}, p.fail(ctx, tg, "look up VPC endpoints", err, log...)
	}
	for _, old := range stale {
		if err := p.DeleteEndpoint(ctx, cl, old); err != nil {
			return Endpoint{}, err
		}
	}
	if current != nil {
		p.logger.InfoContext(ctx, "privatelink: reusing the endpoint made earlier", append(log, "vpce", current.ID, "state", current.State)...)
		return *current, nil
	}
	group, err := p.ensureGroup(ctx, tg, cl, r)
	if err != nil {
		return Endpoint{}, err
	}
	in := &ec2.CreateVpcEndpointInput{
		VpcId:             aws.String(cl.VPCID),
		VpcEndpointType:   types.VpcEndpointTypeInterface,
		ServiceName:       aws.String(spec.ServiceName),
		SubnetIds:         chk.Subnets,
		SecurityGroupIds:  []string{group},
		PrivateDnsEnabled: aws.Bool(false), // turned on once the connection is accepted, if asked and verified
		ClientToken:       aws.String(fmt.Sprintf("astrobot-%s-%d-%s", r.Ref(), attempt, cl.VPCID)),
		TagSpecifications: attemptTags(types.ResourceTypeVpcEndpoint, r, attempt, cl),
	}
	if spec.CrossRegion(cl) {
		in.ServiceRegion = aws.String(spec.Region)
	}
	out, err := tg.client.CreateVpcEndpoint(ctx, in)
	if err != nil {
		return Endpoint{}, p.fail(ctx, tg, "create VPC endpoints", err, log...)
	}
	if out.VpcEndpoint == nil || aws.ToString(out.VpcEndpoint.VpcEndpointId) == "" {
		return Endpoint{}, p.fail(ctx, tg, "create VPC endpoints", errors.New("create VPC endpoint: AWS answered without an endpoint"), log...)
	}
	ep := endpoint(*out.VpcEndpoint)
	p.logger.InfoContext(ctx, "privatelink: created an endpoint", append(log, "vpce", ep.ID, "state", ep.State,
		"account", tg.account, "region", tg.region, "subnets", strings.Join(chk.Subnets, ","), "security_group", group)...)
	return ep, nil
}

// findCreated returns the endpoint an earlier Create made for the same
// request and attempt in the cluster VPC and that has not ended, or nil; and
// the endpoints of the request's other attempts that are not deleted.
// The tags and the VPC are checked here too, whatever the filters did.
func (p *PrivateLinks) findCreated(ctx context.Context, tg target, cl astrobot.Cluster, r astrobot.Request, attempt int) (*Endpoint, []string, error) {
	pages := ec2.NewDescribeVpcEndpointsPaginator(tg.client, &ec2.DescribeVpcEndpointsInput{
		Filters: []types.Filter{
			{Name: aws.String("vpc-id"), Values: []string{cl.VPCID}},
			{Name: aws.String("tag:" + requestTag), Values: []string{r.Ref()}},
		},
		MaxResults: aws.Int32(pageSize),
	})
	var found []Endpoint
	var stale []string
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("describe VPC endpoints: %w", err)
		}
		for _, e := range page.VpcEndpoints {
			tags := tagMap(e.Tags)
			if tags[requestTag] != r.Ref() || aws.ToString(e.VpcId) != cl.VPCID {
				continue
			}
			ep := endpoint(e)
			switch {
			case tags[attemptTag] == strconv.Itoa(attempt) && !ep.State.Ended():
				found = append(found, ep)
			case tags[attemptTag] != strconv.Itoa(attempt) && ep.State != EndpointDeleted && ep.State != EndpointDeleting:
				stale = append(stale, ep.ID)
			}
		}
	}
	slices.Sort(stale)
	if len(found) == 0 {
		return nil, stale, nil
	}
	slices.SortFunc(found, func(a, b Endpoint) int { return cmp.Compare(a.ID, b.ID) })
	if len(found) > 1 {
		p.logger.WarnContext(ctx, "privatelink: more than one live endpoint carries the same request and attempt; using the first",
			"request", r.Ref(), "attempt", attempt, "vpce", found[0].ID, "others", len(found)-1, "account", tg.account, "region", tg.region)
	}
	return &found[0], stale, nil
}

// groupName is the name of the security group of r's endpoint.
func groupName(r astrobot.Request) string { return "astrobot-" + r.Ref() }

// ensureGroup returns the security group of r's endpoint in the cluster VPC,
// creating it (tagged with the request) the first time, and makes sure it
// lets in the request's ports from every CIDR of the cluster. Every attempt
// of a request uses the same group.
func (p *PrivateLinks) ensureGroup(ctx context.Context, tg target, cl astrobot.Cluster, r astrobot.Request) (string, error) {
	spec, _ := r.Spec.(astrobot.PrivateLinkSpec)
	log := []any{"request", r.Ref(), "cluster", cl.ID}
	g, err := p.findGroup(ctx, tg, cl, r)
	if err != nil {
		return "", p.fail(ctx, tg, "look up security groups", err, log...)
	}
	if g == nil {
		out, err := tg.client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName:   aws.String(groupName(r)),
			Description: aws.String(fmt.Sprintf("astrobot: the PrivateLink endpoint of %s to %s", r.Ref(), spec.ServiceName)),
			VpcId:       aws.String(cl.VPCID),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroup, Tags: []types.Tag{
				{Key: aws.String(requestTag), Value: aws.String(r.Ref())},
				{Key: aws.String(DefaultClusterTag), Value: aws.String(cl.ID)},
				{Key: aws.String("Name"), Value: aws.String(groupName(r))},
			}}},
		})
		switch {
		case isCode(err, "InvalidGroup.Duplicate"): // made meanwhile
			if g, err = p.findGroup(ctx, tg, cl, r); err != nil || g == nil {
				return "", p.fail(ctx, tg, "look up security groups", cmp.Or(err, errors.New("the security group AWS calls a duplicate cannot be found")), log...)
			}
		case err != nil:
			return "", p.fail(ctx, tg, "create security groups", err, log...)
		default:
			g = &types.SecurityGroup{GroupId: out.GroupId}
			p.logger.InfoContext(ctx, "privatelink: created a security group", append(log, "security_group", aws.ToString(out.GroupId))...)
		}
	}
	id := aws.ToString(g.GroupId)
	var missing []types.IpPermission
	for _, port := range spec.Ports {
		var ranges []types.IpRange
		for _, c := range cl.CIDRs {
			if !allows(g.IpPermissions, port, c) {
				ranges = append(ranges, types.IpRange{CidrIp: aws.String(c.String()), Description: aws.String("Astro cluster " + cl.ID + " to " + r.Ref())})
			}
		}
		if len(ranges) > 0 {
			missing = append(missing, types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(int32(port)), ToPort: aws.Int32(int32(port)), IpRanges: ranges})
		}
	}
	if len(missing) == 0 {
		return id, nil
	}
	_, err = tg.client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id), IpPermissions: missing})
	if err != nil && !isCode(err, "InvalidPermission.Duplicate") {
		return "", p.fail(ctx, tg, "add security group rules", err, append(log, "security_group", id)...)
	}
	return id, nil
}

// allows reports whether perms let in TCP port from cidr.
func allows(perms []types.IpPermission, port int, cidr netip.Prefix) bool {
	for _, pm := range perms {
		if aws.ToString(pm.IpProtocol) != "tcp" || int(aws.ToInt32(pm.FromPort)) > port || int(aws.ToInt32(pm.ToPort)) < port {
			continue
		}
		for _, r := range pm.IpRanges {
			if aws.ToString(r.CidrIp) == cidr.String() {
				return true
			}
		}
	}
	return false
}

// findGroup returns the security group of r in the cluster VPC, or nil.
func (p *PrivateLinks) findGroup(ctx context.Context, tg target, cl astrobot.Cluster, r astrobot.Request) (*types.SecurityGroup, error) {
	out, err := tg.client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{cl.VPCID}},
		{Name: aws.String("group-name"), Values: []string{groupName(r)}},
	}})
	if err != nil {
		return nil, fmt.Errorf("describe security groups: %w", err)
	}
	for _, g := range out.SecurityGroups {
		if aws.ToString(g.VpcId) == cl.VPCID && aws.ToString(g.GroupName) == groupName(r) {
			return &g, nil
		}
	}
	return nil, nil
}

// endpoint converts what AWS says about an endpoint.
func endpoint(e types.VpcEndpoint) Endpoint {
	ep := Endpoint{ID: aws.ToString(e.VpcEndpointId), State: endpointState(string(e.State)), PrivateDNS: aws.ToBool(e.PrivateDnsEnabled),
		Subnets: slices.Sorted(slices.Values(e.SubnetIds)), Message: aws.ToString(e.FailureReason)}
	if ep.Message == "" && e.LastError != nil {
		ep.Message = aws.ToString(e.LastError.Message)
	}
	for _, d := range e.DnsEntries {
		if name := aws.ToString(d.DnsName); name != "" && !slices.Contains(ep.DNSNames, name) {
			ep.DNSNames = append(ep.DNSNames, name)
		}
	}
	for _, g := range e.Groups {
		ep.Groups = append(ep.Groups, aws.ToString(g.GroupId))
	}
	slices.Sort(ep.Groups)
	return ep
}

// Describe returns the state of the endpoints ids, all in account and region,
// keyed by ID, with one DescribeVpcEndpoints call per 1000 IDs. An endpoint
// AWS no longer knows comes back in state EndpointDeleted. When AWS refuses
// the whole call because it no longer knows one of the IDs, Describe asks
// again with a filter on the IDs, which AWS answers with the endpoints it
// still knows.
func (p *PrivateLinks) Describe(ctx context.Context, account, region string, ids []string) (map[string]Endpoint, error) {
	tg := p.clients.target(account, region)
	out, err := describeIDs(ctx, ids, lookup[Endpoint]{
		byID: func(ctx context.Context, ids []string) ([]Endpoint, error) {
			return describeEndpoints(ctx, tg.client, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: ids})
		},
		byFilter: func(ctx context.Context, ids []string) ([]Endpoint, error) {
			return describeEndpoints(ctx, tg.client, &ec2.DescribeVpcEndpointsInput{
				Filters: []types.Filter{{Name: aws.String("vpc-endpoint-id"), Values: ids}}, MaxResults: aws.Int32(pageSize)})
		},
		notFound: endpointNotFound,
		id:       func(ep Endpoint) string { return ep.ID },
		gone: func(id string) Endpoint {
			return Endpoint{ID: id, State: EndpointDeleted, Message: "AWS no longer knows this endpoint."}
		},
	})
	if err != nil {
		return nil, p.fail(ctx, tg, "look up VPC endpoints", err, "vpce_count", len(uniqueIDs(ids)))
	}
	return out, nil
}

// describeEndpoints returns the endpoints DescribeVpcEndpoints answers in
// with, every page.
func describeEndpoints(ctx context.Context, client *ec2.Client, in *ec2.DescribeVpcEndpointsInput) ([]Endpoint, error) {
	var out []Endpoint
	pages := ec2.NewDescribeVpcEndpointsPaginator(client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe VPC endpoints: %w", err)
		}
		for _, e := range page.VpcEndpoints {
			out = append(out, endpoint(e))
		}
	}
	return out, nil
}

// EnablePrivateDNS turns on private DNS for the endpoint id in the cluster
// VPC: the service's private DNS name then resolves to it there. AWS allows it
// once the endpoint is available and the name verified.
func (p *PrivateLinks) EnablePrivateDNS(ctx context.Context, cl astrobot.Cluster, id string) error {
	tg := p.clients.target(cl.AccountID, cl.Region)
	_, err := tg.client.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(id), PrivateDnsEnabled: aws.Bool(true)})
	if err != nil {
		return p.fail(ctx, tg, "turn on private DNS for VPC endpoints", err, "cluster", cl.ID, "vpce", id)
	}
	p.logger.InfoContext(ctx, "privatelink: turned on private DNS", "cluster", cl.ID, "vpce", id)
	return nil
}

// DeleteEndpoint deletes the endpoint id of the cluster VPC. One that is
// already gone counts as deleted.
func (p *PrivateLinks) DeleteEndpoint(ctx context.Context, cl astrobot.Cluster, id string) error {
	tg := p.clients.target(cl.AccountID, cl.Region)
	log := []any{"cluster", cl.ID, "vpce", id}
	out, err := tg.client.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id}})
	if endpointNotFound(err) {
		return nil
	}
	if err != nil {
		return p.fail(ctx, tg, "delete VPC endpoints", err, log...)
	}
	for _, u := range out.Unsuccessful {
		if u.Error == nil {
			continue
		}
		uerr := &smithy.GenericAPIError{Code: aws.ToString(u.Error.Code), Message: aws.ToString(u.Error.Message)}
		if !endpointNotFound(uerr) {
			return p.fail(ctx, tg, "delete VPC endpoints", uerr, log...)
		}
	}
	p.logger.InfoContext(ctx, "privatelink: deleted an endpoint", append(log, "account", tg.account, "region", tg.region)...)
	return nil
}

// DeleteGroup deletes the security group of r's endpoint, if there is one.
// While the endpoint's network interfaces are still going away AWS refuses
// (DependencyViolation): DeleteGroup then returns an error that says so, and
// trying again later succeeds.
func (p *PrivateLinks) DeleteGroup(ctx context.Context, cl astrobot.Cluster, r astrobot.Request) error {
	tg := p.clients.target(cl.AccountID, cl.Region)
	log := []any{"request", r.Ref(), "cluster", cl.ID}
	g, err := p.findGroup(ctx, tg, cl, r)
	if err != nil {
		return p.fail(ctx, tg, "look up security groups", err, log...)
	}
	if g == nil {
		return nil
	}
	id := aws.ToString(g.GroupId)
	_, err = tg.client.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)})
	switch {
	case err == nil:
		p.logger.InfoContext(ctx, "privatelink: deleted a security group", append(log, "security_group", id)...)
		return nil
	case isCode(err, "InvalidGroup.NotFound"):
		return nil
	case isCode(err, "DependencyViolation"):
		return fmt.Errorf("the security group %s of %s is still in use while the endpoint's network interfaces go away; retrying later: %w", id, r.Ref(), err)
	}
	return p.fail(ctx, tg, "delete security groups", err, append(log, "security_group", id)...)
}

// fail reports a failed call of the attempt to do what in tg.
func (p *PrivateLinks) fail(ctx context.Context, tg target, what string, err error, attrs ...any) error {
	return p.failer.Fail(ctx, tg.account, tg.region, what, err, attrs...)
}

// ExplainEndpoint says in a sentence for the requester what the state of the
// endpoint means.
func ExplainEndpoint(e Endpoint) string {
	var s string
	switch e.State {
	case EndpointRejected:
		s = fmt.Sprintf("The endpoint connection %s was rejected on your endpoint service. If that was a mistake, ask support to retry the request, then accept the new connection.", e.ID)
	case EndpointExpired:
		s = fmt.Sprintf("The endpoint connection %s was not accepted in time and expired. Ask support to retry the request, then accept the new connection on your endpoint service.", e.ID)
	case EndpointFailed:
		s = fmt.Sprintf("AWS could not set up the endpoint %s (a subnet, security group or the service itself was refused).", e.ID)
	case EndpointDeleting, EndpointDeleted:
		s = fmt.Sprintf("The endpoint %s was deleted in AWS.", e.ID)
	case EndpointPendingAcceptance:
		s = fmt.Sprintf("The endpoint %s waits for you to accept its connection on your endpoint service.", e.ID)
	case EndpointPending:
		s = fmt.Sprintf("AWS is setting up the endpoint %s.", e.ID)
	case EndpointAvailable:
		s = fmt.Sprintf("The endpoint %s is available.", e.ID)
	default:
		s = fmt.Sprintf("The endpoint %s is in the AWS state %q.", e.ID, e.State)
	}
	if e.Message != "" && e.State != EndpointDeleted {
		s += fmt.Sprintf(" AWS says: %q.", e.Message)
	}
	return s
}

// endpointNotFound reports whether err is AWS not knowing a VPC endpoint:
// InvalidVpcEndpointId.NotFound for a call, InvalidVpcEndpoint.NotFound in
// the Unsuccessful items of DeleteVpcEndpoints.
func endpointNotFound(err error) bool {
	return isCode(err, "InvalidVpcEndpointId.NotFound") || isCode(err, "InvalidVpcEndpoint.NotFound")
}
