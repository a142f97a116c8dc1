package mototest_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/internal/mototest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestNewAccount(t *testing.T) {
	seen := map[string]bool{"123456789012": true}
	for range 1000 {
		id := mototest.NewAccount(t)
		if err := astrobot.ValidateAccountID(id); err != nil {
			t.Fatalf("NewAccount returned %q: %v", id, err)
		}
		if seen[id] {
			t.Fatalf("NewAccount returned %q twice (or moto's default account)", id)
		}
		seen[id] = true
	}
}

func TestConfigActsAsTheAccount(t *testing.T) {
	ctx := context.Background()
	a, b := mototest.NewAccount(t), mototest.NewAccount(t)
	cfgA := mototest.Config(t, a, "us-east-1")
	cfgB := mototest.Config(t, b, "us-east-1")

	for account, cfg := range map[string]aws.Config{a: cfgA, b: cfgB} {
		out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatalf("GetCallerIdentity as %s: %v", account, err)
		}
		if got := aws.ToString(out.Account); got != account {
			t.Errorf("GetCallerIdentity: account %s, want %s", got, account)
		}
		if arn := aws.ToString(out.Arn); !strings.Contains(arn, ":"+account+":assumed-role/mototest/") {
			t.Errorf("GetCallerIdentity: ARN %s, want the assumed role mototest of %s", arn, account)
		}
	}

	// A VPC made in account a belongs to a and is invisible to b.
	vpc, err := ec2.NewFromConfig(cfgA).CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		t.Fatalf("CreateVpc as %s: %v", a, err)
	}
	if got := aws.ToString(vpc.Vpc.OwnerId); got != a {
		t.Errorf("CreateVpc: owner %s, want %s", got, a)
	}
	id := aws.ToString(vpc.Vpc.VpcId)
	for account, cfg := range map[string]aws.Config{a: cfgA, b: cfgB} {
		out, err := ec2.NewFromConfig(cfg).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
		if err != nil {
			t.Fatalf("DescribeVpcs as %s: %v", account, err)
		}
		var found bool
		for _, v := range out.Vpcs {
			found = found || aws.ToString(v.VpcId) == id
		}
		if want := account == a; found != want {
			t.Errorf("account %s sees the VPC of %s: %v, want %v", account, a, found, want)
		}
	}
}

func TestURL(t *testing.T) {
	t.Setenv("MOTO_URL", "http://127.0.0.1:1/")
	if got := mototest.URL(t); got != "http://127.0.0.1:1" {
		t.Errorf("URL = %q, want the variable without its trailing slash", got)
	}
}

// fatalRecorder records the message of Fatal and ends its goroutine, as
// testing.T does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatal(args ...any) {
	r.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func TestURLFailsWhenUnset(t *testing.T) {
	t.Setenv("MOTO_URL", "")
	r := &fatalRecorder{TB: t}
	done := make(chan string)
	go func() {
		defer close(done)
		done <- mototest.URL(r)
	}()
	if got, returned := <-done; returned {
		t.Fatalf("URL returned %q with MOTO_URL unset, want a fatal error", got)
	}
	if want := "MOTO_URL is not set: run the tests with scripts/test, which starts moto"; r.msg != want {
		t.Errorf("URL failed with %q, want %q", r.msg, want)
	}
}
