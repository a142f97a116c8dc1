package astrobot

import (
	"fmt"
	"net/netip"
	"strings"
)

// KindTransitGateway is an attachment of the cluster VPC to a transit gateway
// of the customer, shared with the cluster's AWS account through AWS RAM.
const KindTransitGateway Kind = "transit_gateway"

// Statuses of a transit gateway attachment between approved and active,
// besides StatusPendingAcceptance (the customer accepts the attachment) and
// StatusConfiguring (routes on the Astro side).
const (
	StatusWaitingShare Status = "waiting_share" // the customer shares the transit gateway with the cluster's account
	StatusAttaching    Status = "attaching"     // the cluster VPC is attached to the transit gateway
)

// The steps of a transit gateway attachment, besides ActAccepted,
// ActConfigured, ActFail, ActExpire, ActDecline and ActDelete, which it shares
// with peering.
const (
	ActAwaitShare        Action = "await_share"
	ActShareAccepted     Action = "share_accepted"
	ActAttachmentCreated Action = "attachment_created"
)

// Form fields of a transit gateway attachment, besides FieldAccount and
// FieldCIDRs.
const (
	FieldTGW   = "tgw"
	FieldShare = "share"
)

// MaxTransitGatewaysPerCluster is how many open or active transit gateway
// requests one cluster may have: AWS allows 5 transit gateway attachments on
// one VPC.
const MaxTransitGatewaysPerCluster = 5

// TransitGatewaySpec is what a transit gateway request asks for: the
// customer's transit gateway and the account that owns it, optionally the RAM
// resource share it is (or will be) shared through, and the customer CIDRs
// the cluster VPC routes to it. The transit gateway is in the cluster's
// region: an attachment reaches no other.
type TransitGatewaySpec struct {
	AccountID string         `json:"account"`
	TGWID     string         `json:"tgw"`
	ShareARN  string         `json:"share,omitempty"`
	CIDRs     []netip.Prefix `json:"cidrs"`
}

// Kind implements Spec.
func (TransitGatewaySpec) Kind() Kind { return KindTransitGateway }

// Key implements Spec: the transit gateway.
func (s TransitGatewaySpec) Key() string { return s.TGWID + " in account " + s.AccountID }

// Routes implements Spec: the CIDRs routed to the transit gateway.
func (s TransitGatewaySpec) Routes() []netip.Prefix { return s.CIDRs }

// ARN returns the ARN of the transit gateway in region, as RAM shares name it.
func (s TransitGatewaySpec) ARN(region string) string {
	return fmt.Sprintf("arn:aws:ec2:%s:%s:transit-gateway/%s", region, s.AccountID, s.TGWID)
}

// transitGatewayKind defines transit gateway attachments.
type transitGatewayKind struct{}

func (transitGatewayKind) Kind() Kind     { return KindTransitGateway }
func (transitGatewayKind) Prefix() string { return "TGW" }
func (transitGatewayKind) Slug() string   { return "tgw" }
func (transitGatewayKind) Title() string  { return "Transit gateway attachment" }
func (transitGatewayKind) Choose() string {
	return "Attach the cluster's VPC to a transit gateway of yours in the cluster's region, to reach the networks behind it. You give the transit gateway ID and the CIDRs to route."
}
func (transitGatewayKind) Intro(cl *Cluster) string {
	s := "Attach an Astro cluster's VPC to a transit gateway of yours. You share the transit gateway with the cluster's AWS account through AWS RAM; Astro accepts the share, attaches the VPC and routes your CIDRs to it; you accept the attachment and route the Astro CIDRs back."
	if cl != nil {
		return s + fmt.Sprintf(" Cluster %s is in %s, in AWS account %s: your transit gateway must be in %s too. From another region, peer your transit gateway with one in %s (transit gateway peering) and attach that one.",
			cl.Name, cl.Region, cl.AccountID, cl.Region, cl.Region)
	}
	return s + " The transit gateway must be in the cluster's region; from another region, use transit gateway peering."
}

func (transitGatewayKind) Fields() []Field {
	return []Field{
		{Name: FieldAccount, Label: "AWS account of the transit gateway", Hint: "12 digits", Placeholder: "123456789012", MaxLength: 14},
		{Name: FieldTGW, Label: "Transit gateway ID", Placeholder: "tgw-0abc12345678def90", MaxLength: 21, Key: true,
			Hint: "VPC → Transit gateways, in the cluster's region."},
		{Name: FieldShare, Label: "RAM resource share ARN (optional)", Placeholder: "arn:aws:ram:us-east-1:123456789012:resource-share/0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b",
			MaxLength: 120, Optional: true,
			Hint: "If you already share the transit gateway: Resource Access Manager → Shared by me → Resource shares → its ARN. Otherwise leave it empty: you will be told how to share it."},
		{Name: FieldCIDRs, Label: "CIDR blocks routed to the transit gateway", Placeholder: "10.20.0.0/16", Type: InputLines, MaxLength: 200, Routes: true,
			Hint: "Your networks the cluster should reach, separated by commas or new lines. They must not overlap the cluster's VPC."},
	}
}

func (transitGatewayKind) Parse(in Input, cl *Cluster) (Spec, []string, error) {
	s := TransitGatewaySpec{
		AccountID: NormalizeAccountID(in[FieldAccount]),
		TGWID:     strings.ToLower(strings.TrimSpace(in[FieldTGW])),
		ShareARN:  strings.ToLower(strings.TrimSpace(in[FieldShare])),
	}
	fields := map[string]string{}
	check := func(field string, err error) {
		if err != nil && fields[field] == "" {
			fields[field] = ErrorMessageOf(err)
		}
	}
	accountErr := ValidateAccountID(s.AccountID)
	check(FieldAccount, accountErr)
	check(FieldTGW, ValidateTransitGatewayID(s.TGWID))
	if s.ShareARN != "" {
		region, account, err := ParseShareARN(s.ShareARN)
		check(FieldShare, err)
		switch {
		case err != nil:
		case cl != nil && region != cl.Region:
			check(FieldShare, Errorf(EInvalid, "This share is in %s, but cluster %s is in %s: a VPC attaches only to a transit gateway of its own region. Share a transit gateway in %s; to reach your networks in %s, peer that transit gateway with one there (transit gateway peering).",
				region, cl.Name, cl.Region, cl.Region, region))
		case accountErr == nil && account != s.AccountID:
			check(FieldShare, Errorf(EInvalid, "This share belongs to account %s, but you gave %s as the transit gateway's account: only the account that owns the transit gateway can share it.",
				account, s.AccountID))
		}
	}
	cidrs, warnings, err := ParseCIDRs(in[FieldCIDRs])
	check(FieldCIDRs, err)
	if err == nil && cl != nil {
		check(FieldCIDRs, CheckClusterOverlap(*cl, cidrs))
	}
	if len(fields) > 0 {
		return nil, nil, &Error{Code: EInvalid, Message: "Some fields need fixing.", Fields: fields}
	}
	s.CIDRs = cidrs
	return s, warnings, nil
}

func (transitGatewayKind) DecodeSpec(data []byte) (Spec, error) {
	return decodeSpec[TransitGatewaySpec](data)
}

func (transitGatewayKind) Limit() (int, string) {
	return MaxTransitGatewaysPerCluster, "the most transit gateway attachments AWS allows on one VPC"
}

func (transitGatewayKind) States() []State {
	return []State{
		{StatusApproved, OwnerBot, "Astro looks for the transit gateway from the cluster's AWS account and accepts its RAM share.", true},
		{StatusWaitingShare, OwnerCustomer, "The customer must share the transit gateway with the cluster's AWS account through AWS RAM; Astro accepts the share and checks every few minutes.", true},
		{StatusAttaching, OwnerBot, "The cluster VPC is being attached to the transit gateway.", true},
		{StatusPendingAcceptance, OwnerCustomer, "The customer must accept the attachment of the cluster VPC on their transit gateway.", true},
		{StatusConfiguring, OwnerBot, "Routes to the customer's CIDRs through the transit gateway are being added on the Astro side.", true},
		{StatusActive, OwnerNone, "The cluster VPC is attached and routes the customer's CIDRs to the transit gateway. The customer routes the Astro CIDRs back.", false},
		{StatusFailed, OwnerSupport, "The attachment could not be set up. Support will look into it and retry, which makes a new attachment.", true},
		{StatusExpired, OwnerSupport, "The RAM share invitation expired before it was accepted. Support can retry once the customer shares the transit gateway again.", true},
		{StatusDeclined, OwnerSupport, "The attachment was rejected on the customer's transit gateway. Support can retry, which makes a new attachment.", true},
		{StatusDeleted, OwnerNone, "The attachment was deleted in AWS; nothing more will happen.", false},
	}
}

func (transitGatewayKind) Steps() []Rule {
	pending := []Status{StatusPendingAcceptance}
	share := []Status{StatusApproved, StatusWaitingShare}
	return []Rule{
		{Action: ActAwaitShare, From: []Status{StatusApproved}, To: StatusWaitingShare, Who: Workers(), Verb: "asked for the RAM share of",
			Button: "Share needed"},
		{Action: ActShareAccepted, From: share, To: StatusAttaching, Who: Workers(), Verb: "accepted the RAM share for",
			Button: "Share accepted"},
		{Action: ActAttachmentCreated, From: []Status{StatusAttaching}, To: StatusPendingAcceptance, Who: Workers(), Verb: "attached the cluster VPC for",
			Button: "Attachment created", Resource: true},
		{Action: ActAccepted, From: pending, To: StatusConfiguring, Who: Workers(), Verb: "saw the customer accept", Button: "Customer accepted"},
		{Action: ActConfigured, From: []Status{StatusConfiguring}, To: StatusActive, Who: Workers(), Verb: "finished the routes for", Button: "Routes done"},
		{Action: ActFail, From: []Status{StatusApproved, StatusWaitingShare, StatusAttaching, StatusPendingAcceptance, StatusConfiguring}, To: StatusFailed,
			Who: Workers(), Verb: "marked failed"},
		{Action: ActExpire, From: share, To: StatusExpired, Who: Workers(), Verb: "saw the share invitation expire for"},
		{Action: ActDecline, From: pending, To: StatusDeclined, Who: Workers(), Verb: "saw the customer reject"},
		{Action: ActDelete, From: []Status{StatusActive}, To: StatusDeleted, Who: Workers(), Verb: "saw the deletion of"},
	}
}

func (transitGatewayKind) Resource() Resource {
	return Resource{Label: "Transit gateway attachment ID", Hint: "The tgw-attach-… ID of the attachment of the cluster VPC you created.",
		Example: "tgw-attach-0abc12345678def90", Validate: ValidateAttachmentID}
}

func (d transitGatewayKind) Next(r *Request) string {
	s := NextOf(d, r.Status)
	p, _ := r.Spec.(TransitGatewaySpec)
	switch {
	case r.Status == StatusWaitingShare:
		s += fmt.Sprintf(" Share `%s` from account %s.", p.TGWID, p.AccountID)
	case r.Status == StatusPendingAcceptance && r.Resource != "" && r.Details[DetailAcceptance] == "automatic":
		s = fmt.Sprintf("The transit gateway `%s` accepts attachments by itself: the attachment `%s` becomes available within minutes.", p.TGWID, r.Resource)
	case r.Status == StatusPendingAcceptance && r.Resource != "":
		s += fmt.Sprintf(" Accept `%s` on `%s` in account %s.", r.Resource, p.TGWID, p.AccountID)
	case r.Status == StatusActive && r.Resource != "":
		s = fmt.Sprintf("The cluster VPC is attached to `%s` through `%s` and routes %s to it. The customer routes the Astro CIDRs back.",
			p.TGWID, r.Resource, CodeList(Strings(p.CIDRs)))
	}
	return s
}

func (transitGatewayKind) Facts(r *Request) []Fact {
	p, _ := r.Spec.(TransitGatewaySpec)
	facts := []Fact{
		{"AWS account", []string{p.AccountID}},
		{"Transit gateway", []string{p.TGWID}},
	}
	if p.ShareARN != "" {
		facts = append(facts, Fact{"RAM share", []string{p.ShareARN}})
	}
	facts = append(facts, Fact{"CIDRs", Strings(p.CIDRs)})
	if r.Resource != "" {
		facts = append(facts, Fact{"Attachment", []string{r.Resource}})
	}
	return facts
}

func (transitGatewayKind) Instructions(r *Request, cl Cluster) *Instructions {
	p, _ := r.Spec.(TransitGatewaySpec)
	switch {
	case r.Status == StatusWaitingShare:
		return &Instructions{
			Title: fmt.Sprintf("Share the transit gateway with the cluster's AWS account %s through AWS RAM, in account %s, region %s", cl.AccountID, p.AccountID, cl.Region),
			Steps: []Step{tgwShareStep(p, cl)},
		}
	case r.Status == StatusPendingAcceptance && r.Resource != "" && r.Details[DetailAcceptance] != "automatic":
		return &Instructions{
			Title: fmt.Sprintf("Accept the attachment in account %s, region %s, one of three ways", p.AccountID, cl.Region),
			Steps: []Step{{
				Console:   fmt.Sprintf("VPC → Transit gateway attachments (region %s) → select `%s` → Actions → Accept transit gateway attachment.", cl.Region, r.Resource),
				CLI:       []string{fmt.Sprintf("aws ec2 accept-transit-gateway-vpc-attachment --transit-gateway-attachment-id %s --region %s", r.Resource, cl.Region)},
				Terraform: fmt.Sprintf("resource \"aws_ec2_transit_gateway_vpc_attachment_accepter\" \"astro\" {\n  transit_gateway_attachment_id = \"%s\"\n}", r.Resource),
			}},
		}
	case r.Status == StatusActive && r.Resource != "":
		return tgwRemainingSteps(p, r.Resource, cl)
	}
	return nil
}

// tgwShareStep is how the customer shares the transit gateway of p with the
// account of cl: a new resource share, or the one the request names.
func tgwShareStep(p TransitGatewaySpec, cl Cluster) Step {
	arn := p.ARN(cl.Region)
	note := fmt.Sprintf("Astro accepts the share's invitation in account %s within minutes. Inside one AWS Organization with resource sharing turned on, no invitation is needed. If an earlier invitation to account %s expired, remove the account from the share and add it again.",
		cl.AccountID, cl.AccountID)
	if p.ShareARN == "" {
		name := "astro-" + cl.Name
		return Step{
			Title:   fmt.Sprintf("Share the transit gateway `%s` with the AWS account of cluster %s (%s)", p.TGWID, cl.Name, cl.AccountID),
			Console: fmt.Sprintf("Resource Access Manager (region %s) → Create resource share → Resources: Transit Gateways → `%s` → Principals: allow sharing with anyone, AWS account `%s` → Create resource share.", cl.Region, p.TGWID, cl.AccountID),
			CLI: []string{fmt.Sprintf("aws ram create-resource-share --name %s --resource-arns %s --principals %s --allow-external-principals --region %s",
				name, arn, cl.AccountID, cl.Region)},
			Terraform: fmt.Sprintf("resource \"aws_ram_resource_share\" \"astro\" {\n  name                      = \"%s\"\n  allow_external_principals = true\n}\n\n"+
				"resource \"aws_ram_resource_association\" \"astro\" {\n  resource_arn       = \"%s\"\n  resource_share_arn = aws_ram_resource_share.astro.arn\n}\n\n"+
				"resource \"aws_ram_principal_association\" \"astro\" {\n  principal          = \"%s\"\n  resource_share_arn = aws_ram_resource_share.astro.arn\n}",
				name, arn, cl.AccountID),
			Note: note,
		}
	}
	return Step{
		Title:   fmt.Sprintf("Add the transit gateway `%s` and the AWS account of cluster %s (%s) to your resource share", p.TGWID, cl.Name, cl.AccountID),
		Console: fmt.Sprintf("Resource Access Manager (region %s) → Shared by me: Resource shares → select `%s` → Modify → add the transit gateway `%s` and the AWS account `%s` → Save.", cl.Region, p.ShareARN, p.TGWID, cl.AccountID),
		CLI: []string{fmt.Sprintf("aws ram associate-resource-share --resource-share-arn %s --resource-arns %s --principals %s --region %s",
			p.ShareARN, arn, cl.AccountID, cl.Region)},
		Terraform: fmt.Sprintf("resource \"aws_ram_resource_association\" \"astro\" {\n  resource_arn       = \"%s\"\n  resource_share_arn = \"%s\"\n}\n\n"+
			"resource \"aws_ram_principal_association\" \"astro\" {\n  principal          = \"%s\"\n  resource_share_arn = \"%s\"\n}",
			arn, p.ShareARN, cl.AccountID, p.ShareARN),
		Note: "The share must allow external principals, unless both accounts are in one AWS Organization. " + note,
	}
}

// tgwRemainingSteps lists what the customer still does once the attachment
// att is active, with every value filled in.
func tgwRemainingSteps(p TransitGatewaySpec, att string, cl Cluster) *Instructions {
	var tgwCLI, vpcCLI, sgCLI []string
	var tgwTF, vpcTF, sgTF strings.Builder
	for i, c := range cl.CIDRs {
		tgwCLI = append(tgwCLI, fmt.Sprintf("aws ec2 create-transit-gateway-route --destination-cidr-block %s --transit-gateway-route-table-id <your-tgw-route-table-id> --transit-gateway-attachment-id %s --region %s", c, att, cl.Region))
		fmt.Fprintf(&tgwTF, "resource \"aws_ec2_transit_gateway_route\" \"astro_%d\" {\n  destination_cidr_block         = \"%s\"\n  transit_gateway_route_table_id = \"<your-tgw-route-table-id>\"\n  transit_gateway_attachment_id  = \"%s\"\n}\n", i, c, att)
		vpcCLI = append(vpcCLI, fmt.Sprintf("aws ec2 create-route --route-table-id <your-route-table-id> --destination-cidr-block %s --transit-gateway-id %s --region %s", c, p.TGWID, cl.Region))
		fmt.Fprintf(&vpcTF, "resource \"aws_route\" \"astro_%d\" {\n  route_table_id         = \"<your-route-table-id>\"\n  destination_cidr_block = \"%s\"\n  transit_gateway_id     = \"%s\"\n}\n", i, c, p.TGWID)
		sgCLI = append(sgCLI, fmt.Sprintf("aws ec2 authorize-security-group-ingress --group-id <your-sg-id> --protocol tcp --port <port> --cidr %s --region %s", c, cl.Region))
		fmt.Fprintf(&sgTF, "resource \"aws_vpc_security_group_ingress_rule\" \"astro_%d\" {\n  security_group_id = \"<your-sg-id>\"\n  cidr_ipv4         = \"%s\"\n  ip_protocol       = \"tcp\"\n  from_port         = \"<port>\"\n  to_port           = \"<port>\"\n}\n", i, c)
	}
	return &Instructions{
		Title: fmt.Sprintf("Your remaining steps (the Astro side is done: VPC `%s` attached through `%s`, CIDRs %s, region %s)", cl.VPCID, att, CodeList(Strings(cl.CIDRs)), cl.Region),
		Steps: []Step{
			{
				Title:     fmt.Sprintf("Route the Astro CIDRs to the attachment `%s` in the route table of your transit gateway `%s`", att, p.TGWID),
				CLI:       tgwCLI,
				Terraform: strings.TrimSuffix(tgwTF.String(), "\n"),
				Note:      "Or propagate the attachment into that route table, if your transit gateway does not do it by itself.",
			},
			{
				Title:     "If your transit gateway does not associate new attachments with a route table by itself, associate this one with the route table its traffic should use",
				CLI:       []string{fmt.Sprintf("aws ec2 associate-transit-gateway-route-table --transit-gateway-route-table-id <your-tgw-route-table-id> --transit-gateway-attachment-id %s --region %s", att, cl.Region)},
				Terraform: fmt.Sprintf("resource \"aws_ec2_transit_gateway_route_table_association\" \"astro\" {\n  transit_gateway_attachment_id  = \"%s\"\n  transit_gateway_route_table_id = \"<your-tgw-route-table-id>\"\n}", att),
			},
			{
				Title:     fmt.Sprintf("Route the Astro CIDRs to the transit gateway `%s` in each route table of your VPCs that should reach the cluster", p.TGWID),
				CLI:       vpcCLI,
				Terraform: strings.TrimSuffix(vpcTF.String(), "\n"),
			},
			{
				Title:     "Let Astro in through your security groups: one rule per Astro CIDR, for each port the cluster uses",
				CLI:       sgCLI,
				Terraform: strings.TrimSuffix(sgTF.String(), "\n"),
			},
			{
				Title: "Resolve Astro's private DNS names from your side, if you need them",
				Note:  "DNS does not cross a transit gateway: use Route 53 Resolver rules, or ask support to associate a private hosted zone with the cluster VPC.",
			},
		},
	}
}

// ValidateTransitGatewayID checks a transit gateway ID: "tgw-" and 17
// lowercase hex digits.
func ValidateTransitGatewayID(s string) error {
	hex, ok := strings.CutPrefix(s, "tgw-")
	if !ok || len(hex) != 17 || strings.Trim(hex, "0123456789abcdef") != "" {
		return Errorf(EInvalid, "A transit gateway ID is tgw- followed by 17 hex digits, like tgw-0abc12345678def90; got %s.", Quote(s))
	}
	return nil
}

// ValidateAttachmentID checks a transit gateway attachment ID: "tgw-attach-"
// and 17 lowercase hex digits.
func ValidateAttachmentID(s string) error {
	hex, ok := strings.CutPrefix(s, "tgw-attach-")
	if !ok || len(hex) != 17 || strings.Trim(hex, "0123456789abcdef") != "" {
		return Errorf(EInvalid, "A transit gateway attachment ID is tgw-attach- followed by 17 hex digits, like tgw-attach-0abc12345678def90; got %s.", Quote(s))
	}
	return nil
}

// ParseShareARN checks the ARN of a RAM resource share,
// arn:aws:ram:<region>:<account>:resource-share/<uuid> in lower case, and
// returns its region and account.
func ParseShareARN(s string) (region, account string, err error) {
	bad := Errorf(EInvalid, "A RAM resource share ARN looks like arn:aws:ram:us-east-1:123456789012:resource-share/0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b (Resource Access Manager → Shared by me → Resource shares); got %s.", Quote(s))
	parts := strings.Split(s, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != "aws" || parts[2] != "ram" {
		return "", "", bad
	}
	id, ok := strings.CutPrefix(parts[5], "resource-share/")
	if !ok || !isUUID(id) || ValidateAccountID(parts[4]) != nil {
		return "", "", bad
	}
	if ValidateRegion(parts[3]) != nil {
		return "", "", Errorf(EInvalid, "%s names the region %s, which is not an AWS region.", Quote(s), Quote(parts[3]))
	}
	return parts[3], parts[4], nil
}

// isUUID reports whether s is a UUID in lower case: 8-4-4-4-12 hex digits.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}
