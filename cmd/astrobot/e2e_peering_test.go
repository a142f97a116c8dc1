package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
	"github.com/astrobot-dev/astrobot/internal/mototest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestE2EPeeringInAWS runs a request through the AWS mode against moto:
// approve → the bot creates the peering → the customer, in their own account,
// accepts → the watcher adds the routes and the DNS option → active.
func TestE2EPeeringInAWS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	astro, customer := mototest.NewAccount(t), mototest.NewAccount(t)
	astroEC2 := ec2.NewFromConfig(mototest.Config(t, astro, "us-east-1"))
	customerEC2 := ec2.NewFromConfig(mototest.Config(t, customer, "us-west-2"))

	vpc, err := astroEC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.50.0.0/16"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVpc, Tags: []types.Tag{
			{Key: aws.String("astro:cluster-id"), Value: aws.String("clxpeer1")},
			{Key: aws.String("astro:organization"), Value: aws.String("acme")},
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	clusterVPC := aws.ToString(vpc.Vpc.VpcId)
	extra, err := astroEC2.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: &clusterVPC})
	if err != nil {
		t.Fatal(err)
	}
	cvpc, err := customerEC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("172.31.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	customerVPC := aws.ToString(cvpc.Vpc.VpcId)

	slack := fakeslack.New(fakeslack.WithTest(t))
	defer slack.Close()
	p := start(t, botEnv(t, slack, filepath.Join(t.TempDir(), "a.db"),
		"ASTROBOT_DIRECTORY=aws", "ASTROBOT_AWS_REGIONS=us-east-1",
		"ASTROBOT_AWS_ROLES="+astro+"=arn:aws:iam::"+astro+":role/astrobot",
		"ASTROBOT_PEERING=aws", "ASTROBOT_WATCH_INTERVAL=1s",
		"AWS_ENDPOINT_URL="+mototest.URL(t), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_REGION=us-east-1",
	))
	w := &workflow{t: t, p: p, slack: slack, ctx: ctx}

	reply := w.send(submission(peerForm{viewID: "V1", cluster: "clxpeer1", account: customer, region: "us-west-2", vpc: customerVPC, cidrs: "172.31.0.0/16"}, "U0001", "T0001", "C0001"))
	if !strings.Contains(reply, `"response_action":"update"`) {
		t.Fatalf("submit: %s\n%s", reply, p.log())
	}
	posts := w.await("chat.postMessage", 2)
	if strings.Contains(posts[0].Param("blocks"), handlers.ActionButton(astrobot.ActPeeringCreated)) {
		t.Errorf("the AWS-mode card offers the manual step buttons: %s", posts[0].Param("blocks"))
	}
	w.send(press("USUPPORT", handlers.ActionButton(astrobot.ActApprove), "PEER-0001"))

	// The bot creates the peering and DMs the requester the accept step.
	pcx := regexp.MustCompile(`pcx-[0-9a-f]+`)
	acceptDM := waitPost(t, w, func(c fakeslack.Call) bool {
		return c.Param("channel") == "DU0001" && strings.Contains(c.Param("text"), "pending acceptance")
	})
	id := pcx.FindString(acceptDM.Param("text"))
	for _, want := range []string{"aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id " + id + " --region us-west-2",
		"aws_vpc_peering_connection_accepter", "Peering connections"} {
		if id == "" || !strings.Contains(acceptDM.Param("text"), want) {
			t.Errorf("accept DM lacks %q:\n%s", want, acceptDM.Param("text"))
		}
	}
	desc, err := astroEC2.DescribeVpcPeeringConnections(ctx, &ec2.DescribeVpcPeeringConnectionsInput{VpcPeeringConnectionIds: []string{id}})
	if err != nil || len(desc.VpcPeeringConnections) != 1 {
		t.Fatalf("moto does not know %s: %v", id, err)
	}
	pc := desc.VpcPeeringConnections[0]
	if aws.ToString(pc.RequesterVpcInfo.VpcId) != clusterVPC || aws.ToString(pc.AccepterVpcInfo.VpcId) != customerVPC || aws.ToString(pc.AccepterVpcInfo.OwnerId) != customer {
		t.Errorf("peering %s joins the wrong VPCs: %+v %+v", id, pc.RequesterVpcInfo, pc.AccepterVpcInfo)
	}

	// The customer accepts in their account and region.
	if _, err := customerEC2.AcceptVpcPeeringConnection(ctx, &ec2.AcceptVpcPeeringConnectionInput{VpcPeeringConnectionId: &id}); err != nil {
		t.Fatal(err)
	}
	activeDM := waitPost(t, w, func(c fakeslack.Call) bool {
		return c.Param("channel") == "DU0001" && strings.Contains(c.Param("text"), "is now *active*")
	})
	for _, want := range []string{"create-vpc-association-authorization", "VPCId=" + clusterVPC, "--destination-cidr-block 10.50.0.0/16", "authorize-security-group-ingress", "AllowDnsResolutionFromRemoteVpc=true"} {
		if !strings.Contains(activeDM.Param("text"), want) {
			t.Errorf("final DM lacks %q:\n%s", want, activeDM.Param("text"))
		}
	}

	// moto shows the routes in every route table of the cluster VPC and the
	// requester's DNS option.
	rts, err := astroEC2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{clusterVPC}}}})
	if err != nil || len(rts.RouteTables) < 2 {
		t.Fatalf("route tables of %s: %d, %v", clusterVPC, len(rts.RouteTables), err)
	}
	for _, rt := range rts.RouteTables {
		var routed bool
		for _, r := range rt.Routes {
			routed = routed || (aws.ToString(r.DestinationCidrBlock) == "172.31.0.0/16" && aws.ToString(r.VpcPeeringConnectionId) == id)
		}
		if !routed {
			t.Errorf("route table %s (extra %v) has no route to 172.31.0.0/16 via %s", aws.ToString(rt.RouteTableId), aws.ToString(rt.RouteTableId) == aws.ToString(extra.RouteTable.RouteTableId), id)
		}
	}
	desc, err = astroEC2.DescribeVpcPeeringConnections(ctx, &ec2.DescribeVpcPeeringConnectionsInput{VpcPeeringConnectionIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if o := desc.VpcPeeringConnections[0].RequesterVpcInfo.PeeringOptions; o == nil || !aws.ToBool(o.AllowDnsResolutionFromRemoteVpc) {
		t.Errorf("requester DNS option not set on %s: %+v", id, o)
	}
	status := w.send(command("/astro-peer", "status PEER-0001", "USUPPORT", "T0001", "CSUPPORT"))
	for _, want := range []string{"— AWS created the peering", "— AWS saw the customer accept", "— AWS finished routes and DNS"} {
		if !strings.Contains(status, want) {
			t.Errorf("history lacks %q: %s", want, status)
		}
	}

	// Cancelling a pending request deletes its peering in AWS.
	cvpc2, err := customerEC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("172.30.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	w.send(submission(peerForm{viewID: "V2", cluster: "clxpeer1", account: customer, region: "us-west-2", vpc: aws.ToString(cvpc2.Vpc.VpcId), cidrs: "172.30.0.0/16"}, "U0001", "T0001", "C0001"))
	w.send(press("USUPPORT", handlers.ActionButton(astrobot.ActApprove), "PEER-0002"))
	pending := waitPost(t, w, func(c fakeslack.Call) bool {
		return c.Param("channel") == "DU0001" && strings.Contains(c.Param("text"), "PEER-0002* is now *pending acceptance")
	})
	id2 := pcx.FindString(pending.Param("text"))
	if reply := w.send(command("/astro-peer", "cancel PEER-0002", "U0001", "T0001", "C0001")); !strings.Contains(reply, "PEER-0002 is cancelled") {
		t.Fatalf("cancel: %s", reply)
	}
	for {
		d, err := astroEC2.DescribeVpcPeeringConnections(ctx, &ec2.DescribeVpcPeeringConnectionsInput{VpcPeeringConnectionIds: []string{id2}})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.VpcPeeringConnections) == 1 && d.VpcPeeringConnections[0].Status.Code == types.VpcPeeringConnectionStateReasonCodeDeleted {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the pending peering %s of the cancelled PEER-0002 was not deleted\n%s", id2, p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := p.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// waitPost waits for a chat.postMessage matching ok.
func waitPost(t *testing.T, w *workflow, ok func(fakeslack.Call) bool) fakeslack.Call {
	t.Helper()
	var post fakeslack.Call
	if !w.poll(func() bool {
		for _, c := range w.slack.CallsTo("chat.postMessage") {
			if ok(c) {
				post = c
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no such message; calls: %d\n%s", len(w.slack.Calls()), w.p.log())
	}
	return post
}
