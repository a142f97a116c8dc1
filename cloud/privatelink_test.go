package cloud_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/internal/fakeaws"
	"github.com/astrobot-dev/astrobot/internal/mototest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"
)

// subnet creates a subnet of vpc in zone and returns its ID.
func (e ec2Env) subnet(vpc, cidr, zone string, public bool) string {
	e.t.Helper()
	ctx := context.Background()
	out, err := e.client.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpc), CidrBlock: aws.String(cidr), AvailabilityZone: aws.String(zone)})
	if err != nil {
		e.t.Fatalf("CreateSubnet: %v", err)
	}
	id := aws.ToString(out.Subnet.SubnetId)
	if public {
		if _, err := e.client.ModifySubnetAttribute(ctx, &ec2.ModifySubnetAttributeInput{SubnetId: aws.String(id),
			MapPublicIpOnLaunch: &types.AttributeBooleanValue{Value: aws.Bool(true)}}); err != nil {
			e.t.Fatalf("ModifySubnetAttribute: %v", err)
		}
	}
	return id
}

// zoneID returns the ID of zone in the account of e.
func (e ec2Env) zoneID(zone string) string {
	e.t.Helper()
	out, err := e.client.DescribeAvailabilityZones(context.Background(), &ec2.DescribeAvailabilityZonesInput{ZoneNames: []string{zone}})
	if err != nil || len(out.AvailabilityZones) != 1 {
		e.t.Fatalf("DescribeAvailabilityZones(%s): %v", zone, err)
	}
	return aws.ToString(out.AvailabilityZones[0].ZoneId)
}

// endpointService creates an endpoint service in front of a new NLB in
// subnets and returns its name.
func (e ec2Env) endpointService(account, region, name string, subnets ...string) string {
	e.t.Helper()
	t := e.t.(*testing.T)
	out, err := e.client.CreateVpcEndpointServiceConfiguration(context.Background(), &ec2.CreateVpcEndpointServiceConfigurationInput{
		NetworkLoadBalancerArns: []string{mototest.NLB(t, account, region, name, subnets...)},
		AcceptanceRequired:      aws.Bool(true),
	})
	if err != nil {
		e.t.Fatalf("CreateVpcEndpointServiceConfiguration: %v", err)
	}
	return aws.ToString(out.ServiceConfiguration.ServiceName)
}

// TestPrivateLinkMoto runs the Astro side of a PrivateLink request against
// moto, with the service in the cluster's own account (moto shows no other
// account's service): check, create once in the subnets of the common zones
// with the request's security group, describe, private DNS, retry, delete.
func TestPrivateLinkMoto(t *testing.T) {
	ctx := context.Background()
	astro, operator, other := mototest.NewAccount(t), mototest.NewAccount(t), mototest.NewAccount(t)
	const region = "us-east-1"
	env := newEC2Env(t, astro, region)
	clusterVPC := env.vpc("10.60.0.0/16", map[string]string{"astro:cluster-id": "clx-pl", "astro:organization": "acme"})
	publicA := env.subnet(clusterVPC, "10.60.0.0/24", "us-east-1a", true)
	privateA := env.subnet(clusterVPC, "10.60.1.0/24", "us-east-1a", false)
	privateB := env.subnet(clusterVPC, "10.60.2.0/24", "us-east-1b", false)
	privateC := env.subnet(clusterVPC, "10.60.3.0/24", "us-east-1c", false)
	serviceVPC := env.vpc("10.61.0.0/16", nil)
	svcA := env.subnet(serviceVPC, "10.61.1.0/24", "us-east-1a", false)
	svcB := env.subnet(serviceVPC, "10.61.2.0/24", "us-east-1b", false)
	svcName := env.endpointService(astro, region, "nlb-pl", svcA, svcB)

	cluster := astrobot.Cluster{ID: "clx-pl", Name: "acme-pl", Organization: "acme", Region: region, AccountID: astro, VPCID: clusterVPC,
		CIDRs: []netip.Prefix{netip.MustParsePrefix("10.60.0.0/16"), netip.MustParsePrefix("10.62.0.0/16")}}
	req := astrobot.Request{ID: 42, Kind: astrobot.KindPrivateLink, ClusterID: cluster.ID,
		Spec: astrobot.PrivateLinkSpec{AccountID: astro, ServiceName: svcName, Region: region, Ports: []int{443, 5432}}}

	counter := newActionCounter()
	cfg := mototest.Config(t, operator, region)
	cfg.HTTPClient = counter
	var logs bytes.Buffer
	p := cloud.NewPrivateLinks(cfg, cloud.PrivateLinkOptions{
		Roles:  map[string]string{astro: "arn:aws:iam::" + astro + ":role/astrobot"},
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})

	chk, err := p.Check(ctx, cluster, req)
	if err != nil {
		t.Fatalf("Check: %v\nlogs:\n%s", err, logs.String())
	}
	zoneA, zoneB := env.zoneID("us-east-1a"), env.zoneID("us-east-1b")
	wantZones := slices.Sorted(slices.Values([]string{zoneA, zoneB}))
	wantSubnets := []string{privateA, privateB}
	if wantZones[0] != zoneA {
		wantSubnets = []string{privateB, privateA}
	}
	if !chk.Visible || chk.Service.Owner != astro || !chk.Service.AcceptanceRequired ||
		!slices.Equal(chk.Zones, wantZones) || !slices.Equal(chk.Subnets, wantSubnets) {
		t.Fatalf("Check = %+v; want visible, owner %s, zones %v, subnets %v (not the public %s nor %s of the third zone)",
			chk, astro, wantZones, wantSubnets, publicA, privateC)
	}

	first, err := p.Create(ctx, cluster, req, 1, chk)
	if err != nil {
		t.Fatalf("Create: %v\nlogs:\n%s", err, logs.String())
	}
	again, err := p.Create(ctx, cluster, req, 1, chk) // a crash before the ID was stored
	if err != nil || again.ID != first.ID {
		t.Fatalf("Create again = %+v, %v; want the endpoint %s made before", again, err, first.ID)
	}
	if n := counter.count("CreateVpcEndpoint"); n != 1 {
		t.Errorf("CreateVpcEndpoint was called %d times, want 1", n)
	}
	if err := astrobot.ValidateEndpointID(first.ID); err != nil {
		t.Errorf("moto's endpoint ID: %v", err)
	}

	got, err := env.client.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{clusterVPC}}}})
	if err != nil {
		t.Fatalf("DescribeVpcEndpoints: %v", err)
	}
	if len(got.VpcEndpoints) != 1 {
		t.Fatalf("the cluster VPC has %d endpoints, want 1", len(got.VpcEndpoints))
	}
	ep := got.VpcEndpoints[0]
	tags := map[string]string{}
	for _, tag := range ep.Tags {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	if ep.VpcEndpointType != types.VpcEndpointTypeInterface || aws.ToString(ep.ServiceName) != svcName || aws.ToBool(ep.PrivateDnsEnabled) ||
		!slices.Equal(slices.Sorted(slices.Values(ep.SubnetIds)), slices.Sorted(slices.Values(wantSubnets))) ||
		tags["astrobot:request-id"] != "PL-0042" || tags["astrobot:attempt"] != "1" || tags["astro:cluster-id"] != "clx-pl" {
		t.Errorf("the endpoint in moto: type %s, service %s, private DNS %v, subnets %v, tags %v",
			ep.VpcEndpointType, aws.ToString(ep.ServiceName), aws.ToBool(ep.PrivateDnsEnabled), ep.SubnetIds, tags)
	}
	if len(ep.Groups) != 1 {
		t.Fatalf("the endpoint has the security groups %+v, want one", ep.Groups)
	}
	group := aws.ToString(ep.Groups[0].GroupId)
	sgs, err := env.client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{group}})
	if err != nil || len(sgs.SecurityGroups) != 1 {
		t.Fatalf("DescribeSecurityGroups(%s): %v", group, err)
	}
	sg := sgs.SecurityGroups[0]
	var rules []string
	for _, pm := range sg.IpPermissions {
		for _, r := range pm.IpRanges {
			rules = append(rules, fmt.Sprintf("%s %d-%d %s", aws.ToString(pm.IpProtocol), aws.ToInt32(pm.FromPort), aws.ToInt32(pm.ToPort), aws.ToString(r.CidrIp)))
		}
	}
	slices.Sort(rules)
	wantRules := []string{"tcp 443-443 10.60.0.0/16", "tcp 443-443 10.62.0.0/16", "tcp 5432-5432 10.60.0.0/16", "tcp 5432-5432 10.62.0.0/16"}
	if aws.ToString(sg.GroupName) != "astrobot-PL-0042" || aws.ToString(sg.VpcId) != clusterVPC || !slices.Equal(rules, wantRules) {
		t.Errorf("security group %s in %s with rules %q; want astrobot-PL-0042 in %s with %q", aws.ToString(sg.GroupName), aws.ToString(sg.VpcId), rules, clusterVPC, wantRules)
	}

	described, err := p.Describe(ctx, astro, region, []string{first.ID})
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	d := described[first.ID]
	if d.State != cloud.EndpointAvailable || len(d.DNSNames) == 0 || !slices.Equal(d.Groups, []string{group}) {
		t.Errorf("Describe = %+v; want available (moto), with DNS names and the group %s", d, group)
	}
	if err := p.EnablePrivateDNS(ctx, cluster, first.ID); err != nil {
		t.Errorf("EnablePrivateDNS: %v", err)
	}

	// A retry is the next attempt: a new endpoint in the same group, and the
	// one of the first attempt deleted.
	second, err := p.Create(ctx, cluster, req, 2, chk)
	if err != nil || second.ID == first.ID {
		t.Fatalf("Create attempt 2 = %+v, %v; want a new endpoint", second, err)
	}
	described, err = p.Describe(ctx, astro, region, []string{first.ID, second.ID})
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if described[first.ID].State != cloud.EndpointDeleted || !slices.Equal(described[second.ID].Groups, []string{group}) {
		t.Errorf("after attempt 2: first %+v, second %+v; want the first deleted and the second in %s", described[first.ID], described[second.ID], group)
	}
	if n := counter.count("CreateSecurityGroup"); n != 1 {
		t.Errorf("CreateSecurityGroup was called %d times, want 1", n)
	}

	// Cancel: the endpoint and its group go.
	if err := p.DeleteEndpoint(ctx, cluster, second.ID); err != nil {
		t.Fatalf("DeleteEndpoint: %v", err)
	}
	if err := p.DeleteGroup(ctx, cluster, req); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	described, err = p.Describe(ctx, astro, region, []string{second.ID})
	if err != nil || described[second.ID].State != cloud.EndpointDeleted {
		t.Errorf("after DeleteEndpoint: %+v, %v; want deleted", described[second.ID], err)
	}
	left, err := env.client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{{Name: aws.String("group-name"), Values: []string{"astrobot-PL-0042"}}}})
	if err != nil || len(left.SecurityGroups) != 0 {
		t.Errorf("the security group is still there: %+v, %v", left.SecurityGroups, err)
	}
	if err := p.DeleteEndpoint(ctx, cluster, second.ID); err != nil {
		t.Errorf("DeleteEndpoint of a deleted endpoint: %v", err)
	}
	if err := p.DeleteGroup(ctx, cluster, req); err != nil {
		t.Errorf("DeleteGroup without a group: %v", err)
	}

	// A service of another account is invisible until allow-listed, and
	// moto never shows it: Check says so without an error.
	otherEnv := newEC2Env(t, other, region)
	otherVPC := otherEnv.vpc("10.70.0.0/16", nil)
	foreign := otherEnv.endpointService(other, region, "nlb-other", otherEnv.subnet(otherVPC, "10.70.1.0/24", "us-east-1a", false))
	invisible := req
	invisible.Spec = astrobot.PrivateLinkSpec{AccountID: other, ServiceName: foreign, Region: region, Ports: []int{443}}
	chk, err = p.Check(ctx, cluster, invisible)
	if err != nil || chk.Visible {
		t.Errorf("Check of another account's service = %+v, %v; want invisible, no error", chk, err)
	}
}

// plCluster is the cluster of the fake tests.
func plCluster() astrobot.Cluster {
	return astrobot.Cluster{ID: "clx-1", Name: "acme-prod", Organization: "acme", Region: "us-east-1", AccountID: "111111111111",
		VPCID: fakeClusterVPC, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
}

const plServiceName = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"

// plRequest is the request of the fake tests, for a service in region.
func plRequest(region string) astrobot.Request {
	return astrobot.Request{ID: 7, Kind: astrobot.KindPrivateLink, ClusterID: "clx-1", Spec: astrobot.PrivateLinkSpec{AccountID: "222222222222",
		ServiceName: "com.amazonaws.vpce." + region + ".vpce-svc-0123456789abcdef0", Region: region, Ports: []int{443}}}
}

// plSubnets answers DescribeSubnets: subnets of the cluster VPC in the zone
// IDs, all of them named us-east-1a, to prove names are not compared.
func plSubnets(zones ...string) string {
	var b strings.Builder
	for i, z := range zones {
		fmt.Fprintf(&b, "<item><subnetId>subnet-%017x</subnetId><vpcId>%s</vpcId><availabilityZone>us-east-1a</availabilityZone><availabilityZoneId>%s</availabilityZoneId></item>", i+1, fakeClusterVPC, z)
	}
	return "<subnetSet>" + b.String() + "</subnetSet>"
}

// plServiceXML is a DescribeVpcEndpointServices answer.
func plServiceXML(name, owner string, zoneIDs ...string) string {
	var zones string
	for _, z := range zoneIDs {
		zones += "<item>" + z + "</item>"
	}
	return fmt.Sprintf(`<serviceNameSet><item>%s</item></serviceNameSet><serviceDetailSet><item><serviceName>%s</serviceName><serviceId>vpce-svc-0123456789abcdef0</serviceId>
<owner>%s</owner><availabilityZoneSet><item>us-east-1a</item></availabilityZoneSet><availabilityZoneIdSet>%s</availabilityZoneIdSet>
<acceptanceRequired>true</acceptanceRequired><privateDnsName>api.example.com</privateDnsName><privateDnsNameVerificationState>verified</privateDnsNameVerificationState></item></serviceDetailSet>`,
		name, name, owner, zones)
}

func TestPrivateLinkCheckFake(t *testing.T) {
	tests := []struct {
		name      string
		region    string // of the service
		service   func(w http.ResponseWriter, call fakeaws.Call)
		subnets   []string // zone IDs of the cluster's subnets
		want      cloud.Check
		code      astrobot.ErrorCode
		msg       []string
		throttled bool
	}{
		{name: "not allow-listed yet", region: "us-east-1", subnets: []string{"use1-az1"},
			service: func(w http.ResponseWriter, _ fakeaws.Call) {
				fakeaws.WriteEC2Error(w, 400, "InvalidServiceName", "The Vpc Endpoint Service '"+plServiceName+"' does not exist")
			}},
		{name: "zones in common, by ID", region: "us-east-1", subnets: []string{"use1-az4", "use1-az1", "use1-az6"},
			service: func(w http.ResponseWriter, c fakeaws.Call) {
				fakeaws.WriteEC2(w, c.Action, plServiceXML(plServiceName, "222222222222", "use1-az1", "use1-az2", "use1-az6"))
			},
			want: cloud.Check{Visible: true, Zones: []string{"use1-az1", "use1-az6"}, Subnets: []string{"subnet-00000000000000002", "subnet-00000000000000003"}}},
		{name: "no zone in common, though the names agree", region: "us-east-1", subnets: []string{"use1-az4"},
			service: func(w http.ResponseWriter, c fakeaws.Call) {
				fakeaws.WriteEC2(w, c.Action, plServiceXML(plServiceName, "222222222222", "use1-az1", "use1-az2"))
			},
			code: astrobot.EConflict, msg: []string{"is in the availability zones use1-az1, use1-az2 and cluster acme-prod has subnets only in use1-az4", "zone in common"}},
		{name: "owned by another account", region: "us-east-1", subnets: []string{"use1-az1"},
			service: func(w http.ResponseWriter, c fakeaws.Call) {
				fakeaws.WriteEC2(w, c.Action, plServiceXML(plServiceName, "333333333333", "use1-az1"))
			},
			code: astrobot.EConflict, msg: []string{"belongs to account 333333333333, not to 222222222222"}},
		{name: "cross-region: every zone of the cluster", region: "eu-west-1", subnets: []string{"use1-az4", "use1-az1"},
			service: func(w http.ResponseWriter, c fakeaws.Call) {
				if got := c.Form["ServiceRegion.1"]; len(got) != 1 || got[0] != "eu-west-1" {
					fakeaws.WriteEC2Error(w, 400, "InvalidServiceName", "no ServiceRegions")
					return
				}
				fakeaws.WriteEC2(w, c.Action, plServiceXML("com.amazonaws.vpce.eu-west-1.vpce-svc-0123456789abcdef0", "222222222222", "euw1-az1"))
			},
			want: cloud.Check{Visible: true, Zones: []string{"use1-az1", "use1-az4"}, Subnets: []string{"subnet-00000000000000002", "subnet-00000000000000001"}}},
		{name: "access denied", region: "us-east-1",
			service: func(w http.ResponseWriter, _ fakeaws.Call) {
				fakeaws.WriteEC2Error(w, 403, "UnauthorizedOperation", "You are not authorized to perform this operation.")
			},
			code: astrobot.EInternal, msg: []string{"astrobot may not look up endpoint services in account 111111111111, us-east-1 (UnauthorizedOperation): grant ec2:DescribeVpcEndpointServices"}},
		{name: "throttled", region: "us-east-1",
			service: func(w http.ResponseWriter, _ fakeaws.Call) {
				fakeaws.WriteEC2Error(w, 503, "RequestLimitExceeded", "Request limit exceeded.")
			},
			code: astrobot.EInternal, msg: []string{"AWS is throttling astrobot"}, throttled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakeaws.New(t, func(w http.ResponseWriter, call fakeaws.Call) {
				switch call.Action {
				case "DescribeVpcEndpointServices":
					tt.service(w, call)
				case "DescribeSubnets":
					fakeaws.WriteEC2(w, call.Action, plSubnets(tt.subnets...))
				default:
					fakeaws.WriteEC2Error(w, 400, "InvalidAction", "unexpected "+call.Action)
				}
			})
			chk, err := cloud.NewPrivateLinks(fake.RetryConfig(1), cloud.PrivateLinkOptions{}).Check(context.Background(), plCluster(), plRequest(tt.region))
			if tt.code != "" {
				if astrobot.ErrorCodeOf(err) != tt.code {
					t.Fatalf("Check = %+v, %v; want a %s error", chk, err, tt.code)
				}
				for _, m := range tt.msg {
					if !strings.Contains(astrobot.ErrorMessageOf(err), m) {
						t.Errorf("message %q lacks %q", astrobot.ErrorMessageOf(err), m)
					}
				}
				if cloud.IsThrottle(err) != tt.throttled {
					t.Errorf("IsThrottle = %v, want %v", cloud.IsThrottle(err), tt.throttled)
				}
				return
			}
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			chk.Service = cloud.EndpointService{}
			if diff := cmp.Diff(tt.want, chk); diff != "" {
				t.Errorf("Check (-want +got):\n%s", diff)
			}
		})
	}
}

// plEndpoint is an endpoint in a DescribeVpcEndpoints answer.
type plEndpoint struct {
	id, state, attempt, request string
}

func (e plEndpoint) xml() string { return "<item>" + e.fields() + "</item>" }

// fields are the endpoint's elements.
func (e plEndpoint) fields() string {
	request := e.request
	if request == "" {
		request = "PL-0007"
	}
	return fmt.Sprintf(`<vpcEndpointId>%s</vpcEndpointId><vpcId>%s</vpcId><state>%s</state><serviceName>%s</serviceName>
<dnsEntrySet><item><dnsName>%s-abcd1234.vpce-svc-0123456789abcdef0.us-east-1.vpce.amazonaws.com</dnsName></item></dnsEntrySet>
<groupSet><item><groupId>sg-0000000000000000a</groupId></item></groupSet>
<tagSet><item><key>astrobot:request-id</key><value>%s</value></item><item><key>astrobot:attempt</key><value>%s</value></item></tagSet>`,
		e.id, fakeClusterVPC, e.state, plServiceName, e.id, request, e.attempt)
}

func TestPrivateLinkCreateFake(t *testing.T) {
	chk := cloud.Check{Visible: true, Zones: []string{"use1-az1"}, Subnets: []string{"subnet-00000000000000001"}}
	const group = `<securityGroupInfo><item><groupId>sg-0000000000000000a</groupId><groupName>astrobot-PL-0007</groupName><vpcId>` + fakeClusterVPC + `</vpcId>
<ipPermissions><item><ipProtocol>tcp</ipProtocol><fromPort>443</fromPort><toPort>443</toPort><ipRanges><item><cidrIp>10.1.0.0/16</cidrIp></item></ipRanges></item></ipPermissions></item></securityGroupInfo>`
	tests := []struct {
		name     string
		existing []plEndpoint
		group    string // the DescribeSecurityGroups answer's securityGroupInfo
		region   string
		wantID   string
		calls    map[string]int
	}{
		{name: "first time", group: "<securityGroupInfo/>", region: "us-east-1", wantID: "vpce-000000000000000ff",
			calls: map[string]int{"CreateSecurityGroup": 1, "AuthorizeSecurityGroupIngress": 1, "CreateVpcEndpoint": 1, "DeleteVpcEndpoints": 0}},
		{name: "after a crash: the endpoint of the attempt", region: "us-east-1", group: group, wantID: "vpce-00000000000000001",
			existing: []plEndpoint{{id: "vpce-00000000000000001", state: "PendingAcceptance", attempt: "1"}, {id: "vpce-00000000000000009", state: "pendingAcceptance", attempt: "1", request: "PL-0008"}},
			calls:    map[string]int{"CreateSecurityGroup": 0, "CreateVpcEndpoint": 0, "DeleteVpcEndpoints": 0}},
		{name: "the attempt's endpoint failed, an older one lingers", region: "us-east-1", group: group, wantID: "vpce-000000000000000ff",
			existing: []plEndpoint{{id: "vpce-00000000000000001", state: "failed", attempt: "1"}, {id: "vpce-00000000000000002", state: "rejected", attempt: "0"},
				{id: "vpce-00000000000000003", state: "deleted", attempt: "0"}},
			calls: map[string]int{"CreateSecurityGroup": 0, "AuthorizeSecurityGroupIngress": 0, "CreateVpcEndpoint": 1, "DeleteVpcEndpoints": 1}},
		{name: "cross-region", region: "eu-west-1", group: group, wantID: "vpce-000000000000000ff",
			calls: map[string]int{"CreateSecurityGroup": 0, "CreateVpcEndpoint": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var createForm, deleteForm map[string][]string
			fake := fakeaws.New(t, func(w http.ResponseWriter, call fakeaws.Call) {
				switch call.Action {
				case "DescribeVpcEndpoints": // like moto, ignore the filters
					var items string
					for _, e := range tt.existing {
						items += e.xml()
					}
					fakeaws.WriteEC2(w, call.Action, "<vpcEndpointSet>"+items+"</vpcEndpointSet>")
				case "DescribeSecurityGroups":
					fakeaws.WriteEC2(w, call.Action, tt.group)
				case "CreateSecurityGroup":
					fakeaws.WriteEC2(w, call.Action, "<groupId>sg-0000000000000000b</groupId>")
				case "AuthorizeSecurityGroupIngress":
					fakeaws.WriteEC2(w, call.Action, "<return>true</return>")
				case "DeleteVpcEndpoints":
					deleteForm = call.Form
					fakeaws.WriteEC2(w, call.Action, "<unsuccessful/>")
				case "CreateVpcEndpoint":
					createForm = call.Form
					fakeaws.WriteEC2(w, call.Action, "<vpcEndpoint>"+plEndpoint{id: "vpce-000000000000000ff", state: "pendingAcceptance", attempt: "1"}.fields()+"</vpcEndpoint>")
				default:
					fakeaws.WriteEC2Error(w, 400, "InvalidAction", "unexpected "+call.Action)
				}
			})
			p := cloud.NewPrivateLinks(fake.RetryConfig(1), cloud.PrivateLinkOptions{})
			got, err := p.Create(context.Background(), plCluster(), plRequest(tt.region), 1, chk)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if got.ID != tt.wantID || got.State != cloud.EndpointPendingAcceptance {
				t.Errorf("Create = %+v, want %s pendingAcceptance", got, tt.wantID)
			}
			for action, n := range tt.calls {
				if got := len(fake.Calls(action)); got != n {
					t.Errorf("%s called %d times, want %d", action, got, n)
				}
			}
			if deleteForm != nil {
				if diff := cmp.Diff([]string{"vpce-00000000000000002"}, deleteForm["VpcEndpointId.1"]); diff != "" || deleteForm["VpcEndpointId.2"] != nil {
					t.Errorf("deleted the endpoints %v, want only the rejected one of attempt 0", deleteForm)
				}
			}
			if createForm == nil {
				return
			}
			want := map[string]string{"VpcEndpointType": "Interface", "VpcId": fakeClusterVPC, "ServiceName": plRequest(tt.region).Spec.Key(),
				"SubnetId.1": "subnet-00000000000000001", "PrivateDnsEnabled": "false", "ClientToken": "astrobot-PL-0007-1-" + fakeClusterVPC,
				"TagSpecification.1.ResourceType": "vpc-endpoint", "TagSpecification.1.Tag.1.Key": "astrobot:request-id", "TagSpecification.1.Tag.1.Value": "PL-0007",
				"TagSpecification.1.Tag.2.Key": "astrobot:attempt", "TagSpecification.1.Tag.2.Value": "1"}
			if tt.region != "us-east-1" {
				want["ServiceRegion"] = tt.region
			}
			for k, v := range want {
				if got := createForm[k]; len(got) != 1 || got[0] != v {
					t.Errorf("CreateVpcEndpoint %s = %q, want %q", k, got, v)
				}
			}
			if sg := createForm["SecurityGroupId.1"]; len(sg) != 1 || !strings.HasPrefix(sg[0], "sg-") {
				t.Errorf("CreateVpcEndpoint security group %q", sg)
			}
			if tt.region == "us-east-1" && createForm["ServiceRegion"] != nil {
				t.Errorf("a same-region endpoint names a ServiceRegion: %q", createForm["ServiceRegion"])
			}
		})
	}
}

func TestPrivateLinkDescribeFake(t *testing.T) {
	fake := fakeaws.New(t, func(w http.ResponseWriter, call fakeaws.Call) {
		if call.Form["VpcEndpointId.1"] != nil { // by ID: one of them is gone
			fakeaws.WriteEC2Error(w, 400, "InvalidVpcEndpointId.NotFound", "The VpcEndpoint Id 'vpce-0000000000000000f' does not exist")
			return
		}
		if call.Form["Filter.1.Name"][0] != "vpc-endpoint-id" {
			fakeaws.WriteEC2Error(w, 400, "InvalidParameterValue", "bad filter")
			return
		}
		var items string
		for i, state := range []string{"pendingAcceptance", "Available", "REJECTED", "failed", "expired", "deleting", "partial", "somethingNew"} {
			items += plEndpoint{id: fmt.Sprintf("vpce-%017x", i+1), state: state, attempt: "1"}.xml()
		}
		fakeaws.WriteEC2(w, call.Action, "<vpcEndpointSet>"+items+"</vpcEndpointSet>")
	})
	var ids []string
	for i := range 9 {
		ids = append(ids, fmt.Sprintf("vpce-%017x", i+1))
	}
	ids = append(ids, "vpce-0000000000000000f")
	got, err := cloud.NewPrivateLinks(fake.RetryConfig(1), cloud.PrivateLinkOptions{}).Describe(context.Background(), "111111111111", "us-east-1", ids)
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	want := map[string]cloud.EndpointState{
		ids[0]: cloud.EndpointPendingAcceptance, ids[1]: cloud.EndpointAvailable, ids[2]: cloud.EndpointRejected, ids[3]: cloud.EndpointFailed,
		ids[4]: cloud.EndpointExpired, ids[5]: cloud.EndpointDeleting, ids[6]: cloud.EndpointPartial, ids[7]: "somethingNew",
		ids[8]: cloud.EndpointDeleted, "vpce-0000000000000000f": cloud.EndpointDeleted,
	}
	states := map[string]cloud.EndpointState{}
	for id, e := range got {
		states[id] = e.State
	}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	if names := got[ids[1]].DNSNames; len(names) != 1 || !strings.HasPrefix(names[0], ids[1]+"-") {
		t.Errorf("DNS names of %s: %q", ids[1], names)
	}
	if n := len(fake.Calls("DescribeVpcEndpoints")); n != 2 {
		t.Errorf("%d DescribeVpcEndpoints calls, want 2 (by ID, then by filter)", n)
	}
}

func TestPrivateLinkDeleteFake(t *testing.T) {
	tests := []struct {
		name     string
		endpoint func(w http.ResponseWriter, c fakeaws.Call)
		group    func(w http.ResponseWriter, c fakeaws.Call)
		wantErr  string // in the error of DeleteEndpoint or DeleteGroup; "" for none
	}{
		{name: "both deleted",
			endpoint: func(w http.ResponseWriter, c fakeaws.Call) { fakeaws.WriteEC2(w, c.Action, "<unsuccessful/>") },
			group:    func(w http.ResponseWriter, c fakeaws.Call) { fakeaws.WriteEC2(w, c.Action, "<return>true</return>") }},
		{name: "endpoint gone already",
			endpoint: func(w http.ResponseWriter, c fakeaws.Call) {
				fakeaws.WriteEC2(w, c.Action, `<unsuccessful><item><resourceId>vpce-00000000000000001</resourceId><error><code>InvalidVpcEndpoint.NotFound</code><message>gone</message></error></item></unsuccessful>`)
			},
			group: func(w http.ResponseWriter, c fakeaws.Call) {
				fakeaws.WriteEC2Error(w, 400, "InvalidGroup.NotFound", "gone")
			}},
		{name: "endpoint refused",
			endpoint: func(w http.ResponseWriter, c fakeaws.Call) {
				fakeaws.WriteEC2(w, c.Action, `<unsuccessful><item><resourceId>vpce-00000000000000001</resourceId><error><code>OperationNotPermitted</code><message>no</message></error></item></unsuccessful>`)
			},
			wantErr: "AWS refused to delete VPC endpoints in account 111111111111, us-east-1 (OperationNotPermitted): no."},
		{name: "group still in use",
			endpoint: func(w http.ResponseWriter, c fakeaws.Call) { fakeaws.WriteEC2(w, c.Action, "<unsuccessful/>") },
			group: func(w http.ResponseWriter, c fakeaws.Call) {
				fakeaws.WriteEC2Error(w, 400, "DependencyViolation", "resource sg-0000000000000000a has a dependent object")
			},
			wantErr: "still in use while the endpoint's network interfaces go away"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakeaws.New(t, func(w http.ResponseWriter, call fakeaws.Call) {
				switch call.Action {
				case "DeleteVpcEndpoints":
					tt.endpoint(w, call)
				case "DescribeSecurityGroups":
					fakeaws.WriteEC2(w, call.Action, `<securityGroupInfo><item><groupId>sg-0000000000000000a</groupId><groupName>astrobot-PL-0007</groupName><vpcId>`+fakeClusterVPC+`</vpcId></item></securityGroupInfo>`)
				case "DeleteSecurityGroup":
					tt.group(w, call)
				default:
					fakeaws.WriteEC2Error(w, 400, "InvalidAction", "unexpected "+call.Action)
				}
			})
			p := cloud.NewPrivateLinks(fake.RetryConfig(1), cloud.PrivateLinkOptions{})
			err := p.DeleteEndpoint(context.Background(), plCluster(), "vpce-00000000000000001")
			if err == nil {
				err = p.DeleteGroup(context.Background(), plCluster(), plRequest("us-east-1"))
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("delete: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("delete = %v, want an error saying %q", err, tt.wantErr)
			}
		})
	}
}

func TestExplainEndpoint(t *testing.T) {
	for _, tt := range []struct {
		e    cloud.Endpoint
		want string
	}{
		{cloud.Endpoint{ID: "vpce-1", State: cloud.EndpointRejected}, "was rejected on your endpoint service"},
		{cloud.Endpoint{ID: "vpce-1", State: cloud.EndpointExpired}, "was not accepted in time and expired"},
		{cloud.Endpoint{ID: "vpce-1", State: cloud.EndpointFailed, Message: "subnet full"}, `AWS says: "subnet full".`},
		{cloud.Endpoint{ID: "vpce-1", State: cloud.EndpointDeleted, Message: "AWS no longer knows this endpoint."}, "The endpoint vpce-1 was deleted in AWS."},
		{cloud.Endpoint{ID: "vpce-1", State: "somethingNew"}, `in the AWS state "somethingNew"`},
	} {
		if got := cloud.ExplainEndpoint(tt.e); !strings.Contains(got, tt.want) {
			t.Errorf("ExplainEndpoint(%+v) = %q, want it to contain %q", tt.e, got, tt.want)
		}
	}
	if got := cloud.ExplainEndpoint(cloud.Endpoint{ID: "vpce-1", State: cloud.EndpointDeleted, Message: "AWS no longer knows this endpoint."}); strings.Contains(got, "AWS says") {
		t.Errorf("a deleted endpoint's explanation repeats the message: %q", got)
	}
}
