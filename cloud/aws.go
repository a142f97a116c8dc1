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
	"sync"

	"github.com/astrobot-dev/astrobot"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Default tag keys of cluster VPCs.
const (
	DefaultClusterTag = "astro:cluster-id"
	DefaultOrgTag     = "astro:organization"
)

// Tags astrobot puts on what it creates for a request, besides
// DefaultClusterTag and Name.
const (
	requestTag = "astrobot:request-id"
	attemptTag = "astrobot:attempt"
)

const (
	// maxConcurrentLookups bounds the account and region pairs looked up at once.
	maxConcurrentLookups = 8
	// pageSize is the MaxResults of every describe call (AWS allows 5 to 1000).
	pageSize = 1000
	// maxIDsPerCall bounds the resource IDs of one describe call by ID.
	maxIDsPerCall = 1000
	// maxFilterValues bounds the values of one describe filter: VPC IDs of
	// DescribeNatGateways, resource IDs of describeIDs.
	maxFilterValues = 200
	// defaultAccount names, in logs, the account of the default credentials.
	defaultAccount = "default credentials"
)

// AWSOptions configure an AWS directory.
type AWSOptions struct {
	// Regions to look in. Empty means the region of the SDK configuration.
	Regions []string
	// Roles maps an AWS account ID to the ARN of the role to assume to look up
	// clusters in that account. Clusters in the account of the SDK
	// configuration's credentials are always looked up.
	Roles map[string]string
	// ClusterTag is the tag key whose value is the cluster ID of a cluster VPC.
	// Default DefaultClusterTag.
	ClusterTag string
	// OrgTag is the tag key whose value is the organization ID of a cluster VPC.
	// Default DefaultOrgTag.
	OrgTag string
	// Logger receives warnings about skipped VPCs and failed look-ups. Default:
	// discard.
	Logger *slog.Logger
}

// AWS is a cluster directory that discovers cluster VPCs by tag, in every
// configured region of the default account and of the role accounts.
type AWS struct {
	targets    []target
	clusterTag string
	orgTag     string
	logger     *slog.Logger
}

// target is one account and region, and the EC2 client that acts there.
type target struct {
	account string // an account ID; in discovery, a role's account or defaultAccount
	region  string
	client  *ec2.Client
}

// NewAWS returns a directory that looks up clusters with cfg, built by the
// caller (usually with config.LoadDefaultConfig, which honours
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_EC2). Credentials of assumed roles are
// cached and refreshed before they expire.
func NewAWS(cfg aws.Config, opts AWSOptions) *AWS {
	a := &AWS{
		clusterTag: cmp.Or(opts.ClusterTag, DefaultClusterTag),
		orgTag:     cmp.Or(opts.OrgTag, DefaultOrgTag),
		logger:     opts.Logger,
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	regions := opts.Regions
	if len(regions) == 0 && cfg.Region != "" {
		regions = []string{cfg.Region}
	}
	clients := NewClients(cfg, opts.Roles)
	accounts := append([]string{defaultAccount}, slices.Sorted(maps.Keys(opts.Roles))...)
	for _, account := range accounts {
		for _, region := range regions {
			a.targets = append(a.targets, clients.target(account, region))
		}
	}
	return a
}

// Discover returns the clusters of every configured account and region,
// sorted by ID. It looks up accounts and regions concurrently. If any look-up
// fails, Discover fails as a whole, so that a partial answer never hides a
// cluster: the error is an *astrobot.Error of code EInternal whose message
// tells a Slack user what happened, and the cause is logged.
func (a *AWS) Discover(ctx context.Context) ([]astrobot.Cluster, error) {
	if len(a.targets) == 0 {
		a.logger.Error("cluster discovery: no AWS region configured")
		return nil, astrobot.Errorf(astrobot.EInternal, "astrobot has no AWS region to look up clusters in; ask the astrobot operators to configure one.")
	}
	lookupCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	found := make([][]astrobot.Cluster, len(a.targets))
	errs := make([]error, len(a.targets))
	sem := make(chan struct{}, maxConcurrentLookups)
	var wg sync.WaitGroup
	for i, tg := range a.targets {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-lookupCtx.Done():
				errs[i] = lookupCtx.Err()
				return
			}
			found[i], errs[i] = a.discoverIn(lookupCtx, tg)
			if errs[i] != nil {
				cancel() // the answer fails anyway: spare AWS the other calls
			}
		})
	}
	wg.Wait()

	var first error
	for i, err := range errs {
		if err == nil || (errors.Is(err, context.Canceled) && ctx.Err() == nil) {
			continue // cancelled here because another look-up failed
		}
		tg := a.targets[i]
		level, code, uerr := lookupError(err)
		a.logger.Log(ctx, level, "cluster discovery failed", "account", tg.account, "region", tg.region, "code", code, "err", err)
		if first == nil {
			first = uerr
		}
	}
	if first != nil {
		return nil, first
	}
	return a.merge(found), nil
}

// merge flattens the clusters found per target, keeping the first of
// clusters that share an ID, and sorts them by ID.
func (a *AWS) merge(found [][]astrobot.Cluster) []astrobot.Cluster {
	var out []astrobot.Cluster
	byID := make(map[string]astrobot.Cluster)
	for _, cs := range found {
		for _, c := range cs {
			if prev, ok := byID[c.ID]; ok {
				if prev.AccountID != c.AccountID || prev.Region != c.Region || prev.VPCID != c.VPCID {
					a.logger.Warn("cluster discovery: two VPCs carry the same cluster ID; keeping the first",
						"cluster", c.ID, "kept_vpc", prev.VPCID, "kept_account", prev.AccountID, "kept_region", prev.Region,
						"skipped_vpc", c.VPCID, "skipped_account", c.AccountID, "skipped_region", c.Region)
				}
				continue
			}
			byID[c.ID] = c
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(x, y astrobot.Cluster) int { return cmp.Compare(x.ID, y.ID) })
	return out
}

// discoverIn looks up the clusters of one account and region.
func (a *AWS) discoverIn(ctx context.Context, tg target) ([]astrobot.Cluster, error) {
	var clusters []astrobot.Cluster
	vpcs := ec2.NewDescribeVpcsPaginator(tg.client, &ec2.DescribeVpcsInput{
		Filters:    []types.Filter{{Name: aws.String("tag-key"), Values: []string{a.clusterTag}}},
		MaxResults: aws.Int32(pageSize),
	})
	for vpcs.HasMorePages() {
		page, err := vpcs.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe VPCs: %w", err)
		}
		for _, v := range page.Vpcs {
			if c, ok := a.cluster(v, tg); ok {
				clusters = append(clusters, c)
			}
		}
	}
	if len(clusters) == 0 {
		return nil, nil
	}
	ips, err := natIPs(ctx, tg.client, clusters)
	if err != nil {
		return nil, err
	}
	for i := range clusters {
		clusters[i].ExternalIPs = ips[clusters[i].VPCID]
	}
	return clusters, nil
}

// cluster turns a tagged VPC into a cluster without external IPs. It reports
// false, and logs why, for a VPC that does not describe a cluster.
func (a *AWS) cluster(v types.Vpc, tg target) (astrobot.Cluster, bool) {
	tags := make(map[string]string, len(v.Tags))
	for _, t := range v.Tags {
		tags[aws.ToString(t.Key)] = strings.TrimSpace(aws.ToString(t.Value))
	}
	c := astrobot.Cluster{
		ID:           tags[a.clusterTag],
		Name:         tags["Name"],
		Organization: tags[a.orgTag],
		Region:       tg.region,
		AccountID:    aws.ToString(v.OwnerId),
		VPCID:        aws.ToString(v.VpcId),
	}
	log := a.logger.With("vpc", c.VPCID, "account", c.AccountID, "region", tg.region)
	switch {
	case c.ID == "":
		log.Warn("cluster discovery: skipping a VPC whose cluster tag is empty", "tag", a.clusterTag)
		return astrobot.Cluster{}, false
	case c.Organization == "":
		log.Warn("cluster discovery: skipping a cluster VPC without an organization tag", "cluster", c.ID, "tag", a.orgTag)
		return astrobot.Cluster{}, false
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	for _, assoc := range v.CidrBlockAssociationSet {
		if assoc.CidrBlockState == nil || assoc.CidrBlockState.State != types.VpcCidrBlockStateCodeAssociated {
			continue
		}
		p, err := netip.ParsePrefix(aws.ToString(assoc.CidrBlock))
		if err != nil {
			log.Warn("cluster discovery: ignoring a CIDR block AWS returned", "cluster", c.ID, "cidr", aws.ToString(assoc.CidrBlock), "err", err)
			continue
		}
		c.CIDRs = append(c.CIDRs, p)
	}
	return c, true
}

// natIPs returns the public IPs of the available NAT gateways of the clusters'
// VPCs, sorted, by VPC ID.
func natIPs(ctx context.Context, client *ec2.Client, clusters []astrobot.Cluster) (map[string][]netip.Addr, error) {
	ids := make([]string, len(clusters))
	for i, c := range clusters {
		ids[i] = c.VPCID
	}
	ips := make(map[string][]netip.Addr, len(ids))
	for chunk := range slices.Chunk(ids, maxFilterValues) {
		nats := ec2.NewDescribeNatGatewaysPaginator(client, &ec2.DescribeNatGatewaysInput{
			Filter: []types.Filter{
				{Name: aws.String("vpc-id"), Values: chunk},
				{Name: aws.String("state"), Values: []string{string(types.NatGatewayStateAvailable)}},
			},
			MaxResults: aws.Int32(pageSize),
		})
		for nats.HasMorePages() {
			page, err := nats.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("describe NAT gateways: %w", err)
			}
			for _, n := range page.NatGateways {
				vpc := aws.ToString(n.VpcId)
				for _, addr := range n.NatGatewayAddresses {
					ip, err := netip.ParseAddr(aws.ToString(addr.PublicIp))
					if err != nil || slices.Contains(ips[vpc], ip) {
						continue // a private NAT gateway has no public IP
					}
					ips[vpc] = append(ips[vpc], ip)
				}
			}
		}
	}
	for _, list := range ips {
		slices.SortFunc(list, netip.Addr.Compare)
	}
	return ips, nil
}

// attemptTags are the tags of a resource of type rt that astrobot creates in
// the VPC of cl for the attempt of r: the request, the attempt, the cluster,
// and the request as its Name.
func attemptTags(rt types.ResourceType, r astrobot.Request, attempt int, cl astrobot.Cluster) []types.TagSpecification {
	return []types.TagSpecification{{ResourceType: rt, Tags: []types.Tag{
		{Key: aws.String(requestTag), Value: aws.String(r.Ref())},
		{Key: aws.String(attemptTag), Value: aws.String(strconv.Itoa(attempt))},
		{Key: aws.String(DefaultClusterTag), Value: aws.String(cl.ID)},
		{Key: aws.String("Name"), Value: aws.String(r.Ref())},
	}}}
}

// tagMap returns tags by key.
func tagMap(tags []types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// lookup is how describeIDs looks up one kind of AWS resource, T, by ID.
type lookup[T any] struct {
	// byID describes the resources of at most maxIDsPerCall IDs.
	byID func(ctx context.Context, ids []string) ([]T, error)
	// byFilter describes the resources of a filter on at most
	// maxFilterValues IDs.
	byFilter func(ctx context.Context, ids []string) ([]T, error)
	// notFound reports whether an error of byID is AWS refusing the whole
	// call because it no longer knows one of the IDs.
	notFound func(error) bool
	// id returns the ID of a resource.
	id func(T) string
	// gone is what describeIDs says of the resource id that AWS no longer
	// knows.
	gone func(id string) T
}

// describeIDs returns the resources ids, keyed by ID, with one call of
// l.byID per maxIDsPerCall IDs. When AWS refuses such a call because it no
// longer knows one of its IDs, describeIDs asks again with l.byFilter, which
// AWS answers with the resources it still knows. A resource AWS does not
// answer with comes back as l.gone says; one it answers with but that was not
// asked for is left out. Duplicate and empty IDs are ignored.
func describeIDs[T any](ctx context.Context, ids []string, l lookup[T]) (map[string]T, error) {
	ids = uniqueIDs(ids)
	out := make(map[string]T, len(ids))
	for chunk := range slices.Chunk(ids, maxIDsPerCall) {
		items, err := l.byID(ctx, chunk)
		if l.notFound(err) {
			items, err = nil, nil
			for part := range slices.Chunk(chunk, maxFilterValues) {
				var got []T
				if got, err = l.byFilter(ctx, part); err != nil {
					break
				}
				items = append(items, got...)
			}
		}
		if err != nil {
			return nil, err
		}
		for _, item := range items {
			if id := l.id(item); slices.Contains(chunk, id) {
				out[id] = item
			}
		}
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			out[id] = l.gone(id)
		}
	}
	return out, nil
}

// uniqueIDs returns ids sorted, without duplicates and without "".
func uniqueIDs(ids []string) []string {
	return slices.DeleteFunc(slices.Compact(slices.Sorted(slices.Values(ids))), func(id string) bool { return id == "" })
}
