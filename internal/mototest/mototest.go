// Package mototest points aws-sdk-go-v2 at the moto server of a test run.
//
// scripts/test starts one moto server for the whole run and exports its
// address as MOTO_URL. Packages run in parallel against that one server, so a
// test never resets it: it works in fresh AWS accounts of its own instead.
// moto's STS AssumeRole on arn:aws:iam::<account>:role/<any> returns keys that
// act as <account>, and every account starts empty.
package mototest

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// defaultAccount is the account moto acts as for plain static credentials,
// shared by every package of the run.
const defaultAccount = "123456789012"

// URL returns the address of the moto server, $MOTO_URL. It fails the test
// when the variable is not set: tests that need moto never skip.
func URL(t testing.TB) string {
	t.Helper()
	u := strings.TrimRight(os.Getenv("MOTO_URL"), "/")
	if u == "" {
		t.Fatal("MOTO_URL is not set: run the tests with scripts/test, which starts moto")
	}
	return u
}

// used records the accounts handed out by NewAccount in this process. It is
// package state on purpose: the promise "never handed out before in this
// process" cannot be kept otherwise.
var used = struct {
	sync.Mutex
	accounts map[string]bool
}{accounts: map[string]bool{defaultAccount: true}}

// NewAccount returns a random 12-digit AWS account ID that no earlier call in
// this process returned. Random IDs keep parallel test processes sharing one
// moto server apart.
func NewAccount(t testing.TB) string {
	t.Helper()
	limit := big.NewInt(9e11) // first digit 1-9: 100000000000 to 999999999999
	used.Lock()
	defer used.Unlock()
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			t.Fatalf("mototest: draw an account ID: %v", err)
		}
		id := fmt.Sprintf("%012d", n.Int64()+1e11)
		if !used.accounts[id] {
			used.accounts[id] = true
			return id
		}
	}
}

// Config returns an SDK configuration for region that sends every request to
// moto and acts as account: it assumes arn:aws:iam::<account>:role/mototest
// through STS with the static credentials "test"/"test". It reads no
// environment variable and no shared AWS configuration file.
func Config(t testing.TB, account, region string) aws.Config {
	t.Helper()
	cfg := aws.Config{
		Region:       region,
		BaseEndpoint: aws.String(URL(t)),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
	roleARN := fmt.Sprintf("arn:aws:iam::%s:role/mototest", account)
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), roleARN))
	return cfg
}
