package astrobot

import (
	"fmt"
	"net/netip"
	"strings"
)

// KindPeering is VPC peering between the cluster VPC and a customer VPC.
const KindPeering Kind = "vpc_peering"

// Statuses of a peering between approved and active.
const (
	StatusPendingAcceptance Status = "pending_acceptance" // the customer accepts the peering connection
	StatusConfiguring       Status = "configuring"        // routes and DNS on the Astro side
)

// The steps of a peering.
const (
	ActPeeringCreated Action = "peering_created"
	ActAccepted       Action = "accepted"
	ActConfigured     Action = "configured"
	ActFail           Action = "fail"
	ActExpire         Action = "expire"
	ActDecline        Action = "decline"
	ActDelete         Action = "delete"
)

// MaxPeeringsPerCluster is how many open or active peering requests one
// cluster may have: AWS's hard limit of peering connections per VPC.
const MaxPeeringsPerCluster = 125

// PeeringSpec is the customer side of a peering: their account, region, VPC
// and its CIDRs.
type PeeringSpec struct {
	AccountID string         `json:"account"`
	Region    string         `json:"region"`
	VPCID     string         `json:"vpc"`
	CIDRs     []netip.Prefix `json:"cidrs"`
}

// Kind implements Spec.
func (PeeringSpec) Kind() Kind { return KindPeering }

// Key implements Spec: the customer's VPC.
func (s PeeringSpec) Key() string { return s.VPCID + " in account " + s.AccountID }

// Routes implements Spec: the customer VPC's CIDRs.
func (s PeeringSpec) Routes() []netip.Prefix { return s.CIDRs }

// peeringKind defines VPC peering.
type peeringKind struct{}

func (peeringKind) Kind() Kind     { return KindPeering }
func (peeringKind) Prefix() string { return "PEER" }
func (peeringKind) Slug() string   { return "peering" }
func (peeringKind) Title() string  { return "VPC peering" }
func (peeringKind) Choose() string {
	return "Connect one VPC of yours to the cluster's VPC, directly. You give the VPC ID and its CIDRs."
}
func (peeringKind) Intro(*Cluster) string {
	return "Peer one of your Astro clusters with a VPC in your AWS account. Support reviews the request; you will then accept the peering in your account."
}

func (peeringKind) Fields() []Field {
	return []Field{
		{Name: FieldAccount, Label: "Your AWS account ID", Hint: "12 digits", Placeholder: "123456789012", MaxLength: 14},
		{Name: FieldRegion, Label: "Region of your VPC", Placeholder: "us-east-1", Type: InputRegion},
		{Name: FieldVPC, Label: "Your VPC ID", Placeholder: "vpc-0abc12345678def90", MaxLength: 21, Key: true},
		{Name: FieldCIDRs, Label: "CIDR blocks of your VPC", Placeholder: "10.20.0.0/16", Type: InputLines, MaxLength: 200, Routes: true,
			Hint: "One or more, separated by commas or new lines. They must not overlap the cluster's VPC."},
	}
}

func (peeringKind) Parse(in Input, cl *Cluster) (Spec, []string, error) {
	s := PeeringSpec{
		AccountID: NormalizeAccountID(in[FieldAccount]),
		Region:    strings.TrimSpace(in[FieldRegion]),
		VPCID:     strings.ToLower(strings.TrimSpace(in[FieldVPC])),
	}
	fields := map[string]string{}
	check := func(field string, err error) {
		if err != nil && fields[field] == "" {
			fields[field] = ErrorMessageOf(err)
		}
	}
	check(FieldAccount, ValidateAccountID(s.AccountID))
	check(FieldRegion, ValidateRegion(s.Region))
	check(FieldVPC, ValidateVPCID(s.VPCID))
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

func (peeringKind) DecodeSpec(data []byte) (Spec, error) { return decodeSpec[PeeringSpec](data) }

func (peeringKind) Limit() (int, string) {
	return MaxPeeringsPerCluster, "the most AWS allows on one VPC"
}

func (peeringKind) States() []State {
	return []State{
		{StatusApproved, OwnerBot, "The peering connection is being created from the Astro VPC.", true},
		{StatusPendingAcceptance, OwnerCustomer, "The customer must accept the peering connection in their AWS account within 7 days.", true},
		{StatusConfiguring, OwnerBot, "Routes and DNS options are being set up on the Astro side.", false},
		{StatusActive, OwnerNone, "The peering is active. The customer adds routes to the Astro CIDRs on their side.", false},
		{StatusFailed, OwnerSupport, "AWS could not set up the peering. Support will look into it and retry.", true},
		{StatusExpired, OwnerSupport, "The peering was not accepted within 7 days. Support can retry it.", true},
		{StatusDeclined, OwnerSupport, "The peering was rejected in the customer's account. Support can retry it.", true},
		{StatusDeleted, OwnerNone, "The peering connection was deleted in AWS; nothing more will happen.", false},
	}
}

func (peeringKind) Steps() []Rule {
	pending := []Status{StatusPendingAcceptance}
	return []Rule{
		{Action: ActPeeringCreated, From: []Status{StatusApproved}, To: StatusPendingAcceptance, Who: Workers(), Verb: "created the peering for",
			Button: "Peering requested", Resource: true},
		{Action: ActAccepted, From: pending, To: StatusConfiguring, Who: Workers(), Verb: "saw the customer accept", Button: "Customer accepted"},
		{Action: ActConfigured, From: []Status{StatusConfiguring}, To: StatusActive, Who: Workers(), Verb: "finished routes and DNS for", Button: "Routes and DNS done"},
		{Action: ActFail, From: []Status{StatusApproved, StatusPendingAcceptance, StatusConfiguring}, To: StatusFailed, Who: Workers(), Verb: "marked failed"},
		{Action: ActExpire, From: pending, To: StatusExpired, Who: Workers(), Verb: "marked expired"},
		{Action: ActDecline, From: pending, To: StatusDeclined, Who: Workers(), Verb: "saw the customer decline"},
		{Action: ActDelete, From: []Status{StatusActive}, To: StatusDeleted, Who: Workers(), Verb: "saw the deletion of"},
	}
}

func (peeringKind) Resource() Resource {
	return Resource{Label: "Peering connection ID", Hint: "The pcx-… ID of the peering you created from the Astro VPC.",
		Example: "pcx-0abc12345678def90", Validate: ValidatePeeringID}
}

func (d peeringKind) Next(r *Request) string {
	s := NextOf(d, r.Status)
	if p, ok := r.Spec.(PeeringSpec); ok && r.Status == StatusPendingAcceptance && r.Resource != "" {
		s += fmt.Sprintf(" Accept `%s` in account %s, region %s.", r.Resource, p.AccountID, p.Region)
	}
	return s
}

func (peeringKind) Facts(r *Request) []Fact {
	p, _ := r.Spec.(PeeringSpec)
	facts := []Fact{
		{"AWS account", []string{p.AccountID}},
		{"Region", []string{p.Region}},
		{"VPC", []string{p.VPCID}},
		{"CIDRs", Strings(p.CIDRs)},
	}
	if r.Resource != "" {
		facts = append(facts, Fact{"Peering", []string{r.Resource}})
	}
	return facts
}

func (peeringKind) Instructions(r *Request, cl Cluster) *Instructions {
	p, _ := r.Spec.(PeeringSpec)
	switch {
	case r.Status == StatusPendingAcceptance && r.Resource != "":
		return &Instructions{
			Title: fmt.Sprintf("Accept it in account %s, region %s, one of three ways", p.AccountID, p.Region),
			Steps: []Step{{
				Console:   fmt.Sprintf("VPC → Peering connections (region %s) → select `%s` → Actions → Accept request.", p.Region, r.Resource),
				CLI:       []string{fmt.Sprintf("aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id %s --region %s", r.Resource, p.Region)},
				Terraform: fmt.Sprintf("resource \"aws_vpc_peering_connection_accepter\" \"astro\" {\n  vpc_peering_connection_id = \"%s\"\n  auto_accept               = true\n}", r.Resource),
				Note:      fmt.Sprintf("Run the command or the Terraform as account %s, in region %s, your VPC's region: AWS accepts a peering only there.", p.AccountID, p.Region),
			}},
		}
	case r.Status == StatusActive:
		return peeringRemainingSteps(p, r.Resource, cl)
	}
	return nil
}

// peeringRemainingSteps lists what the customer still does once the peering
// is active, with every value filled in.
func peeringRemainingSteps(p PeeringSpec, pcx string, cl Cluster) *Instructions {
	var routesCLI, sgCLI []string
	var routesTF, sgTF strings.Builder
	for i, c := range cl.CIDRs {
		routesCLI = append(routesCLI, fmt.Sprintf("aws ec2 create-route --route-table-id <your-route-table-id> --destination-cidr-block %s --vpc-peering-connection-id %s --region %s", c, pcx, p.Region))
		fmt.Fprintf(&routesTF, "resource \"aws_route\" \"astro_%d\" {\n  route_table_id            = \"<your-route-table-id>\"\n  destination_cidr_block    = \"%s\"\n  vpc_peering_connection_id = \"%s\"\n}\n", i, c, pcx)
		sgCLI = append(sgCLI, fmt.Sprintf("aws ec2 authorize-security-group-ingress --group-id <your-sg-id> --protocol tcp --port <port> --cidr %s --region %s", c, p.Region))
		fmt.Fprintf(&sgTF, "resource \"aws_vpc_security_group_ingress_rule\" \"astro_%d\" {\n  security_group_id = \"<your-sg-id>\"\n  cidr_ipv4         = \"%s\"\n  ip_protocol       = \"tcp\"\n  from_port         = \"<port>\"\n  to_port           = \"<port>\"\n}\n", i, c)
	}
	return &Instructions{
		Title: fmt.Sprintf("Your remaining steps (the Astro side is done: VPC `%s`, CIDRs %s, region %s)", cl.VPCID, CodeList(Strings(cl.CIDRs)), cl.Region),
		Steps: []Step{
			{
				Title: fmt.Sprintf("Route the Astro CIDRs through the peering in each route table of your VPC `%s` whose subnets talk to the cluster", p.VPCID),
				CLI: append([]string{fmt.Sprintf("aws ec2 describe-route-tables --filters Name=vpc-id,Values=%s --query 'RouteTables[].RouteTableId' --output text --region %s", p.VPCID, p.Region)},
					routesCLI...),
				Terraform: strings.TrimSuffix(routesTF.String(), "\n"),
				Note:      "The first command lists the route tables of your VPC. Add the routes to each one whose subnets talk to the cluster; in Terraform, give each route table's routes names of their own.",
			},
			{
				Title:     "Let the cluster in through the security groups of what it connects to (a database, an API): one rule per Astro CIDR, for each port the cluster connects to, such as 5432 for PostgreSQL",
				CLI:       sgCLI,
				Terraform: strings.TrimSuffix(sgTF.String(), "\n"),
			},
			{
				Title: fmt.Sprintf("Let the cluster resolve the public DNS names of your hosts to their private IPs across the peering. The first two commands turn on DNS resolution and DNS hostnames in your VPC `%s`, which AWS needs for it", p.VPCID),
				CLI: []string{
					fmt.Sprintf("aws ec2 modify-vpc-attribute --vpc-id %s --enable-dns-support Value=true --region %s", p.VPCID, p.Region),
					fmt.Sprintf("aws ec2 modify-vpc-attribute --vpc-id %s --enable-dns-hostnames Value=true --region %s", p.VPCID, p.Region),
					fmt.Sprintf("aws ec2 modify-vpc-peering-connection-options --vpc-peering-connection-id %s --accepter-peering-connection-options AllowDnsResolutionFromRemoteVpc=true --region %s", pcx, p.Region),
				},
				Terraform: fmt.Sprintf("resource \"aws_vpc_peering_connection_options\" \"astro\" {\n  vpc_peering_connection_id = \"%s\"\n  accepter {\n    allow_remote_vpc_dns_resolution = true\n  }\n}", pcx),
				Note: "In Terraform, set enable_dns_support and enable_dns_hostnames to true on the aws_vpc resource of your VPC. " +
					"Astro turned on the same option on its side: with DNS on in your VPC, your hosts resolve the cluster's public DNS names to private IPs too.",
			},
			{
				Title:     fmt.Sprintf("For the cluster to resolve the names of a Route 53 private hosted zone of yours, authorize the association of the zone with the Astro VPC `%s`, then file a Private DNS zone request for cluster %s with the zone's ID", cl.VPCID, cl.Name),
				CLI:       []string{fmt.Sprintf("aws route53 create-vpc-association-authorization --hosted-zone-id <your-zone-id> --vpc VPCRegion=%s,VPCId=%s", cl.Region, cl.VPCID)},
				Terraform: fmt.Sprintf("resource \"aws_route53_vpc_association_authorization\" \"astro\" {\n  zone_id    = \"<your-zone-id>\"\n  vpc_id     = \"%s\"\n  vpc_region = \"%s\"\n}", cl.VPCID, cl.Region),
				Note:      "Run it with credentials of the account that owns the zone: the AWS console cannot do this.",
			},
		},
	}
}

// ValidatePeeringID checks a VPC peering connection ID: "pcx-" and 8 or 17 hex digits.
func ValidatePeeringID(s string) error {
	if !hexID(s, "pcx-") {
		return Errorf(EInvalid, "A peering connection ID is pcx- followed by 8 or 17 hex digits, like pcx-0abc12345678def90; got %s.", Quote(s))
	}
	return nil
}
