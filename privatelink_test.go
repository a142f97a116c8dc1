package astrobot

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

const (
	plService = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
	plWest    = "com.amazonaws.vpce.eu-west-1.vpce-svc-0123456789abcdef1"
)

// plDef returns the definition of the PrivateLink kind.
func plDef(t *testing.T) KindDef {
	t.Helper()
	return kindDef(t, KindPrivateLink)
}

func TestPrivateLinkParse(t *testing.T) {
	d := plDef(t)
	valid := Input{FieldAccount: "1234-5678-9012", FieldService: " " + strings.ToUpper(plService) + " ", FieldPorts: "5432, 443\n443", FieldDNSName: "API.Example.com."}
	with := func(k, v string) Input { return withFields(valid, k, v) }
	tests := []parseCase{
		{name: "valid, same region", in: valid, cl: &testCluster,
			want: PrivateLinkSpec{AccountID: "123456789012", ServiceName: plService, Region: "us-east-1", Ports: []int{443, 5432}, DNSName: "api.example.com"}},
		{name: "no cluster chosen yet", in: valid,
			want: PrivateLinkSpec{AccountID: "123456789012", ServiceName: plService, Region: "us-east-1", Ports: []int{443, 5432}, DNSName: "api.example.com"}},
		{name: "no DNS name", in: with(FieldDNSName, "  "), cl: &testCluster,
			want: PrivateLinkSpec{AccountID: "123456789012", ServiceName: plService, Region: "us-east-1", Ports: []int{443, 5432}}},
		{name: "another region: cross-region", in: with(FieldService, plWest), cl: &testCluster,
			want:    PrivateLinkSpec{AccountID: "123456789012", ServiceName: plWest, Region: "eu-west-1", Ports: []int{443, 5432}, DNSName: "api.example.com"},
			warning: "eu-west-1 and cluster test in us-east-1: this is cross-region PrivateLink. The service must offer us-east-1"},
		{name: "account", in: with(FieldAccount, "12345"), badField: FieldAccount, badMsg: "12 digits"},
		{name: "service without a prefix", in: with(FieldService, "vpce-svc-0123456789abcdef0"), badField: FieldService, badMsg: "looks like com.amazonaws.vpce."},
		{name: "service with a short ID", in: with(FieldService, "com.amazonaws.vpce.us-east-1.vpce-svc-0123abcd"), badField: FieldService, badMsg: "looks like"},
		{name: "service of an AWS service", in: with(FieldService, "com.amazonaws.us-east-1.s3"), badField: FieldService, badMsg: "looks like"},
		{name: "service in no region", in: with(FieldService, "com.amazonaws.vpce.moon-1.vpce-svc-0123456789abcdef0"), badField: FieldService, badMsg: `the region "moon-1", which is not an AWS region`},
		{name: "no port", in: with(FieldPorts, " , "), badField: FieldPorts, badMsg: "at least one TCP port"},
		{name: "port 0", in: with(FieldPorts, "0"), badField: FieldPorts, badMsg: `"0" is not a TCP port`},
		{name: "port too big", in: with(FieldPorts, "443,65536"), badField: FieldPorts, badMsg: `"65536" is not a TCP port`},
		{name: "port range", in: with(FieldPorts, "8000-8010"), badField: FieldPorts, badMsg: "not a TCP port"},
		{name: "leading zero", in: with(FieldPorts, "0443"), badField: FieldPorts, badMsg: "not a TCP port"},
		{name: "too many ports", in: with(FieldPorts, "1,2,3,4,5,6,7,8,9,10,11"), badField: FieldPorts, badMsg: "at most 10 ports; you gave 11"},
		{name: "DNS name with a space", in: with(FieldDNSName, "api example.com"), badField: FieldDNSName, badMsg: "not a DNS name"},
		{name: "DNS name of one label", in: with(FieldDNSName, "localhost"), badField: FieldDNSName, badMsg: "not a DNS name"},
		{name: "DNS name with a hyphen at a label's end", in: with(FieldDNSName, "api-.example.com"), badField: FieldDNSName, badMsg: "not a DNS name"},
		{name: "DNS name that is an IP", in: with(FieldDNSName, "10.0.0.1"), badField: FieldDNSName, badMsg: "not a DNS name"},
		{name: "DNS name with a wildcard", in: with(FieldDNSName, "*.example.com"), badField: FieldDNSName, badMsg: "not a DNS name"},
		{name: "DNS name too long", in: with(FieldDNSName, strings.Repeat("a.", 127)+"com"), badField: FieldDNSName, badMsg: "not a DNS name"},
	}
	checkParse(t, d, tests, func(t *testing.T, _ parseCase, spec Spec) {
		if routes := spec.Routes(); len(routes) != 0 {
			t.Errorf("Routes() = %v, want none", routes)
		}
	})
}

func TestPrivateLinkIntroNamesClusterRegion(t *testing.T) {
	d := plDef(t)
	if got := d.Intro(&testCluster); !strings.Contains(got, "Cluster test is in us-east-1: a service in another region is reached through cross-region PrivateLink") {
		t.Errorf("Intro with a cluster = %q", got)
	}
	if got := d.Intro(nil); !strings.Contains(got, "cross-region PrivateLink") {
		t.Errorf("Intro without a cluster = %q", got)
	}
}

func TestPrivateLinkConflicts(t *testing.T) {
	spec := PrivateLinkSpec{AccountID: "123456789012", ServiceName: plService, Region: "us-east-1", Ports: []int{443}}
	r := &Request{ID: 9, Kind: KindPrivateLink, Spec: spec}
	peering := PeeringSpec{AccountID: "123456789012", Region: "us-east-1", VPCID: "vpc-0abc12345678def90"}
	checkConflicts(t, r, []conflictCase{
		{"none open", nil, "", ""},
		{"another service", []Claim{{ID: 1, Kind: KindPrivateLink, Status: StatusActive, Key: plWest}}, "", ""},
		{"a peering does not count", []Claim{{ID: 2, Kind: KindPeering, Status: StatusActive, Key: peering.Key(), Routes: peering.Routes()}}, "", ""},
		{"the same service", []Claim{{ID: 3, Kind: KindPrivateLink, Status: StatusWaitingAllowlist, Key: plService}}, FieldService,
			"PL-0003 already asks for " + plService + " on this cluster (status waiting allowlist): follow that one instead of filing it twice."},
		{"the limit", slices.Repeat([]Claim{{ID: 4, Kind: KindPrivateLink, Status: StatusActive, Key: "x"}}, MaxPrivateLinksPerCluster), FieldCluster,
			"This cluster already has 50 open or active PrivateLink endpoint requests, the default AWS quota of interface endpoints in one VPC."},
	})
}

func TestValidateEndpointID(t *testing.T) {
	for _, tt := range []struct {
		id string
		ok bool
	}{
		{"vpce-0abc12345678def90", true},
		{"vpce-0123abcd", false}, // endpoint IDs have 17 digits
		{"vpce-0ABC12345678DEF90", false},
		{"vpce-svc-0abc12345678def90", false},
		{"pcx-0abc12345678def90", false},
		{"vpce-0abc12345678def9g", false},
		{"", false},
	} {
		err := ValidateEndpointID(tt.id)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateEndpointID(%q) = %v, want ok %v", tt.id, err, tt.ok)
		}
		if err != nil {
			checkInvalid(t, tt.id, err, tt.id)
		}
	}
}

// TestPrivateLinkMessages checks what the customer reads in each state,
// every value filled in.
func TestPrivateLinkMessages(t *testing.T) {
	d := plDef(t)
	const vpce = "vpce-0aaaabbbbccccdddd"
	cl := testCluster
	same := PrivateLinkSpec{AccountID: "123456789012", ServiceName: plService, Region: "us-east-1", Ports: []int{443, 5432}, DNSName: "api.example.com"}
	cross := same
	cross.ServiceName, cross.Region = plWest, "eu-west-1"
	dns := map[string]string{DetailDNSNames: "vpce-0aaaabbbbccccdddd-1x2y3z4w.vpce-svc-0123456789abcdef0.us-east-1.vpce.amazonaws.com vpce-0aaaabbbbccccdddd-1x2y3z4w-us-east-1a.vpce-svc-0123456789abcdef0.us-east-1.vpce.amazonaws.com"}
	checkMessages(t, d, cl, []messageCase{
		{name: "waiting for the allow-list", status: StatusWaitingAllowlist, spec: same,
			cli: []string{"aws ec2 modify-vpc-endpoint-service-permissions --service-id vpce-svc-0123456789abcdef0 --add-allowed-principals arn:aws:iam::111111111111:root --region us-east-1"},
			terraform: []string{`resource "aws_vpc_endpoint_service_allowed_principal" "astro" {`, `vpc_endpoint_service_id = "vpce-svc-0123456789abcdef0"`,
				`principal_arn           = "arn:aws:iam::111111111111:root"`}},
		{name: "waiting for the allow-list, cross-region", status: StatusWaitingAllowlist, spec: cross,
			cli: []string{
				"aws ec2 modify-vpc-endpoint-service-permissions --service-id vpce-svc-0123456789abcdef1 --add-allowed-principals arn:aws:iam::111111111111:root --region eu-west-1",
				"aws ec2 modify-vpc-endpoint-service-configuration --service-id vpce-svc-0123456789abcdef1 --add-supported-regions us-east-1 --region eu-west-1",
			}},
		{name: "pending acceptance", status: StatusPendingAcceptance, spec: same, resource: vpce, details: map[string]string{DetailAcceptance: "required"},
			next: []string{"Accept `" + vpce + "` on `vpce-svc-0123456789abcdef0` in account 123456789012, region us-east-1."},
			cli:  []string{"aws ec2 accept-vpc-endpoint-connections --service-id vpce-svc-0123456789abcdef0 --vpc-endpoint-ids " + vpce + " --region us-east-1"},
			terraform: []string{`resource "aws_vpc_endpoint_connection_accepter" "astro" {`, `vpc_endpoint_service_id = "vpce-svc-0123456789abcdef0"`,
				`vpc_endpoint_id         = "` + vpce + `"`}},
		{name: "pending, accepted automatically", status: StatusPendingAcceptance, spec: same, resource: vpce, details: map[string]string{DetailAcceptance: "automatic"},
			next: []string{"accepts connections by itself", vpce}, noInstr: true},
		{name: "active with DNS names and private DNS", status: StatusActive, spec: same, resource: vpce,
			details: map[string]string{DetailDNSNames: dns[DetailDNSNames], DetailPrivateDNS: "api.example.com"},
			next: []string{"The endpoint `" + vpce + "` is available", "port 443, 5432", "`vpce-0aaaabbbbccccdddd-1x2y3z4w.vpce-svc-0123456789abcdef0.us-east-1.vpce.amazonaws.com`",
				"and at `api.example.com`: private DNS is on"},
			cli: []string{"aws ec2 describe-vpc-endpoint-connections --filters Name=vpc-endpoint-id,Values=" + vpce + " --region us-east-1"}},
		{name: "active, private DNS not verified", status: StatusActive, spec: same, resource: vpce,
			details: map[string]string{DetailDNSNames: dns[DetailDNSNames], DetailPrivateDNSProblem: "The private DNS name api.example.com is not verified."},
			next:    []string{"is available", "not verified"},
			cli: []string{"aws ec2 describe-vpc-endpoint-connections --filters Name=vpc-endpoint-id,Values=" + vpce + " --region us-east-1",
				"aws ec2 start-vpc-endpoint-service-private-dns-verification --service-id vpce-svc-0123456789abcdef0 --region us-east-1"}},
		{name: "active in manual mode: no details", status: StatusActive, spec: same, resource: vpce,
			next: []string{"The endpoint `" + vpce + "` is available"}},
		{name: "creating", status: StatusCreating, spec: same, next: []string{"being created"}, noInstr: true},
	}, func(text string) bool { return strings.Contains(text, "<") })
}

func TestPrivateLinkFacts(t *testing.T) {
	d := plDef(t)
	r := &Request{ID: 1, Kind: KindPrivateLink, Status: StatusActive, Resource: "vpce-0aaaabbbbccccdddd",
		Spec:    PrivateLinkSpec{AccountID: "123456789012", ServiceName: plService, Region: "us-east-1", Ports: []int{443}, DNSName: "api.example.com"},
		Details: map[string]string{DetailDNSNames: "a.example b.example"}}
	got := fmt.Sprint(d.Facts(r))
	want := "[{AWS account [123456789012]} {Endpoint service [" + plService + "]} {Region [us-east-1]} {Ports [443]} {Private DNS name [api.example.com]} {Endpoint [vpce-0aaaabbbbccccdddd]} {DNS names [a.example b.example]}]"
	if got != want {
		t.Errorf("Facts = %s\nwant    %s", got, want)
	}
	if ref := r.Ref(); ref != "PL-0001" {
		t.Errorf("Ref = %s, want PL-0001", ref)
	}
	if id, err := ParseRequestID("pl-7"); err != nil || id != 7 {
		t.Errorf("ParseRequestID(pl-7) = %d, %v", id, err)
	}
}
