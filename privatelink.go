package astrobot

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// KindPrivateLink is an interface endpoint in the cluster VPC to an endpoint
// service of the customer (AWS PrivateLink).
const KindPrivateLink Kind = "privatelink"

// Statuses of a PrivateLink request between approved and active, besides
// StatusPendingAcceptance (the customer accepts the endpoint connection).
const (
	StatusWaitingAllowlist Status = "waiting_allowlist" // the customer allows the cluster's account on their endpoint service
	StatusCreating         Status = "creating"          // the interface endpoint is made in the cluster VPC
)

// The steps of a PrivateLink request, besides ActAccepted, ActFail,
// ActExpire, ActDecline and ActDelete, which it shares with peering.
const (
	ActAwaitAllowlist  Action = "await_allowlist"
	ActServiceVisible  Action = "service_visible"
	ActEndpointCreated Action = "endpoint_created"
)

// Form fields of a PrivateLink request, besides FieldAccount.
const (
	FieldService = "service"
	FieldPorts   = "ports"
	FieldDNSName = "dns_name"
)

// Keys of Request.Details for a PrivateLink request: what the bot learned in
// AWS.
const (
	// DetailDNSNames holds the endpoint's DNS names, separated by spaces.
	DetailDNSNames = "dns_names"
	// DetailPrivateDNS holds the private DNS name turned on for the endpoint.
	DetailPrivateDNS = "private_dns"
	// DetailPrivateDNSProblem says why the private DNS name asked for is not on.
	DetailPrivateDNSProblem = "private_dns_problem"
	// DetailAcceptance is "required" or "automatic": whether the service owner
	// must accept the endpoint connection.
	DetailAcceptance = "acceptance"
)

// MaxPrivateLinksPerCluster is how many open or active PrivateLink requests
// one cluster may have: the default AWS quota of interface endpoints per VPC.
const MaxPrivateLinksPerCluster = 50

// MaxPrivateLinkPorts bounds the ports of one request: the endpoint's
// security group holds one rule per port and cluster CIDR, and AWS allows 60
// inbound rules per group by default.
const MaxPrivateLinkPorts = 10

// PrivateLinkSpec is what a PrivateLink request asks for: the customer's
// endpoint service, the account that owns it, its region (from its name), the
// TCP ports the cluster uses, and optionally the private DNS name to turn on.
type PrivateLinkSpec struct {
	AccountID   string `json:"account"`
	ServiceName string `json:"service"`
	Region      string `json:"region"`
	Ports       []int  `json:"ports"`
	DNSName     string `json:"dns_name,omitempty"`
}

// Kind implements Spec.
func (PrivateLinkSpec) Kind() Kind { return KindPrivateLink }

// Key implements Spec: the endpoint service.
func (s PrivateLinkSpec) Key() string { return s.ServiceName }

// Routes implements Spec: none, the endpoint lives in the cluster VPC.
func (PrivateLinkSpec) Routes() []netip.Prefix { return nil }

// ServiceID returns the ID of the endpoint service: vpce-svc-….
func (s PrivateLinkSpec) ServiceID() string {
	return s.ServiceName[strings.LastIndexByte(s.ServiceName, '.')+1:]
}

// CrossRegion reports whether the service is in another region than cl.
func (s PrivateLinkSpec) CrossRegion(cl Cluster) bool { return s.Region != cl.Region }

// PortList writes the ports separated by commas: "443, 5432".
func (s PrivateLinkSpec) PortList() string {
	ps := make([]string, len(s.Ports))
	for i, p := range s.Ports {
		ps[i] = strconv.Itoa(p)
	}
	return strings.Join(ps, ", ")
}

// privateLinkKind defines PrivateLink endpoints.
type privateLinkKind struct{}

func (privateLinkKind) Kind() Kind     { return KindPrivateLink }
func (privateLinkKind) Prefix() string { return "PL" }
func (privateLinkKind) Slug() string   { return "privatelink" }
func (privateLinkKind) Title() string  { return "PrivateLink endpoint" }
func (privateLinkKind) Choose() string {
	return "Reach a service of yours behind a VPC endpoint service (PrivateLink) from the cluster, without connecting networks. You give the service name and its ports."
}
func (privateLinkKind) Intro(cl *Cluster) string {
	s := "Reach a service of yours behind a VPC endpoint service from an Astro cluster: Astro creates an interface endpoint in the cluster VPC once you allow the cluster's AWS account on the service, and you accept the connection."
	if cl != nil {
		return s + fmt.Sprintf(" Cluster %s is in %s: a service in another region is reached through cross-region PrivateLink, which the service must offer to %s.", cl.Name, cl.Region, cl.Region)
	}
	return s + " A service in another region than the cluster is reached through cross-region PrivateLink."
}

func (privateLinkKind) Fields() []Field {
	return []Field{
		{Name: FieldAccount, Label: "AWS account of the endpoint service", Hint: "12 digits", Placeholder: "123456789012", MaxLength: 14},
		{Name: FieldService, Label: "Endpoint service name", Placeholder: "com.amazonaws.vpce.us-east-1.vpce-svc-0abc12345678def90", MaxLength: 80, Key: true,
			Hint: "VPC → Endpoint services → your service → Service name. Its region is read from the name."},
		{Name: FieldPorts, Label: "TCP ports the cluster will use", Placeholder: "443", MaxLength: 80,
			Hint: fmt.Sprintf("One or more, separated by commas, at most %d.", MaxPrivateLinkPorts)},
		{Name: FieldDNSName, Label: "Private DNS name (optional)", Placeholder: "api.example.com", MaxLength: 253, Optional: true,
			Hint: "The verified private DNS name of your service, to resolve to the endpoint inside the cluster VPC."},
	}
}

func (privateLinkKind) Parse(in Input, cl *Cluster) (Spec, []string, error) {
	s := PrivateLinkSpec{
		AccountID:   NormalizeAccountID(in[FieldAccount]),
		ServiceName: strings.ToLower(strings.TrimSpace(in[FieldService])),
		DNSName:     strings.TrimSuffix(strings.ToLower(strings.TrimSpace(in[FieldDNSName])), "."),
	}
	fields := map[string]string{}
	check := func(field string, err error) {
		if err != nil && fields[field] == "" {
			fields[field] = ErrorMessageOf(err)
		}
	}
	check(FieldAccount, ValidateAccountID(s.AccountID))
	region, err := ParseServiceName(s.ServiceName)
	check(FieldService, err)
	s.Region = region
	ports, err := ParsePorts(in[FieldPorts])
	check(FieldPorts, err)
	s.Ports = ports
	if s.DNSName != "" {
		check(FieldDNSName, ValidateDNSName(s.DNSName))
	}
	if len(fields) > 0 {
		return nil, nil, &Error{Code: EInvalid, Message: "Some fields need fixing.", Fields: fields}
	}
	var warnings []string
	if cl != nil && s.CrossRegion(*cl) {
		warnings = append(warnings, fmt.Sprintf("The service is in %s and cluster %s in %s: this is cross-region PrivateLink. The service must offer %s among its supported regions, and AWS bills the data between the regions.",
			s.Region, cl.Name, cl.Region, cl.Region))
	}
	return s, warnings, nil
}

func (privateLinkKind) DecodeSpec(data []byte) (Spec, error) {
	return decodeSpec[PrivateLinkSpec](data)
}

func (privateLinkKind) Limit() (int, string) {
	return MaxPrivateLinksPerCluster, "the default AWS quota of interface endpoints in one VPC"
}

func (privateLinkKind) States() []State {
	return []State{
		{StatusApproved, OwnerBot, "Astro checks that the endpoint service is visible to the cluster's AWS account.", true},
		{StatusWaitingAllowlist, OwnerCustomer, "The customer must allow the cluster's AWS account on their endpoint service; Astro checks every few minutes.", true},
		{StatusCreating, OwnerBot, "The interface endpoint is being created in the cluster VPC.", true},
		{StatusPendingAcceptance, OwnerCustomer, "The customer must accept the endpoint connection on their endpoint service.", true},
		{StatusActive, OwnerNone, "The endpoint is available: Airflow on the cluster reaches the service through it.", false},
		{StatusFailed, OwnerSupport, "AWS could not set up the endpoint. Support will look into it and retry.", true},
		{StatusExpired, OwnerSupport, "The endpoint connection was not accepted in time and expired. Support can retry it.", true},
		{StatusDeclined, OwnerSupport, "The endpoint connection was rejected on the customer's endpoint service. Support can retry it.", true},
		{StatusDeleted, OwnerNone, "The endpoint was deleted or cut off in AWS; nothing more will happen.", false},
	}
}

func (privateLinkKind) Steps() []Rule {
	pending := []Status{StatusPendingAcceptance}
	return []Rule{
		{Action: ActAwaitAllowlist, From: []Status{StatusApproved}, To: StatusWaitingAllowlist, Who: Workers(), Verb: "asked for the allow-list of",
			Button: "Allow-list needed"},
		{Action: ActServiceVisible, From: []Status{StatusApproved, StatusWaitingAllowlist}, To: StatusCreating, Who: Workers(), Verb: "saw the endpoint service of",
			Button: "Service visible"},
		{Action: ActEndpointCreated, From: []Status{StatusCreating}, To: StatusPendingAcceptance, Who: Workers(), Verb: "created the endpoint for",
			Button: "Endpoint created", Resource: true},
		{Action: ActAccepted, From: pending, To: StatusActive, Who: Workers(), Verb: "saw the customer accept", Button: "Accepted, DNS done"},
		{Action: ActFail, From: []Status{StatusApproved, StatusWaitingAllowlist, StatusCreating, StatusPendingAcceptance}, To: StatusFailed, Who: Workers(), Verb: "marked failed"},
		{Action: ActExpire, From: pending, To: StatusExpired, Who: Workers(), Verb: "marked expired"},
		{Action: ActDecline, From: pending, To: StatusDeclined, Who: Workers(), Verb: "saw the customer reject"},
		{Action: ActDelete, From: []Status{StatusActive}, To: StatusDeleted, Who: Workers(), Verb: "saw the deletion of"},
	}
}

func (privateLinkKind) Resource() Resource {
	return Resource{Label: "VPC endpoint ID", Hint: "The vpce-… ID of the interface endpoint you created in the cluster VPC.",
		Example: "vpce-0abc12345678def90", Validate: ValidateEndpointID}
}

func (d privateLinkKind) Next(r *Request) string {
	s := NextOf(d, r.Status)
	p, _ := r.Spec.(PrivateLinkSpec)
	switch {
	case r.Status == StatusPendingAcceptance && r.Resource != "" && r.Details[DetailAcceptance] == "automatic":
		s = fmt.Sprintf("The endpoint service accepts connections by itself: the endpoint `%s` becomes available within minutes.", r.Resource)
	case r.Status == StatusPendingAcceptance && r.Resource != "":
		s += fmt.Sprintf(" Accept `%s` on `%s` in account %s, region %s.", r.Resource, p.ServiceID(), p.AccountID, p.Region)
	case r.Status == StatusActive && r.Resource != "":
		s = fmt.Sprintf("The endpoint `%s` is available: Airflow on the cluster reaches the service on port %s", r.Resource, p.PortList())
		if names := strings.Fields(r.Details[DetailDNSNames]); len(names) > 0 {
			s += " at " + CodeList(names)
		}
		if name := r.Details[DetailPrivateDNS]; name != "" {
			s += fmt.Sprintf(", and at `%s`: private DNS is on in the cluster VPC", name)
		}
		s += "."
		if why := r.Details[DetailPrivateDNSProblem]; why != "" {
			s += " " + why
		}
	}
	return s
}

func (privateLinkKind) Facts(r *Request) []Fact {
	p, _ := r.Spec.(PrivateLinkSpec)
	facts := []Fact{
		{"AWS account", []string{p.AccountID}},
		{"Endpoint service", []string{p.ServiceName}},
		{"Region", []string{p.Region}},
		{"Ports", []string{p.PortList()}},
	}
	if p.DNSName != "" {
		facts = append(facts, Fact{"Private DNS name", []string{p.DNSName}})
	}
	if r.Resource != "" {
		facts = append(facts, Fact{"Endpoint", []string{r.Resource}})
	}
	if names := strings.Fields(r.Details[DetailDNSNames]); len(names) > 0 {
		facts = append(facts, Fact{"DNS names", names})
	}
	return facts
}

func (privateLinkKind) Instructions(r *Request, cl Cluster) *Instructions {
	p, _ := r.Spec.(PrivateLinkSpec)
	svc := p.ServiceID()
	switch {
	case r.Status == StatusWaitingAllowlist:
		principal := "arn:aws:iam::" + cl.AccountID + ":root"
		steps := []Step{{
			Title:     fmt.Sprintf("Allow the AWS account of cluster %s (%s) to use your endpoint service `%s`", cl.Name, cl.AccountID, svc),
			Console:   fmt.Sprintf("VPC → Endpoint services (region %s) → select `%s` → Allow principals → Allow principals → `%s`.", p.Region, svc, principal),
			CLI:       []string{fmt.Sprintf("aws ec2 modify-vpc-endpoint-service-permissions --service-id %s --add-allowed-principals %s --region %s", svc, principal, p.Region)},
			Terraform: fmt.Sprintf("resource \"aws_vpc_endpoint_service_allowed_principal\" \"astro\" {\n  vpc_endpoint_service_id = \"%s\"\n  principal_arn           = \"%s\"\n}", svc, principal),
			Note:      "Astro then sees the service and creates the endpoint in the cluster's subnets in the availability zones your service's load balancer shares with them (compared by zone ID, such as use1-az1): the load balancer needs at least one.",
		}}
		if p.CrossRegion(cl) {
			steps = append(steps, Step{
				Title: fmt.Sprintf("Offer the service in %s, the cluster's region (cross-region PrivateLink)", cl.Region),
				CLI:   []string{fmt.Sprintf("aws ec2 modify-vpc-endpoint-service-configuration --service-id %s --add-supported-regions %s --region %s", svc, cl.Region, p.Region)},
				Note:  fmt.Sprintf("In Terraform, add \"%s\" to supported_regions of your aws_vpc_endpoint_service.", cl.Region),
			})
		}
		return &Instructions{Title: fmt.Sprintf("Allow the cluster on your endpoint service, in account %s, region %s", p.AccountID, p.Region), Steps: steps}
	case r.Status == StatusPendingAcceptance && r.Resource != "" && r.Details[DetailAcceptance] != "automatic":
		return &Instructions{
			Title: fmt.Sprintf("Accept the endpoint connection in account %s, region %s, one of three ways", p.AccountID, p.Region),
			Steps: []Step{{
				Console:   fmt.Sprintf("VPC → Endpoint services (region %s) → select `%s` → Endpoint connections → select `%s` → Actions → Accept endpoint connection request.", p.Region, svc, r.Resource),
				CLI:       []string{fmt.Sprintf("aws ec2 accept-vpc-endpoint-connections --service-id %s --vpc-endpoint-ids %s --region %s", svc, r.Resource, p.Region)},
				Terraform: fmt.Sprintf("resource \"aws_vpc_endpoint_connection_accepter\" \"astro\" {\n  vpc_endpoint_service_id = \"%s\"\n  vpc_endpoint_id         = \"%s\"\n}", svc, r.Resource),
			}},
		}
	case r.Status == StatusActive && r.Resource != "":
		steps := []Step{{
			Title: "See the endpoint's connection and its DNS names as your endpoint service sees them",
			CLI:   []string{fmt.Sprintf("aws ec2 describe-vpc-endpoint-connections --filters Name=vpc-endpoint-id,Values=%s --region %s", r.Resource, p.Region)},
			Note:  fmt.Sprintf("The cluster connects on port %s to your load balancer through the endpoint service: its listeners need those ports, and no rule for the cluster's CIDRs is needed on your side.", p.PortList()),
		}}
		if p.DNSName != "" && r.Details[DetailPrivateDNS] == "" {
			steps = append(steps, Step{
				Title: fmt.Sprintf("For `%s` to resolve to the endpoint inside the cluster VPC, verify it as the private DNS name of your service, then ask support to turn on private DNS", p.DNSName),
				CLI:   []string{fmt.Sprintf("aws ec2 start-vpc-endpoint-service-private-dns-verification --service-id %s --region %s", svc, p.Region)},
				Note:  "AWS verifies the name through a TXT record in your domain: VPC → Endpoint services → your service → Details shows its name and value.",
			})
		}
		return &Instructions{Title: fmt.Sprintf("Your side (the endpoint %s is in cluster %s's VPC `%s`, region %s)", r.Resource, cl.Name, cl.VPCID, cl.Region), Steps: steps}
	}
	return nil
}

// ParseServiceName checks the name of a customer's VPC endpoint service,
// com.amazonaws.vpce.<region>.vpce-svc-<17 hex digits>, and returns its region.
func ParseServiceName(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, "com.amazonaws.vpce.")
	region, id, ok2 := strings.Cut(rest, ".")
	hex, ok3 := strings.CutPrefix(id, "vpce-svc-")
	if !ok || !ok2 || !ok3 || len(hex) != 17 || strings.Trim(hex, "0123456789abcdef") != "" {
		return "", Errorf(EInvalid, "An endpoint service name looks like com.amazonaws.vpce.us-east-1.vpce-svc-0abc12345678def90 (VPC → Endpoint services → Service name); got %s.", Quote(s))
	}
	if ValidateRegion(region) != nil {
		return "", Errorf(EInvalid, "%s names the region %s, which is not an AWS region.", Quote(s), Quote(region))
	}
	return region, nil
}

// ParsePorts parses TCP ports separated by commas, spaces or new lines: each
// 1 to 65535, at most MaxPrivateLinkPorts. They come back sorted, each once.
func ParsePorts(s string) ([]int, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' || r == ';' })
	if len(fields) == 0 {
		return nil, Errorf(EInvalid, "Give at least one TCP port the cluster will use, like 443.")
	}
	var ports []int
	for _, f := range fields {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 65535 || f[0] == '0' || f[0] == '+' {
			return nil, Errorf(EInvalid, "%s is not a TCP port: give a number from 1 to 65535, like 443.", Quote(f))
		}
		if !slices.Contains(ports, n) {
			ports = append(ports, n)
		}
	}
	if len(ports) > MaxPrivateLinkPorts {
		return nil, Errorf(EInvalid, "Give at most %d ports; you gave %d.", MaxPrivateLinkPorts, len(ports))
	}
	slices.Sort(ports)
	return ports, nil
}

// ValidateDNSName checks a DNS name in lower case: at least two labels of 1
// to 63 letters, digits and inner hyphens, 253 characters at most, and a
// top-level label that is not a number.
func ValidateDNSName(s string) error {
	bad := Errorf(EInvalid, "%s is not a DNS name: write it like api.example.com.", Quote(s))
	labels := strings.Split(s, ".")
	if len(s) > 253 || len(labels) < 2 || strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return bad
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return bad
		}
	}
	return nil
}

// ValidateEndpointID checks a VPC endpoint ID: "vpce-" and 17 hex digits.
func ValidateEndpointID(s string) error {
	hex, ok := strings.CutPrefix(s, "vpce-")
	if !ok || len(hex) != 17 || strings.Trim(hex, "0123456789abcdef") != "" {
		return Errorf(EInvalid, "A VPC endpoint ID is vpce- followed by 17 hex digits, like vpce-0abc12345678def90; got %s.", Quote(s))
	}
	return nil
}
