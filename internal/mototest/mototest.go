// Package mototest points aws-sdk-go-v2 at the moto server of a test run.
//
// scripts/test starts one moto server for the whole run and exports its
// address as MOTO_URL; every test binary of the run uses that server. When
// MOTO_URL is not set (a plain `go test ./...`), the first test of a binary
// that asks for moto starts a moto_server of its own on a free loopback port,
// and Main stops it when the tests are over. A package whose tests use this
// package therefore has this TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }
//
// Packages run in parallel against a shared server, so a test never resets
// it: it works in fresh AWS accounts of its own instead. moto's STS
// AssumeRole on arn:aws:iam::<account>:role/<any> returns keys that act as
// <account>, and every account starts empty.
package mototest

import (
	"context"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// defaultAccount is the account moto acts as for plain static credentials,
// shared by every package of the run.
const defaultAccount = "123456789012"

// install is the command that installs the moto_server the tests need, the
// one scripts/test names too.
const install = "pip install 'moto[server]==5.2.1'"

// readyTimeout bounds how long a moto_server may take to answer after it
// started; it usually needs about a second.
const readyTimeout = 60 * time.Second

// URL returns the address of the moto server: $MOTO_URL when it is set, else
// the moto_server of this test binary, started on the first call. It fails
// the test when moto_server is not installed, exits or never answers (with
// its log), and when the package has no TestMain calling Main: tests that
// need moto never skip.
func URL(t testing.TB) string {
	t.Helper()
	if u := strings.TrimRight(os.Getenv("MOTO_URL"), "/"); u != "" {
		return u
	}
	u, err := ownURL()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Main runs the tests of m and then stops the moto_server that URL started
// for them, if any. It returns the exit code for os.Exit: m.Run's, or 1 when
// moto_server could not be stopped. Every package whose tests use mototest
// calls it from its TestMain, in place of m.Run:
//
//	func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }
func Main(m *testing.M) int {
	own.Lock()
	own.inMain = true
	own.Unlock()

	code := m.Run()

	own.Lock()
	defer own.Unlock()
	own.inMain = false
	if own.srv != nil {
		if err := own.srv.stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
		own.srv = nil
	}
	return code
}

// own is the moto_server this test binary started. It is package state on
// purpose, as used is: one server serves every test of the binary, whichever
// test asks first starts it, and Main, which runs the tests, stops it.
var own struct {
	sync.Mutex
	inMain bool    // Main is running the tests, so it will stop srv
	srv    *server // nil until started
	err    error   // why starting failed; later calls fail the same way
}

// ownURL returns the address of this test binary's moto_server, starting it
// on the first call.
func ownURL() (string, error) {
	own.Lock()
	defer own.Unlock()
	if !own.inMain {
		return "", errors.New("mototest: MOTO_URL is not set, and this package cannot start moto_server: " +
			"it needs func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }, which stops moto_server after the tests")
	}
	if own.err != nil {
		return "", own.err
	}
	if own.srv == nil {
		path, err := exec.LookPath("moto_server")
		if err != nil {
			return "", fmt.Errorf("mototest: MOTO_URL is not set and moto_server is not installed; install it with: %s (look up moto_server: %w)", install, err)
		}
		srv, err := start(path)
		if err != nil {
			own.err = err
			return "", err
		}
		own.srv = srv
	}
	select {
	case <-own.srv.exited:
		return "", fmt.Errorf("mototest: moto_server exited during the tests (%w); its log:\n%s", own.srv.waitErr, own.srv.log.String())
	default:
		return own.srv.url, nil
	}
}

// server is a running moto_server.
type server struct {
	url     string
	proc    *os.Process
	log     logTail
	exited  chan struct{} // closed when moto_server has exited
	waitErr error         // how it exited; read only after exited is closed
}

// start starts the moto_server at path on a free loopback port and waits
// until it answers GET /moto-api/.
func start(path string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{url: "http://127.0.0.1:" + strconv.Itoa(port), exited: make(chan struct{})}
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = &s.log, &s.log
	cmd.WaitDelay = time.Second // should moto_server leave a child holding its output open
	dieWithParent(cmd)
	started := make(chan error)
	go s.run(cmd, started)
	if err := <-started; err != nil {
		return nil, fmt.Errorf("mototest: start %s: %w", path, err)
	}
	if err := s.waitReady(); err != nil {
		if stopErr := s.stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, err
	}
	return s, nil
}

// run starts cmd, reports the outcome on started and, when it started, waits
// for it to exit. It keeps its goroutine on one OS thread until then: Linux
// sends the parent-death signal (dieWithParent) when the thread that started
// the child ends, which must be when the test binary ends and no sooner.
func (s *server) run(cmd *exec.Cmd, started chan<- error) {
	runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
	if err := cmd.Start(); err != nil {
		started <- err
		return
	}
	s.proc = cmd.Process
	started <- nil
	s.waitErr = cmd.Wait()
	close(s.exited)
}

// waitReady polls GET /moto-api/ until moto_server answers 200 OK. It fails
// with the server's log when the server exits first or does not answer
// within readyTimeout.
func (s *server) waitReady() error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for {
		resp, err := client.Get(s.url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mototest: moto_server did not answer GET %s/moto-api/ within %v (last try: %w); its log:\n%s",
				s.url, readyTimeout, err, s.log.String())
		}
		select {
		case <-s.exited:
			return fmt.Errorf("mototest: moto_server exited before it answered on %s (%w); its log:\n%s", s.url, s.waitErr, s.log.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop kills moto_server (it keeps nothing worth a graceful shutdown) and
// waits until it has exited.
func (s *server) stop() error {
	if err := s.proc.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("mototest: stop moto_server: %w", err)
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("mototest: stop moto_server: pid %d has not exited 10s after SIGKILL", s.proc.Pid)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("mototest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logLimit is how much of moto_server's log a logTail keeps.
const logLimit = 64 << 10

// logTail keeps the last logLimit bytes written to it: moto_server logs every
// request, and what explains a failure is at the end.
type logTail struct {
	mu sync.Mutex
	b  []byte
}

// Write appends p, dropping the oldest bytes beyond logLimit.
func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	if over := len(l.b) - logLimit; over > 0 {
		l.b = append(l.b[:0], l.b[over:]...)
	}
	return len(p), nil
}

// String returns the bytes kept.
func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
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
// environment variable but MOTO_URL (see URL) and no shared AWS configuration
// file.
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

// NLB creates an internal network load balancer called name in subnets of
// account and region in moto and returns its ARN. go.mod has no ELBv2 client:
// the call is made on the wire, in the Query protocol ELBv2 speaks, with
// moto's account header.
func NLB(t testing.TB, account, region, name string, subnets ...string) string {
	t.Helper()
	form := url.Values{"Action": {"CreateLoadBalancer"}, "Version": {"2015-12-01"}, "Name": {name}, "Type": {"network"}, "Scheme": {"internal"}}
	for i, s := range subnets {
		form.Set(fmt.Sprintf("Subnets.member.%d", i+1), s)
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, URL(t), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("mototest: CreateLoadBalancer: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("x-moto-account-id", account)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260301/"+region+"/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("mototest: CreateLoadBalancer: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct {
		ARN string `xml:"CreateLoadBalancerResult>LoadBalancers>member>LoadBalancerArn"`
	}
	if err := xml.Unmarshal(body, &out); err != nil || resp.StatusCode != http.StatusOK || out.ARN == "" {
		t.Fatalf("mototest: CreateLoadBalancer: status %d, %v: %s", resp.StatusCode, err, body)
	}
	return out.ARN
}
