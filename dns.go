package astrobot

import (
	"fmt"
	"net/netip"
	"strings"
)

// KindHostedZone is the association of a customer's Route 53 private hosted
// zone with the cluster VPC, so that the cluster resolves the zone's names.
const KindHostedZone Kind = "hosted_zone"

// Statuses of a private hosted zone association between approved and active.
const (
	StatusWaitingAuthorization Status = "waiting_authorization" // the zone's account authorizes the association with the cluster VPC
	StatusAssociating          Status = "associating"           // the association is made and Route 53 applies it
)

// The steps of a private hosted zone association, besides ActFail and
// ActDelete, which it shares with peering.
const (
	ActAwaitAuthorization Action = "await_authorization"
	ActAuthorized         Action = "authorized"
	ActAssociated         Action = "associated"
	ActDisassociate       Action = "disassociate"
)

// Form fields of a private hosted zone association, besides FieldAccount.
const (
	FieldZone   = "zone"
	FieldDomain = "domain"
)

// DetailChange is the key of Request.Details holding the ID of the Route 53
// change that associates the zone, while Route 53 applies it.
const DetailChange = "change"

// MaxHostedZonesPerCluster is how many open or active private hosted zone
// associations one cluster may have.
const MaxHostedZonesPerCluster = 100

// HostedZoneSpec is what a private hosted zone association asks for: the
// customer's zone, the AWS account that owns it and the zone's domain name.
type HostedZoneSpec struct {
	AccountID string `json:"account"`
	ZoneID    string `json:"zone"`
	Domain    string `json:"domain"`
}

// Kind implements Spec.
func (HostedZoneSpec) Kind() Kind { return KindHostedZone }

// Key implements Spec: the hosted zone. One zone is associated with a VPC
// once, whatever domain name the form gave it.
func (s HostedZoneSpec) Key() string { return "hosted zone " + s.ZoneID }

// Routes implements Spec: none, the association routes nothing.
func (HostedZoneSpec) Routes() []netip.Prefix { return nil }

// hostedZoneKind defines private hosted zone associations.
type hostedZoneKind struct{}

func (hostedZoneKind) Kind() Kind     { return KindHostedZone }
func (hostedZoneKind) Prefix() string { return "DNS" }
func (hostedZoneKind) Slug() string   { return "dns" }
func (hostedZoneKind) Title() string  { return "Private DNS zone" }
func (hostedZoneKind) Choose() string {
	return "Let the cluster resolve the names of a Route 53 private hosted zone of yours. You give the zone ID and its domain name."
}
func (hostedZoneKind) Intro(cl *Cluster) string {
	s := "Share a Route 53 private hosted zone of yours with an Astro cluster, so that Airflow resolves its names: you authorize the association in the zone's AWS account, and Astro associates the zone with the cluster VPC."
	if cl != nil {
		s += fmt.Sprintf(" Cluster %s: VPC %s in %s, the VPC the authorization names.", cl.Name, cl.VPCID, cl.Region)
	}
	return s
}

func (hostedZoneKind) Fields() []Field {
	return []Field{
		{Name: FieldAccount, Label: "AWS account of the hosted zone", Hint: "12 digits", Placeholder: "123456789012", MaxLength: 14},
		{Name: FieldZone, Label: "Hosted zone ID", Placeholder: "Z0123456789ABCDEFGHIJ", MaxLength: 45, Key: true,
			Hint: "Route 53 → Hosted zones → your private zone → Hosted zone ID."},
		{Name: FieldDomain, Label: "Domain name of the zone", Placeholder: "corp.example.com", MaxLength: 254,
			Hint: "The zone's name, such as corp.example.com."},
	}
}

func (hostedZoneKind) Parse(in Input, _ *Cluster) (Spec, []string, error) {
	s := HostedZoneSpec{
		AccountID: NormalizeAccountID(in[FieldAccount]),
		ZoneID:    NormalizeZoneID(in[FieldZone]),
		Domain:    strings.TrimSuffix(strings.ToLower(strings.TrimSpace(in[FieldDomain])), "."),
	}
	fields := map[string]string{}
	check := func(field string, err error) {
		if err != nil && fields[field] == "" {
			fields[field] = ErrorMessageOf(err)
		}
	}
	check(FieldAccount, ValidateAccountID(s.AccountID))
	check(FieldZone, ValidateZoneID(s.ZoneID))
	check(FieldDomain, ValidateZoneName(s.Domain))
	if len(fields) > 0 {
		return nil, nil, &Error{Code: EInvalid, Message: "Some fields need fixing.", Fields: fields}
	}
	return s, nil, nil
}

func (hostedZoneKind) DecodeSpec(data []byte) (Spec, error) { return decodeSpec[HostedZoneSpec](data) }

func (hostedZoneKind) Limit() (int, string) {
	return MaxHostedZonesPerCluster, "astrobot's bound per cluster (ask support if the cluster needs more)"
}

func (hostedZoneKind) States() []State {
	return []State{
		{StatusApproved, OwnerBot, "Astro checks the cluster VPC's DNS settings and associates the zone with it once the zone's account has authorized it.", true},
		{StatusWaitingAuthorization, OwnerCustomer, "The zone's AWS account must authorize the association of the zone with the cluster VPC; Astro tries the association again every few minutes.", true},
		{StatusAssociating, OwnerBot, "The zone is being associated with the cluster VPC; Route 53 applies it within a minute or two.", false},
		{StatusActive, OwnerNone, "The zone is associated with the cluster VPC: Airflow on the cluster resolves its names.", false},
		{StatusFailed, OwnerSupport, "Route 53 could not associate the zone with the cluster VPC. Support will look into it and retry.", true},
		{StatusDeleted, OwnerNone, "The zone was disassociated from the cluster VPC outside astrobot; nothing more will happen.", false},
	}
}

func (hostedZoneKind) Steps() []Rule {
	waiting := []Status{StatusWaitingAuthorization}
	return []Rule{
		{Action: ActAwaitAuthorization, From: []Status{StatusApproved}, To: StatusWaitingAuthorization, Who: Workers(), Verb: "asked for the authorization of",
			Button: "Authorization needed"},
		{Action: ActAuthorized, From: append([]Status{StatusApproved}, waiting...), To: StatusAssociating, Who: Workers(), Verb: "saw the authorization of",
			Button: "Authorized"},
		{Action: ActAssociated, From: []Status{StatusAssociating}, To: StatusActive, Who: Workers(), Verb: "associated the zone of",
			Button: "Associated", Resource: true},
		{Action: ActFail, From: []Status{StatusApproved, StatusWaitingAuthorization, StatusAssociating}, To: StatusFailed, Who: Workers(), Verb: "marked failed"},
		{Action: ActDelete, From: []Status{StatusActive}, To: StatusDeleted, Who: Workers(), Verb: "saw the disassociation of"},
		{Action: ActDisassociate, From: []Status{StatusActive}, To: StatusCancelled, Who: []Role{RoleSupport}, Verb: "disassociated the zone of",
			Button:  "Disassociate zone",
			Confirm: "The cluster stops resolving the zone's names: the zone is disassociated from the cluster VPC, by astrobot in AWS mode, by you in manual mode. The request ends here."},
	}
}

func (hostedZoneKind) Resource() Resource {
	return Resource{Label: "Hosted zone ID", Example: "Z0123456789ABCDEFGHIJ", Validate: validateZoneResource,
		Hint: "The ID of the customer's private hosted zone you associated with the cluster VPC: Z and up to 32 letters and digits."}
}

func (d hostedZoneKind) Next(r *Request) string {
	s := NextOf(d, r.Status)
	z, _ := r.Spec.(HostedZoneSpec)
	switch r.Status {
	case StatusWaitingAuthorization:
		s += fmt.Sprintf(" Authorize it in account %s for the zone `%s`.", z.AccountID, z.ZoneID)
	case StatusActive:
		s = fmt.Sprintf("The zone `%s` (%s) is associated with the cluster VPC: Airflow on the cluster resolves its names. Account %s may delete the authorization now.",
			z.ZoneID, z.Domain, z.AccountID)
	}
	return s
}

func (hostedZoneKind) Facts(r *Request) []Fact {
	z, _ := r.Spec.(HostedZoneSpec)
	facts := []Fact{
		{"Zone's AWS account", []string{z.AccountID}},
		{"Hosted zone", []string{z.ZoneID}},
		{"Domain", []string{z.Domain}},
	}
	if c := r.Details[DetailChange]; c != "" {
		facts = append(facts, Fact{"Route 53 change", []string{c}})
	}
	return facts
}

func (hostedZoneKind) Instructions(r *Request, cl Cluster) *Instructions {
	z, _ := r.Spec.(HostedZoneSpec)
	vpc := fmt.Sprintf("--vpc VPCRegion=%s,VPCId=%s", cl.Region, cl.VPCID)
	switch r.Status {
	case StatusSubmitted, StatusApproved, StatusWaitingAuthorization:
		return &Instructions{
			Title: fmt.Sprintf("Authorize the association in account %s, the zone's account (the cluster VPC is `%s`, region %s), one of two ways", z.AccountID, cl.VPCID, cl.Region),
			Steps: []Step{{
				Title:     fmt.Sprintf("Allow the cluster VPC `%s` (region %s) to be associated with your zone `%s` (%s)", cl.VPCID, cl.Region, z.ZoneID, z.Domain),
				CLI:       []string{fmt.Sprintf("aws route53 create-vpc-association-authorization --hosted-zone-id %s %s", z.ZoneID, vpc)},
				Terraform: fmt.Sprintf("resource \"aws_route53_vpc_association_authorization\" \"astro\" {\n  zone_id    = \"%s\"\n  vpc_id     = \"%s\"\n  vpc_region = \"%s\"\n}", z.ZoneID, cl.VPCID, cl.Region),
				Note: fmt.Sprintf("Run it with credentials of account %s: the AWS console cannot do this. Astro then associates the zone with the cluster VPC (once support has approved the request) and tells you here when the cluster resolves its names.",
					z.AccountID),
			}},
		}
	case StatusActive:
		return &Instructions{
			Title: fmt.Sprintf("Done: the cluster resolves the names of %s. The authorization has served its purpose: you may delete it, in account %s", z.Domain, z.AccountID),
			Steps: []Step{{
				CLI:  []string{fmt.Sprintf("aws route53 delete-vpc-association-authorization --hosted-zone-id %s %s", z.ZoneID, vpc)},
				Note: "In Terraform, remove the aws_route53_vpc_association_authorization resource and apply. The association stays: deleting the authorization does not undo it.",
			}},
		}
	}
	return nil
}

// FollowUp implements FollowUpper: a zone is offered on every active request
// whose connection routes customer CIDRs through the cluster VPC (a peering,
// a transit gateway attachment), since names in the customer's private zones
// then point at addresses the cluster reaches.
func (hostedZoneKind) FollowUp(r *Request) (string, bool) {
	return "Share a private DNS zone", r.Spec != nil && len(r.Spec.Routes()) > 0
}

// NormalizeZoneID reads a hosted zone ID as the console or the CLI shows it:
// in upper case, without the /hostedzone/ prefix of the API's answers.
func NormalizeZoneID(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	return strings.ToUpper(s)
}

// ValidateZoneID checks a Route 53 hosted zone ID: Z and 1 to 32 upper-case
// letters and digits.
func ValidateZoneID(s string) error {
	rest, ok := strings.CutPrefix(s, "Z")
	if !ok || len(rest) == 0 || len(rest) > 32 || strings.Trim(rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
		return Errorf(EInvalid, "A hosted zone ID is Z followed by up to 32 letters and digits, like Z0123456789ABCDEFGHIJ (Route 53 → Hosted zones → your zone); got %s.", Quote(s))
	}
	return nil
}

// validateZoneResource checks the zone ID support types when recording the
// association, in either case.
func validateZoneResource(s string) error { return ValidateZoneID(NormalizeZoneID(s)) }

// ValidateZoneName checks the domain name of a hosted zone, in lower case
// and without the final dot: labels of 1 to 63 letters, digits, hyphens
// (not first or last) and underscores, 253 characters at most.
func ValidateZoneName(s string) error {
	bad := Errorf(EInvalid, "%s is not a domain name: write the zone's name like corp.example.com.", Quote(s))
	if s == "" || len(s) > 253 {
		return bad
	}
	for _, l := range strings.Split(s, ".") {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return bad
		}
	}
	return nil
}
