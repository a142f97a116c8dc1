package astrobot

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// zoneDef returns the definition of the private DNS zone kind.
func zoneDef(t *testing.T) KindDef {
	t.Helper()
	return kindDef(t, KindHostedZone)
}

func TestHostedZoneParse(t *testing.T) {
	d := zoneDef(t)
	valid := Input{FieldAccount: "1234-5678-9012", FieldZone: " z0123456789abcdefghij ", FieldDomain: " Corp.Example.COM. "}
	with := func(k, v string) Input { return withFields(valid, k, v) }
	want := HostedZoneSpec{AccountID: "123456789012", ZoneID: "Z0123456789ABCDEFGHIJ", Domain: "corp.example.com"}
	tests := []parseCase{
		{name: "valid, normalized", in: valid, want: want},
		{name: "ID as the API answers it", in: with(FieldZone, "/hostedzone/Z0123456789ABCDEFGHIJ"), want: want},
		{name: "shortest ID", in: with(FieldZone, "Z1"), want: HostedZoneSpec{AccountID: want.AccountID, ZoneID: "Z1", Domain: want.Domain}},
		{name: "longest ID", in: with(FieldZone, "Z"+strings.Repeat("A", 32)), want: HostedZoneSpec{AccountID: want.AccountID, ZoneID: "Z" + strings.Repeat("A", 32), Domain: want.Domain}},
		{name: "one-label domain, underscores", in: with(FieldDomain, "_svc.internal"), want: HostedZoneSpec{AccountID: want.AccountID, ZoneID: want.ZoneID, Domain: "_svc.internal"}},
		{name: "account", in: with(FieldAccount, "12345"), badField: FieldAccount, badMsg: "12 digits"},
		{name: "zone ID alone", in: with(FieldZone, "Z"), badField: FieldZone, badMsg: "Z followed by up to 32"},
		{name: "zone ID too long", in: with(FieldZone, "Z"+strings.Repeat("A", 33)), badField: FieldZone, badMsg: "Z followed by up to 32"},
		{name: "zone ID without Z", in: with(FieldZone, "A0123456789ABCDEFGHIJ"), badField: FieldZone, badMsg: `got "A0123456789ABCDEFGHIJ"`},
		{name: "zone ID with a dash", in: with(FieldZone, "Z0123-456"), badField: FieldZone, badMsg: "letters and digits"},
		{name: "zone ID empty", in: with(FieldZone, "  "), badField: FieldZone, badMsg: "hosted zone ID"},
		{name: "domain with a space", in: with(FieldDomain, "corp example.com"), badField: FieldDomain, badMsg: "not a domain name"},
		{name: "domain with an empty label", in: with(FieldDomain, "corp..example.com"), badField: FieldDomain, badMsg: "not a domain name"},
		{name: "domain with a hyphen at a label's end", in: with(FieldDomain, "corp-.example.com"), badField: FieldDomain, badMsg: "not a domain name"},
		{name: "domain wildcard", in: with(FieldDomain, "*.example.com"), badField: FieldDomain, badMsg: "not a domain name"},
		{name: "domain label too long", in: with(FieldDomain, strings.Repeat("a", 64)+".com"), badField: FieldDomain, badMsg: "not a domain name"},
		{name: "domain too long", in: with(FieldDomain, strings.Repeat("a.", 127)+"com"), badField: FieldDomain, badMsg: "not a domain name"},
		{name: "domain empty", in: with(FieldDomain, "."), badField: FieldDomain, badMsg: "not a domain name"},
	}
	for i := range tests {
		tests[i].cl = &testCluster // and no warning
	}
	checkParse(t, d, tests, nil)
}

func TestHostedZoneKeyAndConflicts(t *testing.T) {
	spec := HostedZoneSpec{AccountID: "123456789012", ZoneID: "Z0123456789ABCDEFGHIJ", Domain: "corp.example.com"}
	other := spec
	other.Domain = "typed-otherwise.example.com"
	r := &Request{ID: 2, Kind: KindHostedZone, Spec: other}
	if len(spec.Routes()) != 0 {
		t.Errorf("Routes = %v, want none", spec.Routes())
	}
	// The same zone under another domain name is the same request.
	err := CheckConflicts(r, []Claim{{ID: 1, Kind: KindHostedZone, Status: StatusActive, Key: spec.Key()}})
	e, ok := err.(*Error)
	if !ok || e.Code != EConflict || !strings.Contains(e.Fields[FieldZone], "hosted zone Z0123456789ABCDEFGHIJ is already requested in DNS-0001 (active)") {
		t.Errorf("CheckConflicts = %v, want the duplicate zone refused on its field", err)
	}
	// A zone on a cluster whose peering routes CIDRs claims none of them.
	peer := Claim{ID: 1, Kind: KindPeering, Status: StatusActive, Key: "vpc-0abc12345678def90 in account 123456789012",
		Routes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	if err := CheckConflicts(&Request{ID: 2, Kind: KindHostedZone, Spec: spec}, []Claim{peer}); err != nil {
		t.Errorf("CheckConflicts with a peering = %v, want none", err)
	}
}

func TestHostedZoneInstructions(t *testing.T) {
	d := zoneDef(t)
	spec := HostedZoneSpec{AccountID: "123456789012", ZoneID: "Z0123456789ABCDEFGHIJ", Domain: "corp.example.com"}
	authorize := "aws route53 create-vpc-association-authorization --hosted-zone-id Z0123456789ABCDEFGHIJ --vpc VPCRegion=us-east-1,VPCId=vpc-0123456789abcdef0"
	terraform := "resource \"aws_route53_vpc_association_authorization\" \"astro\" {\n  zone_id    = \"Z0123456789ABCDEFGHIJ\"\n  vpc_id     = \"vpc-0123456789abcdef0\"\n  vpc_region = \"us-east-1\"\n}"
	remove := "aws route53 delete-vpc-association-authorization --hosted-zone-id Z0123456789ABCDEFGHIJ --vpc VPCRegion=us-east-1,VPCId=vpc-0123456789abcdef0"
	tests := []struct {
		status    Status
		cli       []string // every CLI line, in order; nil for no instructions
		terraform string
		title     string
	}{
		{StatusSubmitted, []string{authorize}, terraform, "Authorize the association in account 123456789012"},
		{StatusApproved, []string{authorize}, terraform, "the cluster VPC is `vpc-0123456789abcdef0`, region us-east-1"},
		{StatusWaitingAuthorization, []string{authorize}, terraform, "Authorize the association in account 123456789012"},
		{StatusAssociating, nil, "", ""},
		{StatusActive, []string{remove}, "", "Done: the cluster resolves the names of corp.example.com"},
		{StatusFailed, nil, "", ""},
		{StatusCancelled, nil, "", ""},
		{StatusDeleted, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			r := &Request{ID: 42, Kind: KindHostedZone, Status: tt.status, Spec: spec}
			in := d.Instructions(r, testCluster)
			if tt.cli == nil {
				if in != nil {
					t.Fatalf("Instructions = %+v, want none", in)
				}
				return
			}
			if in == nil || len(in.Steps) != 1 {
				t.Fatalf("Instructions = %+v, want one step", in)
			}
			if !strings.Contains(in.Title, tt.title) {
				t.Errorf("title %q lacks %q", in.Title, tt.title)
			}
			if s := in.Steps[0]; !slices.Equal(s.CLI, tt.cli) || s.Terraform != tt.terraform || s.Console != "" {
				t.Errorf("step = %+v, want CLI %q, Terraform %q and no console path (there is none)", s, tt.cli, tt.terraform)
			}
		})
	}
}

func TestHostedZoneNextAndFacts(t *testing.T) {
	d := zoneDef(t)
	spec := HostedZoneSpec{AccountID: "123456789012", ZoneID: "Z0123456789ABCDEFGHIJ", Domain: "corp.example.com"}
	waiting := &Request{ID: 42, Kind: KindHostedZone, Status: StatusWaitingAuthorization, Spec: spec}
	if got := d.Next(waiting); !strings.Contains(got, "Authorize it in account 123456789012 for the zone `Z0123456789ABCDEFGHIJ`.") {
		t.Errorf("Next in waiting_authorization = %q", got)
	}
	active := &Request{ID: 42, Kind: KindHostedZone, Status: StatusActive, Spec: spec, Resource: "Z0123456789ABCDEFGHIJ"}
	if got := d.Next(active); !strings.Contains(got, "`Z0123456789ABCDEFGHIJ` (corp.example.com) is associated") || !strings.Contains(got, "may delete the authorization") {
		t.Errorf("Next when active = %q", got)
	}
	associating := &Request{ID: 42, Kind: KindHostedZone, Status: StatusAssociating, Spec: spec, Details: map[string]string{DetailChange: "C0123ABC"}}
	want := []Fact{{"Zone's AWS account", []string{"123456789012"}}, {"Hosted zone", []string{"Z0123456789ABCDEFGHIJ"}},
		{"Domain", []string{"corp.example.com"}}, {"Route 53 change", []string{"C0123ABC"}}}
	if got := d.Facts(associating); !reflect.DeepEqual(got, want) {
		t.Errorf("Facts = %+v, want %+v", got, want)
	}
}

func TestHostedZoneSteps(t *testing.T) {
	d := zoneDef(t)
	dis, ok := RuleFor(d, ActDisassociate)
	if !ok || !slices.Equal(dis.From, []Status{StatusActive}) || dis.To != StatusCancelled || !slices.Equal(dis.Who, []Role{RoleSupport}) ||
		dis.Button == "" || dis.Confirm == "" {
		t.Errorf("disassociate = %+v, want active → cancelled by support alone, with a button that asks to confirm", dis)
	}
	cancel, _ := RuleFor(d, ActCancel)
	for _, s := range []Status{StatusSubmitted, StatusApproved, StatusWaitingAuthorization, StatusFailed} {
		if !slices.Contains(cancel.From, s) {
			t.Errorf("the request cannot be cancelled in %s", s)
		}
	}
	for _, s := range []Status{StatusAssociating, StatusActive} {
		if slices.Contains(cancel.From, s) {
			t.Errorf("the generic cancel applies in %s, where the zone may be associated", s)
		}
	}
	// Cancelling an associated zone owes its disassociation; cancelling
	// before it owes nothing.
	r := Request{ID: 7, Kind: KindHostedZone, Status: StatusActive, Resource: "Z0123456789ABCDEFGHIJ", Spec: HostedZoneSpec{ZoneID: "Z0123456789ABCDEFGHIJ"}}
	e, err := r.Apply(Change{Action: ActDisassociate, Actor: "USUPPORT", Role: RoleSupport}, 5)
	if err != nil {
		t.Fatalf("disassociate: %v", err)
	}
	if jobs := Jobs(&r, e); len(jobs) != 1 || jobs[0].Kind != JobCleanup {
		t.Errorf("Jobs after disassociate = %+v, want the cleanup", jobs)
	}
	early := Request{ID: 8, Kind: KindHostedZone, Status: StatusWaitingAuthorization, Spec: HostedZoneSpec{ZoneID: "Z1"}}
	e, err = early.Apply(Change{Action: ActCancel, Actor: "UALICE", Role: RoleRequester}, 3)
	if err != nil || len(Jobs(&early, e)) != 0 {
		t.Errorf("cancel while waiting = %v, jobs %v; want no job", err, Jobs(&early, e))
	}
	if _, err := r.Apply(Change{Action: ActDisassociate, Role: RoleRequester}, 6); ErrorCodeOf(err) != EUnauthorized {
		t.Errorf("the requester disassociates: %v, want EUnauthorized", err)
	}
	// Support may type the zone ID in either case.
	if err := d.Resource().Validate("z0123456789abcdefghij"); err != nil {
		t.Errorf("a lower-case zone ID is refused: %v", err)
	}
}

func TestFollowUps(t *testing.T) {
	peering := &Request{ID: 1, Kind: KindPeering, Status: StatusActive,
		Spec: PeeringSpec{AccountID: "123456789012", Region: "us-east-1", VPCID: "vpc-0abc12345678def90", CIDRs: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}}
	tests := []struct {
		name string
		r    *Request
		want []Kind
	}{
		{"an active peering", peering, []Kind{KindHostedZone}},
		{"a peering not active yet", &Request{ID: 1, Kind: KindPeering, Status: StatusPendingAcceptance, Spec: peering.Spec}, nil},
		{"an active PrivateLink endpoint: nothing routed", &Request{ID: 1, Kind: KindPrivateLink, Status: StatusActive, Spec: PrivateLinkSpec{ServiceName: "x"}}, nil},
		{"an active zone: not offered on itself", &Request{ID: 1, Kind: KindHostedZone, Status: StatusActive, Spec: HostedZoneSpec{ZoneID: "Z1"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Kind
			for _, f := range FollowUps(tt.r) {
				got = append(got, f.Kind.Kind())
				if f.Label != "Share a private DNS zone" {
					t.Errorf("label %q", f.Label)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("FollowUps = %v, want %v", got, tt.want)
			}
		})
	}
	// Every kind whose spec routes CIDRs is followed up, the transit
	// gateway among them, by declaration.
	for _, d := range Kinds() {
		f, ok := d.(FollowUpper)
		if !ok {
			continue
		}
		if _, offered := f.FollowUp(&Request{Kind: KindTransitGateway, Status: StatusActive,
			Spec: TransitGatewaySpec{CIDRs: []netip.Prefix{netip.MustParsePrefix("10.30.0.0/16")}}}); !offered {
			t.Errorf("%s is not offered on an active transit gateway", d.Kind())
		}
	}
}
