package cloud

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ram"
	ramtypes "github.com/aws/aws-sdk-go-v2/service/ram/types"
)

// AttachmentState is the state of a transit gateway attachment, as AWS
// spells it ("pendingAcceptance").
type AttachmentState string

// The states of a transit gateway attachment.
const (
	AttachmentInitiating        AttachmentState = "initiating"
	AttachmentInitiatingRequest AttachmentState = "initiatingRequest"
	AttachmentPendingAcceptance AttachmentState = "pendingAcceptance"
	AttachmentPending           AttachmentState = "pending"
	AttachmentAvailable         AttachmentState = "available"
	AttachmentModifying         AttachmentState = "modifying"
	AttachmentRollingBack       AttachmentState = "rollingBack"
	AttachmentRejecting         AttachmentState = "rejecting"
	AttachmentRejected          AttachmentState = "rejected"
	AttachmentFailing           AttachmentState = "failing"
	AttachmentFailed            AttachmentState = "failed"
	AttachmentDeleting          AttachmentState = "deleting"
	AttachmentDeleted           AttachmentState = "deleted"
)

// attachmentState returns the state AWS reported, as one of the constants
// whatever its case, or as AWS spelled it when it is none of them.
func attachmentState(s string) AttachmentState {
	for _, known := range []AttachmentState{AttachmentInitiating, AttachmentInitiatingRequest, AttachmentPendingAcceptance, AttachmentPending,
		AttachmentAvailable, AttachmentModifying, AttachmentRollingBack, AttachmentRejecting, AttachmentRejected, AttachmentFailing,
		AttachmentFailed, AttachmentDeleting, AttachmentDeleted} {
		if strings.EqualFold(s, string(known)) {
			return known
		}
	}
	return AttachmentState(s)
}

// Ended reports whether an attachment in state s is over or on its way out:
// rolling back, rejecting, rejected, failing, failed, deleting or deleted. It
// carries no traffic and never will.
func (s AttachmentState) Ended() bool {
	switch s {
	case AttachmentRollingBack, AttachmentRejecting, AttachmentRejected, AttachmentFailing, AttachmentFailed, AttachmentDeleting, AttachmentDeleted:
		return true
	}
	return false
}

// settling reports whether an attachment in state s is ending but not gone:
// AWS still counts it against the VPC.
func (s AttachmentState) settling() bool {
	switch s {
	case AttachmentRollingBack, AttachmentRejecting, AttachmentFailing, AttachmentDeleting:
		return true
	}
	return false
}

// The tag that marks the subnets of a cluster VPC an attachment uses:
// astrobot attaches the VPC in one subnet tagged astro:subnet=private per
// availability zone.
const (
	SubnetTag     = "astro:subnet"
	PrivateSubnet = "private"
)

// Invitation statuses of a RAM resource share, as RAM spells them.
const (
	InvitationPending  = string(ramtypes.ResourceShareInvitationStatusPending)
	InvitationAccepted = string(ramtypes.ResourceShareInvitationStatusAccepted)
	InvitationRejected = string(ramtypes.ResourceShareInvitationStatusRejected)
	InvitationExpired  = string(ramtypes.ResourceShareInvitationStatusExpired)
)

// TransitGatewayOptions configure TransitGateways.
type TransitGatewayOptions struct {
	// Roles maps the AWS account ID of a cluster to the ARN of the role to
	// assume to act in that account.
	Roles map[string]string
	// Logger receives one entry per failed AWS call and one per change made.
	// Default: discard.
	Logger *slog.Logger
}

// TransitGateways attaches cluster VPCs to the transit gateways of customers:
// it accepts the RAM share of a transit gateway in the cluster's account,
// attaches the VPC, routes the customer's CIDRs to the transit gateway and
// takes it all down again. It is safe for concurrent use.
type TransitGateways struct {
	clients *Clients
	failer  Failer
	logger  *slog.Logger

	mu  sync.Mutex
	ram map[clientKey]*ram.Client
}

// NewTransitGateways returns TransitGateways that act with cfg, built by the
// caller (usually with config.LoadDefaultConfig, which honours
// AWS_ENDPOINT_URL).
func NewTransitGateways(cfg aws.Config, opts TransitGatewayOptions) *TransitGateways {
	t := &TransitGateways{clients: NewClients(cfg, opts.Roles), logger: opts.Logger, ram: map[clientKey]*ram.Client{}}
	if t.logger == nil {
		t.logger = slog.New(slog.DiscardHandler)
	}
	t.failer = Failer{Clients: t.clients, Logger: t.logger, Prefix: "tgw"}
	return t
}

// TransitGateway is a customer's transit gateway as the cluster's account
// sees it.
type TransitGateway struct {
	ID         string
	Owner      string // the AWS account that owns it
	State      string // pending, available, modifying, deleting, deleted
	AutoAccept bool   // it accepts the attachments of accounts it is shared with by itself
}

// Invitation is an invitation to a RAM resource share that the cluster's
// account received.
type Invitation struct {
	ARN       string
	ShareARN  string
	ShareName string
	Sender    string // the account that shares
	Status    string // InvitationPending, …
	SentAt    time.Time
}

// Share is what Share found of a transit gateway: whether the cluster's
// account sees it, and the invitation that decides what happens next when
// it does not.
type Share struct {
	// TGW is the transit gateway, or nil when the cluster's account does not
	// see it in the cluster's region.
	TGW *TransitGateway
	// Invitation is the invitation Share accepted, or the rejected or
	// expired invitation that stops the request; nil when neither is.
	Invitation *Invitation
	// Accepted says Share accepted Invitation just now.
	Accepted bool
}

// Share looks for the transit gateway of r from the cluster's account, in
// the cluster's region. A transit gateway it sees (inside one AWS
// Organization no invitation is needed) must belong to the account r names
// and not be deleted, or Share returns an EConflict *astrobot.Error saying
// so. One it does not see yet is looked for in the RAM share invitations the
// cluster's account received: the newest pending one from the share r names
// (or, when it names none, from the transit gateway's account) that holds
// the transit gateway is accepted. Otherwise Share reports the newest
// rejected or expired invitation of that share (of that account, sent since
// r was filed, when r names no share), or nothing: the customer has not
// shared the transit gateway yet. Failed AWS calls come back as EInternal
// errors from Failer.
func (t *TransitGateways) Share(ctx context.Context, cl astrobot.Cluster, r astrobot.Request) (Share, error) {
	spec, _ := r.Spec.(astrobot.TransitGatewaySpec)
	tg := t.clients.target(cl.AccountID, cl.Region)
	log := []any{"request", r.Ref(), "cluster", cl.ID, "tgw", spec.TGWID}
	tgw, err := t.describeTGW(ctx, tg, spec, log)
	if err != nil {
		return Share{}, err
	}
	if tgw != nil {
		return Share{TGW: tgw}, nil
	}
	client := t.ramClient(cl)
	invs, err := invitations(ctx, client, spec.ShareARN)
	if err != nil {
		return Share{}, t.fail(ctx, tg, "look up resource share invitations", err, log...)
	}
	invs = slices.DeleteFunc(invs, func(inv Invitation) bool {
		if spec.ShareARN != "" {
			return inv.ShareARN != spec.ShareARN
		}
		return inv.Sender != spec.AccountID
	})
	slices.SortFunc(invs, func(a, b Invitation) int { return cmp.Or(b.SentAt.Compare(a.SentAt), cmp.Compare(a.ARN, b.ARN)) })
	tgwARN := spec.ARN(cl.Region)
	for _, inv := range invs {
		if inv.Status != InvitationPending {
			continue
		}
		holds, err := holdsResource(ctx, client, inv.ARN, tgwARN)
		if err != nil {
			return Share{}, t.fail(ctx, tg, "look up the resources of share invitations", err, append(log, "invitation", inv.ARN)...)
		}
		if !holds {
			continue
		}
		status, err := t.accept(ctx, tg, client, r, inv)
		if err != nil {
			return Share{}, err
		}
		inv.Status = status
		if status != InvitationAccepted {
			return Share{Invitation: &inv}, nil
		}
		tgw, err := t.describeTGW(ctx, tg, spec, log) // it usually shows up at once
		if err != nil {
			return Share{}, err
		}
		return Share{TGW: tgw, Invitation: &inv, Accepted: true}, nil
	}
	for _, inv := range invs {
		if spec.ShareARN == "" && inv.SentAt.Before(r.CreatedAt) {
			break // older invitations from the account may be of other shares
		}
		switch inv.Status {
		case InvitationRejected, InvitationExpired:
			return Share{Invitation: &inv}, nil
		}
		if spec.ShareARN != "" {
			break // the newest invitation of the share decides
		}
	}
	return Share{}, nil
}

// accept accepts inv and returns its status then: accepted, or rejected or
// expired when RAM says it was meanwhile.
func (t *TransitGateways) accept(ctx context.Context, tg target, client *ram.Client, r astrobot.Request, inv Invitation) (string, error) {
	_, err := client.AcceptResourceShareInvitation(ctx, &ram.AcceptResourceShareInvitationInput{
		ResourceShareInvitationArn: aws.String(inv.ARN),
		ClientToken:                aws.String(fmt.Sprintf("astrobot-%s-%d", r.Ref(), r.Attempt+1)),
	})
	switch {
	case err == nil, isCode(err, "ResourceShareInvitationAlreadyAcceptedException"):
		t.logger.InfoContext(ctx, "tgw: accepted a resource share invitation", "request", r.Ref(), "invitation", inv.ARN, "share", inv.ShareARN,
			"sender", inv.Sender, "account", tg.account, "region", tg.region)
		return InvitationAccepted, nil
	case isCode(err, "ResourceShareInvitationAlreadyRejectedException"):
		return InvitationRejected, nil
	case isCode(err, "ResourceShareInvitationExpiredException"):
		return InvitationExpired, nil
	}
	return "", t.fail(ctx, tg, "accept resource share invitations", err, "request", r.Ref(), "invitation", inv.ARN)
}

// describeTGW returns the transit gateway of spec as the account of tg sees
// it in the region of tg, or nil when it does not. One it sees must belong to
// the account of spec and not be deleted, or describeTGW returns an
// EConflict error saying so.
func (t *TransitGateways) describeTGW(ctx context.Context, tg target, spec astrobot.TransitGatewaySpec, log []any) (*TransitGateway, error) {
	out, err := tg.client.DescribeTransitGateways(ctx, &ec2.DescribeTransitGatewaysInput{TransitGatewayIds: []string{spec.TGWID}})
	if isCode(err, "InvalidTransitGatewayID.NotFound") {
		return nil, nil
	}
	if err != nil {
		return nil, t.fail(ctx, tg, "look up transit gateways", fmt.Errorf("describe transit gateways: %w", err), log...)
	}
	i := slices.IndexFunc(out.TransitGateways, func(g types.TransitGateway) bool { return aws.ToString(g.TransitGatewayId) == spec.TGWID })
	if i < 0 {
		return nil, nil
	}
	g := out.TransitGateways[i]
	tgw := &TransitGateway{ID: spec.TGWID, Owner: aws.ToString(g.OwnerId), State: string(g.State)}
	if g.Options != nil {
		tgw.AutoAccept = strings.EqualFold(string(g.Options.AutoAcceptSharedAttachments), string(types.AutoAcceptSharedAttachmentsValueEnable))
	}
	switch {
	case tgw.Owner != "" && tgw.Owner != spec.AccountID:
		return nil, astrobot.Errorf(astrobot.EConflict, "The transit gateway %s belongs to account %s, not to %s as the request says: check the transit gateway ID and the account, and file a new request.",
			spec.TGWID, tgw.Owner, spec.AccountID)
	case strings.EqualFold(tgw.State, string(types.TransitGatewayStateDeleting)) || strings.EqualFold(tgw.State, string(types.TransitGatewayStateDeleted)):
		return nil, astrobot.Errorf(astrobot.EConflict, "The transit gateway %s is %s in account %s, so nothing can attach to it: file a new request for the transit gateway that replaces it.",
			spec.TGWID, strings.ToLower(tgw.State), spec.AccountID)
	}
	return tgw, nil
}

// invitations returns the resource share invitations of the account of
// client, those of share only when share is not "".
func invitations(ctx context.Context, client *ram.Client, share string) ([]Invitation, error) {
	in := &ram.GetResourceShareInvitationsInput{MaxResults: aws.Int32(100)}
	if share != "" {
		in.ResourceShareArns = []string{share}
	}
	var out []Invitation
	pages := ram.NewGetResourceShareInvitationsPaginator(client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("get resource share invitations: %w", err)
		}
		for _, i := range page.ResourceShareInvitations {
			out = append(out, Invitation{ARN: aws.ToString(i.ResourceShareInvitationArn), ShareARN: strings.ToLower(aws.ToString(i.ResourceShareArn)),
				ShareName: aws.ToString(i.ResourceShareName), Sender: aws.ToString(i.SenderAccountId), Status: string(i.Status), SentAt: aws.ToTime(i.InvitationTimestamp)})
		}
	}
	return out, nil
}

// holdsResource reports whether the pending invitation holds the resource
// arn.
func holdsResource(ctx context.Context, client *ram.Client, invitation, arn string) (bool, error) {
	pages := ram.NewListPendingInvitationResourcesPaginator(client, &ram.ListPendingInvitationResourcesInput{
		ResourceShareInvitationArn: aws.String(invitation), MaxResults: aws.Int32(100)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return false, fmt.Errorf("list pending invitation resources: %w", err)
		}
		for _, res := range page.Resources {
			if strings.EqualFold(aws.ToString(res.Arn), arn) {
				return true, nil
			}
		}
	}
	return false, nil
}

// Attachment is a transit gateway attachment of a cluster VPC as AWS
// reports it.
type Attachment struct {
	ID      string // tgw-attach-…
	TGW     string
	VPC     string
	State   AttachmentState
	Subnets []string
	Tags    map[string]string
}

// DetachingError is what Create returns while an attachment of an earlier
// attempt of the request is still going away: AWS allows one attachment of a
// VPC to a transit gateway, so the new one waits.
type DetachingError struct {
	ID    string // the attachment going away
	State AttachmentState
}

func (e *DetachingError) Error() string {
	return fmt.Sprintf("the earlier attachment %s is %s; the new one waits until it is gone", e.ID, e.State)
}

// Create attaches the cluster VPC to the transit gateway tgw of r, in one
// subnet tagged astro:subnet=private per availability zone, tagged with the
// request and the attempt. It is idempotent: the attachment of the same
// request and attempt to the same transit gateway that has not ended is
// returned instead of a new one, so a crash between Create and storing its
// answer never leaves two. The live attachments of the request's earlier
// attempts are deleted, and Create returns a *DetachingError until they are
// gone. An attachment of the VPC to the transit gateway that is not the
// request's, and a VPC without tagged subnets, are EInternal errors for
// support that say what to do.
func (t *TransitGateways) Create(ctx context.Context, cl astrobot.Cluster, r astrobot.Request, attempt int, tgw TransitGateway) (Attachment, error) {
	spec, _ := r.Spec.(astrobot.TransitGatewaySpec)
	tg := t.clients.target(cl.AccountID, cl.Region)
	log := []any{"request", r.Ref(), "cluster", cl.ID, "tgw", spec.TGWID}
	existing, err := t.attachmentsOf(ctx, tg, cl.VPCID, spec.TGWID)
	if err != nil {
		return Attachment{}, t.fail(ctx, tg, "look up transit gateway attachments", err, log...)
	}
	var current *Attachment
	var waiting *DetachingError
	for _, a := range existing {
		switch {
		case a.State == AttachmentDeleted || a.State.Ended() && !a.State.settling():
		case a.State.settling():
			waiting = &DetachingError{ID: a.ID, State: a.State}
		case a.Tags[requestTag] == r.Ref() && a.Tags[attemptTag] == strconv.Itoa(attempt):
			if current == nil {
				current = &a
			}
		case a.Tags[requestTag] == r.Ref():
			if err := t.DeleteAttachment(ctx, cl, a.ID); err != nil {
				return Attachment{}, err
			}
			waiting = &DetachingError{ID: a.ID, State: AttachmentDeleting}
		default:
			who := "astrobot did not make it"
			if req := a.Tags[requestTag]; req != "" {
				who = "it belongs to " + req
			}
			return Attachment{}, astrobot.Errorf(astrobot.EInternal, "VPC %s of cluster %s (account %s, %s) is already attached to the transit gateway %s through %s, and %s: AWS allows one attachment of a VPC to a transit gateway. Delete that attachment, or record it on the card if it is this request's.",
				cl.VPCID, cl.ID, tg.account, tg.region, spec.TGWID, a.ID, who)
		}
	}
	if current != nil {
		t.logger.InfoContext(ctx, "tgw: reusing the attachment made earlier", append(log, "attachment", current.ID, "state", current.State)...)
		return *current, nil
	}
	if waiting != nil {
		return Attachment{}, waiting
	}
	subnets, err := t.subnets(ctx, tg, cl)
	if err != nil {
		return Attachment{}, t.fail(ctx, tg, "look up subnets", err, log...)
	}
	if len(subnets) == 0 {
		return Attachment{}, astrobot.Errorf(astrobot.EInternal, "VPC %s of cluster %s (account %s, %s) has no subnet tagged %s=%s, so astrobot does not know where to attach it: tag the cluster's private subnets, one per availability zone.",
			cl.VPCID, cl.ID, tg.account, tg.region, SubnetTag, PrivateSubnet)
	}
	out, err := tg.client.CreateTransitGatewayVpcAttachment(ctx, &ec2.CreateTransitGatewayVpcAttachmentInput{
		TransitGatewayId:  aws.String(spec.TGWID),
		VpcId:             aws.String(cl.VPCID),
		SubnetIds:         subnets,
		TagSpecifications: attemptTags(types.ResourceTypeTransitGatewayAttachment, r, attempt, cl),
	})
	if err != nil {
		return Attachment{}, t.fail(ctx, tg, "create transit gateway VPC attachments", err, log...)
	}
	if out.TransitGatewayVpcAttachment == nil || aws.ToString(out.TransitGatewayVpcAttachment.TransitGatewayAttachmentId) == "" {
		return Attachment{}, t.fail(ctx, tg, "create transit gateway VPC attachments", errors.New("create transit gateway VPC attachment: AWS answered without an attachment"), log...)
	}
	a := attachment(*out.TransitGatewayVpcAttachment)
	t.logger.InfoContext(ctx, "tgw: attached a VPC", append(log, "attachment", a.ID, "state", a.State,
		"account", tg.account, "region", tg.region, "subnets", strings.Join(subnets, ","))...)
	return a, nil
}

// attachmentsOf returns the attachments of vpc to the transit gateway tgw.
// The VPC and the transit gateway are checked here too, whatever the filters
// did.
func (t *TransitGateways) attachmentsOf(ctx context.Context, tg target, vpc, tgw string) ([]Attachment, error) {
	all, err := describeAttachments(ctx, tg.client, &ec2.DescribeTransitGatewayVpcAttachmentsInput{
		Filters: []types.Filter{
			{Name: aws.String("vpc-id"), Values: []string{vpc}},
			{Name: aws.String("transit-gateway-id"), Values: []string{tgw}},
		},
		MaxResults: aws.Int32(pageSize),
	})
	if err != nil {
		return nil, err
	}
	var out []Attachment
	for _, a := range all {
		if a.VPC == vpc && a.TGW == tgw {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b Attachment) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// subnets returns one subnet of the cluster VPC tagged astro:subnet=private
// per availability zone, the lowest ID of each zone, in the order of the
// zone IDs.
func (t *TransitGateways) subnets(ctx context.Context, tg target, cl astrobot.Cluster) ([]string, error) {
	pages := ec2.NewDescribeSubnetsPaginator(tg.client, &ec2.DescribeSubnetsInput{
		Filters: []types.Filter{
			{Name: aws.String("vpc-id"), Values: []string{cl.VPCID}},
			{Name: aws.String("tag:" + SubnetTag), Values: []string{PrivateSubnet}},
		},
		MaxResults: aws.Int32(pageSize),
	})
	byZone := map[string]string{}
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe subnets: %w", err)
		}
		for _, s := range page.Subnets {
			zone, id := cmp.Or(aws.ToString(s.AvailabilityZoneId), aws.ToString(s.AvailabilityZone)), aws.ToString(s.SubnetId)
			if aws.ToString(s.VpcId) != cl.VPCID || tagMap(s.Tags)[SubnetTag] != PrivateSubnet || zone == "" {
				continue
			}
			if prev, ok := byZone[zone]; !ok || id < prev {
				byZone[zone] = id
			}
		}
	}
	var out []string
	for _, zone := range slices.Sorted(maps.Keys(byZone)) {
		out = append(out, byZone[zone])
	}
	return out, nil
}

// attachment converts what AWS says about an attachment.
func attachment(a types.TransitGatewayVpcAttachment) Attachment {
	return Attachment{ID: aws.ToString(a.TransitGatewayAttachmentId), TGW: aws.ToString(a.TransitGatewayId), VPC: aws.ToString(a.VpcId),
		State: attachmentState(string(a.State)), Subnets: slices.Sorted(slices.Values(a.SubnetIds)), Tags: tagMap(a.Tags)}
}

func describeAttachments(ctx context.Context, client *ec2.Client, in *ec2.DescribeTransitGatewayVpcAttachmentsInput) ([]Attachment, error) {
	var out []Attachment
	pages := ec2.NewDescribeTransitGatewayVpcAttachmentsPaginator(client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe transit gateway VPC attachments: %w", err)
		}
		for _, a := range page.TransitGatewayVpcAttachments {
			out = append(out, attachment(a))
		}
	}
	return out, nil
}

// Describe returns the state of the attachments ids, all in account and
// region, keyed by ID, with one DescribeTransitGatewayVpcAttachments call per
// 1000 IDs. An attachment AWS no longer knows comes back in state
// AttachmentDeleted. When AWS refuses the whole call because it no longer
// knows one of the IDs, Describe asks again with a filter on the IDs, which
// AWS answers with the attachments it still knows.
func (t *TransitGateways) Describe(ctx context.Context, account, region string, ids []string) (map[string]Attachment, error) {
	tg := t.clients.target(account, region)
	out, err := describeIDs(ctx, ids, lookup[Attachment]{
		byID: func(ctx context.Context, ids []string) ([]Attachment, error) {
			return describeAttachments(ctx, tg.client, &ec2.DescribeTransitGatewayVpcAttachmentsInput{TransitGatewayAttachmentIds: ids})
		},
		byFilter: func(ctx context.Context, ids []string) ([]Attachment, error) {
			return describeAttachments(ctx, tg.client, &ec2.DescribeTransitGatewayVpcAttachmentsInput{
				Filters: []types.Filter{{Name: aws.String("transit-gateway-attachment-id"), Values: ids}}, MaxResults: aws.Int32(pageSize)})
		},
		notFound: func(err error) bool { return isCode(err, "InvalidTransitGatewayAttachmentID.NotFound") },
		id:       func(a Attachment) string { return a.ID },
		gone:     func(id string) Attachment { return Attachment{ID: id, State: AttachmentDeleted} },
	})
	if err != nil {
		return nil, t.fail(ctx, tg, "look up transit gateway attachments", err, "attachment_count", len(uniqueIDs(ids)))
	}
	return out, nil
}

// Configure does the Astro side of r's available attachment: a route to
// every customer CIDR through the transit gateway in every route table of the
// cluster VPC. Running it again changes nothing. A route to one of the CIDRs
// that goes elsewhere is an EConflict error naming the route table, the CIDR
// and where the route goes; astrobot never replaces it, and adds no route
// before every one is known to be free.
func (t *TransitGateways) Configure(ctx context.Context, cl astrobot.Cluster, r astrobot.Request) error {
	spec, _ := r.Spec.(astrobot.TransitGatewaySpec)
	tg := t.clients.target(cl.AccountID, cl.Region)
	log := []any{"request", r.Ref(), "cluster", cl.ID, "tgw", spec.TGWID, "attachment", r.Resource}
	tables, added, err := addRoutes(ctx, t.failer, tg, cl, transitGateway(spec.TGWID), spec.CIDRs, log)
	if err != nil {
		return err
	}
	t.logger.InfoContext(ctx, "tgw: configured routes", append(log, "route_tables", tables, "routes_added", added)...)
	return nil
}

// Cleanup takes down what r holds in the cluster's account: the routes to
// the customer's CIDRs through the transit gateway in the cluster VPC, then
// the attachment r.Resource. What is gone already counts as done.
func (t *TransitGateways) Cleanup(ctx context.Context, cl astrobot.Cluster, r astrobot.Request) error {
	spec, _ := r.Spec.(astrobot.TransitGatewaySpec)
	tg := t.clients.target(cl.AccountID, cl.Region)
	log := []any{"request", r.Ref(), "cluster", cl.ID, "tgw", spec.TGWID}
	tables, err := vpcRouteTables(ctx, tg.client, cl.VPCID)
	if err != nil {
		return t.fail(ctx, tg, "look up route tables", err, log...)
	}
	for _, tbl := range tables {
		for _, cidr := range spec.CIDRs {
			if to, ok := routeTo(tbl, cidr); !ok || to != spec.TGWID {
				continue
			}
			_, err := tg.client.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: tbl.RouteTableId, DestinationCidrBlock: aws.String(cidr.String())})
			if err != nil && !isCode(err, "InvalidRoute.NotFound") {
				return t.fail(ctx, tg, "delete routes", err, append(log, "route_table", aws.ToString(tbl.RouteTableId), "cidr", cidr.String())...)
			}
		}
	}
	if r.Resource == "" {
		return nil
	}
	return t.DeleteAttachment(ctx, cl, r.Resource)
}

// DeleteAttachment deletes the attachment id of the cluster VPC, which
// withdraws it while it waits for acceptance. One that is already gone or
// going counts as deleted.
func (t *TransitGateways) DeleteAttachment(ctx context.Context, cl astrobot.Cluster, id string) error {
	tg := t.clients.target(cl.AccountID, cl.Region)
	log := []any{"cluster", cl.ID, "attachment", id}
	_, err := tg.client.DeleteTransitGatewayVpcAttachment(ctx, &ec2.DeleteTransitGatewayVpcAttachmentInput{TransitGatewayAttachmentId: aws.String(id)})
	switch {
	case err == nil:
		t.logger.InfoContext(ctx, "tgw: deleted an attachment", append(log, "account", tg.account, "region", tg.region)...)
		return nil
	case isCode(err, "InvalidTransitGatewayAttachmentID.NotFound"):
		return nil
	case isCode(err, "IncorrectState"):
		// AWS deletes attachments that are pending acceptance, pending or
		// available: look whether this one is going already.
		got, derr := t.Describe(ctx, cl.AccountID, cl.Region, []string{id})
		if derr != nil {
			return derr
		}
		if got[id].State.Ended() {
			return nil
		}
	}
	return t.fail(ctx, tg, "delete transit gateway VPC attachments", err, log...)
}

// ramClient returns the RAM client acting in the cluster's account and
// region: invitations arrive in the region of their share.
func (t *TransitGateways) ramClient(cl astrobot.Cluster) *ram.Client {
	key := clientKey{cl.AccountID, cl.Region}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.ram[key]; ok {
		return c
	}
	c := ram.NewFromConfig(t.clients.Config(cl.AccountID, cl.Region))
	t.ram[key] = c
	return c
}

// fail reports a failed call of the attempt to do what in tg.
func (t *TransitGateways) fail(ctx context.Context, tg target, what string, err error, attrs ...any) error {
	return t.failer.Fail(ctx, tg.account, tg.region, what, err, attrs...)
}

// ExplainAttachment says in plain words for the requester what the state of
// the attachment a means, and what support can do.
func ExplainAttachment(a Attachment) string {
	switch a.State {
	case AttachmentRejecting, AttachmentRejected:
		return fmt.Sprintf("The attachment %s of the cluster VPC was rejected on your transit gateway. If that was a mistake, ask support to retry the request: Astro then makes a new attachment for you to accept.", a.ID)
	case AttachmentFailing, AttachmentFailed, AttachmentRollingBack:
		return fmt.Sprintf("AWS could not set up the attachment %s of the cluster VPC to your transit gateway. Support can look into it and retry the request, which makes a new attachment.", a.ID)
	case AttachmentDeleting, AttachmentDeleted:
		return fmt.Sprintf("The attachment %s of the cluster VPC to your transit gateway was deleted in AWS. Support can retry the request, which makes a new attachment.", a.ID)
	case AttachmentPendingAcceptance:
		return fmt.Sprintf("The attachment %s waits for you to accept it on your transit gateway.", a.ID)
	case AttachmentAvailable:
		return fmt.Sprintf("The attachment %s is available.", a.ID)
	case AttachmentInitiating, AttachmentInitiatingRequest, AttachmentPending, AttachmentModifying:
		return fmt.Sprintf("AWS is setting up the attachment %s.", a.ID)
	}
	return fmt.Sprintf("The attachment %s is in the AWS state %q.", a.ID, a.State)
}

// ExplainInvitation says in plain words why the rejected or expired
// invitation inv stops the request of cluster cl, and what support can do.
func ExplainInvitation(inv Invitation, cl astrobot.Cluster) string {
	share := inv.ShareARN
	if inv.ShareName != "" {
		share = fmt.Sprintf("%s (%s)", inv.ShareName, inv.ShareARN)
	}
	again := fmt.Sprintf("To send a new invitation, remove account %s from the share's principals and add it again; then support retries the request and astrobot accepts it.", cl.AccountID)
	switch inv.Status {
	case InvitationRejected:
		return fmt.Sprintf("The invitation to the RAM share %s from account %s was rejected in the cluster's account %s, so the transit gateway is not shared with the cluster. %s", share, inv.Sender, cl.AccountID, again)
	case InvitationExpired:
		return fmt.Sprintf("The invitation to the RAM share %s from account %s expired before it was accepted in the cluster's account %s. %s", share, inv.Sender, cl.AccountID, again)
	}
	return fmt.Sprintf("The invitation to the RAM share %s from account %s is %s.", share, inv.Sender, strings.ToLower(inv.Status))
}

// ExplainMissingTGW says in plain words why the transit gateway of spec
// cannot be attached to cluster cl: the cluster's account does not see it in
// the cluster's region although the share was accepted.
func ExplainMissingTGW(spec astrobot.TransitGatewaySpec, cl astrobot.Cluster) string {
	return fmt.Sprintf("The transit gateway %s does not show up for the cluster's account %s in %s, although its RAM share was accepted: the share does not hold it, or it is in another region. A VPC attaches only to a transit gateway of its own region (%s); to reach a transit gateway elsewhere, peer it with one in %s (transit gateway peering) and share that one. Support can retry the request once the share holds a transit gateway in %s.",
		spec.TGWID, cl.AccountID, cl.Region, cl.Region, cl.Region, cl.Region)
}
