package cloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/internal/fakeaws"
	"github.com/astrobot-dev/astrobot/internal/mototest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// netipOpts compares netip values by value.
var netipOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmpopts.EquateEmpty(),
}

// ec2Env creates resources in one moto account and region.
type ec2Env struct {
	t      testing.TB
	client *ec2.Client
}

func newEC2Env(t testing.TB, account, region string) ec2Env {
	return ec2Env{t: t, client: ec2.NewFromConfig(mototest.Config(t, account, region))}
}

// vpc creates a VPC with tags and returns its ID.
func (e ec2Env) vpc(cidr string, tags map[string]string) string {
	e.t.Helper()
	in := &ec2.CreateVpcInput{CidrBlock: aws.String(cidr)}
	if len(tags) > 0 {
		spec := types.TagSpecification{ResourceType: types.ResourceTypeVpc}
		for _, k := range slices.Sorted(maps.Keys(tags)) {
			spec.Tags = append(spec.Tags, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
		}
		in.TagSpecifications = []types.TagSpecification{spec}
	}
	out, err := e.client.CreateVpc(context.Background(), in)
	if err != nil {
		e.t.Fatalf("CreateVpc: %v", err)
	}
	return aws.ToString(out.Vpc.VpcId)
}

// secondaryCIDR associates cidr with vpc and returns the association ID.
func (e ec2Env) secondaryCIDR(vpc, cidr string) string {
	e.t.Helper()
	out, err := e.client.AssociateVpcCidrBlock(context.Background(), &ec2.AssociateVpcCidrBlockInput{VpcId: aws.String(vpc), CidrBlock: aws.String(cidr)})
	if err != nil {
		e.t.Fatalf("AssociateVpcCidrBlock: %v", err)
	}
	return aws.ToString(out.CidrBlockAssociation.AssociationId)
}

// nat creates a subnet, an Elastic IP and a public NAT gateway in vpc, checks
// that moto makes the gateway available, and returns the gateway ID and its
// public IP.
func (e ec2Env) nat(vpc, subnetCIDR string) (string, netip.Addr) {
	e.t.Helper()
	ctx := context.Background()
	subnet, err := e.client.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpc), CidrBlock: aws.String(subnetCIDR)})
	if err != nil {
		e.t.Fatalf("CreateSubnet: %v", err)
	}
	eip, err := e.client.AllocateAddress(ctx, &ec2.AllocateAddressInput{Domain: types.DomainTypeVpc})
	if err != nil {
		e.t.Fatalf("AllocateAddress: %v", err)
	}
	out, err := e.client.CreateNatGateway(ctx, &ec2.CreateNatGatewayInput{SubnetId: subnet.Subnet.SubnetId, AllocationId: eip.AllocationId})
	if err != nil {
		e.t.Fatalf("CreateNatGateway: %v", err)
	}
	id := aws.ToString(out.NatGateway.NatGatewayId)
	desc, err := e.client.DescribeNatGateways(ctx, &ec2.DescribeNatGatewaysInput{NatGatewayIds: []string{id}})
	if err != nil {
		e.t.Fatalf("DescribeNatGateways: %v", err)
	}
	if len(desc.NatGateways) != 1 || desc.NatGateways[0].State != types.NatGatewayStateAvailable {
		e.t.Fatalf("moto's NAT gateway %s is not available: %+v", id, desc.NatGateways)
	}
	return id, netip.MustParseAddr(aws.ToString(eip.PublicIp))
}

func sortedAddrs(as ...netip.Addr) []netip.Addr {
	return slices.SortedFunc(slices.Values(as), netip.Addr.Compare)
}

func TestDiscoverMoto(t *testing.T) {
	ctx := context.Background()
	a, b := mototest.NewAccount(t), mototest.NewAccount(t)
	tags := func(cluster, org, name string) map[string]string {
		m := map[string]string{"astro:cluster-id": cluster, "astro:organization": org}
		if name != "" {
			m["Name"] = name
		}
		return m
	}

	// Account a, us-east-1: a cluster with a secondary and a dropped CIDR block,
	// two NAT gateways, a deleted one and a private one; VPCs that are no
	// cluster.
	aEast := newEC2Env(t, a, "us-east-1")
	vpc1 := aEast.vpc("10.1.0.0/16", tags("clx-a1", "acme", "acme-prod"))
	aEast.secondaryCIDR(vpc1, "10.2.0.0/16")
	dropped := aEast.secondaryCIDR(vpc1, "10.3.0.0/16")
	if _, err := aEast.client.DisassociateVpcCidrBlock(ctx, &ec2.DisassociateVpcCidrBlockInput{AssociationId: aws.String(dropped)}); err != nil {
		t.Fatalf("DisassociateVpcCidrBlock: %v", err)
	}
	_, ip1 := aEast.nat(vpc1, "10.1.1.0/24")
	_, ip2 := aEast.nat(vpc1, "10.2.1.0/24")
	deletedNAT, _ := aEast.nat(vpc1, "10.1.2.0/24")
	if _, err := aEast.client.DeleteNatGateway(ctx, &ec2.DeleteNatGatewayInput{NatGatewayId: aws.String(deletedNAT)}); err != nil {
		t.Fatalf("DeleteNatGateway: %v", err)
	}
	privSubnet, err := aEast.client.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpc1), CidrBlock: aws.String("10.1.3.0/24")})
	if err != nil {
		t.Fatalf("CreateSubnet: %v", err)
	}
	if _, err := aEast.client.CreateNatGateway(ctx, &ec2.CreateNatGatewayInput{SubnetId: privSubnet.Subnet.SubnetId, ConnectivityType: types.ConnectivityTypePrivate}); err != nil {
		t.Fatalf("CreateNatGateway (private): %v", err)
	}
	untagged := aEast.vpc("10.4.0.0/16", map[string]string{"Name": "not-a-cluster"})
	aEast.nat(untagged, "10.4.1.0/24")
	aEast.vpc("10.5.0.0/16", map[string]string{"astro:cluster-id": "clx-orphan", "Name": "no-org"})

	// Account a, eu-west-1: a cluster without a Name tag.
	aWest := newEC2Env(t, a, "eu-west-1")
	vpc2 := aWest.vpc("172.16.0.0/16", tags("clx-a2", "acme", ""))
	_, ip3 := aWest.nat(vpc2, "172.16.1.0/24")

	// Account a, us-west-2: not a configured region.
	newEC2Env(t, a, "us-west-2").vpc("10.9.0.0/16", tags("clx-elsewhere", "acme", "elsewhere"))

	// Account b (through a role), us-east-1: a cluster with no NAT gateway yet,
	// and one with a NAT gateway.
	bEast := newEC2Env(t, b, "us-east-1")
	vpc3 := bEast.vpc("192.168.0.0/20", tags("clx-b1", "globex", "globex-prod"))
	vpc4 := bEast.vpc("192.168.16.0/20", tags("clx-b2", "globex", "globex-dev"))
	_, ip4 := bEast.nat(vpc4, "192.168.16.0/24")

	var logs bytes.Buffer
	dir := cloud.NewAWS(mototest.Config(t, a, "us-east-1"), cloud.AWSOptions{
		Regions: []string{"us-east-1", "eu-west-1"},
		Roles:   map[string]string{b: "arn:aws:iam::" + b + ":role/astrobot-discovery"},
		Logger:  slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	got, err := dir.Discover(ctx)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	want := []astrobot.Cluster{
		{
			ID: "clx-a1", Name: "acme-prod", Organization: "acme", Region: "us-east-1", AccountID: a, VPCID: vpc1,
			CIDRs:       []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.2.0.0/16")},
			ExternalIPs: sortedAddrs(ip1, ip2),
		},
		{
			ID: "clx-a2", Name: "clx-a2", Organization: "acme", Region: "eu-west-1", AccountID: a, VPCID: vpc2,
			CIDRs:       []netip.Prefix{netip.MustParsePrefix("172.16.0.0/16")},
			ExternalIPs: []netip.Addr{ip3},
		},
		{
			ID: "clx-b1", Name: "globex-prod", Organization: "globex", Region: "us-east-1", AccountID: b, VPCID: vpc3,
			CIDRs: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/20")},
		},
		{
			ID: "clx-b2", Name: "globex-dev", Organization: "globex", Region: "us-east-1", AccountID: b, VPCID: vpc4,
			CIDRs:       []netip.Prefix{netip.MustParsePrefix("192.168.16.0/20")},
			ExternalIPs: []netip.Addr{ip4},
		},
	}
	if diff := cmp.Diff(want, got, netipOpts); diff != "" {
		t.Errorf("Discover (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs.String(), `"cluster":"clx-orphan"`) || !strings.Contains(logs.String(), "without an organization tag") {
		t.Errorf("the VPC without an organization tag was not logged; logs:\n%s", logs.String())
	}
}

func TestDiscoverMotoManyVPCs(t *testing.T) {
	account := mototest.NewAccount(t)
	env := newEC2Env(t, account, "ap-southeast-2")
	const n = 60
	var want []string
	for i := range n {
		id := fmt.Sprintf("clx-%03d", i)
		env.vpc(fmt.Sprintf("10.%d.0.0/16", i), map[string]string{"astro:cluster-id": id, "astro:organization": "acme"})
		want = append(want, id)
	}
	got, err := cloud.NewAWS(mototest.Config(t, account, "ap-southeast-2"), cloud.AWSOptions{}).Discover(context.Background())
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("cluster IDs (-want +got):\n%s", diff)
	}
}

func TestDiscoverMotoCustomTagsAndDuplicates(t *testing.T) {
	a, b := mototest.NewAccount(t), mototest.NewAccount(t)
	tags := map[string]string{"team:cluster": "clx-dup", "team:org": "acme"}
	vpcA := newEC2Env(t, a, "us-east-2").vpc("10.0.0.0/16", tags)
	newEC2Env(t, b, "us-east-2").vpc("10.0.0.0/16", tags)
	newEC2Env(t, a, "us-east-2").vpc("10.1.0.0/16", map[string]string{"astro:cluster-id": "clx-default-tags", "astro:organization": "acme"})

	var logs bytes.Buffer
	got, err := cloud.NewAWS(mototest.Config(t, a, "us-east-2"), cloud.AWSOptions{
		Roles:      map[string]string{b: "arn:aws:iam::" + b + ":role/discovery"},
		ClusterTag: "team:cluster",
		OrgTag:     "team:org",
		Logger:     slog.New(slog.NewJSONHandler(&logs, nil)),
	}).Discover(context.Background())
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	want := []astrobot.Cluster{{
		ID: "clx-dup", Name: "clx-dup", Organization: "acme", Region: "us-east-2", AccountID: a, VPCID: vpcA,
		CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")},
	}}
	if diff := cmp.Diff(want, got, netipOpts); diff != "" {
		t.Errorf("Discover (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs.String(), "two VPCs carry the same cluster ID") {
		t.Errorf("the duplicate cluster ID was not logged; logs:\n%s", logs.String())
	}
}

// TestDiscoverEndpointFromEnvironment checks that a configuration loaded by
// config.LoadDefaultConfig honours AWS_ENDPOINT_URL for EC2 and for STS (the
// role account) and AWS_ENDPOINT_URL_EC2 over it.
func TestDiscoverEndpointFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL", mototest.URL(t))
	t.Setenv("AWS_ENDPOINT_URL_EC2", "")

	// The default credentials act as moto's shared default account: a tag key
	// of this test only keeps other tests' VPCs out.
	account := mototest.NewAccount(t)
	tag := "astrobot-test:" + account
	vpc := newEC2Env(t, account, "us-east-1").vpc("10.0.0.0/16", map[string]string{tag: "clx-env", "astro:organization": "acme"})
	opts := cloud.AWSOptions{Roles: map[string]string{account: "arn:aws:iam::" + account + ":role/discovery"}, ClusterTag: tag}

	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("LoadDefaultConfig: %v", err)
	}
	got, err := cloud.NewAWS(cfg, opts).Discover(context.Background())
	if err != nil {
		t.Fatalf("Discover with AWS_ENDPOINT_URL: %v", err)
	}
	if len(got) != 1 || got[0].VPCID != vpc || got[0].AccountID != account {
		t.Errorf("Discover with AWS_ENDPOINT_URL = %+v, want the VPC %s of %s", got, vpc, account)
	}

	fake := fakeaws.New(t, func(w http.ResponseWriter, call fakeaws.Call) {
		fakeaws.WriteEC2(w, call.Action, "<vpcSet/>")
	})
	t.Setenv("AWS_ENDPOINT_URL_EC2", fake.URL)
	cfg, err = config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("LoadDefaultConfig: %v", err)
	}
	got, err = cloud.NewAWS(cfg, opts).Discover(context.Background())
	if err != nil || len(got) != 0 {
		t.Fatalf("Discover with AWS_ENDPOINT_URL_EC2 = %+v, %v; want no cluster and no error", got, err)
	}
	if n := len(fake.Calls("DescribeVpcs")); n != 2 {
		t.Errorf("the EC2 endpoint of AWS_ENDPOINT_URL_EC2 got %d DescribeVpcs calls, want 2 (default and role account)", n)
	}
}

func TestDiscoverPaginates(t *testing.T) {
	vpc := func(i int) string {
		return fmt.Sprintf(`<item><vpcId>vpc-%08x</vpcId><ownerId>111111111111</ownerId>
<cidrBlockAssociationSet><item><cidrBlock>10.%d.0.0/16</cidrBlock><cidrBlockState><state>associated</state></cidrBlockState></item></cidrBlockAssociationSet>
<tagSet><item><key>astro:cluster-id</key><value>clx-%d</value></item><item><key>astro:organization</key><value>acme</value></item></tagSet></item>`, i, i, i)
	}
	nat := func(i int) string {
		return fmt.Sprintf(`<item><natGatewayId>nat-%d</natGatewayId><vpcId>vpc-%08x</vpcId><state>available</state>
<natGatewayAddressSet><item><publicIp>203.0.113.%d</publicIp></item></natGatewayAddressSet></item>`, i, i, i)
	}
	// Three pages of VPCs and of NAT gateways, two items each.
	fake := fakeaws.New(t, func(w http.ResponseWriter, call fakeaws.Call) {
		page := 0
		if tok := call.Form["NextToken"]; len(tok) == 1 {
			fmt.Sscanf(tok[0], "page-%d", &page)
		}
		next := ""
		if page < 2 {
			next = fmt.Sprintf("<nextToken>page-%d</nextToken>", page+1)
		}
		item := vpc
		set := "vpcSet"
		if call.Action == "DescribeNatGateways" {
			item, set = nat, "natGatewaySet"
		}
		fakeaws.WriteEC2(w, call.Action, fmt.Sprintf("<%s>%s%s</%s>%s", set, item(2*page), item(2*page+1), set, next))
	})

	got, err := cloud.NewAWS(fake.RetryConfig(1), cloud.AWSOptions{}).Discover(context.Background())
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	var want []astrobot.Cluster
	for i := range 6 {
		want = append(want, astrobot.Cluster{
			ID: fmt.Sprintf("clx-%d", i), Name: fmt.Sprintf("clx-%d", i), Organization: "acme", Region: "us-east-1",
			AccountID: "111111111111", VPCID: fmt.Sprintf("vpc-%08x", i),
			CIDRs:       []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/16", i))},
			ExternalIPs: []netip.Addr{netip.MustParseAddr(fmt.Sprintf("203.0.113.%d", i))},
		})
	}
	if diff := cmp.Diff(want, got, netipOpts); diff != "" {
		t.Errorf("Discover (-want +got):\n%s", diff)
	}

	vpcCalls, natCalls := fake.Calls("DescribeVpcs"), fake.Calls("DescribeNatGateways")
	if len(vpcCalls) != 3 || len(natCalls) != 3 {
		t.Fatalf("got %d DescribeVpcs and %d DescribeNatGateways calls, want 3 of each", len(vpcCalls), len(natCalls))
	}
	wantVPCForm := map[string][]string{"Filter.1.Name": {"tag-key"}, "Filter.1.Value.1": {"astro:cluster-id"}, "MaxResults": {"1000"}}
	wantNATForm := map[string][]string{
		"Filter.1.Name": {"vpc-id"}, "Filter.2.Name": {"state"}, "Filter.2.Value.1": {"available"}, "MaxResults": {"1000"},
	}
	for i := range 6 {
		wantNATForm[fmt.Sprintf("Filter.1.Value.%d", i+1)] = []string{fmt.Sprintf("vpc-%08x", i)}
	}
	for i, c := range vpcCalls {
		checkForm(t, c, wantVPCForm, i)
	}
	for i, c := range natCalls {
		checkForm(t, c, wantNATForm, i)
	}
}

// checkForm checks the parameters of the i-th call of a paginated operation:
// want, and the NextToken of page i.
func checkForm(t *testing.T, c fakeaws.Call, want map[string][]string, i int) {
	t.Helper()
	for k, v := range want {
		if diff := cmp.Diff(v, c.Form[k]); diff != "" {
			t.Errorf("%s call %d: %s (-want +got):\n%s", c.Action, i, k, diff)
		}
	}
	var wantToken []string
	if i > 0 {
		wantToken = []string{fmt.Sprintf("page-%d", i)}
	}
	if diff := cmp.Diff(wantToken, c.Form["NextToken"]); diff != "" {
		t.Errorf("%s call %d: NextToken (-want +got):\n%s", c.Action, i, diff)
	}
}

func TestDiscoverLooksUpRegionsConcurrently(t *testing.T) {
	regions := []string{"us-east-1", "us-west-2", "eu-west-1"}
	var arrived atomic.Int32
	all := make(chan struct{})
	fake := fakeaws.New(t, func(w http.ResponseWriter, call fakeaws.Call) {
		if arrived.Add(1) == int32(len(regions)) {
			close(all)
		}
		select {
		case <-all:
			fakeaws.WriteEC2(w, call.Action, "<vpcSet/>")
		case <-time.After(5 * time.Second):
			fakeaws.WriteEC2Error(w, 400, "NotConcurrent", "The other regions did not call within 5 seconds.")
		}
	})
	got, err := cloud.NewAWS(fake.RetryConfig(1), cloud.AWSOptions{Regions: regions}).Discover(context.Background())
	if err != nil || len(got) != 0 {
		t.Fatalf("Discover = %+v, %v; want no cluster and no error (were the regions looked up one after the other?)", got, err)
	}
	var called []string
	for _, c := range fake.Calls("DescribeVpcs") {
		called = append(called, c.Region)
	}
	if diff := cmp.Diff(slices.Sorted(slices.Values(regions)), slices.Sorted(slices.Values(called))); diff != "" {
		t.Errorf("regions called (-want +got):\n%s", diff)
	}
}

func TestDiscoverOneRegionFails(t *testing.T) {
	fake := fakeaws.New(t, func(w http.ResponseWriter, call fakeaws.Call) {
		if call.Region == "eu-west-1" {
			fakeaws.WriteEC2Error(w, 403, "UnauthorizedOperation", "You are not authorized to perform this operation.")
			return
		}
		select { // the other regions answer only when Discover gives up on them
		case <-call.Context().Done():
		case <-time.After(5 * time.Second):
			fakeaws.WriteEC2(w, call.Action, "<vpcSet/>")
		}
	})
	var logs bytes.Buffer
	start := time.Now()
	_, err := cloud.NewAWS(fake.RetryConfig(1), cloud.AWSOptions{
		Regions: []string{"us-east-1", "eu-west-1", "us-west-2"},
		Logger:  slog.New(slog.NewJSONHandler(&logs, nil)),
	}).Discover(context.Background())
	if astrobot.ErrorCodeOf(err) != astrobot.EInternal || !strings.Contains(astrobot.ErrorMessageOf(err), "not allowed") {
		t.Errorf("Discover = %v, want the access denied *astrobot.Error", err)
	}
	if elapsed := time.Since(start); elapsed > 4*time.Second {
		t.Errorf("Discover took %v: it waited for the other regions after one failed", elapsed)
	}
	lines := slices.Collect(strings.Lines(logs.String()))
	if len(lines) != 1 || !strings.Contains(lines[0], `"region":"eu-west-1"`) || !strings.Contains(lines[0], `"code":"UnauthorizedOperation"`) {
		t.Errorf("want one log entry for eu-west-1, got:\n%s", logs.String())
	}
}

func TestDiscoverErrors(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String()
	closed.Close()

	tests := []struct {
		name      string
		handle    func(w http.ResponseWriter, call fakeaws.Call) // nil: AWS is unreachable
		timeout   time.Duration
		wantMsg   string
		wantCode  string
		wantLevel string
		wantCalls int
	}{
		{
			name: "throttled",
			handle: func(w http.ResponseWriter, _ fakeaws.Call) {
				fakeaws.WriteEC2Error(w, 503, "RequestLimitExceeded", "Request limit exceeded.")
			},
			wantMsg:   "AWS is throttling cluster look-ups right now; try again in a minute.",
			wantCode:  "RequestLimitExceeded",
			wantLevel: "WARN",
			wantCalls: 2, // the SDK retries throttling
		},
		{
			name: "access denied",
			handle: func(w http.ResponseWriter, _ fakeaws.Call) {
				fakeaws.WriteEC2Error(w, 403, "UnauthorizedOperation", "You are not authorized to perform this operation.")
			},
			wantMsg:   "astrobot is not allowed to look up clusters in AWS; ask the astrobot operators to check its AWS permissions.",
			wantCode:  "UnauthorizedOperation",
			wantLevel: "ERROR",
			wantCalls: 1,
		},
		{
			name: "NAT gateways denied",
			handle: func(w http.ResponseWriter, call fakeaws.Call) {
				if call.Action == "DescribeVpcs" {
					fakeaws.WriteEC2(w, call.Action, `<vpcSet><item><vpcId>vpc-00000001</vpcId><ownerId>111111111111</ownerId>
<tagSet><item><key>astro:cluster-id</key><value>clx-1</value></item><item><key>astro:organization</key><value>acme</value></item></tagSet></item></vpcSet>`)
					return
				}
				fakeaws.WriteEC2Error(w, 403, "UnauthorizedOperation", "You are not authorized to perform this operation.")
			},
			wantMsg:   "astrobot is not allowed to look up clusters in AWS; ask the astrobot operators to check its AWS permissions.",
			wantCode:  "UnauthorizedOperation",
			wantLevel: "ERROR",
			wantCalls: 2,
		},
		{
			name: "other API error",
			handle: func(w http.ResponseWriter, _ fakeaws.Call) {
				fakeaws.WriteEC2Error(w, 400, "InvalidParameterValue", "Bad filter.")
			},
			wantMsg:   "Looking up clusters in AWS failed; try again in a few minutes, and tell the support team if it keeps failing.",
			wantCode:  "InvalidParameterValue",
			wantLevel: "ERROR",
			wantCalls: 1,
		},
		{
			name:      "not XML",
			handle:    func(w http.ResponseWriter, _ fakeaws.Call) { fmt.Fprint(w, "<html>gateway</html") },
			wantMsg:   "Looking up clusters in AWS failed; try again in a few minutes, and tell the support team if it keeps failing.",
			wantCode:  "unknown",
			wantLevel: "ERROR",
			wantCalls: 1,
		},
		{
			name:      "slow",
			handle:    func(w http.ResponseWriter, call fakeaws.Call) { <-call.Context().Done() },
			timeout:   50 * time.Millisecond,
			wantMsg:   "AWS did not answer the cluster look-up in time; try again in a minute.",
			wantCode:  "timeout",
			wantLevel: "WARN",
			wantCalls: 1,
		},
		{
			name:      "unreachable",
			wantMsg:   "astrobot could not reach AWS to look up clusters; try again in a few minutes.",
			wantCode:  "unreachable",
			wantLevel: "ERROR",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := closedURL
			var fake *fakeaws.Server
			if tt.handle != nil {
				fake = fakeaws.New(t, tt.handle)
				url = fake.URL
			}
			var logs bytes.Buffer
			dir := cloud.NewAWS(fakeaws.RetryConfig(url, 2), cloud.AWSOptions{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			got, err := dir.Discover(ctx)
			if err == nil {
				t.Fatalf("Discover = %+v, want an error", got)
			}
			if diff := cmp.Diff(&astrobot.Error{Code: astrobot.EInternal, Message: tt.wantMsg}, err); diff != "" {
				t.Errorf("Discover error (-want +got):\n%s", diff)
			}
			var entries []map[string]any
			for line := range strings.Lines(logs.String()) {
				var e map[string]any
				if err := json.Unmarshal([]byte(line), &e); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				entries = append(entries, e)
			}
			if len(entries) != 1 {
				t.Fatalf("got %d log entries, want 1:\n%s", len(entries), logs.String())
			}
			e := entries[0]
			wantLog := map[string]any{"level": tt.wantLevel, "code": tt.wantCode, "region": "us-east-1", "account": "default credentials"}
			for k, v := range wantLog {
				if e[k] != v {
					t.Errorf("log %s = %v, want %v (entry %v)", k, e[k], v, e)
				}
			}
			if fake != nil {
				if n := len(fake.Calls("DescribeVpcs")) + len(fake.Calls("DescribeNatGateways")); n != tt.wantCalls {
					t.Errorf("AWS got %d calls, want %d", n, tt.wantCalls)
				}
			}
		})
	}
}

func TestDiscoverNoRegion(t *testing.T) {
	got, err := cloud.NewAWS(aws.Config{}, cloud.AWSOptions{}).Discover(context.Background())
	if astrobot.ErrorCodeOf(err) != astrobot.EInternal || !strings.Contains(astrobot.ErrorMessageOf(err), "no AWS region") {
		t.Errorf("Discover with no region = %+v, %v; want an internal error about the region", got, err)
	}
}
