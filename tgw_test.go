package astrobot

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

const (
	tgwID     = "tgw-0123456789abcdef0"
	tgwShare  = "arn:aws:ram:us-east-1:123456789012:resource-share/0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
	tgwAttach = "tgw-attach-0aaaabbbbccccdddd"
)

// tgwDef returns the definition of the transit gateway kind, which the
// slug tgw names in any case.
func tgwDef(t *testing.T) KindDef {
	t.Helper()
	d := kindDef(t, KindTransitGateway)
	if k, ok := KindBySlug("TGW"); !ok || k.Kind() != KindTransitGateway {
		t.Fatal("the slug tgw does not name the transit gateway kind")
	}
	return d
}

func TestTransitGatewayParse(t *testing.T) {
	d := tgwDef(t)
	valid := Input{FieldAccount: "1234-5678-9012", FieldTGW: " " + strings.ToUpper(tgwID) + " ", FieldShare: " " + tgwShare + " ", FieldCIDRs: "10.20.0.0/16\n10.21.0.0/16"}
	with := func(kv ...string) Input { return withFields(valid, kv...) }
	cidrs := []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("10.21.0.0/16")}
	west := "arn:aws:ram:eu-west-1:123456789012:resource-share/0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
	tests := []parseCase{
		{name: "valid, with the share", in: valid, cl: &testCluster,
			want: TransitGatewaySpec{AccountID: "123456789012", TGWID: tgwID, ShareARN: tgwShare, CIDRs: cidrs}},
		{name: "without a share", in: with(FieldShare, "  "), cl: &testCluster,
			want: TransitGatewaySpec{AccountID: "123456789012", TGWID: tgwID, CIDRs: cidrs}},
		{name: "no cluster chosen yet: the share's region is not checked", in: with(FieldShare, west),
			want: TransitGatewaySpec{AccountID: "123456789012", TGWID: tgwID, ShareARN: west, CIDRs: cidrs}},
		{name: "share ARN in upper case", in: with(FieldShare, strings.ToUpper(tgwShare)), cl: &testCluster,
			want: TransitGatewaySpec{AccountID: "123456789012", TGWID: tgwID, ShareARN: tgwShare, CIDRs: cidrs}},
		{name: "shared address space", in: with(FieldCIDRs, "100.64.0.0/16"), cl: &testCluster,
			want:    TransitGatewaySpec{AccountID: "123456789012", TGWID: tgwID, ShareARN: tgwShare, CIDRs: []netip.Prefix{netip.MustParsePrefix("100.64.0.0/16")}},
			warning: "shared address space"},
		{name: "account", in: with(FieldAccount, "12345"), badField: FieldAccount, badMsg: "12 digits"},
		{name: "a VPC ID for the TGW", in: with(FieldTGW, "vpc-0123456789abcdef0"), badField: FieldTGW, badMsg: "tgw- followed by 17 hex digits"},
		{name: "a short TGW ID", in: with(FieldTGW, "tgw-0123abcd"), badField: FieldTGW, badMsg: "17 hex digits"},
		{name: "an attachment ID for the TGW", in: with(FieldTGW, tgwAttach), badField: FieldTGW, badMsg: "17 hex digits"},
		{name: "share in another region", in: with(FieldShare, west), cl: &testCluster, badField: FieldShare,
			badMsg: "This share is in eu-west-1, but cluster test is in us-east-1: a VPC attaches only to a transit gateway of its own region. Share a transit gateway in us-east-1; to reach your networks in eu-west-1, peer that transit gateway with one there (transit gateway peering)."},
		{name: "share of another account", in: with(FieldAccount, "210987654321"), cl: &testCluster, badField: FieldShare,
			badMsg: "This share belongs to account 123456789012, but you gave 210987654321 as the transit gateway's account"},
		{name: "share of a bad account: only the account is refused", in: with(FieldAccount, "1"), cl: &testCluster, badField: FieldAccount, badMsg: "12 digits"},
		{name: "share without a UUID", in: with(FieldShare, "arn:aws:ram:us-east-1:123456789012:resource-share/abc"), badField: FieldShare, badMsg: "A RAM resource share ARN looks like"},
		{name: "an invitation ARN", in: with(FieldShare, "arn:aws:ram:us-east-1:123456789012:resource-share-invitation/0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"),
			badField: FieldShare, badMsg: "looks like"},
		{name: "a TGW ARN for the share", in: with(FieldShare, "arn:aws:ec2:us-east-1:123456789012:transit-gateway/"+tgwID), badField: FieldShare, badMsg: "looks like"},
		{name: "share in the China partition", in: with(FieldShare, "arn:aws-cn:ram:cn-north-1:123456789012:resource-share/0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"), badField: FieldShare, badMsg: "looks like"},
		{name: "share in no region", in: with(FieldShare, "arn:aws:ram:moon-1:123456789012:resource-share/0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"), badField: FieldShare,
			badMsg: `names the region "moon-1", which is not an AWS region`},
		{name: "no CIDR", in: with(FieldCIDRs, " "), badField: FieldCIDRs, badMsg: "at least one CIDR"},
		{name: "a public CIDR", in: with(FieldCIDRs, "8.8.0.0/16"), badField: FieldCIDRs, badMsg: "not a private range"},
		{name: "a CIDR overlapping the cluster", in: with(FieldCIDRs, "172.31.128.0/17"), cl: &testCluster, badField: FieldCIDRs,
			badMsg: "172.31.128.0/17 overlaps 172.31.0.0/16, the VPC of cluster test"},
	}
	checkParse(t, d, tests, func(t *testing.T, tt parseCase, spec Spec) {
		if got := spec.Routes(); !slices.Equal(got, tt.want.Routes()) {
			t.Errorf("Routes() = %v, want the CIDRs %v", got, tt.want.Routes())
		}
		if got, want := spec.Key(), tgwID+" in account 123456789012"; got != want {
			t.Errorf("Key() = %q, want %q", got, want)
		}
	})
}

func TestTransitGatewayIntroNamesClusterRegion(t *testing.T) {
	d := tgwDef(t)
	if got := d.Intro(&testCluster); !strings.Contains(got, "Cluster test is in us-east-1, in AWS account 111111111111: your transit gateway must be in us-east-1 too. From another region, peer your transit gateway with one in us-east-1 (transit gateway peering)") {
		t.Errorf("Intro with a cluster = %q", got)
	}
	if got := d.Intro(nil); !strings.Contains(got, "must be in the cluster's region") || !strings.Contains(got, "transit gateway peering") {
		t.Errorf("Intro without a cluster = %q", got)
	}
}

// TestTransitGatewayConflicts checks a new request against the open
// requests of the cluster: the same transit gateway twice, CIDRs overlapping
// those of a request of any kind, the limit of attachments per VPC.
func TestTransitGatewayConflicts(t *testing.T) {
	spec := TransitGatewaySpec{AccountID: "123456789012", TGWID: tgwID, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}
	r := &Request{ID: 9, Kind: KindTransitGateway, Spec: spec}
	peering := PeeringSpec{AccountID: "123456789012", Region: "us-east-1", VPCID: "vpc-0abc12345678def90", CIDRs: []netip.Prefix{netip.MustParsePrefix("10.20.128.0/20")}}
	other := TransitGatewaySpec{AccountID: "123456789012", TGWID: "tgw-0123456789abcdef1", CIDRs: []netip.Prefix{netip.MustParsePrefix("10.30.0.0/16")}}
	checkConflicts(t, r, []conflictCase{
		{"none open", nil, "", ""},
		{"another transit gateway", []Claim{{ID: 1, Kind: KindTransitGateway, Status: StatusActive, Key: other.Key(), Routes: other.Routes()}}, "", ""},
		{"the same TGW in another account is another key", []Claim{{ID: 1, Kind: KindTransitGateway, Status: StatusActive, Key: tgwID + " in account 210987654321"}}, "", ""},
		{"a PrivateLink request has no routes", []Claim{{ID: 2, Kind: KindPrivateLink, Status: StatusActive, Key: "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"}}, "", ""},
		{"the same TGW", []Claim{{ID: 3, Kind: KindTransitGateway, Status: StatusWaitingShare, Key: spec.Key(), Routes: other.Routes()}}, FieldTGW,
			"TGW-0003 already asks for " + tgwID + " in account 123456789012 on this cluster (status waiting share): follow that one instead of filing it twice."},
		{"CIDRs routed by a peering", []Claim{{ID: 4, Kind: KindPeering, Status: StatusActive, Key: peering.Key(), Routes: peering.Routes()}}, FieldCIDRs,
			"10.20.0.0/16 overlaps 10.20.128.0/20, already routed to this cluster by PEER-0004 (active)."},
		{"CIDRs routed by another TGW request", []Claim{{ID: 5, Kind: KindTransitGateway, Status: StatusAttaching, Key: other.Key(), Routes: []netip.Prefix{netip.MustParsePrefix("10.16.0.0/12")}}}, FieldCIDRs,
			"10.20.0.0/16 overlaps 10.16.0.0/12, already routed to this cluster by TGW-0005 (attaching)."},
		{"the limit", slices.Repeat([]Claim{{ID: 6, Kind: KindTransitGateway, Status: StatusActive, Key: "x"}}, MaxTransitGatewaysPerCluster), FieldCluster,
			"This cluster already has 5 open or active Transit gateway attachment requests, the most transit gateway attachments AWS allows on one VPC."},
	})
}

func TestTransitGatewayIDs(t *testing.T) {
	tests := []struct {
		name     string
		validate func(string) error
		id       string
		ok       bool
	}{
		{"tgw", ValidateTransitGatewayID, tgwID, true},
		{"tgw short", ValidateTransitGatewayID, "tgw-0123abcd", false},
		{"tgw upper case", ValidateTransitGatewayID, "tgw-0123456789ABCDEF0", false},
		{"tgw attachment", ValidateTransitGatewayID, tgwAttach, false},
		{"tgw not hex", ValidateTransitGatewayID, "tgw-0123456789abcdefg", false},
		{"tgw empty", ValidateTransitGatewayID, "", false},
		{"attachment", ValidateAttachmentID, tgwAttach, true},
		{"attachment short", ValidateAttachmentID, "tgw-attach-0123abcd", false},
		{"attachment of a TGW", ValidateAttachmentID, tgwID, false},
		{"attachment upper case", ValidateAttachmentID, "TGW-ATTACH-0AAAABBBBCCCCDDDD", false},
		{"attachment too long", ValidateAttachmentID, tgwAttach + "0", false},
		{"attachment peering", ValidateAttachmentID, "pcx-0abc12345678def90", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.validate(tt.id)
			if (err == nil) != tt.ok {
				t.Fatalf("validate(%q) = %v, want ok %v", tt.id, err, tt.ok)
			}
			if err != nil {
				checkInvalid(t, tt.id, err, tt.id)
			}
		})
	}
	for _, tt := range []struct {
		arn, region, account string
	}{
		{tgwShare, "us-east-1", "123456789012"},
		{"arn:aws:ram:ap-southeast-2:210987654321:resource-share/00000000-0000-0000-0000-000000000000", "ap-southeast-2", "210987654321"},
	} {
		region, account, err := ParseShareARN(tt.arn)
		if err != nil || region != tt.region || account != tt.account {
			t.Errorf("ParseShareARN(%q) = %q, %q, %v; want %s, %s", tt.arn, region, account, err, tt.region, tt.account)
		}
	}
	for _, bad := range []string{"", "arn:aws:ram:us-east-1:123456789012:resource-share/0f1e2d3c4b5a49788a9b0c1d2e3f4a5b",
		"arn:aws:ram:us-east-1:12345678901:resource-share/0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b",
		"arn:aws:ram:us-east-1:123456789012:resource-share/0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b:extra",
		"arn:aws:ram:us-east-1:123456789012:resource-share/0F1E2D3C-4B5A-4978-8A9B-0C1D2E3F4A5B"} {
		if _, _, err := ParseShareARN(bad); err == nil {
			t.Errorf("ParseShareARN(%q) accepted it", bad)
		} else {
			checkInvalid(t, bad, err, "")
		}
	}
}

// TestTransitGatewayMessages checks what the customer reads in each state,
// every value filled in.
func TestTransitGatewayMessages(t *testing.T) {
	d := tgwDef(t)
	cl := testCluster
	cl.CIDRs = []netip.Prefix{netip.MustParsePrefix("172.31.0.0/16"), netip.MustParsePrefix("172.30.0.0/20")}
	bare := TransitGatewaySpec{AccountID: "123456789012", TGWID: tgwID, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}
	shared := bare
	shared.ShareARN = tgwShare
	const tgwARN = "arn:aws:ec2:us-east-1:123456789012:transit-gateway/" + tgwID
	checkMessages(t, d, cl, []messageCase{
		{name: "waiting for a new share", status: StatusWaitingShare, spec: bare,
			next: []string{"share the transit gateway with the cluster's AWS account through AWS RAM", "Share `" + tgwID + "` from account 123456789012."},
			cli:  []string{"aws ram create-resource-share --name astro-test --resource-arns " + tgwARN + " --principals 111111111111 --allow-external-principals --region us-east-1"},
			terraform: []string{`resource "aws_ram_resource_share" "astro" {`, `allow_external_principals = true`,
				`resource "aws_ram_resource_association" "astro" {`, `resource_arn       = "` + tgwARN + `"`, `resource_share_arn = aws_ram_resource_share.astro.arn`,
				`resource "aws_ram_principal_association" "astro" {`, `principal          = "111111111111"`}},
		{name: "waiting for the share the request names", status: StatusWaitingShare, spec: shared,
			cli: []string{"aws ram associate-resource-share --resource-share-arn " + tgwShare + " --resource-arns " + tgwARN + " --principals 111111111111 --region us-east-1"},
			terraform: []string{`resource "aws_ram_resource_association" "astro" {`, `resource_share_arn = "` + tgwShare + `"`,
				`resource "aws_ram_principal_association" "astro" {`, `principal          = "111111111111"`}},
		{name: "attaching", status: StatusAttaching, spec: bare, next: []string{"being attached"}, noInstr: true},
		{name: "pending acceptance", status: StatusPendingAcceptance, spec: bare, resource: tgwAttach, details: map[string]string{DetailAcceptance: "required"},
			next:      []string{"Accept `" + tgwAttach + "` on `" + tgwID + "` in account 123456789012."},
			cli:       []string{"aws ec2 accept-transit-gateway-vpc-attachment --transit-gateway-attachment-id " + tgwAttach + " --region us-east-1"},
			terraform: []string{`resource "aws_ec2_transit_gateway_vpc_attachment_accepter" "astro" {`, `transit_gateway_attachment_id = "` + tgwAttach + `"`}},
		{name: "pending acceptance in manual mode: no details", status: StatusPendingAcceptance, spec: bare, resource: tgwAttach,
			cli: []string{"aws ec2 accept-transit-gateway-vpc-attachment --transit-gateway-attachment-id " + tgwAttach + " --region us-east-1"}},
		{name: "pending, accepted automatically", status: StatusPendingAcceptance, spec: bare, resource: tgwAttach, details: map[string]string{DetailAcceptance: "automatic"},
			next: []string{"accepts attachments by itself", tgwAttach}, noInstr: true},
		{name: "configuring", status: StatusConfiguring, spec: bare, resource: tgwAttach, next: []string{"Routes to the customer's CIDRs"}, noInstr: true},
		{name: "active", status: StatusActive, spec: bare, resource: tgwAttach,
			next: []string{"attached to `" + tgwID + "` through `" + tgwAttach + "` and routes `10.20.0.0/16` to it"},
			cli: []string{
				"aws ec2 create-transit-gateway-route --destination-cidr-block 172.31.0.0/16 --transit-gateway-route-table-id <your-tgw-route-table-id> --transit-gateway-attachment-id " + tgwAttach + " --region us-east-1",
				"aws ec2 create-transit-gateway-route --destination-cidr-block 172.30.0.0/20 --transit-gateway-route-table-id <your-tgw-route-table-id> --transit-gateway-attachment-id " + tgwAttach + " --region us-east-1",
				"aws ec2 associate-transit-gateway-route-table --transit-gateway-route-table-id <your-tgw-route-table-id> --transit-gateway-attachment-id " + tgwAttach + " --region us-east-1",
				"aws ec2 create-route --route-table-id <your-route-table-id> --destination-cidr-block 172.31.0.0/16 --transit-gateway-id " + tgwID + " --region us-east-1",
				"aws ec2 create-route --route-table-id <your-route-table-id> --destination-cidr-block 172.30.0.0/20 --transit-gateway-id " + tgwID + " --region us-east-1",
				"aws ec2 authorize-security-group-ingress --group-id <your-sg-id> --protocol tcp --port <port> --cidr 172.31.0.0/16 --region us-east-1",
				"aws ec2 authorize-security-group-ingress --group-id <your-sg-id> --protocol tcp --port <port> --cidr 172.30.0.0/20 --region us-east-1",
			},
			terraform: []string{`resource "aws_ec2_transit_gateway_route" "astro_1" {`, `destination_cidr_block         = "172.30.0.0/20"`,
				`transit_gateway_attachment_id  = "` + tgwAttach + `"`, `resource "aws_ec2_transit_gateway_route_table_association" "astro" {`,
				`resource "aws_route" "astro_0" {`, `transit_gateway_id     = "` + tgwID + `"`, `resource "aws_vpc_security_group_ingress_rule" "astro_1" {`}},
		{name: "failed", status: StatusFailed, spec: bare, next: []string{"Support will look into it and retry"}, noInstr: true},
		{name: "declined", status: StatusDeclined, spec: bare, next: []string{"rejected on the customer's transit gateway"}, noInstr: true},
		{name: "expired", status: StatusExpired, spec: bare, next: []string{"share invitation expired"}, noInstr: true},
	}, func(text string) bool {
		rest := strings.NewReplacer("<your-tgw-route-table-id>", "", "<your-route-table-id>", "", "<your-sg-id>", "", "<port>", "").Replace(text)
		return strings.ContainsAny(rest, "<>")
	})
}

func TestTransitGatewayFacts(t *testing.T) {
	d := tgwDef(t)
	r := &Request{ID: 1, Kind: KindTransitGateway, Status: StatusActive, Resource: tgwAttach,
		Spec: TransitGatewaySpec{AccountID: "123456789012", TGWID: tgwID, ShareARN: tgwShare, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}}
	got := fmt.Sprint(d.Facts(r))
	want := "[{AWS account [123456789012]} {Transit gateway [" + tgwID + "]} {RAM share [" + tgwShare + "]} {CIDRs [10.20.0.0/16]} {Attachment [" + tgwAttach + "]}]"
	if got != want {
		t.Errorf("Facts = %s\nwant    %s", got, want)
	}
	if ref := r.Ref(); ref != "TGW-0001" {
		t.Errorf("Ref = %s, want TGW-0001", ref)
	}
	if id, err := ParseRequestID("tgw-7"); err != nil || id != 7 {
		t.Errorf("ParseRequestID(tgw-7) = %d, %v", id, err)
	}
	if !r.Matches("TGW-1") || r.Matches("PEER-1") {
		t.Error("TGW-0001 should match TGW-1 and not PEER-1")
	}
}

// TestTransitGatewayWorkflow walks the transition table from approved to
// active the way support does in manual mode, and through each failure and
// its retry, which starts a new attempt without the old attachment.
func TestTransitGatewayWorkflow(t *testing.T) {
	d := tgwDef(t)
	spec := TransitGatewaySpec{AccountID: "123456789012", TGWID: tgwID, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}
	walk := func(t *testing.T, r *Request, steps ...Change) {
		t.Helper()
		for i, c := range steps {
			c.Actor, c.Role = "USUPPORT", RoleSupport
			if _, err := r.Apply(c, i+2); err != nil {
				t.Fatalf("step %d, %s from %s: %v", i, c.Action, r.Status, err)
			}
		}
	}
	r := &Request{ID: 1, Kind: KindTransitGateway, Status: StatusApproved, Spec: spec}
	walk(t, r, Change{Action: ActAwaitShare}, Change{Action: ActShareAccepted}, Change{Action: ActAttachmentCreated, Resource: tgwAttach},
		Change{Action: ActAccepted}, Change{Action: ActConfigured})
	if r.Status != StatusActive || r.Resource != tgwAttach {
		t.Fatalf("after the manual steps: %s with %q", r.Status, r.Resource)
	}
	if _, err := r.Apply(Change{Action: ActCancel, Actor: "U1", Role: RoleRequester}, 9); ErrorCodeOf(err) != EConflict {
		t.Errorf("cancel an active attachment = %v, want a conflict", err)
	}

	bad := &Request{ID: 2, Kind: KindTransitGateway, Status: StatusAttaching, Spec: spec}
	if _, err := bad.Apply(Change{Action: ActAttachmentCreated, Actor: "USUPPORT", Role: RoleSupport, Resource: "tgw-attach-123"}, 2); ErrorCodeOf(err) != EInvalid || bad.Resource != "" {
		t.Errorf("a short attachment ID = %v, resource %q; want refused", err, bad.Resource)
	}

	for _, tt := range []struct {
		name   string
		steps  []Change
		status Status
	}{
		{"invitation rejected", []Change{{Action: ActFail}}, StatusFailed},
		{"invitation expired while waiting", []Change{{Action: ActAwaitShare}, {Action: ActExpire}}, StatusExpired},
		{"attachment rejected", []Change{{Action: ActShareAccepted}, {Action: ActAttachmentCreated, Resource: tgwAttach}, {Action: ActDecline}}, StatusDeclined},
		{"attachment failed while configuring", []Change{{Action: ActShareAccepted}, {Action: ActAttachmentCreated, Resource: tgwAttach}, {Action: ActAccepted}, {Action: ActFail}}, StatusFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &Request{ID: 3, Kind: KindTransitGateway, Status: StatusApproved, Spec: spec}
			walk(t, r, tt.steps...)
			if r.Status != tt.status {
				t.Fatalf("status %s, want %s", r.Status, tt.status)
			}
			walk(t, r, Change{Action: ActRetry})
			if r.Status != StatusApproved || r.Resource != "" || r.Attempt != 1 {
				t.Errorf("after retry: %s, resource %q, attempt %d; want approved without a resource, attempt 1", r.Status, r.Resource, r.Attempt)
			}
		})
	}
	if st, _ := stateOf(d, StatusConfiguring); !st.Cancel {
		t.Error("a request in configuring holds an available attachment: it may be cancelled, which deletes it")
	}
}
