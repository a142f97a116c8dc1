package fakeaws_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ram"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/astrobot-dev/astrobot/internal/fakeaws"
)

// codeOf returns the AWS error code of err, "" for none.
func codeOf(err error) string {
	if apiErr, ok := errors.AsType[smithy.APIError](err); ok {
		return apiErr.ErrorCode()
	}
	return ""
}

func TestQueryCallsRecorded(t *testing.T) {
	s := fakeaws.New(t, func(w http.ResponseWriter, c fakeaws.Call) {
		fakeaws.WriteEC2(w, c.Action, `<vpcSet><item><vpcId>vpc-1</vpcId>`+fakeaws.TagSet(map[string]string{"b": "2", "a": "1"})+`</item></vpcSet>`)
	})
	cfg := s.Config()
	cfg.Region = "eu-west-1"
	out, err := ec2.NewFromConfig(cfg).DescribeVpcs(context.Background(), &ec2.DescribeVpcsInput{
		Filters: []ec2types.Filter{{Name: aws.String("tag-key"), Values: []string{"x", "y"}}}})
	if err != nil {
		t.Fatalf("DescribeVpcs: %v", err)
	}
	if len(out.Vpcs) != 1 || aws.ToString(out.Vpcs[0].VpcId) != "vpc-1" || len(out.Vpcs[0].Tags) != 2 || aws.ToString(out.Vpcs[0].Tags[0].Key) != "a" {
		t.Errorf("DescribeVpcs = %+v, want vpc-1 with the tags a and b", out.Vpcs)
	}
	calls := s.Calls("DescribeVpcs")
	if len(calls) != 1 {
		t.Fatalf("%d DescribeVpcs calls recorded, want 1", len(calls))
	}
	c := calls[0]
	if c.Protocol != fakeaws.Query || c.Service != "ec2" || c.Region != "eu-west-1" || c.Context() == nil {
		t.Errorf("call %s, %s, %s; want Query, ec2, eu-west-1 with its context", c.Protocol, c.Service, c.Region)
	}
	if diff := cmp.Diff(map[string][]string{"tag-key": {"x", "y"}}, fakeaws.Filters(c.Form)); diff != "" {
		t.Errorf("filters (-want +got):\n%s", diff)
	}
	if s.Count() != 1 || s.Count("DescribeVpcs", "DescribeSubnets") != 1 || s.Count("DescribeSubnets") != 0 {
		t.Errorf("Count: %d in all, %d of two actions, %d DescribeSubnets", s.Count(), s.Count("DescribeVpcs", "DescribeSubnets"), s.Count("DescribeSubnets"))
	}
	if diff := cmp.Diff([]string{"eu-west-1"}, s.Regions("DescribeVpcs")); diff != "" {
		t.Errorf("Regions (-want +got):\n%s", diff)
	}
}

func TestFail(t *testing.T) {
	s := fakeaws.New(t, func(w http.ResponseWriter, c fakeaws.Call) { fakeaws.WriteEC2(w, c.Action, "<vpcSet/>") })
	client := ec2.NewFromConfig(s.Config())
	describe := func() string {
		_, err := client.DescribeVpcs(context.Background(), &ec2.DescribeVpcsInput{})
		return codeOf(err)
	}
	subnets := func() string {
		_, err := client.DescribeSubnets(context.Background(), &ec2.DescribeSubnetsInput{})
		return codeOf(err)
	}
	s.Fail("DescribeVpcs", fakeaws.Failure{Status: 403, Code: "UnauthorizedOperation", Message: "no", Times: 2})
	s.Fail("*", fakeaws.Failure{Status: 503, Code: "RequestLimitExceeded", Message: "slow down"})
	got := []string{describe(), subnets(), describe(), describe(), subnets()}
	s.Heal("*")
	got = append(got, describe(), subnets())
	want := []string{"UnauthorizedOperation", "RequestLimitExceeded", "UnauthorizedOperation", "RequestLimitExceeded", "RequestLimitExceeded", "", ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("error codes (-want +got):\n%s", diff)
	}
	if n := s.Count(); n != 7 {
		t.Errorf("%d calls recorded, want 7: failed calls count too", n)
	}
}

func TestRetryConfig(t *testing.T) {
	for _, tt := range []struct {
		cfg   func(*fakeaws.Server) aws.Config
		calls int
		code  string
	}{
		{cfg: (*fakeaws.Server).Config, calls: 1, code: "RequestLimitExceeded"},
		{cfg: func(s *fakeaws.Server) aws.Config { return s.RetryConfig(2) }, calls: 2, code: "RequestLimitExceeded"},
		{cfg: func(s *fakeaws.Server) aws.Config { return s.RetryConfig(3) }, calls: 3},
	} {
		s := fakeaws.New(t, func(w http.ResponseWriter, c fakeaws.Call) { fakeaws.WriteEC2(w, c.Action, "<vpcSet/>") })
		s.Fail("DescribeVpcs", fakeaws.Failure{Status: 503, Code: "RequestLimitExceeded", Message: "slow down", Times: 2})
		_, err := ec2.NewFromConfig(tt.cfg(s)).DescribeVpcs(context.Background(), &ec2.DescribeVpcsInput{})
		if got := codeOf(err); got != tt.code || (tt.code == "") != (err == nil) {
			t.Errorf("DescribeVpcs = %v, want the code %q", err, tt.code)
		}
		if n := s.Count("DescribeVpcs"); n != tt.calls {
			t.Errorf("%d DescribeVpcs calls, want %d", n, tt.calls)
		}
	}
}

func TestNilHandler(t *testing.T) {
	s := fakeaws.New(t, nil)
	_, err := ec2.NewFromConfig(s.Config()).DescribeVpcs(context.Background(), &ec2.DescribeVpcsInput{})
	if codeOf(err) != "InvalidAction" || s.Count("DescribeVpcs") != 1 {
		t.Errorf("DescribeVpcs = %v after %d calls, want one InvalidAction", err, s.Count("DescribeVpcs"))
	}
}

func TestRESTJSON(t *testing.T) {
	s := fakeaws.New(t, func(w http.ResponseWriter, c fakeaws.Call) {
		fakeaws.WriteJSON(w, map[string]any{"resourceShareInvitations": []map[string]any{{"resourceShareInvitationArn": "arn:1", "status": "PENDING"}}})
	}, fakeaws.RAMRoutes()...)
	client := ram.NewFromConfig(s.Config())
	out, err := client.GetResourceShareInvitations(context.Background(), &ram.GetResourceShareInvitationsInput{ResourceShareArns: []string{"arn:share"}})
	if err != nil || len(out.ResourceShareInvitations) != 1 || aws.ToString(out.ResourceShareInvitations[0].ResourceShareInvitationArn) != "arn:1" {
		t.Fatalf("GetResourceShareInvitations = %+v, %v; want arn:1", out, err)
	}
	s.Fail("AcceptResourceShareInvitation", fakeaws.Failure{Status: 400, Code: "ResourceShareInvitationExpiredException", Message: "expired"})
	_, err = client.AcceptResourceShareInvitation(context.Background(), &ram.AcceptResourceShareInvitationInput{ResourceShareInvitationArn: aws.String("arn:1")})
	if codeOf(err) != "ResourceShareInvitationExpiredException" {
		t.Errorf("AcceptResourceShareInvitation = %v, want the injected code", err)
	}
	calls := s.Calls()
	if len(calls) != 2 || calls[0].Action != "GetResourceShareInvitations" || calls[0].Protocol != fakeaws.RESTJSON || calls[0].Service != "ram" ||
		calls[1].JSON["resourceShareInvitationArn"] != "arn:1" {
		t.Errorf("calls %+v, want GetResourceShareInvitations then AcceptResourceShareInvitation of arn:1", calls)
	}
	if shares, _ := calls[0].JSON["resourceShareArns"].([]any); len(shares) != 1 || shares[0] != "arn:share" {
		t.Errorf("resourceShareArns %v, want [arn:share]", calls[0].JSON["resourceShareArns"])
	}
}

func TestRESTXML(t *testing.T) {
	s := fakeaws.New(t, func(w http.ResponseWriter, c fakeaws.Call) {
		fakeaws.WriteRESTXML(w, fakeaws.Route53Namespace, c.Action, "<ChangeInfo><Id>/change/"+c.PathValues["Id"]+"</Id><Status>INSYNC</Status><SubmittedAt>2025-03-04T15:04:05.000Z</SubmittedAt></ChangeInfo>")
	}, fakeaws.Route53Routes()...)
	client := route53.NewFromConfig(s.Config())
	out, err := client.GetChange(context.Background(), &route53.GetChangeInput{Id: aws.String("C123")})
	if err != nil || aws.ToString(out.ChangeInfo.Id) != "/change/C123" || out.ChangeInfo.Status != "INSYNC" {
		t.Fatalf("GetChange = %+v, %v; want C123 in sync", out, err)
	}
	s.Fail("ListHostedZonesByVPC", fakeaws.Failure{Status: 403, Code: "AccessDenied", Message: "no"})
	_, err = client.ListHostedZonesByVPC(context.Background(), &route53.ListHostedZonesByVPCInput{VPCId: aws.String("vpc-1"), VPCRegion: "eu-west-1"})
	if codeOf(err) != "AccessDenied" {
		t.Errorf("ListHostedZonesByVPC = %v, want AccessDenied", err)
	}
	calls := s.Calls("ListHostedZonesByVPC")
	if len(calls) != 1 || calls[0].URLQuery.Get("vpcid") != "vpc-1" || calls[0].URLQuery.Get("vpcregion") != "eu-west-1" || calls[0].Protocol != fakeaws.RESTXML {
		t.Errorf("ListHostedZonesByVPC calls %+v", calls)
	}
	if got := s.Calls("GetChange"); len(got) != 1 || got[0].PathValues["Id"] != "C123" {
		t.Errorf("GetChange calls %+v, want one of C123", got)
	}
}

func TestUnknownOperation(t *testing.T) {
	s := fakeaws.New(t, func(w http.ResponseWriter, c fakeaws.Call) { t.Errorf("the handler got %s", c.Action) }, fakeaws.RAMRoutes()...)
	resp, err := http.Post(s.URL+"/deleteresourceshare", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Amzn-ErrorType") != "UnknownOperationException" || s.Count() != 0 {
		t.Errorf("an unknown RAM operation: %d %q, %d calls recorded; want 404 UnknownOperationException, none", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), s.Count())
	}
}

func TestParams(t *testing.T) {
	form := url.Values{"SubnetId.1": {"a"}, "SubnetId.2": {"b"}, "SubnetId.4": {"d"},
		"Filter.1.Name": {"vpc-id"}, "Filter.1.Value.1": {"vpc-1"}, "Filter.2.Name": {"tag:x"}, "Filter.2.Value.1": {"1"}, "Filter.2.Value.2": {"2"},
		"TagSpecifications.1.Tag.1.Key": {"k"}, "TagSpecifications.1.Tag.1.Value": {"v"}, "TagSpecifications.1.Tag.2.Key": {"e"}, "TagSpecifications.1.Tag.2.Value": {""}}
	if diff := cmp.Diff([]string{"a", "b"}, fakeaws.List(form, "SubnetId")); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string][]string{"vpc-id": {"vpc-1"}, "tag:x": {"1", "2"}}, fakeaws.Filters(form)); diff != "" {
		t.Errorf("Filters (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"k": "v", "e": ""}, fakeaws.Tags(form, "TagSpecifications.1")); diff != "" {
		t.Errorf("Tags (-want +got):\n%s", diff)
	}
	if got := fakeaws.Tags(form, "TagSpecification.1"); len(got) != 0 {
		t.Errorf("Tags of a specification not sent = %v", got)
	}
	if got, want := fakeaws.TagSet(map[string]string{"b": "2", "a": "1"}), "<tagSet><item><key>a</key><value>1</value></item><item><key>b</key><value>2</value></item></tagSet>"; got != want {
		t.Errorf("TagSet = %s, want %s", got, want)
	}
	if got, want := fakeaws.Items([]string{"x", "y"}, ""), "<item>x</item><item>y</item>"; got != want {
		t.Errorf("Items = %s, want %s", got, want)
	}
	if got, want := fakeaws.Items([]string{"x"}, "groupId"), "<item><groupId>x</groupId></item>"; got != want {
		t.Errorf("Items with an element = %s, want %s", got, want)
	}
}
