package cloud_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/internal/fakeaws"
	"github.com/astrobot-dev/astrobot/internal/mototest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// privateZone creates a private hosted zone for name in the account of
// client, associated with vpc, and returns its ID without the /hostedzone/
// prefix.
func privateZone(t *testing.T, client *route53.Client, name, vpc, region string) string {
	t.Helper()
	out, err := client.CreateHostedZone(context.Background(), &route53.CreateHostedZoneInput{
		Name:             aws.String(name),
		CallerReference:  aws.String(name + "-" + vpc + "-" + t.Name()),
		VPC:              &types.VPC{VPCId: aws.String(vpc), VPCRegion: types.VPCRegion(region)},
		HostedZoneConfig: &types.HostedZoneConfig{PrivateZone: true},
	})
	if err != nil {
		t.Fatalf("CreateHostedZone: %v", err)
	}
	return astrobot.NormalizeZoneID(aws.ToString(out.HostedZone.Id))
}

// zonesByVPC returns what ListHostedZonesByVPC says of vpc, straight from
// the SDK: one entry per association.
func zonesByVPC(t *testing.T, client *route53.Client, vpc, region string) []types.HostedZoneSummary {
	t.Helper()
	out, err := client.ListHostedZonesByVPC(context.Background(), &route53.ListHostedZonesByVPCInput{VPCId: aws.String(vpc), VPCRegion: types.VPCRegion(region)})
	if err != nil {
		t.Fatalf("ListHostedZonesByVPC: %v", err)
	}
	return out.HostedZoneSummaries
}

// TestZonesMoto follows the zone owner's happy path against moto, which
// associates only zones of the caller's own account and has no
// authorizations: the cluster's account owns the zone, in a VPC of its own,
// and astrobot acts there through a role. The VPC's DNS attributes are read,
// the zone is associated once however often Associate runs, the change is in
// sync, a second zone of the same name is refused naming the domain, and the
// zone is disassociated, twice without harm.
func TestZonesMoto(t *testing.T) {
	ctx := context.Background()
	astro, operator := mototest.NewAccount(t), mototest.NewAccount(t)
	const region = "us-east-1"
	env := newEC2Env(t, astro, region)
	clusterVPC := env.vpc("10.1.0.0/16", nil)
	ownerVPC := env.vpc("10.9.0.0/16", nil)
	r53 := route53.NewFromConfig(mototest.Config(t, astro, region))
	zoneID := privateZone(t, r53, "Corp.Example.com", ownerVPC, region)
	other := privateZone(t, r53, "corp.example.com", ownerVPC, region)

	cluster := astrobot.Cluster{ID: "clx-1", Name: "acme-prod", Organization: "acme", Region: region, AccountID: astro, VPCID: clusterVPC}
	request := func(id astrobot.RequestID, zone string) astrobot.Request {
		return astrobot.Request{ID: id, Kind: astrobot.KindHostedZone, ClusterID: cluster.ID,
			Spec: astrobot.HostedZoneSpec{AccountID: astro, ZoneID: zone, Domain: "corp.example.com"}}
	}
	zones := cloud.NewZones(mototest.Config(t, operator, region), cloud.ZoneOptions{
		Roles: map[string]string{astro: "arn:aws:iam::" + astro + ":role/astrobot"}})

	// A new VPC in moto has DNS support and no DNS hostnames.
	dns, err := zones.DNSSettings(ctx, cluster)
	if err != nil || !dns.Support || dns.Hostnames || dns.OK() || dns.Missing() != "enableDnsHostnames" {
		t.Fatalf("DNSSettings = %+v (missing %q), %v; want support without hostnames", dns, dns.Missing(), err)
	}
	if _, err := env.client.ModifyVpcAttribute(ctx, &ec2.ModifyVpcAttributeInput{VpcId: aws.String(clusterVPC),
		EnableDnsHostnames: &ec2types.AttributeBooleanValue{Value: aws.Bool(true)}}); err != nil {
		t.Fatalf("ModifyVpcAttribute: %v", err)
	}
	if dns, err := zones.DNSSettings(ctx, cluster); err != nil || !dns.OK() {
		t.Fatalf("DNSSettings after turning hostnames on = %+v, %v", dns, err)
	}

	// Associated, in sync at once (moto applies changes at once).
	a, err := zones.Associate(ctx, cluster, request(1, zoneID))
	if err != nil || !a.Authorized || a.ChangeID == "" || strings.Contains(a.ChangeID, "/") || !a.InSync {
		t.Fatalf("Associate = %+v, %v; want an authorized association in sync, with its change", a, err)
	}
	if done, err := zones.Change(ctx, cluster, request(1, zoneID), a.ChangeID); err != nil || !done {
		t.Fatalf("Change(%s) = %v, %v; want in sync", a.ChangeID, done, err)
	}
	got, err := zones.Associated(ctx, cluster)
	if err != nil || len(got) != 1 || got[zoneID] != (cloud.Zone{ID: zoneID, Name: "corp.example.com", Owner: astro}) {
		t.Fatalf("Associated = %+v, %v; want the zone %s", got, err, zoneID)
	}
	if s := zonesByVPC(t, r53, clusterVPC, region); len(s) != 1 || astrobot.NormalizeZoneID(aws.ToString(s[0].HostedZoneId)) != zoneID {
		t.Fatalf("ListHostedZonesByVPC = %+v, want the zone once", s)
	}

	// Again: nothing more is done (moto would list a second association).
	again, err := zones.Associate(ctx, cluster, request(1, zoneID))
	if err != nil || !again.Authorized || again.ChangeID != "" || !again.InSync {
		t.Fatalf("Associate again = %+v, %v; want the association found", again, err)
	}
	if s := zonesByVPC(t, r53, clusterVPC, region); len(s) != 1 {
		t.Fatalf("after a second Associate, ListHostedZonesByVPC = %+v, want the zone once", s)
	}

	// Another zone of the same name is refused, in words naming the domain
	// and the zone in the way.
	_, err = zones.Associate(ctx, cluster, request(2, other))
	if astrobot.ErrorCodeOf(err) != astrobot.EConflict || !strings.Contains(astrobot.ErrorMessageOf(err), "already resolves corp.example.com through another private hosted zone, "+zoneID) {
		t.Fatalf("Associate a second zone of the name = %v, want EConflict naming the domain and %s", err, zoneID)
	}
	if s := zonesByVPC(t, r53, clusterVPC, region); len(s) != 1 {
		t.Fatalf("after the refusal, ListHostedZonesByVPC = %+v, want the first zone only", s)
	}

	// Cancelled: disassociated; again, nothing to do.
	if err := zones.Disassociate(ctx, cluster, strings.ToLower(zoneID)); err != nil {
		t.Fatalf("Disassociate: %v", err)
	}
	if s := zonesByVPC(t, r53, clusterVPC, region); len(s) != 0 {
		t.Fatalf("after Disassociate, ListHostedZonesByVPC = %+v, want none", s)
	}
	if err := zones.Disassociate(ctx, cluster, zoneID); err != nil {
		t.Fatalf("Disassociate again: %v", err)
	}
	if s := zonesByVPC(t, r53, ownerVPC, region); len(s) != 2 {
		t.Errorf("the owner's VPC lists %d zones, want its 2 untouched", len(s))
	}
}

// TestZonesDNSSettingsDenied checks that a refusal to read the VPC's
// attributes names the IAM action to grant.
func TestZonesDNSSettingsDenied(t *testing.T) {
	fake := fakeaws.New(t, nil)
	fake.Fail("*", fakeaws.Failure{Status: http.StatusForbidden, Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation."})
	zones := cloud.NewZones(fake.RetryConfig(1), cloud.ZoneOptions{})
	cluster := astrobot.Cluster{ID: "clx-1", Region: "eu-west-1", AccountID: "111111111111", VPCID: "vpc-0123456789abcdef0"}
	_, err := zones.DNSSettings(context.Background(), cluster)
	msg := astrobot.ErrorMessageOf(err)
	if astrobot.ErrorCodeOf(err) != astrobot.EInternal || !cloud.IsPermission(err) || !strings.Contains(msg, "ec2:DescribeVpcAttribute") || !strings.Contains(msg, "account 111111111111, eu-west-1") {
		t.Fatalf("DNSSettings = %v, want a permission error naming ec2:DescribeVpcAttribute and where", err)
	}
	calls := fake.Calls("DescribeVpcAttribute")
	if len(calls) != 1 || calls[0].Form.Get("VpcId") != cluster.VPCID || calls[0].Form.Get("Attribute") != "enableDnsSupport" || calls[0].Region != "eu-west-1" {
		t.Errorf("DescribeVpcAttribute calls = %+v", calls)
	}
}
