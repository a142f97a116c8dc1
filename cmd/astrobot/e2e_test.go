package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot/bot"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
	"github.com/astrobot-dev/astrobot/internal/mototest"
)

// binary is the astrobot built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "astrobot-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "astrobot")
	out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building astrobot: %v\n%s", err, out)
		os.Exit(1)
	}
	code := mototest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

const testSecret = "e2e-signing-secret"

// proc is a running astrobot.
type proc struct {
	t       *testing.T
	cmd     *exec.Cmd
	mu      sync.Mutex
	logs    bytes.Buffer
	httpURL string
	opsURL  string
	exited  chan struct{}
	err     error
}

// botEnv is the environment of a test bot talking to the fake Slack.
func botEnv(t *testing.T, slack *fakeslack.Server, dbPath string, extra ...string) []string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"SLACK_BOT_TOKEN=xoxb-e2e",
		"SLACK_SIGNING_SECRET=" + testSecret,
		"SLACK_API_URL=" + slack.APIURL(),
		"ASTROBOT_HTTP_ADDR=127.0.0.1:0",
		"ASTROBOT_OPS_ADDR=127.0.0.1:0",
		"ASTROBOT_ADMIN_ADDR=127.0.0.1:0",
		"ASTROBOT_DB=" + dbPath,
		"ASTROBOT_CLUSTERS=" + filepath.Join(root, "examples", "clusters.yaml"),
		"ASTROBOT_SUPPORT_CHANNEL=CSUPPORT",
		"ASTROBOT_SUPPORT_USERS=USUPPORT",
		"ASTROBOT_LOG_FORMAT=json",
		"ASTROBOT_LOG_LEVEL=debug",
	}
	return append(env, extra...) // later entries win: exec.Cmd keeps the last of duplicate keys
}

// start runs astrobot with env and waits until it is ready.
func start(t *testing.T, env []string) *proc {
	t.Helper()
	p := &proc{t: t, exited: make(chan struct{})}
	p.cmd = exec.Command(binary, "serve")
	p.cmd.Env = env
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Bytes()
			p.mu.Lock()
			p.logs.Write(line)
			p.logs.WriteByte('\n')
			p.mu.Unlock()
			var rec map[string]any
			if json.Unmarshal(line, &rec) == nil && strings.HasPrefix(fmt.Sprint(rec["msg"]), "serving Slack") {
				addr, _ := rec["addr"].(string)
				ops, _ := rec["ops"].(string)
				addrs <- [2]string{addr, ops}
			}
		}
	}()
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.stop(syscall.SIGKILL) })
	select {
	case a := <-addrs:
		p.httpURL = "http://" + a[0] + "/slack/events"
		p.opsURL = "http://" + a[1]
	case <-p.exited:
		t.Fatalf("astrobot exited before it was ready: %v\n%s", p.err, p.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("astrobot not ready after 20s\n%s", p.log())
	}
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// stop sends sig and waits for the process to exit.
func (p *proc) stop(sig syscall.Signal) error {
	select {
	case <-p.exited:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		p.t.Errorf("astrobot did not exit within 15s of %v", sig)
	}
	return p.err
}

// post sends a signed Slack request with the given content type.
func post(t *testing.T, u, ctype string, body []byte, ts time.Time, secret string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range bot.Sign(secret, ts, body) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		checkAck(t, body, b)
	}
	return resp.StatusCode, b
}

// checkAck fails t when the acknowledgement ack of the Slack request body
// breaks Slack's rules, as the fake Slack checks everything else the bot
// sends.
func checkAck(t *testing.T, body, ack []byte) {
	t.Helper()
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return // not a form: an Events API callback, acknowledged with nothing to check
	}
	var check func([]byte) []fakeslack.Violation
	var payload struct {
		Type string `json:"type"`
	}
	switch {
	case v.Get("command") != "":
		check = fakeslack.CheckCommandAck
	case json.Unmarshal([]byte(v.Get("payload")), &payload) != nil:
		return
	case payload.Type == "view_submission":
		check = fakeslack.CheckViewSubmissionAck
	case payload.Type == "block_suggestion":
		check = fakeslack.CheckOptionsAck
	default:
		return
	}
	for _, p := range check(ack) {
		t.Errorf("the bot's acknowledgement breaks Slack's rules: %s", p)
	}
}

func command(cmd, text, user, team, channel string) []byte {
	return []byte(url.Values{
		"command": {cmd}, "text": {text}, "user_id": {user}, "team_id": {team}, "channel_id": {channel},
		"trigger_id": {"trig-" + user}, "response_url": {"http://127.0.0.1:1/unused"},
	}.Encode())
}

const form = "application/x-www-form-urlencoded"

func TestE2EHTTPAstroIP(t *testing.T) {
	slack := fakeslack.New(fakeslack.WithTest(t))
	defer slack.Close()
	p := start(t, botEnv(t, slack, filepath.Join(t.TempDir(), "a.db")))
	now := time.Now()

	t.Run("signed /astro-ip answers with both IPs, VPC and CIDR", func(t *testing.T) {
		code, body := post(t, p.httpURL, form, command("/astro-ip", "clx123abc", "U0001", "T0001", "CX"), now, testSecret)
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		var msg struct {
			ResponseType string `json:"response_type"`
			Text         string `json:"text"`
		}
		if err := json.Unmarshal(body, &msg); err != nil {
			t.Fatalf("reply is not JSON: %v: %s", err, body)
		}
		if msg.ResponseType != "ephemeral" {
			t.Errorf("response_type %q, want ephemeral", msg.ResponseType)
		}
		for _, want := range []string{"203.0.113.10", "203.0.113.11", "vpc-0abc12345678def90", "10.10.0.0/16", "acme-prod"} {
			if !strings.Contains(msg.Text, want) {
				t.Errorf("reply lacks %s: %s", want, msg.Text)
			}
		}
	})
	t.Run("caller from an unmapped team sees nothing", func(t *testing.T) {
		code, body := post(t, p.httpURL, form, command("/astro-ip", "clx123abc", "U0009", "T9999", "C9999"), now, testSecret)
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		if !strings.Contains(string(body), `No cluster \"clx123abc\" is visible to you`) {
			t.Errorf("reply does not say the cluster is not visible: %s", body)
		}
		if strings.Contains(string(body), "203.0.113.10") {
			t.Errorf("reply leaks the cluster's IPs: %s", body)
		}
	})
	for _, tc := range []struct {
		name   string
		ts     time.Time
		secret string
	}{
		{"bad signature", now, "wrong-secret"},
		{"stale signature", now.Add(-6 * time.Minute), testSecret},
	} {
		t.Run(tc.name+" gets 401", func(t *testing.T) {
			code, body := post(t, p.httpURL, form, command("/astro-ip", "clx123abc", "U0001", "T0001", "CX"), tc.ts, tc.secret)
			if code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", code, body)
			}
			if strings.Contains(string(body), "203.0.113") {
				t.Errorf("401 body carries data: %s", body)
			}
		})
	}
	t.Run("url_verification challenge", func(t *testing.T) {
		code, body := post(t, p.httpURL, "application/json", []byte(`{"type":"url_verification","challenge":"abc123","token":"x"}`), now, testSecret)
		if code != http.StatusOK || string(body) != "abc123" {
			t.Fatalf("status %d body %q, want 200 abc123", code, body)
		}
	})
	t.Run("ops endpoints", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			resp, err := http.Get(p.opsURL + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: status %d", path, resp.StatusCode)
			}
			if path != "/metrics" {
				continue
			}
			for _, want := range []string{`astrobot_ack_seconds_count{kind="command",name="/astro-ip"}`, `astrobot_requests{status="submitted"} 0`,
				`astrobot_outbox_depth 0`, `astrobot_outbox_dead_letters 0`, `astrobot_slack_api_calls_total{method="auth.test",outcome="ok"} 1`,
				`astrobot_http_rejected_total{reason="signature"} 2`} {
				if !strings.Contains(string(b), want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
		}
	})
	if err := p.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: exit %v, want 0\n%s", err, p.log())
	}
	if strings.Contains(p.log(), "xoxb-e2e") || strings.Contains(p.log(), testSecret) {
		t.Error("the logs contain a token or the signing secret")
	}
}

func TestE2ESocketModeAstroIP(t *testing.T) {
	slack := fakeslack.New(fakeslack.WithTest(t))
	defer slack.Close()
	env := botEnv(t, slack, filepath.Join(t.TempDir(), "a.db"), "SLACK_APP_TOKEN=xapp-e2e")
	p := start(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := slack.SendEnvelope(ctx, "slash_commands", map[string]string{
		"command": "/astro-ip", "text": "acme-prod", "user_id": "U0001", "team_id": "T0001", "channel_id": "CX",
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, p.log())
	}
	for _, want := range []string{"203.0.113.10", "203.0.113.11", "vpc-0abc12345678def90", `"response_type":"ephemeral"`} {
		if !strings.Contains(string(ack), want) {
			t.Errorf("ack payload lacks %s: %s", want, ack)
		}
	}
	ack, err = slack.SendEnvelope(ctx, "slash_commands", map[string]string{
		"command": "/astro-ip", "text": "acme-prod", "user_id": "U0009", "team_id": "T9999", "channel_id": "C9999",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ack), "is visible to you") || strings.Contains(string(ack), "203.0.113.10") {
		t.Errorf("unmapped caller's ack: %s", ack)
	}
	if err := p.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: exit %v, want 0\n%s", err, p.log())
	}
}

func TestE2EStartupRefusals(t *testing.T) {
	slack := fakeslack.New(fakeslack.WithTest(t))
	defer slack.Close()
	dir := t.TempDir()

	t.Run("bad settings: every problem named, exit 2", func(t *testing.T) {
		cmd := exec.Command(binary, "serve")
		cmd.Env = []string{"SLACK_BOT_TOKEN=xoxp-nope", "ASTROBOT_SUPPORT_CHANNEL=general", "ASTROBOT_LOG_FORMAT=xml"}
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Fatalf("exit %v, want 2\n%s", err, out)
		}
		for _, want := range []string{"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "ASTROBOT_SUPPORT_CHANNEL", "ASTROBOT_LOG_FORMAT", "ASTROBOT_SUPPORT_USERS"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("output does not name %s:\n%s", want, out)
			}
		}
		if len(slack.Calls()) != 0 {
			t.Errorf("astrobot called Slack before refusing its configuration: %v", slack.Calls())
		}
	})
	t.Run("bad clusters file: names the cluster and field, exit 2", func(t *testing.T) {
		bad := filepath.Join(dir, "clusters.yaml")
		os.WriteFile(bad, []byte("organizations: [{id: acme, name: Acme}]\nclusters:\n  - {id: c1, name: n1, organization: acme, region: us-east-1, account_id: \"111111111111\", vpc_id: vpc-0abc1234, cidrs: [10.0.0.0/16], external_ips: [300.1.1.1]}\n"), 0o600)
		cmd := exec.Command(binary, "serve")
		cmd.Env = botEnv(t, slack, filepath.Join(dir, "b.db"), "ASTROBOT_CLUSTERS="+bad)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Fatalf("exit %v, want 2\n%s", err, out)
		}
		if !strings.Contains(string(out), "c1") || !strings.Contains(string(out), "external_ips") {
			t.Errorf("output does not name the cluster and field:\n%s", out)
		}
	})
	t.Run("second process on the same database fails fast", func(t *testing.T) {
		db := filepath.Join(dir, "shared.db")
		first := start(t, botEnv(t, slack, db))
		cmd := exec.Command(binary, "serve")
		cmd.Env = botEnv(t, slack, db)
		began := time.Now()
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("second astrobot on the same database started:\n%s", out)
		}
		if took := time.Since(began); took > 8*time.Second {
			t.Errorf("second astrobot took %v to fail", took)
		}
		if !strings.Contains(string(out), "in use") {
			t.Errorf("output does not say the database is in use:\n%s", out)
		}
		if err := first.stop(syscall.SIGTERM); err != nil {
			t.Errorf("first astrobot: %v", err)
		}
	})
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
