package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot/internal/fakeslack"
	"github.com/astrobot-dev/astrobot/internal/mototest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestE2EAWSDirectory runs the /astro-ip end-to-end test with clusters
// discovered in moto: a tagged VPC with a secondary CIDR and a NAT gateway, in
// an account astrobot reaches through an assumed role.
func TestE2EAWSDirectory(t *testing.T) {
	ctx := context.Background()
	account := mototest.NewAccount(t)
	client := ec2.NewFromConfig(mototest.Config(t, account, "us-east-1"))
	vpc, err := client.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.40.0.0/16"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVpc, Tags: []types.Tag{
			{Key: aws.String("astro:cluster-id"), Value: aws.String("clxmoto1")},
			{Key: aws.String("astro:organization"), Value: aws.String("acme")},
			{Key: aws.String("Name"), Value: aws.String("acme-moto")},
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	vpcID := aws.ToString(vpc.Vpc.VpcId)
	if _, err := client.AssociateVpcCidrBlock(ctx, &ec2.AssociateVpcCidrBlockInput{VpcId: &vpcID, CidrBlock: aws.String("10.41.0.0/16")}); err != nil {
		t.Fatal(err)
	}
	subnet, err := client.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &vpcID, CidrBlock: aws.String("10.40.1.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	eip, err := client.AllocateAddress(ctx, &ec2.AllocateAddressInput{Domain: types.DomainTypeVpc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateNatGateway(ctx, &ec2.CreateNatGatewayInput{SubnetId: subnet.Subnet.SubnetId, AllocationId: eip.AllocationId}); err != nil {
		t.Fatal(err)
	}
	natIP := aws.ToString(eip.PublicIp)

	slack := fakeslack.New(fakeslack.WithTest(t))
	defer slack.Close()
	p := start(t, botEnv(t, slack, filepath.Join(t.TempDir(), "a.db"),
		"ASTROBOT_DIRECTORY=aws",
		"ASTROBOT_AWS_REGIONS=us-east-1",
		"ASTROBOT_AWS_ROLES="+account+"=arn:aws:iam::"+account+":role/astrobot",
		"AWS_ENDPOINT_URL="+mototest.URL(t),
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	))

	body := []byte(url.Values{
		"command": {"/astro-ip"}, "text": {"clxmoto1"}, "user_id": {"U0001"}, "team_id": {"T0001"}, "channel_id": {"CX"},
		"response_url": {slack.ResponseURL("aws")},
	}.Encode())
	code, reply := post(t, p.httpURL, form, body, time.Now(), testSecret)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, reply)
	}
	answer := string(reply)
	if strings.Contains(answer, "Looking it up") {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		calls, err := slack.WaitFor(wctx, "response_url", 1)
		if err != nil {
			t.Fatalf("no follow-up on the response URL: %v\n%s", err, p.log())
		}
		answer = string(calls[0].Raw)
	}
	var msg struct{ Text string }
	if err := json.Unmarshal([]byte(answer), &msg); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, answer)
	}
	for _, want := range []string{natIP, vpcID, "10.40.0.0/16", "10.41.0.0/16", "acme-moto"} {
		if !strings.Contains(msg.Text, want) {
			t.Errorf("answer lacks %s: %s\n%s", want, msg.Text, p.log())
		}
	}

	// The operators' view of the same data, while the bot runs.
	for _, args := range [][]string{{"clusters", "list"}, {"clusters", "show", "clxmoto1"}} {
		cmd := exec.Command(binary, args...)
		cmd.Env = p.cmd.Env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("astrobot %v: %v\n%s", args, err, out)
		}
		for _, want := range []string{"clxmoto1", vpcID, natIP, "10.41.0.0/16"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("astrobot %v lacks %s:\n%s", args, want, out)
			}
		}
	}
	if err := p.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}
