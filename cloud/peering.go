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
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// PeeringState is the AWS status code of a peering connection.
type PeeringState string

// The AWS status codes of a peering connection.
const (
	PeeringInitiating   PeeringState = "initiating-request"
	PeeringPending      PeeringState = "pending-acceptance"
	PeeringProvisioning PeeringState = "provisioning"
	PeeringActive       PeeringState = "active"
	PeeringFailed       PeeringState = "failed"
	PeeringExpired      PeeringState = "expired"
	PeeringRejected     PeeringState = "rejected"
	PeeringDeleting     PeeringState = "deleting"
	PeeringDeleted      PeeringState = "deleted"
)

// Ended reports whether a peering connection in state s is over: failed,
// rejected, expired, deleting or deleted. It carries no traffic and never will.
func (s PeeringState) Ended() bool {
	switch s {
	case PeeringFailed, PeeringRejected, PeeringExpired, PeeringDeleting, PeeringDeleted:
		return true
	}
	return false
}

const (
	// pendingLifetime is how long AWS keeps a peering connection waiting for
	// acceptance before it expires. It cannot be changed.
	pendingLifetime = 7 * 24 * time.Hour
)

// PeeringOptions configure Peerings.
type PeeringOptions struct {
	// Roles maps the AWS account ID of a cluster to the ARN of the role to
	// assume to act in that account. Clusters in the account of the SDK
	// configuration's credentials need none.
	Roles map[string]string
	// Logger receives one entry per failed AWS call and one per change made.
	// Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Peerings makes and tends VPC peering connections from cluster VPCs to
// customer VPCs. It is safe for concurrent use.
type Peerings struct {
	clients *Clients
	failer  Failer
	logger  *slog.Logger
	now     func() time.Time
}

// Peering is the state of a peering connection as AWS reports it.
type Peering struct {
	ID            string // pcx-…
	Status        PeeringState
	Message       string         // AWS status message
	ExpiresAt     time.Time      // when a pending connection expires; zero if unknown
	AccepterCIDRs []netip.Prefix // every CIDR block of the customer VPC, as AWS sees it
}

// NewPeerings returns Peerings that act with cfg, built by the caller (usually
// with config.LoadDefaultConfig, which honours AWS_ENDPOINT_URL). Clients for
// each account and region are made on first use; credentials of assumed roles
// are cached and refreshed before they expire.
func NewPeerings(cfg aws.Config, opts PeeringOptions) *Peerings {
	p := &Peerings{clients: NewClients(cfg, opts.Roles), logger: opts.Logger, now: opts.Now}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.failer = Failer{Clients: p.clients, Logger: p.logger, Prefix: "peering"}
	return p
}

// fail reports a failed call of the attempt to do what in tg.
func (p *Peerings) fail(ctx context.Context, tg target, what string, err error, attrs ...any) error {
	return p.failer.Fail(ctx, tg.account, tg.region, what, err, attrs...)
}

// Create makes the peering connection from the VPC of cluster to the peer VPC
// of r, tagged with the request ID and the attempt. It is idempotent: when a
// connection of the same request and attempt between the same VPCs exists and
// has not ended (failed, rejected, expired, deleting or deleted), Create
// returns it instead of making another, so a crash between Create and storing
// its answer never leaves two. A retry after the connection ended passes the
// next attempt, which makes a new one. When AWS gives a new connection no
// expiration time (moto does not), ExpiresAt is Now plus the 7 days AWS allows.
func (p *Peerings) Create(ctx context.Context, cluster astrobot.Cluster, r astrobot.Request, attempt int) (Peering, error) {
	tg := p.clients.target(cluster.AccountID, cluster.Region)
	spec, _ := r.Spec.(astrobot.PeeringSpec)
	log := []any{"request", r.Ref(), "cluster", cluster.ID}
	existing, err := p.findCreated(ctx, tg, cluster, r, attempt)
	if err != nil {
		return Peering{}, p.fail(ctx, tg, "look up peering connections", err, log...)
	}
	if existing != nil {
		p.logger.InfoContext(ctx, "peering: reusing the connection made earlier", append(log, "pcx", existing.ID, "status", existing.Status)...)
		return *existing, nil
	}

	out, err := tg.client.CreateVpcPeeringConnection(ctx, &ec2.CreateVpcPeeringConnectionInput{
		VpcId:             aws.String(cluster.VPCID),
		PeerOwnerId:       aws.String(spec.AccountID),
		PeerRegion:        aws.String(spec.Region),
		PeerVpcId:         aws.String(spec.VPCID),
		TagSpecifications: attemptTags(types.ResourceTypeVpcPeeringConnection, r, attempt, cluster),
	})
	if err != nil {
		return Peering{}, p.fail(ctx, tg, "create peering connections", err, log...)
	}
	if out.VpcPeeringConnection == nil {
		return Peering{}, p.fail(ctx, tg, "create peering connections", errors.New("create VPC peering connection: AWS answered without a connection"), log...)
	}
	pc := p.peering(*out.VpcPeeringConnection)
	if pc.ExpiresAt.IsZero() {
		pc.ExpiresAt = p.now().Add(pendingLifetime)
	}
	p.logger.InfoContext(ctx, "peering: created a connection", append(log, "pcx", pc.ID, "status", pc.Status,
		"account", tg.account, "region", tg.region, "peer_account", spec.AccountID, "peer_region", spec.Region, "peer_vpc", spec.VPCID)...)
	return pc, nil
}

// findCreated returns the connection an earlier Create made for the same
// request, attempt and VPCs and that has not ended, or nil. moto ignores
// describe filters, so the tags and VPCs are checked here too.
func (p *Peerings) findCreated(ctx context.Context, tg target, cluster astrobot.Cluster, r astrobot.Request, attempt int) (*Peering, error) {
	want := map[string]string{requestTag: r.Ref(), attemptTag: strconv.Itoa(attempt)}
	peerVPC := r.Spec.(astrobot.PeeringSpec).VPCID
	filters := []types.Filter{{Name: aws.String("requester-vpc-info.vpc-id"), Values: []string{cluster.VPCID}}}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		filters = append(filters, types.Filter{Name: aws.String("tag:" + k), Values: []string{want[k]}})
	}
	pages := ec2.NewDescribeVpcPeeringConnectionsPaginator(tg.client, &ec2.DescribeVpcPeeringConnectionsInput{
		Filters:    filters,
		MaxResults: aws.Int32(pageSize),
	})
	var found []Peering
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe VPC peering connections: %w", err)
		}
		for _, c := range page.VpcPeeringConnections {
			tags := tagMap(c.Tags)
			if tags[requestTag] != want[requestTag] || tags[attemptTag] != want[attemptTag] ||
				vpcOf(c.RequesterVpcInfo) != cluster.VPCID || vpcOf(c.AccepterVpcInfo) != peerVPC {
				continue
			}
			if pc := p.peering(c); !pc.Status.Ended() {
				found = append(found, pc)
			}
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	slices.SortFunc(found, func(a, b Peering) int { return cmp.Compare(a.ID, b.ID) })
	if len(found) > 1 {
		p.logger.WarnContext(ctx, "peering: more than one live connection carries the same request and attempt; using the first",
			"request", r.Ref(), "attempt", attempt, "pcx", found[0].ID, "others", len(found)-1, "account", tg.account, "region", tg.region)
	}
	return &found[0], nil
}

func vpcOf(info *types.VpcPeeringConnectionVpcInfo) string {
	if info == nil {
		return ""
	}
	return aws.ToString(info.VpcId)
}

// peering converts what AWS says about a connection.
func (p *Peerings) peering(c types.VpcPeeringConnection) Peering {
	pc := Peering{ID: aws.ToString(c.VpcPeeringConnectionId), ExpiresAt: aws.ToTime(c.ExpirationTime)}
	if c.Status != nil {
		pc.Status, pc.Message = PeeringState(c.Status.Code), aws.ToString(c.Status.Message)
	}
	if info := c.AccepterVpcInfo; info != nil {
		blocks := []string{aws.ToString(info.CidrBlock)}
		for _, b := range info.CidrBlockSet {
			blocks = append(blocks, aws.ToString(b.CidrBlock))
		}
		for _, b := range blocks {
			if b == "" {
				continue
			}
			prefix, err := netip.ParsePrefix(b)
			if err != nil {
				p.logger.Warn("peering: ignoring an accepter CIDR block AWS returned", "pcx", pc.ID, "cidr", b, "err", err)
				continue
			}
			if !slices.Contains(pc.AccepterCIDRs, prefix) {
				pc.AccepterCIDRs = append(pc.AccepterCIDRs, prefix)
			}
		}
		slices.SortFunc(pc.AccepterCIDRs, netip.Prefix.Compare)
	}
	return pc
}

// Describe returns the state of the peering connections ids, all in account
// and region, keyed by ID, with one DescribeVpcPeeringConnections call per
// 1000 IDs. A connection AWS no longer knows comes back with status
// PeeringDeleted. When AWS refuses the whole call because it no longer knows
// one of the IDs, Describe asks again with a filter on the IDs, which AWS
// answers with the connections it still knows.
func (p *Peerings) Describe(ctx context.Context, account, region string, ids []string) (map[string]Peering, error) {
	tg := p.clients.target(account, region)
	out, err := describeIDs(ctx, ids, lookup[Peering]{
		byID: func(ctx context.Context, ids []string) ([]Peering, error) {
			return p.describe(ctx, tg.client, "by ID", &ec2.DescribeVpcPeeringConnectionsInput{VpcPeeringConnectionIds: ids})
		},
		byFilter: func(ctx context.Context, ids []string) ([]Peering, error) {
			return p.describe(ctx, tg.client, "by filter", &ec2.DescribeVpcPeeringConnectionsInput{
				Filters: []types.Filter{{Name: aws.String("vpc-peering-connection-id"), Values: ids}}, MaxResults: aws.Int32(pageSize)})
		},
		notFound: peeringNotFound,
		id:       func(pc Peering) string { return pc.ID },
		gone: func(id string) Peering {
			return Peering{ID: id, Status: PeeringDeleted, Message: "AWS no longer knows this peering connection."}
		},
	})
	if err != nil {
		return nil, p.fail(ctx, tg, "look up peering connections", err, "pcx_count", len(uniqueIDs(ids)))
	}
	return out, nil
}

// describe returns the peering connections DescribeVpcPeeringConnections
// answers in with, every page. how names the way it asks, in errors: "by ID".
func (p *Peerings) describe(ctx context.Context, client *ec2.Client, how string, in *ec2.DescribeVpcPeeringConnectionsInput) ([]Peering, error) {
	var out []Peering
	pages := ec2.NewDescribeVpcPeeringConnectionsPaginator(client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe VPC peering connections %s: %w", how, err)
		}
		for _, c := range page.VpcPeeringConnections {
			out = append(out, p.peering(c))
		}
	}
	return out, nil
}

// Configure does the Astro side of the active peering connection
// r.Resource: a route to every customer CIDR through the connection in every
// route table of the cluster VPC, and DNS resolution of the customer VPC's
// private names from the cluster VPC. Running it again changes nothing. A route
// to one of the CIDRs that goes elsewhere is an EConflict error naming the
// route table, the CIDR and where the route goes; astrobot never replaces it.
func (p *Peerings) Configure(ctx context.Context, cluster astrobot.Cluster, r astrobot.Request) error {
	if r.Resource == "" {
		return astrobot.Errorf(astrobot.EInvalid, "%s has no peering connection yet: create it before setting up routes.", r.Ref())
	}
	pcx := r.Resource
	tg := p.clients.target(cluster.AccountID, cluster.Region)
	log := []any{"request", r.Ref(), "cluster", cluster.ID, "pcx", pcx}
	tables, added, err := addRoutes(ctx, p.failer, tg, cluster, peeringGateway(pcx), r.Spec.Routes(), log)
	if err != nil {
		return err
	}
	_, err = tg.client.ModifyVpcPeeringConnectionOptions(ctx, &ec2.ModifyVpcPeeringConnectionOptionsInput{
		VpcPeeringConnectionId:            aws.String(pcx),
		RequesterPeeringConnectionOptions: &types.PeeringConnectionOptionsRequest{AllowDnsResolutionFromRemoteVpc: aws.Bool(true)},
	})
	if err != nil {
		return p.fail(ctx, tg, "change peering connection options", err, log...)
	}
	p.logger.InfoContext(ctx, "peering: configured routes and DNS", append(log, "route_tables", tables, "routes_added", added)...)
	return nil
}

// Delete deletes the peering connection pcxID of the cluster's VPC, which
// cancels it while it waits for acceptance. A connection that is already gone
// or has ended counts as deleted.
func (p *Peerings) Delete(ctx context.Context, cluster astrobot.Cluster, pcxID string) error {
	tg := p.clients.target(cluster.AccountID, cluster.Region)
	log := []any{"cluster", cluster.ID, "pcx", pcxID}
	_, err := tg.client.DeleteVpcPeeringConnection(ctx, &ec2.DeleteVpcPeeringConnectionInput{VpcPeeringConnectionId: aws.String(pcxID)})
	switch {
	case err == nil:
		p.logger.InfoContext(ctx, "peering: deleted a connection", append(log, "account", tg.account, "region", tg.region)...)
		return nil
	case peeringNotFound(err):
		return nil
	case isCode(err, "InvalidStateTransition"):
		// AWS deletes only pending and active connections: look whether this
		// one ended already.
		got, derr := p.Describe(ctx, cluster.AccountID, cluster.Region, []string{pcxID})
		if derr != nil {
			return derr
		}
		if got[pcxID].Status.Ended() {
			return nil
		}
	}
	return p.fail(ctx, tg, "delete peering connections", err, log...)
}

// Explain says in a sentence for the requester what the AWS status of the
// peering connection means and what to do about it.
func Explain(p Peering) string {
	switch p.Status {
	case PeeringFailed:
		s := fmt.Sprintf("The peering connection %s failed (overlapping CIDR, wrong account or wrong VPC ID): check the account ID, region and VPC ID, and that the CIDRs do not overlap the Astro VPC.", p.ID)
		if p.Message != "" {
			s += fmt.Sprintf(" AWS says: %q.", p.Message)
		}
		return s
	case PeeringRejected:
		return fmt.Sprintf("The peering connection %s was rejected in your AWS account. If that was a mistake, ask support to retry the request.", p.ID)
	case PeeringExpired:
		return fmt.Sprintf("The peering connection %s was not accepted within 7 days and expired. Ask support to retry the request, then accept the new connection in your AWS account.", p.ID)
	case PeeringDeleting, PeeringDeleted:
		return fmt.Sprintf("The peering connection %s was deleted in AWS; the VPCs are not connected through it any more.", p.ID)
	case PeeringPending:
		s := fmt.Sprintf("The peering connection %s waits for you to accept it in your AWS account, in the region of your VPC", p.ID)
		if !p.ExpiresAt.IsZero() {
			s += ", before " + p.ExpiresAt.UTC().Format("2 Jan 2006 15:04 UTC")
		}
		return s + "."
	case PeeringInitiating, PeeringProvisioning:
		return fmt.Sprintf("AWS is setting up the peering connection %s.", p.ID)
	case PeeringActive:
		return fmt.Sprintf("The peering connection %s is active.", p.ID)
	}
	s := fmt.Sprintf("The peering connection %s is in the AWS state %q.", p.ID, p.Status)
	if p.Message != "" {
		s += fmt.Sprintf(" AWS says: %q.", p.Message)
	}
	return s
}

// peeringNotFound reports whether err is AWS not knowing a peering
// connection. AWS spells the code InvalidVpcPeeringConnectionID.NotFound,
// moto InvalidVpcPeeringConnectionId.NotFound.
func peeringNotFound(err error) bool { return isCode(err, "InvalidVpcPeeringConnectionID.NotFound") }
