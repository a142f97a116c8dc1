package mototest_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// childEnv names the variable that makes TestChildProcess act: the tests
// below run this test binary again as a child with it set.
const childEnv = "MOTOTEST_CHILD"

// TestChildProcess is the child of the tests below: it prints the moto URL
// the child gets (through Main, as every test binary does) and exits. It does
// nothing unless childEnv is set.
func TestChildProcess(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		return
	}
	fmt.Printf("url=%s\n", mototest.URL(t))
}

// runChild runs TestChildProcess in a new process of this test binary with
// env added to (and replacing) this process's environment, less MOTO_URL
// when unsetMoto. It returns the child's output and how it exited.
func runChild(t *testing.T, unsetMoto bool, env ...string) (string, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("find the test binary: %v", err)
	}
	cmd := exec.Command(exe, "-test.run=^TestChildProcess$", "-test.count=1")
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if unsetMoto && name == "MOTO_URL" {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, childEnv+"=1")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestURLFailsWithoutMotoServer: with MOTO_URL unset and no moto_server on
// PATH, URL fails the test and names the install command.
func TestURLFailsWithoutMotoServer(t *testing.T) {
	out, err := runChild(t, true, "PATH="+t.TempDir())
	if err == nil {
		t.Fatalf("child passed without MOTO_URL and moto_server, want a failure; output:\n%s", out)
	}
	for _, want := range []string{
		"MOTO_URL is not set and moto_server is not installed",
		"install it with: pip install 'moto[server]==5.2.1'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}

// TestURLFailsWhenMotoServerDies: with MOTO_URL unset and a moto_server that
// exits at once, URL fails the test with the server's log.
func TestURLFailsWhenMotoServerDies(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\necho 'moto_server: cannot bind the port' >&2\nexit 3\n"
	if err := os.WriteFile(filepath.Join(dir, "moto_server"), []byte(script), 0o755); err != nil {
		t.Fatalf("write the fake moto_server: %v", err)
	}
	out, err := runChild(t, true, "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	if err == nil {
		t.Fatalf("child passed with a moto_server that exits, want a failure; output:\n%s", out)
	}
	for _, want := range []string{
		"moto_server exited before it answered",
		"exit status 3",
		"moto_server: cannot bind the port",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}

// TestURLOfTheRun: a test binary uses MOTO_URL when it is set and starts no
// moto_server; when it is not set (a plain go test), the binary starts its
// own moto_server, and it is gone once the binary has exited.
func TestURLOfTheRun(t *testing.T) {
	out, err := runChild(t, false)
	if err != nil {
		t.Fatalf("child: %v; output:\n%s", err, out)
	}
	_, rest, ok := strings.Cut(out, "url=")
	if !ok {
		t.Fatalf("child printed no URL:\n%s", out)
	}
	url, _, _ := strings.Cut(rest, "\n")

	if motoURL := os.Getenv("MOTO_URL"); motoURL != "" {
		if want := strings.TrimRight(motoURL, "/"); url != want {
			t.Errorf("child with MOTO_URL=%s used %s, want MOTO_URL", motoURL, url)
		}
		return
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("child's own moto_server is at %s, want a loopback address", url)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	if resp, err := client.Get(url + "/moto-api/"); err == nil {
		resp.Body.Close()
		t.Errorf("the child's moto_server at %s still answers (%s) after the child exited", url, resp.Status)
	}
}
